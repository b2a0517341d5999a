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

import numpy as np

from bnncc.cost.devices import Device
from bnncc.cost.model import CostModel
from bnncc.errors import BnnccError
from bnncc.hw.block import Block, Fold
from bnncc.hw.blocks.dwc import Dwc, dwc_cycles
from bnncc.hw.blocks.fifo import fifo_terms
from bnncc.hw.dataflow import Dataflow
from bnncc.hw.design import Folding
from bnncc.hw.registry import kinds
from bnncc.hw.schedule import MIN_FIFO_DEPTH

FOLD_PARAMS = {"PE", "SIMD"}
MEMORY_STYLES = {"ram_style", "ram_style_thresholds"}  # honoured by the estimate, the HLS and the RTL
FOLD_KEYS = FOLD_PARAMS | MEMORY_STYLES | {"requant"}  # what a folding file may set for a block
FINN_IGNORED = {"mem_mode", "resType", "runtime_writeable_weights", "depth", "impl_style",
                "inFIFODepths", "outFIFODepths", "parallel_window", "preferred_impl_style"}


@dataclass
class FoldingFile:
    """What a folding file asks for (per block, its entry's folding keys) and what was not understood."""

    entries: dict[str, dict] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def take(self, name: str, entry: dict) -> None:
        """The folding parameters, memory styles and activation form of one block."""
        self.entries[name] = {k: v for k, v in entry.items() if k in FOLD_KEYS}


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
    except RecursionError:
        raise BnnccError(f"--folding {path}: nested too deeply to be a folding file") from None
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
            if k not in FOLD_KEYS | FINN_IGNORED:
                plan.warnings.append(f"--folding {path}: {key}.{k} is not a folding parameter; ignored")
    return plan


def complete(df: Dataflow, entries: dict[str, dict] | None = None) -> Folding:
    """A checked fold for every block: the entry given for it, PE = SIMD = 1 where none is."""
    entries = entries or {}
    return {b.name: b.fold(entries.get(b.name, {})) for b in df.blocks}


def fill(df: Dataflow, entries: dict[str, dict], clock_ns: float, device: Device, model: CostModel) -> Folding:
    """The folding a folding file asks for: its blocks as given, an MVAU it does not name at PE = SIMD = 1
    (as FINN does, so a mistyped key costs what it costs in FINN), and every other block it leaves out (a
    max-pool, a sliding window, a label select) at its cheapest folding that does not lower the throughput
    the named blocks set; width converters and FIFOs are chosen with them (see `optimize`)."""
    fixed = {b.name: b.fold(entries.get(b.name, {})) for b in df.blocks if b.name in entries or b.kind == "mvau"}
    if not fixed:
        return complete(df)
    interval = max(int(b.cycles(fixed[b.name])) for b in df.blocks if b.name in fixed)
    return optimize(df, interval, clock_ns, 1e9 / (interval * clock_ns), device, model, fixed)


def optimize(df: Dataflow, max_cycles: int, clock_ns: float, fps: float, device: Device, model: CostModel,
             fixed: Folding | None = None) -> Folding:
    """The folding with the fewest estimated LUTs (then BRAM18, DSP, the smallest folding parameters)
    whose every stage fits `max_cycles`, counting what the folding puts between blocks: a FIFO on every
    stream and a width converter (and its FIFO) wherever a producer's lanes differ from its consumer's.
    What sits between two blocks depends only on the lanes where they meet, so a dynamic program over
    the chain, keeping the cheapest prefix per lane count, finds the cheapest whole design. Blocks in
    `fixed` keep their fold."""
    fixed = fixed or {}
    if not df.is_chain:
        return _optimize_dag(df, max_cycles, clock_ns, fps, device, model, fixed)
    states: dict[int, tuple[tuple, list]] = {}  # lanes out of the last block -> (cost key, folds so far)
    prev = None
    for b in df.blocks:
        options = _options(b, max_cycles, clock_ns, fps, fixed)
        cost = b.cost(options[0] if len(options) == 1 else _stacked(options), device, model)
        cost = {r: np.broadcast_to(v, (len(options),)) for r, v in cost.items()}
        edges: dict[tuple[int, int], tuple | None] = {}
        nxt: dict[int, tuple[tuple, list]] = {}
        for j, o in enumerate(options):
            key = (cost["lut"][j], cost["bram18"][j], cost["dsp"][j], sum(o[k] for k in b.fold_keys))
            lanes_in = int(b.in_lanes(o))
            if prev is None:
                best = (key, [o])
            else:
                best = None
                for lanes_out, (so_far, folds) in states.items():
                    if (lanes_out, lanes_in) not in edges:
                        edges[lanes_out, lanes_in] = _between(prev, lanes_out, b, lanes_in, max_cycles, device, model)
                    edge = edges[lanes_out, lanes_in]
                    if edge is not None and (best is None or _plus(so_far, edge) < best[0]):
                        best = (_plus(so_far, edge), folds)
                if best is None:
                    continue
                best = (_plus(best[0], key), best[1] + [o])
            lanes_out = int(b.out_lanes(o))
            if lanes_out not in nxt or best[0] < nxt[lanes_out][0]:
                nxt[lanes_out] = best
        if not nxt:
            raise BnnccError(f"--fps {fps:g}: every folding of {prev.name} and {b.name} needs a width converter "
                             f"slower than {max_cycles} cycles per image")
        states, prev = nxt, b
    _, folds = min(states.values(), key=lambda s: s[0])
    return {b.name: b.fold(o) for b, o in zip(df.blocks, folds, strict=True)}


