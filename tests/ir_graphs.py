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


def affine_thresholds(rng, lo: int, hi: int, channels: int, out: DataType, nudged: int = 0):
    """Thresholds of code = clip(floor(a * acc + b), 0, L - 1) per channel (a random slope of either sign,
    as BatchNorm and a uniform quantizer give): exactly a requantization. With `nudged`, that many
    thresholds per channel move one accumulator step, as float32 rounding moves a near-tie."""
    n = out.levels - 1
    acc = np.arange(lo, hi + 1)
    a = rng.uniform(1.2, 3.0, channels) * n / max(hi - lo, 1) * np.where(rng.random(channels) < 0.4, -1, 1)
    b = np.where(a > 0, 0.0, n) + rng.uniform(-0.3, 0.3, channels) * n
    codes = np.clip(np.floor(a[:, None] * acc[None, :] + b[:, None]), 0, n).astype(np.int64)  # [C, acc]
    desc = a < 0
    t = np.empty((channels, n), np.int64)
    for c in range(channels):
        for k in range(1, n + 1):
            reach = acc[codes[c] >= k]
            if desc[c]:  # code >= k for acc <= T_k
                t[c, k - 1] = reach.max() if reach.size else lo - 1
            else:
                t[c, k - 1] = reach.min() if reach.size else hi + 1
        if nudged:
            inside = np.flatnonzero((t[c] > lo + 1) & (t[c] < hi - 1))
            t[c, rng.choice(inside, nudged, replace=False)] += rng.choice([-1, 1], nudged)
            t[c] = np.sort(t[c])[::-1] if desc[c] else np.sort(t[c])
    return ops.MultiThreshold(t, desc, out)
