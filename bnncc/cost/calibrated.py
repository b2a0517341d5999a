"""A calibrated cost model: the analytical model's terms, weighed with coefficients fitted to measurements
(`bnncc calibrate --fit`), read from a versioned JSON file.

Per device family and per cost class (a block kind, or an MVAU's weight kind) and resource it holds a
linear model over the block's cost terms (`const` is 1, `lut.lanes` the block's `lanes` LUT term, ...) and,
where cross-validation on the training designs said it helps, a correction: a piecewise-linear factor on
the log of the linear prediction (isotonic regression) or boosted trees on the log terms. Per family a
fitted memory rule decides LUTRAM or block RAM, and the ECP5 family an Fmax model over the design's
timing features; optionally a CPU latency model (bnncc.cost.latency) for the host it was measured on.
BRAM18 and DSP stay sums over the terms. A family, class or resource the file has nothing
for falls back to the analytical model, and `describe()` says so. Everything is numpy, so thousands of
foldings are costed per call.
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from bnncc.cost import latency
from bnncc.cost.devices import Device
from bnncc.cost.model import ANALYTICAL, AnalyticalModel
from bnncc.errors import BnnccError

FORMAT = "bnncc-cost-model"
VERSION = 1
FITTED = ("lut", "ff")
EXTRAPOLATION = 2.0  # a term above this many times its largest fitted value: the estimate is an extrapolation


def feature_values(names: list[str], terms: dict[str, dict[str, Any]]):
    """The named features of a block's terms (arrays broadcast): const = 1, "resource.term" = that term."""
    out = []
    for name in names:
        if name == "const":
            out.append(1.0)
            continue
        resource, term = name.split(".", 1)
        out.append(terms.get(resource, {}).get(term, 0.0))
    return out


def predict(entry: dict, terms: dict[str, dict[str, Any]]):
    """One fitted resource model applied to a block's terms: the linear model, then its correction if it has
    one (an isotonic factor on the log of the prediction, or boosted trees on the log terms)."""
    value = 0.0
    for coef, x in zip(entry["coef"], feature_values(entry["features"], terms), strict=True):
        value = value + coef * np.asarray(x, dtype=np.float64)
    value = np.maximum(value, 0.0)
    corr = entry.get("correction")
    if corr:
        value = value * np.interp(np.log(np.maximum(value, 1.0)), corr["log_pred"], corr["ratio"])
    trees = entry.get("trees")
    if trees:
        x = [np.log1p(np.maximum(np.asarray(v, dtype=np.float64), 0.0)) for v in feature_values(trees["features"],
                                                                                            terms)]
        x.append(np.log1p(value))
        value = value * np.exp(boosted(trees, np.broadcast_arrays(*x)))
    return value


def boosted(trees: dict, x: list[np.ndarray]) -> np.ndarray:
    """A gradient-boosted ensemble's output for feature arrays `x` (each tree: parallel node arrays as
    scikit-learn keeps them, a leaf has left = -1), all trees and all inputs at once."""
    left, right, feature, threshold, value = _stacked(trees)
    columns = np.stack([np.ravel(v) for v in x], axis=1)  # [inputs, features]
    rows, tree = np.arange(len(columns))[:, None], np.arange(len(left))[None, :]
    node = np.zeros((len(columns), len(left)), dtype=np.int64)  # every input's node in every tree
    for _ in range(int(trees.get("max_depth", max(t["depth"] for t in trees["trees"])))):
        inner = left[tree, node] >= 0
        go_left = columns[rows, np.maximum(feature[tree, node], 0)] <= threshold[tree, node]
        node = np.where(inner, np.where(go_left, left[tree, node], right[tree, node]), node)
    out = float(trees["init"]) + trees["learning_rate"] * value[tree, node].sum(axis=1)
    return out.reshape(np.shape(x[0]))


def _stacked(trees: dict) -> tuple[np.ndarray, ...]:
    """The trees' node arrays padded into [trees, nodes] matrices, made once per model entry."""
    if "_stacked" not in trees:
        width = max(len(t["left"]) for t in trees["trees"])

        def pad(key: str, fill, dtype):
            return np.array([list(t[key]) + [fill] * (width - len(t[key])) for t in trees["trees"]], dtype=dtype)

        trees["_stacked"] = (pad("left", -1, np.int64), pad("right", -1, np.int64), pad("feature", 0, np.int64),
                             pad("threshold", 0.0, np.float64), pad("value", 0.0, np.float64))
    return trees["_stacked"]


