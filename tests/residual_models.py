"""Small residual QONNX models built node by node (a test helper, not a test): quantizers, 3x3 convolutions
with weights on a power-of-two grid, joins, and the file they go into."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

QONNX = "qonnx.custom_op.general"


def quant(name: str, src: str, dst: str, scale: float, bits: int = 4, signed: int = 0) -> tuple[list, list]:
    inits = [numpy_helper.from_array(np.float32(v), f"{name}_{k}") for k, v in (("s", scale), ("z", 0), ("b", bits))]
    return [helper.make_node("Quant", [src, f"{name}_s", f"{name}_z", f"{name}_b"], [dst], name=name, domain=QONNX,
                             signed=signed, narrow=0, rounding_mode="ROUND")], inits


def conv(name: str, src: str, dst: str, cin: int, cout: int, seed: int) -> tuple[list, list]:
    w = np.random.default_rng(seed).integers(-3, 4, (cout, cin, 3, 3)).astype(np.float32) * np.float32(0.25)
    return [helper.make_node("Conv", [src, f"{name}_w"], [dst], name=name, pads=[1, 1, 1, 1])], \
        [numpy_helper.from_array(w, f"{name}_w")]


def node(op: str, inputs: list[str], output: str, name: str, **attrs) -> tuple[list, list]:
    return [helper.make_node(op, inputs, [output], name=name, **attrs)], []


def save(path: str | Path, parts: list[tuple[list, list]], out_shape, in_shape=(1, 2, 4, 4)) -> str:
    nodes, inits = [n for p in parts for n in p[0]], [i for p in parts for i in p[1]]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(in_shape))],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, list(out_shape))], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid(QONNX, 1)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return str(path)


def join_model(path, sa: float, sb: float, after: str = "quant", op: str = "Add") -> str:
    """x -> Q0 -> {conv a -> Qa, conv b -> Qb} -> Add/Concat -> [Relu -> Q | output]."""
    axis = {"axis": 1} if op == "Concat" else {}
    parts = [quant("q0", "x", "x0", 0.5), conv("ca", "x0", "a", 2, 2, 1), quant("qa", "a", "qa", sa),
             conv("cb", "x0", "b", 2, 2, 2), quant("qb", "b", "qb", sb),
             node(op, ["qa", "qb"], "s" if after == "quant" else "y", "join", **axis)]
    if after == "quant":
        parts += [node("Relu", ["s"], "r", "relu"), quant("qo", "r", "y", 0.7)]
    return save(path, parts, (1, 4 if op == "Concat" else 2, 4, 4))


def residual_block(path, channels: int = 2, side: int = 4) -> str:
    """x -> Q0 -> fork -> {conv -> Q -> conv -> Q, the identity} -> Add -> Relu -> Q: one basic block whose
    shortcut must wait for two convolutions."""
    parts = [quant("q0", "x", "x0", 0.5), conv("ca", "x0", "a", channels, channels, 1), quant("qa", "a", "qa", 0.5),
             conv("cb", "qa", "b", channels, channels, 2), quant("qb", "b", "qb", 0.5),
             node("Add", ["qb", "x0"], "s", "join"), node("Relu", ["s"], "r", "relu"), quant("qo", "r", "y", 0.7)]
    return save(path, parts, (1, channels, side, side), (1, channels, side, side))
