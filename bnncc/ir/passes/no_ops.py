"""No-op removal: Identity, Dropout (inference) and a Cast to the type its input already has change no
value, so consumers read their input instead and the node goes (a graph output they wrote is renamed to
that input). Run once shapes and types are traced, so a Cast's input type is known; the dialect patterns
and the lowering then see through them."""

from __future__ import annotations

import numpy as np

from bnncc.ir.float_ops import CAST_TYPES
from bnncc.ir.graph import FloatGraph


def _is_no_op(fg: FloatGraph, n) -> bool:
    if n.op in ("Identity", "Dropout"):
        return len(n.outputs) == 1 or not any(n.outputs[1:])  # a Dropout mask output is used: keep it
    if n.op == "Cast":
        target = CAST_TYPES.get(n.attrs.get("to"))
        return target is not None and fg.dtypes.get(n.inputs[0]) == np.dtype(target)
    return False


def apply(fg: FloatGraph) -> FloatGraph:
    alias: dict[str, str] = {}  # a removed node's output -> the tensor it passed on
    kept = []
    for n in fg.nodes:
        n.inputs = [alias.get(i, i) for i in n.inputs]
        if _is_no_op(fg, n):
            alias[n.outputs[0]] = n.inputs[0]
            continue
        kept.append(n)
    fg.nodes = kept
    fg.outputs = [alias.get(o, o) for o in fg.outputs]
    return fg
