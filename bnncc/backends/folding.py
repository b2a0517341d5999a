"""Folding: read ours or FINN's folding files, apply them, or choose a folding for a target FPS.

FINN's keys map by index: `MVAU_*_i` (and `MatrixVectorActivation_i`) to the i-th matrix layer,
`ConvolutionInputGenerator_*_i` to the i-th sliding window, `StreamingMaxPool_*_i` to the i-th pool,
`LabelSelect_*_i` to the label select, `Thresholding_*_0` to the input quantizer (which bnncc runs on
the host) and `Thresholding_*_i` (i > 0) to standalone thresholds. A key we cannot map is reported
and that layer keeps PE = SIMD = 1, as FINN does; `strict` turns the report into an error.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field

from bnncc.backends.dataflow import Dataflow, relink
from bnncc.cost.estimates import estimate_block
from bnncc.errors import BnnccError

FINN_KEYS = [
    (re.compile(r"^(?:MVAU(?:_[a-z]+)?|MatrixVectorActivation(?:_[a-z]+)?)_(\d+)$"), "mvau"),
    (re.compile(r"^ConvolutionInputGenerator(?:\w*?)_(\d+)$"), "swg"),
    (re.compile(r"^StreamingMaxPool(?:_[a-z]+)?_(\d+)$"), "pool"),
    (re.compile(r"^LabelSelect(?:_[a-z]+)?_(\d+)$"), "labelselect"),
    (re.compile(r"^Thresholding(?:_[a-z]+)?_(\d+)$"), "thresholding"),
]
FOLD_PARAMS = {"PE", "SIMD"}
FINN_IGNORED = {"ram_style", "mem_mode", "resType", "runtime_writeable_weights", "depth", "impl_style",
                "inFIFODepths", "outFIFODepths", "parallel_window", "preferred_impl_style", "ram_style_thresholds"}


@dataclass
class FoldingPlan:
    params: dict[str, dict] = field(default_factory=dict)  # block name -> {"PE":.., "SIMD":..}
    ram_style: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def take(self, name: str, entry: dict) -> None:
        """The folding parameters (and FINN's ram_style, honoured by the estimate) of one block."""
        self.params[name] = {k: v for k, v in entry.items() if k in FOLD_PARAMS}
        if "ram_style" in entry:
            self.ram_style[name] = entry["ram_style"]


def read(path: str, df: Dataflow) -> FoldingPlan:
    if not os.path.isfile(path):
        raise BnnccError(f"--folding {path}: no such file")
    try:
        with open(path) as f:
            data = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise BnnccError(f"--folding {path}: not valid JSON ({e})") from None
    if not isinstance(data, dict):
        raise BnnccError(f"--folding {path}: expected a JSON object")
    if data.get("format") == "bnncc-folding":
        return _ours(path, data, df)
    return _finn(path, data, df)


def _ours(path: str, data: dict, df: Dataflow) -> FoldingPlan:
    plan = FoldingPlan()
    names = {b.name for b in df.foldable()}
    for name, entry in data.get("blocks", {}).items():
        if name not in names:
            plan.warnings.append(f"--folding {path}: no block named {name!r} in this model; ignored")
            continue
        plan.take(name, entry)
    return plan


def _finn(path: str, data: dict, df: Dataflow) -> FoldingPlan:
    plan = FoldingPlan()
    names = {b.name for b in df.foldable()}
    for key, entry in data.items():
        if key == "Defaults":
            if entry:
                plan.warnings.append(f"--folding {path}: 'Defaults' are not applied")
            continue
        target = None
        for pattern, kind in FINN_KEYS:
            m = pattern.match(key)
            if m:
                target = (kind, int(m.group(1)))
                break
        if target is None or not isinstance(entry, dict):
            plan.warnings.append(f"--folding {path}: unknown key {key!r} ignored; its layer keeps PE=SIMD=1")
            continue
        kind, i = target
        if kind == "thresholding":
            if i == 0:
                plan.notes.append(f"{key}: the input quantizer runs on the host (integer codes enter the design)")
                continue
            kind, i = "thresh", i - 1
        name = f"{kind}{i}"
        if name not in names:
            plan.warnings.append(f"--folding {path}: {key!r} names a layer this model does not have; ignored")
            continue
        plan.take(name, entry)
        for k in entry:
            if k not in FOLD_PARAMS | FINN_IGNORED:
                plan.warnings.append(f"--folding {path}: {key}.{k} is not a folding parameter; ignored")
    return plan


def apply(df: Dataflow, plan: FoldingPlan) -> Dataflow:
    blocks = df.by_name()
    for name, params in plan.params.items():
        blocks[name].set_folding(params)
    return relink(df)


def auto(df: Dataflow, max_cycles: int, clock_ns: float, fps: float) -> Dataflow:
    """Per block, the legal folding with the fewest estimated LUTs whose cycles fit `max_cycles`.
    Blocks are independent in cycles and cost, so per-block minima give the global minimum."""
    for b in df.foldable():
        best = None
        for option in b.options():
            b.set_folding(option)
            if b.cycles() > max_cycles:
                continue
            e = estimate_block(b)
            key = (e["lut"], e["bram18"], e["dsp"], sum(option.values()))
            if best is None or key < best[0]:
                best = (key, option)
        if best is None:
            fastest = min(b.options(), key=lambda o: (b.set_folding(o), b.cycles())[1])
            b.set_folding(fastest)
            top = 1e9 / (b.cycles() * clock_ns)
            raise BnnccError(f"--fps {fps:g}: {b.name} needs at least {b.cycles()} cycles per image, so the design "
                             f"reaches at most {top:,.0f} FPS at {clock_ns:g} ns")
        b.set_folding(best[1])
    return relink(df)
