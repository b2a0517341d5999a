"""A design: the dataflow with one folding, and everything that folding implies between blocks (width
converters where a producer's lanes differ from its consumer's, a FIFO on every stream), its
schedule and its cost. `realize` builds it from the two values; nothing in a block changes. Stages are in
topological order and `edges` are the streams between them (a chain: stage i into stage i + 1)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from bnncc.cost.devices import Device
from bnncc.cost.model import RESOURCES, CostModel
from bnncc.errors import BnnccError
from bnncc.hw import schedule, tokens
from bnncc.hw.block import Block, Fold
from bnncc.hw.blocks.dwc import Dwc, dwc_cycles
from bnncc.hw.blocks.fifo import Fifo, fifo_terms
from bnncc.hw.dataflow import Dataflow, Edge, chain_edges
from bnncc.hw.stream import StreamFormat

Folding = dict[str, Fold]  # block name -> fold: the value --folding, --fps and a search produce


@dataclass(frozen=True)
class Stage:
    """One block of the design with its fold."""

    block: Block
    fold: Fold

    @property
    def name(self) -> str:
        return self.block.name

    @property
    def in_format(self) -> StreamFormat:
        return self.block.in_format(self.fold)

    @property
    def out_format(self) -> StreamFormat:
        return self.block.out_format(self.fold)

    def cycles(self) -> int:
        return int(self.block.cycles(self.fold))

    def shown_fold(self) -> dict:
        """The fold as reports and folding.json show it: the folding parameters, then what else it sets (a
        ram_style, the activation form), so that reading folding.json back gives the same design."""
        return {**{k: self.fold[k] for k in self.block.fold_keys},
                **{k: v for k, v in self.fold.items() if k not in self.block.fold_keys}}


@dataclass
class Design:
    dataflow: Dataflow
    folding: Folding
    stages: list[Stage]  # topological (for a chain: stream) order, width converters included
    fifos: list[Stage]  # fifos[k] is the stream of edges[k]
    edges: list[Edge] = field(default_factory=list)  # between stages, by destination; default: a chain

    def __post_init__(self) -> None:
        if not self.edges:
            self.edges = chain_edges(len(self.stages))

    @property
    def input_format(self) -> StreamFormat:
        return self.stages[0].in_format

    @property
    def output_format(self) -> StreamFormat:
        return self.stages[-1].out_format

    @property
    def output_tensor(self) -> str:
        return self.dataflow.output_tensor

    def folded(self) -> list[Stage]:
        """The stages of the dataflow's own blocks (the ones a folding names)."""
        return [s for s in self.stages if s.block.kind != "dwc"]

    def interval(self) -> int:
        return schedule.interval([s.cycles() for s in self.stages])

    def token_model(self) -> tokens.Model | None:
        """The design's token model, or None where a block kind has none."""
        return token_model(self.stages, self.edges)

    def latency(self) -> int:
        """Cycles from the first input word of an image to its last output word, as the token model times it
        with the design's FIFO depths (RTL simulation measures the same number); the schedule's bound where
        a block kind has no token model."""
        model = self.token_model()
        if model is None:
            return schedule.latency([s.cycles() for s in self.stages], [s.block.pipeline_depth for s in self.stages])
        timing = model.solve([f.block.depth for f in self.fifos])
        return int(timing.produced[-1][self.output_format.words - 1]) + 1

    def timing_features(self) -> dict[str, int]:
        """The structure that bounds the clock, as maxima over the blocks: adder-tree levels (log2 SIMD),
        accumulator bits (the carry chains), lanes (PE x SIMD: fan-out of the shared controls) and fold-counter
        bits. A fitted model maps them to Fmax."""
        out = {"adder_tree_levels": 0, "accumulator_bits": 0, "lanes": 1, "fold_counter_bits": 0}
        for s in self.stages:
            p = {q.name: q.value for q in s.block.params(s.fold)}
            simd, pe = int(p.get("SIMD", 1)), int(p.get("PE", 1))
            out["adder_tree_levels"] = max(out["adder_tree_levels"], (simd - 1).bit_length() if "MW" in p else 0)
            out["accumulator_bits"] = max(out["accumulator_bits"], int(p.get("ACC_BITS", 0)))
            out["lanes"] = max(out["lanes"], pe * simd)
            folds = int(p.get("NF", 1)) * int(p.get("SF", 1))
            out["fold_counter_bits"] = max(out["fold_counter_bits"], folds.bit_length())
        return out

    def bottleneck(self) -> Stage:
        return max(self.stages, key=lambda s: s.cycles())


