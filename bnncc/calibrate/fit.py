"""Fit calibrated cost models from the store: per device family, cost class and resource, the analytical
terms as features of a non-negative linear model (scikit-learn), weighted for relative error, and a
non-parametric correction (isotonic regression of measured / predicted against the log of the prediction)
kept only where grouped cross-validation on the training designs says it lowers the error.

The training data are the per-block rows of hierarchical Yosys synthesis (LUT = LUTs as logic + LUTs as
memory, as vendors count "LUT"); `exclude` leaves designs out (the accuracy study's held-out networks are
never in the training store, and leave-one-family-out fits drop one family).
"""

from __future__ import annotations

import json
import os
import tempfile
import time
import warnings
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

import bnncc
from bnncc.calibrate import space
from bnncc.calibrate.measure import flat_terms
from bnncc.calibrate.store import Store
from bnncc.cost import latency
from bnncc.cost.calibrated import FORMAT, VERSION, predict
from bnncc.cost.devices import device
from bnncc.cost.model import ANALYTICAL, AnalyticalModel
from bnncc.errors import BnnccError

MIN_SAMPLES = 6  # fewer blocks of a class than this: the class falls back to its kind, then to the analytical model
CORRECTION_GAIN = 0.5  # percentage points of CV MAPE a correction must win to be kept


def block_samples(store: Store, exclude: set[str] | None = None, progress: bool = False) -> list[dict]:
    """One sample per synthesized block instance: family, class, kind, terms, measured resources. The terms
    are recomputed from each design's spec by the current code (a design is rebuilt, never measured again),
    so a refined term is fitted without a new sweep; an ingested or unbuildable design keeps the stored ones."""
    from tqdm import tqdm

    exclude = exclude or set()
    designs = {d["design_key"]: d for d in store.designs("fpga") if d["design_key"] not in exclude}
    groups: dict[tuple[str, str], dict] = {}
    for r in store.rows(target="fpga", source="yosys"):
        if not r["block"] or r["design_key"] not in designs or "terms" not in r["params"]:
            continue
        g = groups.setdefault((r["design_key"], r["block"]), {
            "design_key": r["design_key"], "block": r["block"], "block_key": r["block_key"], "kind": r["kind"],
            "cost_class": r["params"]["cost_class"], "terms": r["params"]["terms"], "params": r["params"]["params"],
            "family": device(designs[r["design_key"]]["part"]).family, "measured": {}})
        g["measured"][r["metric"]] = r["value"]
    keys = sorted({k for k, _ in groups})
    for key in tqdm(keys, desc="fit: rebuilding designs", unit="design", disable=not progress):
        for name, (stage, dev) in _stages(designs[key]).items():
            if (key, name) in groups:
                groups[key, name]["stage"] = (stage, dev)  # to cost it again under another memory rule
                groups[key, name]["terms"] = flat_terms(stage.block.terms(stage.fold, dev, ANALYTICAL))
    out = []
    for _, g in sorted(groups.items()):  # (design key, block) order: whatever order the runs wrote them in
        m = g["measured"]
        g["y"] = {"lut": m.get("lut", 0) + m.get("lutram", 0), "ff": m.get("ff", 0), "bram18": m.get("bram18", 0),
                  "dsp": m.get("dsp", 0)}
        out.append(g)
    return out


def _stages(design: dict) -> dict[str, tuple]:
    """Block name -> (stage, device) of a stored design rebuilt by the current code ({} if it cannot be)."""
    from bnncc.calibrate import space

    built = space.rebuild(design)
    if built is None:
        return {}
    dev = device(design["part"])
    return {s.name: (s, dev) for s in built.stages + built.fifos}


LUTRAM_DEPTHS = (64, 128, 256, 512, 1024, 2048)
BRAM_BITS = (2048, 4096, 8192, 16384, 32768)


