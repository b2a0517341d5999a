"""IR graph -> the dataflow: the chain of streaming blocks the hardware part of the graph becomes,
unfolded. Each registered block kind offers a lowering rule; the first that matches a node makes its
block (an MVAU also takes the thresholds that follow it). Flatten moves no data in an NHWC stream, so
it makes no block. Width converters and FIFOs depend on the folding and are added by `design.realize`.
"""

from __future__ import annotations

from dataclasses import dataclass

from bnncc.errors import BnnccError
from bnncc.hw.block import Block
from bnncc.hw.registry import kinds
from bnncc.ir import ops
from bnncc.ir.graph import Graph


@dataclass
class Dataflow:
    blocks: list[Block]  # the folded blocks, in stream order (no width converters, no FIFOs)
    output_tensor: str  # the IR tensor the last block's output equals

    def by_name(self) -> dict[str, Block]:
        return {b.name: b for b in self.blocks}


def build(graph: Graph) -> Dataflow:
    """The blocks of the graph's hardware part; a branching graph or an op without a block kind is a
    BnnccError naming the node."""
    hw = graph.hardware
    if not hw:
        raise BnnccError(f"{graph.path}: the model has no integer layers to put in hardware")
    graph.chain("the FPGA backend", hw)
    rules = kinds()
    count: dict[str, int] = {}

    def name(kind: str) -> str:
        count[kind] = count.get(kind, 0) + 1
        return f"{kind}{count[kind] - 1}"

    blocks: list[Block] = []
    i = 0
    while i < len(hw):
        if isinstance(hw[i].op, ops.Flatten):
            i += 1
            continue
        made = next((r for r in (k.lower(graph, hw, i, name) for k in rules) if r is not None), None)
        if made is None:
            raise BnnccError(f"{graph.path}: node {hw[i].describe()} has no FPGA block")
        blocks.append(made[0])
        i += made[1]
    return Dataflow(blocks, hw[-1].output)
