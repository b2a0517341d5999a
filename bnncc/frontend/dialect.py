"""Recognize our dialect's quantizer patterns (docs/onnx-dialect.md) as single quantizer nodes:

- Where(GreaterOrEqual(x, t), hi, lo)  -> bipolar quantizer (x >= t -> hi)
- Clip(Round(x), lo, hi), integral lo/hi -> integer quantizer lo..hi
"""

from __future__ import annotations

import numpy as np

from bnncc.ir.float_ops import FloatNode
from bnncc.ir.graph import FloatGraph


def _scalar(fg: FloatGraph, name: str) -> float | None:
    v = fg.consts.get(name)
    return float(v.ravel()[0]) if v is not None and v.size == 1 else None


def apply(fg: FloatGraph) -> FloatGraph:
    consumers = fg.consumers()
    replace: dict[int, FloatNode | None] = {}
    for n in fg.nodes:
        users = consumers.get(n.outputs[0], [])
        if len(users) != 1 or n.outputs[0] in fg.outputs:
            continue
        user = users[0]
        if n.op == "GreaterOrEqual" and user.op == "Where" and user.inputs[0] == n.outputs[0]:
            t, hi, lo = _scalar(fg, n.inputs[1]), _scalar(fg, user.inputs[1]), _scalar(fg, user.inputs[2])
            if None not in (t, hi, lo) and hi > lo:
                replace[id(n)] = None
                replace[id(user)] = FloatNode("Where", [n.inputs[0]], user.outputs,
                                              {"t": t, "hi": hi, "lo": lo}, user.name)
        if n.op == "Round" and user.op == "Clip":
            lo = _scalar(fg, user.inputs[1]) if len(user.inputs) > 1 else user.attrs.get("min")
            hi = _scalar(fg, user.inputs[2]) if len(user.inputs) > 2 else user.attrs.get("max")
            if lo is not None and hi is not None and np.isfinite([lo, hi]).all() and lo == int(lo) \
                    and hi == int(hi) and hi > lo:
                replace[id(n)] = None
                replace[id(user)] = FloatNode("RoundClip", [n.inputs[0]], user.outputs,
                                              {"lo": int(lo), "hi": int(hi)}, user.name)
    fg.nodes = [replace.get(id(n), n) for n in fg.nodes if replace.get(id(n), n) is not None]
    return fg