def realize(df: Dataflow, folding: Folding, fifo_depths: str | list[int] = "sized") -> Design:
    """The design of `df` at `folding` (a fold for every block of the dataflow, e.g. folding.complete's).
    FIFO depths: "sized" by the token model (the smallest that keep the interval, bnncc.hw.tokens),
    "image" (one image of words: nothing ever waits for space), "minimal" (2), or a list."""
    stages: list[Stage] = []
    edges: list[Edge] = []
    at: dict[int, int] = {}  # block -> stage
    for i, block in enumerate(df.blocks):
        fold = folding[block.name]
        into = []
        for e in (e for e in df.edges if e.dst == i):
            prev = df.blocks[e.src]
            src, port = at[e.src], e.src_port
            out_lanes, in_lanes = int(prev.out_lanes(folding[prev.name])), int(block.in_lanes(fold))
            if out_lanes != in_lanes:
                n_dwc = sum(s.block.kind == "dwc" for s in stages)
                stages.append(Stage(Dwc(f"dwc{n_dwc}", prev.out_dtype, prev.out_dtype, prev.out_elements,
                                        prev.out_elements, prev.tensor, lanes_in=out_lanes, lanes_out=in_lanes), {}))
                edges.append(Edge(src, port, len(stages) - 1, 0))
                src, port = len(stages) - 1, 0
            into.append((src, port, e.dst_port))
        stages.append(Stage(block, fold))
        at[i] = len(stages) - 1
        edges += [Edge(src, port, at[i], dst_port) for src, port, dst_port in into]
    edges.sort(key=lambda e: (e.dst, e.dst_port))
    formats = [stages[e.dst].block.port_format(e.dst_port, stages[e.dst].fold) for e in edges]
    words = [f.words for f in formats]
    if fifo_depths == "sized":
        depths = sized_depths(stages, edges, words)
    elif isinstance(fifo_depths, str):
        depths = [int(schedule.fifo_depth(w)) if fifo_depths == "image" else schedule.MIN_FIFO_DEPTH for w in words]
    else:
        depths = list(fifo_depths)
    fifos = []
    for e, fmt, depth in zip(edges, formats, depths, strict=True):
        dst = stages[e.dst].block
        name = f"fifo_{dst.name}" + (f"_{e.dst_port}" if e.dst_port else "")
        fifos.append(Stage(Fifo(name, dst.port_dtype(e.dst_port), dst.port_dtype(e.dst_port), fmt.elements,
                                fmt.elements, dst.tensor, width=fmt.word_bits, depth=depth,
                                words=fmt.words), {}))
    return Design(df, folding, stages, fifos, edges)


def token_model(stages: list[Stage], edges: list[Edge]) -> tokens.Model | None:
    try:
        programs = [s.block.steps(s.fold) for s in stages]
    except NotImplementedError:
        return None
    return tokens.Model(programs, [s.in_format.words for s in stages], [s.out_format.words for s in stages],
                        edges=[(e.src, e.dst, e.dst_port) for e in edges])


def sized_depths(stages: list[Stage], edges: list[Edge], words: list[int]) -> list[int]:
    """FIFO depths from the token model; one image of words each where a block kind has no token model."""
    whole = [int(schedule.fifo_depth(w)) for w in words]
    model = token_model(stages, edges)
    if model is None:
        return whole
    # a join's inputs wait for each other: its bypass may have to hold more than one image while the long
    # branch fills its window buffers, so the limit to search below is every image the model simulates
    joins = {e.dst for e in edges if e.dst_port}
    limit = [w * tokens.IMAGES if e.dst in joins else w for e, w in zip(edges, whole, strict=True)]
    return tokens.size_fifos(model, limit)[0]


