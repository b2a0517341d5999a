"""Small IR graphs built op by op (no ONNX), for testing one hardware block at a time."""

from __future__ import annotations

import numpy as np

from bnncc.ir import ops
from bnncc.ir.dtypes import DataType
from bnncc.ir.graph import Graph, Node, TensorType


def layer_graph(in_type: TensorType, layers: list) -> Graph:
    types, nodes, cur = {"x": in_type}, [], "x"
    for i, op in enumerate(layers):
        out = f"t{i}"
        types[out] = op.infer(types[cur])
        nodes.append(Node(op, [cur], [out]))
        cur = out
    return Graph("layer-test", "x", in_type, nodes, types, ["y"])


def random_thresholds(rng, lo: int, hi: int, channels: int, out: DataType):
    n = out.levels - 1
    t = np.sort(rng.integers(lo - 1, hi + 2, size=(channels, n)), axis=1)
    desc = rng.random(channels) < 0.4
    t[desc] = t[desc][:, ::-1]
    return ops.MultiThreshold(t, desc, out)