@dataclass
class CalibratedModel(AnalyticalModel):
    name: str = "bnncc-calibrated"
    version: int = 1
    data: dict = field(default_factory=dict)
    path: str | None = None

    @classmethod
    def load(cls, path: str | Path) -> CalibratedModel:
        where = f"--cost-model {path}"
        try:
            data = json.loads(Path(path).read_text())
        except FileNotFoundError:
            raise BnnccError(f"{where}: no such file") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise BnnccError(f"{where}: not a readable JSON file ({e})") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise BnnccError(f"{where}: not a bnncc cost model (expected \"format\": \"{FORMAT}\")")
        if data.get("version") != VERSION:
            raise BnnccError(f"{where}: cost-model version {data.get('version')!r}; this bnncc reads {VERSION}")
        try:
            for fam in data["families"].values():
                for resources in fam["classes"].values():
                    for entry in resources.values():
                        if len(entry["coef"]) != len(entry["features"]) or not all(
                                isinstance(c, int | float) and math.isfinite(c) for c in entry["coef"]):
                            raise ValueError("coefficients do not match the features")
            for entry in data.get("cpu", {}).get("runtimes", {}).values():
                if len(entry["coef"]) != len(entry["features"]):
                    raise ValueError("cpu latency coefficients do not match the features")
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise BnnccError(f"{where}: malformed cost model ({e})") from None
        return cls(coefficients=dict(ANALYTICAL.coefficients), data=data, path=str(path))

    def family(self, device: Device) -> dict | None:
        """The fitted family of the device: its own, else one of the same vendor (LUT6 fabrics share one)."""
        fams = self.data.get("families", {})
        if device.family in fams:
            return fams[device.family]
        return next((f for f in fams.values() if f.get("vendor") == device.vendor), None)

    def _entry(self, cost_class: str, resource: str, device: Device) -> dict | None:
        fam = self.family(device)
        if fam is None:
            return None
        classes = fam["classes"]
        for name in (cost_class, cost_class.split("-")[0]):
            if resource in classes.get(name, {}):
                return classes[name][resource]
        return None

    def memory(self, depth, width, style: str, device: Device) -> dict[str, Any]:
        """The analytical mapping with the family's fitted thresholds (where the synthesizer puts a memory)."""
        fam = self.family(device)
        rule = (fam or {}).get("memory") or {}
        if not rule:
            return AnalyticalModel.memory(self, depth, width, style, device)
        fitted = AnalyticalModel(coefficients={**self.coefficients, "lutram_max_depth": rule["lutram_max_depth"],
                                               "bram_min_bits": rule["bram_min_bits"]})
        return fitted.memory(depth, width, style, device)

    def block_cost(self, kind: str, terms: dict[str, dict[str, Any]], device: Device) -> dict[str, Any]:
        cost = AnalyticalModel.block_cost(self, kind, terms, device)
        for resource in FITTED:
            entry = self._entry(kind, resource, device)
            if entry is not None:
                cost[resource] = np.ceil(predict(entry, terms))
        return cost

    def beyond_range(self, cost_class: str, terms: dict[str, dict[str, Any]], device: Device) -> list[str]:
        """Terms above EXTRAPOLATION times the largest value the block's fitted LUT and FF models saw, the
        furthest out first."""
        fitted: dict[str, float] = {}
        for resource in FITTED:
            for name, top in ((self._entry(cost_class, resource, device) or {}).get("range") or {}).items():
                fitted[name] = max(fitted.get(name, 0.0), top)
        out = []
        for name, top in fitted.items():
            group, term = name.split(".", 1)
            value = float(np.max(terms.get(group, {}).get(term, 0)))
            if value > EXTRAPOLATION * max(top, 1.0):
                out.append((value / max(top, 1.0), f"{name} {value:,.0f} > {top:,.0f} fitted"))
        return [text for _, text in sorted(out, key=lambda o: (-o[0], o[1]))]

    def fmax_mhz(self, features: dict[str, int], device: Device) -> float | None:
        fam = self.family(device)
        entry = fam.get("fmax") if fam else None
        if not entry:
            return None
        period = sum(c * (1.0 if n == "const" else float(features.get(n, 0)))
                     for c, n in zip(entry["coef"], entry["features"], strict=True))
        return 1000.0 / max(period, 1e-3)

    def cpu_latency(self, graph, runtime: str = "executor") -> dict | None:
        """The fitted latency of one image of `graph` on one core of the host the model was measured on
        (runtime "executor" or "onnxruntime"): seconds, the host, the fit's cross-validated MAPE, and the
        operation kinds the fit never saw (then the number is too low). None if the file has no CPU model."""
        entry = self.data.get("cpu", {}).get("runtimes", {}).get(runtime)
        if entry is None:
            return None
        seconds, unseen = latency.predict(entry, latency.features(graph))
        return {"seconds": seconds, "host": self.data["cpu"]["host"], "runtime": runtime,
                "cv_mape": entry["cv_mape"], "unseen_ops": unseen}

    def lut_per(self, proxy: str, weight: str, device: Device) -> float | None:
        """The fitted LUTs per MAC (proxy "mac") or per BOP ("bop") of the weight kind on the device's family."""
        fam = self.family(device) or {}
        return fam.get("proxies", {}).get(weight, {}).get(f"lut_per_{proxy}")

    def describe(self) -> dict:
        fams = self.data.get("families", {})
        return {"name": self.name, "version": self.version, "kind": "calibrated", "file": self.path,
                "fitted": self.data.get("fitted"), "ground_truth": self.data.get("ground_truth"),
                "store": self.data.get("store"),
                "validation": {f: fam.get("validation") for f, fam in fams.items()},
                "families": sorted(fams), "fallback": "finn-r-analytical for any family, class or resource not fitted",
                "coefficients": dict(self.coefficients)}


def load(path: str | Path) -> CalibratedModel:
    return CalibratedModel.load(path)


SHIPPED = Path(__file__).resolve().parent / "calibrated.json"


@functools.cache
def default_model():
    """The shipped calibrated model (bnncc/cost/calibrated.json), or the analytical one if it is absent."""
    if not SHIPPED.is_file():
        return ANALYTICAL
    # Named by its place in the package, not the install path, so report.json reads the same on every machine.
    return replace(CalibratedModel.load(SHIPPED), path="bnncc/cost/calibrated.json (shipped)")
