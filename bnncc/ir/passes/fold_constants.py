"""Constant folding: evaluate every node whose inputs are constants (weight quantizers,
transposes of weights), and the Shape/Gather/Unsqueeze/Concat chains that exporters emit for a
flatten, using shapes traced by running the graph once on a zero input. Records traced shapes."""

from __future__ import annotations

import numpy as np

from bnncc.errors import BnnccError
from bnncc.ir.float_ops import run_node
from bnncc.ir.graph import FloatGraph, quote


def apply(fg: FloatGraph) -> FloatGraph:
    env = {fg.input: np.zeros(fg.input_shape, dtype=np.float32)}
    kept = []
    for n in fg.nodes:
        try:
            if n.op == "Shape":
                fg.consts[n.outputs[0]] = np.array(env[n.inputs[0]].shape, dtype=np.int64)
                continue
            if all(i == "" or i in fg.consts for i in n.inputs):
                run_node(n, fg.consts, fg.consts)
                continue
            run_node(n, env, fg.consts)
        except BnnccError as e:
            raise BnnccError(f"{fg.path}: {e}") from None
        except Exception as e:  # numpy shape errors: the file's shapes do not fit together
            raise BnnccError(f"{fg.path}: node {quote(n.name)} ({n.op}) fails on the declared input shape "
                             f"{list(fg.input_shape)}: {e}") from None
        kept.append(n)
    fg.nodes = kept
    fg.shapes = {k: tuple(np.shape(v)) for k, v in env.items()}
    fg.dtypes = {k: np.asarray(v).dtype for k, v in env.items()}
    return fg
