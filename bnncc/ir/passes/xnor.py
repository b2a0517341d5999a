"""Bipolar x bipolar matmul -> XNOR-popcount. The hardware accumulates popcount p = (dot + MW) / 2,
so thresholds and the host tail's dequantization move to the popcount domain, on every path from
the popcount to the next op that reads the accumulator's value (through max-pools and label selects,
which only compare it)."""

from __future__ import annotations

import numpy as np

from bnncc.ir import ops
from bnncc.ir.graph import Graph, Node


def apply(graph: Graph) -> Graph:
    consumers = graph.consumers()
    for n in graph.nodes:
        if not (isinstance(n.op, ops.MatMul) and n.op.grid.kind == "bipolar"
                and graph.types[n.input].dtype.is_bipolar):
            continue
        mw = n.op.weights.shape[0]
        n.op = ops.XnorPopcount((n.op.weights > 0).astype(np.uint8))
        _to_popcount(n, mw, consumers)
    graph.retype()
    return graph


def _to_popcount(node: Node, mw: int, consumers: dict[str, list[Node]]) -> None:
    for user in consumers.get(node.output, []):
        if isinstance(user.op, ops.MultiThreshold):
            t, desc = user.op.thresholds, user.op.descending[:, None]
            # dot >= T  <=>  p >= ceil((T + MW) / 2);  dot <= T  <=>  p <= floor((T + MW) / 2)
            user.op.thresholds = np.where(desc, (t + mw) // 2, -((-(t + mw)) // 2))
        elif isinstance(user.op, ops.HostTail):
            user.op.m, user.op.b0 = 2, -mw
        elif isinstance(user.op, ops.MaxPool | ops.LabelSelect):
            _to_popcount(user, mw, consumers)
