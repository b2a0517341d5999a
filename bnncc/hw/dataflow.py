"""IR graph -> the dataflow: the streaming blocks the hardware part of the graph becomes, unfolded, and the
streams between them. Each registered block kind offers a lowering rule; the first that matches a node
makes its block (an MVAU also takes the thresholds that follow it). Flatten moves no data in an NHWC
stream, so it makes no block. A tensor read by several blocks gets a fork (`Fork`, two outputs; a chain of
them for more readers), so every other block has one output and a residual Add two inputs. Width
converters and FIFOs depend on the folding and are added by `design.realize`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from bnncc.errors import BnnccError
from bnncc.hw.block import Block
from bnncc.hw.blocks.fork import Fork
from bnncc.hw.registry import kinds
from bnncc.ir import ops
from bnncc.ir.graph import Graph


@dataclass(frozen=True)
class Edge:
    """A stream from output `src_port` of block (or stage) `src` into input `dst_port` of `dst`."""

    src: int
    src_port: int
    dst: int
    dst_port: int


def chain_edges(n: int) -> list[Edge]:
    return [Edge(i, 0, i + 1, 0) for i in range(n - 1)]


@dataclass
class Dataflow:
    blocks: list[Block]  # the folded blocks, in topological order (no width converters, no FIFOs)
    output_tensor: str  # the IR tensor the last block's output equals
    edges: list[Edge] = field(default_factory=list)  # between blocks; block 0 reads the design's input

    def __post_init__(self) -> None:
        if not self.edges:
            self.edges = chain_edges(len(self.blocks))

    @property
    def is_chain(self) -> bool:
        return self.edges == chain_edges(len(self.blocks))

    def by_name(self) -> dict[str, Block]:
        return {b.name: b for b in self.blocks}


def build(graph: Graph) -> Dataflow:
    """The blocks of the graph's hardware part and their streams; an op without a block kind is a
    BnnccError naming the node."""
    hw = graph.hardware
    if not hw:
        raise BnnccError(f"{graph.path}: the model has no integer layers to put in hardware")
    rules = kinds()
    count: dict[str, int] = {}

    def name(kind: str) -> str:
        count[kind] = count.get(kind, 0) + 1
        return f"{kind}{count[kind] - 1}"

    made: list[tuple[Block, list[str]]] = []  # each block and the IR tensors it reads
    alias: dict[str, str] = {}  # a Flatten's output is its input
    i = 0
    while i < len(hw):
        if isinstance(hw[i].op, ops.Flatten):
            alias[hw[i].output] = alias.get(hw[i].input, hw[i].input)
            i += 1
            continue
        rule = next((r for r in (k.lower(graph, hw, i, name) for k in rules) if r is not None), None)
        if rule is None:
            raise BnnccError(f"{graph.path}: node {hw[i].describe()} has no FPGA block")
        made.append((rule[0], [alias.get(t, t) for t in hw[i].inputs]))
        i += rule[1]
    return _streams(graph, made, hw[0].inputs[0])


def _streams(graph: Graph, made: list[tuple[Block, list[str]]], source: str) -> Dataflow:
    """Order the blocks with the forks their fan-outs need and connect them; `source` is the design's input."""
    readers: dict[str, int] = {}
    for _, inputs in made:
        for t in inputs:
            readers[t] = readers.get(t, 0) + 1
    blocks: list[Block] = []
    edges: list[Edge] = []
    free: dict[str, list[tuple[int, int]]] = {source: [(-1, 0)]}  # tensor -> output slots not yet read
    forks = 0

    def take(t: str) -> tuple[int, int]:
        nonlocal forks
        if t not in free or not free[t]:
            raise BnnccError(f"{graph.path}: tensor {t} is read before it is computed in the dataflow")
        if readers[t] > 1 and len(free[t]) == 1:  # fan-out: a fork of the one slot left
            slot = free[t].pop()
            tt = graph.types[t]
            fork = Fork(f"fork{forks}", tt.dtype, tt.dtype, tt.size, tt.size, t, [], c=tt.shape[-1],
                        pixels=int(np.prod(tt.shape[:-1])))
            forks += 1
            connect(slot, len(blocks), 0)
            blocks.append(fork)
            free[t] = [(len(blocks) - 1, 0), (len(blocks) - 1, 1)]
        readers[t] -= 1
        return free[t].pop(0)

    def connect(slot: tuple[int, int], dst: int, port: int) -> None:
        if slot[0] >= 0:
            edges.append(Edge(slot[0], slot[1], dst, port))
        elif dst != 0:
            raise BnnccError(f"{graph.path}: the design's input is read by a block that is not the first")

    for block, inputs in made:
        slots = [take(t) for t in inputs]
        for port, slot in enumerate(slots):
            connect(slot, len(blocks), port)
        blocks.append(block)
        free[block.tensor] = [(len(blocks) - 1, 0)]
    edges.sort(key=lambda e: (e.dst, e.dst_port))
    return Dataflow(blocks, blocks[-1].tensor, edges)