def estimate(design: Design, device: Device, model: CostModel, clock_ns: float) -> dict:
    """Cycles, latency, FPS and resources of the design, per stage and FIFO and in total."""
    rows = []
    for s in design.stages + design.fifos:
        terms = s.block.terms(s.fold, device, model)  # Block.cost's terms, once for the cost and the range check
        cost = model.block_cost(s.block.cost_class, terms, device)
        beyond = model.beyond_range(s.block.cost_class, terms, device)
        rows.append({"block": s.name, "kind": s.block.kind, "folding": s.shown_fold(), "cycles": s.cycles(),
                     **{r: int(cost[r]) for r in RESOURCES}, **({"beyond_calibration": beyond} if beyond else {})})
    extrapolated = [row["block"] for row in rows if "beyond_calibration" in row]
    interval, latency = design.interval(), design.latency()
    total = {r: sum(row[r] for row in rows) for r in RESOURCES}
    capacity = device.capacity()
    fmax = model.fmax_mhz(design.timing_features(), device)
    timing = {} if fmax is None else {"fmax_mhz": round(float(fmax), 1)}  # only a fitted model predicts one
    return {**timing,
        "part": device.part, "clock_ns": clock_ns,
        "cycles_per_image": interval, "latency_cycles": latency,
        "fps": 1e9 / (interval * clock_ns), "latency_us": latency * clock_ns / 1000,
        "bottleneck": design.bottleneck().name,
        **total,
        **({"beyond_calibration": extrapolated} if extrapolated else {}),
        "utilization": {r: total[r] / capacity[r] if capacity[r] else 0.0 for r in RESOURCES},
        "cost_model": model.describe(),
        "blocks": rows,
    }


def estimate_batch(df: Dataflow, folds: dict[str, dict[str, np.ndarray]], device: Device,
                   model: CostModel) -> dict[str, np.ndarray]:
    """The totals of `estimate` (LUT, FF, BRAM18, DSP, cycles per image) for N foldings at once: `folds`
    holds, per block, one array of N values per folding key. Width converters are costed wherever each
    folding implies them, and so are FIFOs, at the minimal depth the token model gives most streams, so the
    totals equal `estimate(realize(..., fifo_depths="minimal"))` folding by folding."""
    if not df.is_chain:
        raise BnnccError("estimate_batch costs chains of blocks; cost a branching dataflow with estimate(realize(..))")
    totals: dict[str, np.ndarray] = {r: np.zeros(1) for r in RESOURCES}
    cycles = []

    def add(cost: dict, where=True) -> None:
        for r in RESOURCES:
            totals[r] = totals[r] + np.where(where, cost[r], 0)

    prev = None
    for b in df.blocks:
        f = folds[b.name]
        add(b.cost(f, device, model))
        cycles.append(np.asarray(b.cycles(f)))
        if prev is not None:
            pb, pf = prev
            lanes_out, lanes_in = np.asarray(pb.out_lanes(pf)), np.asarray(b.in_lanes(f))
            dwc = lanes_out != lanes_in
            add(model.block_cost("dwc", Dwc.terms_of(lanes_out, lanes_in, pb.out_bits), device), dwc)
            cycles.append(np.where(dwc, dwc_cycles(pb.out_elements, lanes_out, lanes_in), 0))
            into_dwc = fifo_terms(schedule.MIN_FIFO_DEPTH, lanes_out * pb.out_bits, device, model)
            add(model.block_cost("fifo", into_dwc, device), dwc)
            into_block = fifo_terms(schedule.MIN_FIFO_DEPTH, lanes_in * b.in_bits, device, model)
            add(model.block_cost("fifo", into_block, device))
        prev = (b, f)
    out = {r: totals[r].astype(np.int64) for r in RESOURCES}
    out["cycles_per_image"] = np.maximum.reduce(np.broadcast_arrays(*cycles)).astype(np.int64)
    return out


def fits(est: dict, device: Device) -> list[str]:
    """The resources the estimate exceeds on the device, as readable strings."""
    cap = device.capacity()
    return [f"{r.upper()} {est[r]:,} > {cap[r]:,}" for r in RESOURCES if est[r] > cap[r]]