def memory_rule(samples: list[dict]) -> dict:
    """The analytical memory mapping's two thresholds (a memory shallower than `lutram_max_depth` or smaller
    than `bram_min_bits` goes to LUTs) that make the blocks' BRAM18 sums match the synthesizer's most often,
    over a grid; ties go to the analytical values. Only blocks rebuilt by the current code take part."""
    rebuilt = [s for s in samples if "stage" in s]
    best = None
    for depth in LUTRAM_DEPTHS:
        for bits in BRAM_BITS:
            model = AnalyticalModel(coefficients={**ANALYTICAL.coefficients, "lutram_max_depth": depth,
                                                  "bram_min_bits": bits})
            exact = sum(_bram(s, model) == s["y"]["bram18"] for s in rebuilt)
            default = depth == ANALYTICAL.coefficients["lutram_max_depth"] and bits == ANALYTICAL.coefficients[
                "bram_min_bits"]
            if best is None or (exact, default) > best[:2]:
                best = (exact, default, depth, bits)
    exact, _, depth, bits = best or (0, True, ANALYTICAL.coefficients["lutram_max_depth"],
                                     ANALYTICAL.coefficients["bram_min_bits"])
    return {"lutram_max_depth": depth, "bram_min_bits": bits,
            "bram18_exact_share": round(exact / len(rebuilt), 4) if rebuilt else None}


def _bram(sample: dict, model) -> float:
    stage, dev = sample["stage"]
    return float(sum(np.asarray(v) for v in stage.block.terms(stage.fold, dev, model).get("bram18", {}).values()))


def _recost(samples: list[dict], rule: dict) -> list[dict]:
    """The samples' terms under a memory rule (a block's LUTRAM term grows when a memory leaves block RAM)."""
    model = AnalyticalModel(coefficients={**ANALYTICAL.coefficients, **{k: rule[k] for k in
                                                                         ("lutram_max_depth", "bram_min_bits")}})
    out = []
    for s in samples:
        if "stage" in s:
            stage, dev = s["stage"]
            s = {**s, "terms": flat_terms(stage.block.terms(stage.fold, dev, model))}
        out.append(s)
    return out


def _terms(sample: dict) -> dict[str, dict[str, float]]:
    """The flat "resource.term" features back in the nested form the cost model gets."""
    nested: dict[str, dict[str, float]] = defaultdict(dict)
    for name, value in sample["terms"].items():
        resource, term = name.split(".", 1)
        nested[resource][term] = value
    return nested


def _features(samples: list[dict], resource: str) -> list[str]:
    groups = ("lut", "shape") if resource == "lut" else ("lut", "ff", "reg", "shape")
    names = sorted({k for s in samples for k, v in s["terms"].items() if k.split(".")[0] in groups and v
                    and k != "lut.control"})
    return ["const", *names]


def _design_matrix(samples: list[dict], names: list[str]) -> np.ndarray:
    return np.array([[1.0 if n == "const" else float(s["terms"].get(n, 0.0)) for n in names] for s in samples])