def _options(b: Block, max_cycles: int, clock_ns: float, fps: float, fixed: Folding) -> list[Fold]:
    options = [fixed[b.name]] if b.name in fixed else [o for o in b.options() if b.cycles(o) <= max_cycles]
    if not options:
        fastest = min(b.options(), key=b.cycles)
        cycles = int(b.cycles(fastest))
        raise BnnccError(f"--fps {fps:g}: {b.name} needs at least {cycles} cycles per image, so the design "
                         f"reaches at most {1e9 / (cycles * clock_ns):,.0f} FPS at {clock_ns:g} ns")
    return options


def _optimize_dag(df: Dataflow, max_cycles: int, clock_ns: float, fps: float, device: Device, model: CostModel,
                  fixed: Folding) -> Folding:
    """A branching dataflow: block by block in topological order, the option that is cheapest counting the
    streams from its producers as already folded (the chain's dynamic program does not apply where
    streams fork and join), then two more passes in which every block may change its fold given both its
    producers' and its consumers' (so neighbours agree on lanes where a width converter costs more than
    the change)."""
    chosen: Folding = {}
    options = {b.name: _options(b, max_cycles, clock_ns, fps, fixed) for b in df.blocks}
    costs = {}
    for b in df.blocks:
        o = options[b.name]
        c = b.cost(o[0] if len(o) == 1 else _stacked(o), device, model)
        costs[b.name] = {r: np.broadcast_to(v, (len(o),)) for r, v in c.items()}

    streams: dict[tuple[int, int, int, int], tuple | None] = {}  # (producer, lanes out, consumer, lanes in)

    def stream(src: int, lanes_out: int, dst: int, lanes_in: int) -> tuple | None:
        if (src, lanes_out, dst, lanes_in) not in streams:
            streams[src, lanes_out, dst, lanes_in] = _between(df.blocks[src], lanes_out, df.blocks[dst], lanes_in,
                                                              max_cycles, device, model)
        return streams[src, lanes_out, dst, lanes_in]

    def lanes_out(i: int) -> int:
        return int(df.blocks[i].out_lanes(chosen[df.blocks[i].name]))

    def lanes_in(i: int) -> int:
        return int(df.blocks[i].in_lanes(chosen[df.blocks[i].name]))

    producers = [[e.src for e in df.edges if e.dst == i] for i in range(len(df.blocks))]
    consumers = [[e.dst for e in df.edges if e.src == i] for i in range(len(df.blocks))]

    def best(i: int, both_sides: bool) -> Fold | None:
        b = df.blocks[i]
        found = None
        for j, o in enumerate(options[b.name]):
            c = costs[b.name]
            key = (c["lut"][j], c["bram18"][j], c["dsp"][j], sum(o[k] for k in b.fold_keys))
            edges = [stream(src, lanes_out(src), i, int(b.in_lanes(o))) for src in producers[i]]
            if both_sides:
                edges += [stream(i, int(b.out_lanes(o)), dst, lanes_in(dst)) for dst in consumers[i]]
            for edge in edges:
                key = None if edge is None or key is None else _plus(key, edge)
            if key is not None and (found is None or key < found[0]):
                found = (key, o)
        return None if found is None else b.fold(found[1])

    for i, b in enumerate(df.blocks):
        fold = best(i, both_sides=False)
        if fold is None:
            raise BnnccError(f"--fps {fps:g}: every folding of {b.name} needs a width converter slower than "
                             f"{max_cycles} cycles per image")
        chosen[b.name] = fold
    for _ in range(2):
        for i, b in enumerate(df.blocks):
            chosen[b.name] = best(i, both_sides=True) or chosen[b.name]
    return chosen


def _stacked(options: list[Fold]) -> dict[str, np.ndarray]:
    """The options as one fold of arrays for a batched cost: every key any option carries (the folding
    parameters and switches such as requant), False where an option leaves a switch out."""
    keys = dict.fromkeys(k for o in options for k in o)
    return {k: np.array([o.get(k, False) for o in options]) for k in keys}


def _plus(a: tuple, b: tuple) -> tuple:
    return tuple(x + y for x, y in zip(a, b, strict=True))


def _between(prev: Block, lanes_out: int, block: Block, lanes_in: int, max_cycles: int, device: Device,
             model: CostModel) -> tuple | None:
    """Cost key of the stream from `prev` (lanes_out per word) into `block` (lanes_in): its FIFO, plus a
    width converter and the FIFO into it where the lanes differ; None if that converter is too slow."""
    fifo = fifo_terms(MIN_FIFO_DEPTH, lanes_in * block.in_bits, device, model)
    costs = [model.block_cost("fifo", fifo, device)]
    if lanes_out != lanes_in:
        if dwc_cycles(prev.out_elements, lanes_out, lanes_in) > max_cycles:
            return None
        costs.append(model.block_cost("dwc", Dwc.terms_of(lanes_out, lanes_in, prev.out_bits), device))
        fifo = fifo_terms(MIN_FIFO_DEPTH, lanes_out * prev.out_bits, device, model)
        costs.append(model.block_cost("fifo", fifo, device))
    return tuple(sum(c[r] for c in costs) for r in ("lut", "bram18", "dsp")) + (0,)
