"""Dead-node removal: drop nodes none of whose outputs reach a graph output."""

from __future__ import annotations

from bnncc.ir.graph import FloatGraph


def apply(fg: FloatGraph) -> FloatGraph:
    live = set(fg.outputs)
    kept = []
    for n in reversed(fg.nodes):
        if any(o in live for o in n.outputs):
            kept.append(n)
            live.update(n.inputs)
    fg.nodes = kept[::-1]
    fg.consts = {k: v for k, v in fg.consts.items() if k in live}
    return fg