def _linear(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    from sklearn.linear_model import LinearRegression

    w = 1.0 / np.maximum(y, 1.0) ** 2  # squared relative error: the fit minimizes what MAPE measures
    return LinearRegression(positive=True, fit_intercept=False).fit(x, y, sample_weight=w).coef_


def _correction(pred: np.ndarray, y: np.ndarray) -> dict | None:
    from sklearn.isotonic import IsotonicRegression

    ok = pred > 0
    if ok.sum() < MIN_SAMPLES:
        return None
    x, ratio = np.log(np.maximum(pred[ok], 1.0)), y[ok] / pred[ok]
    with warnings.catch_warnings():  # "auto" direction on few points: sklearn warns, the CV decides anyway
        warnings.simplefilter("ignore")
        iso = IsotonicRegression(increasing="auto", out_of_bounds="clip").fit(x, ratio)
    knots = np.unique(x)
    return {"log_pred": [round(float(v), 6) for v in knots], "ratio": [round(float(v), 6) for v in iso.predict(knots)]}


def _trees(samples: list[dict], lin: np.ndarray, y: np.ndarray, names: list[str]) -> dict:
    """Boosted trees (scikit-learn) for log(measured / linear) on the log terms and the log linear prediction,
    as plain arrays for the model file."""
    from sklearn.ensemble import GradientBoostingRegressor

    x = np.array([[np.log1p(max(float(s["terms"].get(n, 0.0)), 0.0)) for n in names] for s in samples])
    x = np.c_[x, np.log1p(lin)]
    gb = GradientBoostingRegressor(n_estimators=TREES, max_depth=TREE_DEPTH, learning_rate=0.1, subsample=0.8,
                                   random_state=0).fit(x, np.log(np.maximum(y, 1.0) / np.maximum(lin, 1.0)))
    trees = []
    for est in gb.estimators_[:, 0]:
        t = est.tree_
        trees.append({"left": t.children_left.tolist(), "right": t.children_right.tolist(),
                      "feature": t.feature.tolist(), "threshold": [round(float(v), 6) for v in t.threshold],
                      "value": [round(float(v), 6) for v in t.value[:, 0, 0]], "depth": int(t.max_depth)})
    return {"features": names, "init": round(float(gb.init_.constant_[0, 0]), 6), "learning_rate": 0.1,
            "trees": trees}


TREES, TREE_DEPTH = 60, 3


def mape(pred, y) -> float:
    pred, y = np.asarray(pred, float), np.asarray(y, float)
    return float(np.mean(np.abs(pred - y) / np.maximum(y, 1.0)) * 100)


def _entry(samples: list[dict], resource: str) -> dict:
    """The fitted model of one (family, class, resource), with its cross-validated error; `oof` holds the
    out-of-fold predictions per sample (block key order of `samples`), not saved."""
    from sklearn.model_selection import GroupKFold

    names = _features(samples, resource)
    x = _design_matrix(samples, names)
    y = np.array([s["y"][resource] for s in samples], dtype=np.float64)
    groups = [s["design_key"] for s in samples]
    folds = min(5, len(set(groups)))
    tree_names = sorted({k for s in samples for k, v in s["terms"].items() if v})
    oof = {k: np.zeros_like(y) for k in ("linear", "isotonic", "trees")}
    if folds >= 2:
        for train, test in GroupKFold(folds).split(x, y, groups):
            lin = {"features": names, "coef": list(_linear(x[train], y[train]))}
            fitted = np.array([predict(lin, _terms(samples[i])) for i in train])
            oof["linear"][test] = [predict(lin, _terms(samples[i])) for i in test]
            iso = {**lin, "correction": _correction(fitted, y[train])}
            oof["isotonic"][test] = [predict(iso, _terms(samples[i])) for i in test]
            boosted = {**lin, "trees": _trees([samples[i] for i in train], fitted, y[train], tree_names)}
            oof["trees"][test] = [predict(boosted, _terms(samples[i])) for i in test]
    coef = _linear(x, y)
    entry = {"features": names, "coef": [round(float(c), 6) for c in coef], "n": len(samples),
             "designs": len(set(groups)), "cv_folds": folds,
             "range": {n: round(float(x[:, j].max()), 6) for j, n in enumerate(names) if n != "const"}}
    if folds >= 2:
        cv = {k: round(mape(np.ceil(v), y), 2) for k, v in oof.items()}
        entry["cv_mape_by_form"] = cv
        # a correction is kept only where it wins by CORRECTION_GAIN points over the plain linear model
        form = min(("isotonic", "trees"), key=lambda k: cv[k])
        form = form if cv[form] < cv["linear"] - CORRECTION_GAIN else "linear"
        lin = {"features": names, "coef": entry["coef"]}
        fitted = np.array([predict(lin, _terms(s)) for s in samples])
        if form == "isotonic":
            entry["correction"] = _correction(fitted, y)
        elif form == "trees":
            entry["trees"] = _trees(samples, fitted, y, tree_names)
        entry["form"], entry["cv_mape"] = form, cv[form]
        entry["oof"] = dict(zip([(s["design_key"], s["block"]) for s in samples], np.ceil(oof[form]), strict=True))
    return entry


FMAX_FEATURES = ("adder_tree_levels", "accumulator_bits", "lanes", "fold_counter_bits")


def fmax_samples(store: Store, exclude: set[str] | None = None) -> list[dict]:
    """Per placed-and-routed design: its family, timing features (rebuilt from its spec) and the median Fmax
    of its nextpnr seeds."""
    from bnncc.calibrate import space

    exclude = exclude or set()
    by_design: dict[str, list[float]] = defaultdict(list)
    for r in store.rows(target="fpga", source="nextpnr", metric="fmax_mhz"):
        if r["design_key"] not in exclude:
            by_design[r["design_key"]].append(r["value"])
    out = []
    for d in store.designs("fpga"):
        design = space.rebuild(d) if d["design_key"] in by_design else None
        if design is not None:
            out.append({"design_key": d["design_key"], "family": device(d["part"]).family,
                        "features": design.timing_features(), "fmax": float(np.median(by_design[d["design_key"]]))})
    return out


def _fmax_entry(samples: list[dict]) -> dict:
    """Clock period = const + sum of coefficient x timing feature (non-negative), fitted for relative error;
    cross-validated (5-fold) MAPE of the Fmax it gives."""
    from sklearn.model_selection import KFold

    names = ["const", *FMAX_FEATURES]
    x = np.array([[1.0] + [float(s["features"][n]) for n in FMAX_FEATURES] for s in samples])
    y = np.array([1000.0 / s["fmax"] for s in samples])
    oof = np.zeros_like(y)
    folds = min(5, len(samples))
    for train, test in KFold(folds, shuffle=True, random_state=0).split(x):
        oof[test] = x[test] @ _linear(x[train], y[train])
    fmax = np.array([s["fmax"] for s in samples])
    return {"features": names, "coef": [round(float(c), 6) for c in _linear(x, y)], "n": len(samples),
            "cv_mape": round(mape(1000.0 / np.maximum(oof, 1e-3), fmax), 2), "target": "median Fmax of the seeds"}


def cpu_samples(store: Store, exclude: set[str] | None = None) -> list[dict]:
    """Per cpu-measured design: its IR's latency features (rebuilt from its spec by the current code) and the
    measured seconds per runtime (bnncc.cost.latency.RUNTIMES)."""
    exclude = exclude or set()
    seconds: dict[str, dict[str, float]] = defaultdict(dict)
    for r in store.rows(target="cpu", source="cpu-measured"):
        if r["design_key"] not in exclude:
            seconds[r["design_key"]][r["metric"]] = r["value"]
    out = []
    for d in store.designs("cpu"):
        if d["design_key"] in seconds and d["spec"].get("family") in space.FAMILIES:
            graph, _ = space.dataflow_of(d["spec"])
            out.append({"design_key": d["design_key"], "family": d["spec"]["family"], "name": d["name"],
                        "host": d["tools"].get("cpu", "unknown cpu"),
                        "features": latency.features(graph), "seconds": seconds[d["design_key"]]})
    return out


def _relative_nnls(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Non-negative least squares of the relative error (rows divided by y), on columns scaled to at most 1:
    seconds span four decades here, so an absolute fit would serve only the largest networks."""
    from scipy.optimize import nnls

    scale = np.abs(x).max(axis=0)
    scale[scale == 0] = 1.0
    coef, _ = nnls(x / scale / y[:, None], np.ones_like(y))
    return coef / scale


def _latency_entry(samples: list[dict], metric: str) -> dict:
    """seconds = const + sum of coefficient x feature (non-negative, fitted for relative error), with its
    5-fold cross-validated MAPE and share within ±10 %."""
    from sklearn.model_selection import KFold

    names = ["const", *sorted({k for s in samples for k in s["features"]})]
    x = np.array([[1.0] + [s["features"].get(n, 0.0) for n in names[1:]] for s in samples])
    y = np.array([s["seconds"][metric] for s in samples])
    oof = np.zeros_like(y)
    for train, test in KFold(min(5, len(y)), shuffle=True, random_state=0).split(x):
        oof[test] = x[test] @ _relative_nnls(x[train], y[train])
    rel = np.abs(oof - y) / y
    return {"features": names, "coef": [float(f"{c:.6g}") for c in _relative_nnls(x, y)], "n": len(y),
            "unit": "s", "cv_mape": round(float(rel.mean() * 100), 2),
            "cv_within_10": round(float((rel <= 0.10).mean()), 4)}


def cpu_entry(samples: list[dict]) -> dict | None:
    """The CPU latency model of the store's cpu-measured designs (None with fewer than MIN_SAMPLES): per
    runtime, latency over the work per operation kind (bnncc.cost.latency). One CPU's latencies say nothing
    of another's: a store shared by several machines is fitted for the CPU with the most designs."""
    if not samples:
        return None
    counts = Counter(s["host"] for s in samples)
    host = min(counts, key=lambda h: (-counts[h], h))
    samples = [s for s in samples if s["host"] == host]
    runtimes = {name: [s for s in samples if metric in s["seconds"]] for name, metric in latency.RUNTIMES.items()}
    fitted = {name: _latency_entry(group, latency.RUNTIMES[name]) for name, group in runtimes.items()
              if len(group) >= MIN_SAMPLES}
    if not fitted:
        return None
    return {"host": host, "designs": len(samples),
            "target": "minimum latency of one image on one pinned core", "runtimes": fitted}


def _exact_share(samples: list[dict], resource: str) -> float:
    """How often the analytical BRAM18 / DSP sum equals the measured count."""
    got = [sum(v for k, v in s["terms"].items() if k.startswith(resource + ".")) == s["y"][resource] for s in samples]
    return round(float(np.mean(got)), 4) if got else float("nan")


def proxy_ratios(samples: list[dict], features: dict[str, dict]) -> dict[str, dict]:
    """Per weight kind: LUTs per MAC and per BOP, the ratio of their sums over the designs (all blocks'
    synthesized LUTs). A MACs- or BOPs-based selection assumes cost grows by this ratio; the search's
    Deepbit comparison turns a LUT budget into a MAC (BOP) budget with it."""
    lut: dict[str, float] = defaultdict(float)
    for s in samples:
        lut[s["design_key"]] += s["y"]["lut"]
    sums: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0, 0])
    for key, total in lut.items():
        f = features.get(key, {})
        if f.get("macs") and f.get("weight"):
            acc = sums[f["weight"]]
            acc[0] += total
            acc[1] += f["macs"]
            acc[2] += f["bops"]
            acc[3] += 1
    return {w: {"lut_per_mac": round(t / m, 6), "lut_per_bop": round(t / b, 6), "designs": n}
            for w, (t, m, b, n) in sorted(sums.items())}


