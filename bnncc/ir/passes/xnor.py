"""Bipolar x bipolar matmul -> XNOR-popcount. The hardware accumulates popcount p = (dot + MW) / 2,
so thresholds and the host tail's dequantization move to the popcount domain."""

from __future__ import annotations

import numpy as np

from bnncc.ir import ops
from bnncc.ir.graph import Graph


def apply(graph: Graph) -> Graph:
    nodes = graph.nodes
    for i, n in enumerate(nodes):
        if not (isinstance(n.op, ops.MatMul) and n.op.grid.kind == "bipolar"
                and graph.types[n.input].dtype.is_bipolar):
            continue
        mw = n.op.weights.shape[0]
        n.op = ops.XnorPopcount((n.op.weights > 0).astype(np.uint8))
        for user in nodes[i + 1:]:
            if isinstance(user.op, ops.MultiThreshold):
                t, desc = user.op.thresholds, user.op.descending[:, None]
                # dot >= T  <=>  p >= ceil((T + MW) / 2);  dot <= T  <=>  p <= floor((T + MW) / 2)
                user.op.thresholds = np.where(desc, (t + mw) // 2, -((-(t + mw)) // 2))
                break
            if isinstance(user.op, ops.HostTail):
                user.op.m, user.op.b0 = 2, -mw
                break
            if not isinstance(user.op, ops.MaxPool | ops.LabelSelect):
                break
    _retype(graph)
    return graph


def _retype(graph: Graph) -> None:
    for n in graph.nodes:
        graph.types[n.output] = n.op.infer(graph.types[n.input])
