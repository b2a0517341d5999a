"""Batch freedom: a model exported with a fixed batch (usually 1) runs on any batch. Reshape
targets that spell the traced batch get 0 ("copy the input's dim"); ops that would touch the
batch axis are refused."""

from __future__ import annotations

import numpy as np

from bnncc.errors import BnnccError
from bnncc.ir.graph import FloatGraph, quote


def apply(fg: FloatGraph) -> FloatGraph:
    batch = fg.input_shape[0]
    for n in fg.nodes:
        where = f"{fg.path}: node {quote(n.name)} ({n.op})"
        if n.op == "Reshape":
            target = fg.consts.get(n.inputs[1])
            if target is None:
                raise BnnccError(f"{where}: the target shape is not a constant")
            target = target.astype(np.int64).copy()
            if n.attrs.get("allowzero", 0) and 0 in target:
                raise BnnccError(f"{where}: Reshape with allowzero=1 and a 0 in its target makes an empty tensor")
            n.attrs["allowzero"] = 0  # from here, the target's leading 0 copies the batch
            if target[0] in (batch, -1, 0) and not (target[0] == -1 and -1 in target[1:]):
                target[0] = 0
                name = f"{n.inputs[1]}#batchfree"
                fg.consts[name] = target
                n.inputs = [n.inputs[0], name]
            else:
                raise BnnccError(f"{where}: reshape to {target.tolist()} mixes the batch with other axes")
        elif n.op == "Flatten" and n.attrs.get("axis", 1) == 0:
            raise BnnccError(f"{where}: Flatten with axis 0 mixes the batch with other axes")
        elif n.op == "Transpose" and list(n.attrs.get("perm", [1]))[:1] != [0]:
            raise BnnccError(f"{where}: transpose moves the batch axis")
        elif n.op in ("Squeeze", "Unsqueeze"):
            axes = n.attrs.get("axes")
            if axes is None and len(n.inputs) > 1:
                axes = fg.consts[n.inputs[1]].tolist()
            if axes is None or 0 in axes:
                raise BnnccError(f"{where}: squeezing or unsqueezing axis 0 (the batch) is not supported")
    return fg