def fit(store: Store, exclude: set[str] | None = None, drop_family: str | None = None,
        samples: list[dict] | None = None, progress: bool = False) -> dict:
    """The cost-model file's contents, fitted on the store's fpga designs (less `exclude`, and less the
    networks of the design family `drop_family`: a leave-one-family-out fit). `samples`: block_samples(store)
    computed once for several fits."""
    designs = store.designs("fpga")
    exclude = set(exclude or ())
    if drop_family:
        exclude |= {d["design_key"] for d in designs if d["spec"].get("family") == drop_family}
    if samples is None:
        samples = block_samples(store, exclude, progress)
    samples = [s for s in samples if s["design_key"] not in exclude]
    cpu = cpu_entry(cpu_samples(store, exclude))
    if not samples and cpu is None:
        raise BnnccError(f"--fit: {store.path} holds no synthesized fpga blocks and too few cpu-measured designs "
                         "(run bnncc calibrate --target fpga or --target cpu)")
    by_family: dict[str, list[dict]] = defaultdict(list)
    for s in samples:
        by_family[s["family"]].append(s)
    tools = {d["tools"].get("yosys") for d in designs if d["design_key"] not in exclude}
    timing: dict[str, list[dict]] = defaultdict(list)
    for s in fmax_samples(store, exclude):
        timing[s["family"]].append(s)
    focused = {d["design_key"] for d in designs if not space.pools(d["spec"].get("family"))}
    families = {}
    for family, fam_samples in sorted(by_family.items()):
        rule = memory_rule(fam_samples)
        fam_samples = _recost(fam_samples, rule)
        classes: dict[str, list[dict]] = defaultdict(list)
        for s in fam_samples:
            classes[s["cost_class"]].append(s)
            if s["cost_class"] != s["kind"] and s["design_key"] not in focused:
                classes[s["kind"]].append(s)
        fitted: dict[str, dict] = {}
        # kinds first: a class keeps its own model for a resource only where that cross-validates better on its
        # blocks than its kind's model does (a class of few blocks is better served by the pooled kind)
        for name, group in sorted(classes.items(), key=lambda kv: "-" in kv[0]):
            if len(group) < MIN_SAMPLES or len({s["design_key"] for s in group}) < 2:
                continue
            own = {r: _entry(group, r) for r in ("lut", "ff")}
            kind = fitted.get(name.split("-")[0], {}) if "-" in name else {}
            for r, entry in own.items():
                pooled = kind.get(r, {}).get("oof")
                if pooled is not None and "cv_mape" in entry:
                    both = [((s["design_key"], s["block"]), s["y"][r]) for s in group
                            if (s["design_key"], s["block"]) in pooled]  # a focused family's are not
                    y = [v for _, v in both]
                    if both and mape([pooled[k] for k, _ in both], y) <= mape([entry["oof"][k] for k, _ in both], y):
                        continue
                fitted.setdefault(name, {})[r] = entry
        for resources in fitted.values():
            for entry in resources.values():
                entry.pop("oof", None)
        families[family] = {
            "vendor": "lattice" if family == "ecp5" else "xilinx", "classes": fitted, "memory": rule,
            "validation": {
                "blocks": len(fam_samples), "designs": len({s["design_key"] for s in fam_samples}),
                "cv_mape": {f"{c}.{r}": e["cv_mape"] for c, res in fitted.items() for r, e in res.items()
                            if "cv_mape" in e},
                "bram18_exact_share": _exact_share(fam_samples, "bram18"),
                "dsp_exact_share": _exact_share(fam_samples, "dsp")}}
        families[family]["proxies"] = proxy_ratios(fam_samples, {d["design_key"]: d["features"] for d in designs})
        if len(timing[family]) >= MIN_SAMPLES:
            families[family]["fmax"] = _fmax_entry(timing[family])
            families[family]["validation"]["cv_mape"]["fmax_mhz"] = families[family]["fmax"]["cv_mape"]
    latest = max((d["measured_at"] for d in designs), default=0.0)
    return {"format": FORMAT, "version": VERSION, "name": "bnncc-calibrated",  # no clock: same store, same file
            "fitted": time.strftime("%Y-%m-%d", time.gmtime(latest)), "bnncc_version": bnncc.__version__,
            "ground_truth": f"{', '.join(sorted(t for t in tools if t))} synthesis of bnncc's RTL (per block, "
                            "hierarchical; LUT = logic + LUTRAM), not Vivado",
            "store": {"file": Path(store.path).name, **store.counts(), "excluded_designs": len(exclude)},
            "families": families, **({"cpu": cpu} if cpu else {})}


