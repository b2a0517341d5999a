"""Foldings as values: read ours or FINN's folding files, complete them, or choose one for a target FPS.

A folding is `{block name: fold}` (`design.Folding`); every function here returns a new one and no
block is changed. FINN's keys map by index: `MVAU_*_i` (and `MatrixVectorActivation_i`) to the i-th
matrix layer, `ConvolutionInputGenerator_*_i` to the i-th sliding window, `StreamingMaxPool_*_i` to the
i-th pool, `LabelSelect_*_i` to the label select, `Thresholding_*_0` to the input quantizer (which
bnncc runs on the host) and `Thresholding_*_i` (i > 0) to standalone thresholds. A key we cannot map
is reported and that layer keeps PE = SIMD = 1, as FINN does; `strict` turns the report into an error.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field

from bnncc.cost.devices import Device
from bnncc.cost.model import CostModel
from bnncc.errors import BnnccError
from bnncc.hw.dataflow import Dataflow
from bnncc.hw.design import Folding
from bnncc.hw.registry import kinds

FOLD_PARAMS = {"PE", "SIMD"}
FINN_IGNORED = {"ram_style", "mem_mode", "resType", "runtime_writeable_weights", "depth", "impl_style",
                "inFIFODepths", "outFIFODepths", "parallel_window", "preferred_impl_style", "ram_style_thresholds"}


@dataclass
class FoldingFile:
    """What a folding file asks for (per block, its entry's folding keys) and what was not understood."""

    entries: dict[str, dict] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def take(self, name: str, entry: dict) -> None:
        """The folding parameters (and FINN's ram_style, honoured by the estimate) of one block."""
        self.entries[name] = {k: v for k, v in entry.items() if k in FOLD_PARAMS | {"ram_style"}}


def finn_keys() -> list[tuple[re.Pattern, str]]:
    """FINN node-name patterns per block kind, from the kinds' `finn_prefixes`."""
    keys = []
    for k in kinds():
        for prefix in k.finn_prefixes:
            keys.append((re.compile(rf"^{prefix}(?:_[a-z]+)?_(\d+)$"), k.kind))
    return keys


def read(path: str, df: Dataflow) -> FoldingFile:
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


def _ours(path: str, data: dict, df: Dataflow) -> FoldingFile:
    plan = FoldingFile()
    names = set(df.by_name())
    for name, entry in data.get("blocks", {}).items():
        if name not in names:
            plan.warnings.append(f"--folding {path}: no block named {name!r} in this model; ignored")
            continue
        plan.take(name, entry)
    return plan


def _finn(path: str, data: dict, df: Dataflow) -> FoldingFile:
    plan = FoldingFile()
    names = set(df.by_name())
    patterns = finn_keys()
    for key, entry in data.items():
        if key == "Defaults":
            if entry:
                plan.warnings.append(f"--folding {path}: 'Defaults' are not applied")
            continue
        target = None
        for pattern, kind in patterns:
            m = pattern.match(key)
            if m:
                target = (kind, int(m.group(1)))
                break
        if target is None or not isinstance(entry, dict):
            plan.warnings.append(f"--folding {path}: unknown key {key!r} ignored; its layer keeps PE=SIMD=1")
            continue
        kind, i = target
        if kind == "thresh":  # FINN's Thresholding_0 is the input quantizer
            if i == 0:
                plan.notes.append(f"{key}: the input quantizer runs on the host (integer codes enter the design)")
                continue
            i -= 1
        name = f"{kind}{i}"
        if name not in names:
            plan.warnings.append(f"--folding {path}: {key!r} names a layer this model does not have; ignored")
            continue
        plan.take(name, entry)
        for k in entry:
            if k not in FOLD_PARAMS | FINN_IGNORED:
                plan.warnings.append(f"--folding {path}: {key}.{k} is not a folding parameter; ignored")
    return plan


def complete(df: Dataflow, entries: dict[str, dict] | None = None) -> Folding:
    """A checked fold for every block: the entry given for it, PE = SIMD = 1 where none is."""
    entries = entries or {}
    return {b.name: b.fold(entries.get(b.name, {})) for b in df.blocks}


def optimize(df: Dataflow, max_cycles: int, clock_ns: float, fps: float, device: Device,
             model: CostModel) -> Folding:
    """Per block, the legal folding with the fewest estimated LUTs whose cycles fit `max_cycles`.
    Blocks are independent in cycles and cost, so per-block minima give the global minimum."""
    folding: Folding = {}
    for b in df.blocks:
        best = None
        for option in b.options():
            if b.cycles(option) > max_cycles:
                continue
            e = b.cost(option, device, model)
            key = (e["lut"], e["bram18"], e["dsp"], sum(option.values()))
            if best is None or key < best[0]:
                best = (key, option)
        if best is None:
            fastest = min(b.options(), key=b.cycles)
            cycles = int(b.cycles(fastest))
            top = 1e9 / (cycles * clock_ns)
            raise BnnccError(f"--fps {fps:g}: {b.name} needs at least {cycles} cycles per image, so the design "
                             f"reaches at most {top:,.0f} FPS at {clock_ns:g} ns")
        folding[b.name] = b.fold(best[1])
    return folding