def save(model: dict, path: str) -> None:
    """Write the model file atomically (a temporary file renamed into place)."""
    dest = Path(path)
    if dest.is_dir():
        raise BnnccError(f"--fit {path}: is a directory")
    if not dest.parent.is_dir():
        raise BnnccError(f"--fit {path}: the folder {dest.parent} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=".bnncc-model-", dir=dest.parent)
    with os.fdopen(fd, "w") as f:
        f.write(json.dumps(model, sort_keys=True, separators=(",", ":")) + "\n")  # compact: the trees are most of it
    os.chmod(tmp, 0o644)
    os.replace(tmp, dest)


def summary(model: dict) -> dict:
    """Per device family its blocks, classes and cross-validated errors; under "cpu" the latency model's."""
    out = {f: {"blocks": fam["validation"]["blocks"], "designs": fam["validation"]["designs"],
               "classes": sorted(fam["classes"]), "cv_mape": fam["validation"]["cv_mape"],
               "bram18_exact_share": fam["validation"]["bram18_exact_share"]}
           for f, fam in model["families"].items()}
    if "cpu" in model:
        out["cpu"] = {"host": model["cpu"]["host"], "designs": model["cpu"]["designs"],
                      "runtimes": {r: {k: e[k] for k in ("n", "cv_mape", "cv_within_10")}
                                   for r, e in model["cpu"]["runtimes"].items()}}
    return out


def format_summary(fit_out: dict) -> str:
    lines = [f"fit: wrote {fit_out['file']}"]
    for family, s in fit_out.items():
        if family in ("file", "cpu"):
            continue
        lines.append(f"  {family}: {s['blocks']} blocks of {s['designs']} designs; BRAM18 exact for "
                     f"{s['bram18_exact_share']:.0%}; cross-validated MAPE:")
        lines += [f"    {k:<24}{v:6.1f} %" for k, v in sorted(s["cv_mape"].items())]
    if "cpu" in fit_out:
        cpu = fit_out["cpu"]
        lines.append(f"  cpu ({cpu['host']}): latency of {cpu['designs']} designs; cross-validated:")
        lines += [f"    {r:<24}{e['cv_mape']:6.1f} % MAPE, {e['cv_within_10']:.0%} within ±10 %"
                  for r, e in sorted(cpu["runtimes"].items())]
    return "\n".join(lines)
