"""The host head and tail as small standard ONNX files, so the crossbar simulator needs no bnncc.ir.

``host_head.onnx``: float input [N, ...] -> int64 values [N, ...] in the hardware's NHWC layout. It
holds the float ops before the first quantizer exactly as the IR runs them, then the quantizer's
integer count written in standard ops (GreaterOrEqual, Div/Add/Clip/Round, ReduceSum ...), then the
value map (bipolar 2c - 1, else c + offset) and the NCHW -> NHWC transpose.

``host_tail.onnx``: int64 accumulators [N, ...] -> the model's outputs. Dequantization is done in
float64 and rounded once to float32, as ``HostTail.dequant`` does, then reordered to the ONNX layout
with a Gather, then the remaining float ops.

Only ops whose float32 result is the same in every IEEE runtime are written (elementwise + - * /,
sqrt, min/max, rounding, data movement, TopK/ArgMax); BatchNormalization is written folded as Mul/Add in
onnxruntime's order (`batchnorm_affine`), which the IR interpreter follows. Anything else (Softmax, Exp,
Tanh, float MatMul ...) is refused with exit 2: the simulator could not then be bit-exact.
Tensor names are fresh (``t0, c0, ...``): no name of the model reaches the files.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from bnncc.errors import BnnccError
from bnncc.ir import float_ops, ops
from bnncc.ir.spec import batchnorm_affine

OPSET = 13
IR_VERSION = 8
F32 = np.float32

PASS_THROUGH = {"Add", "Sub", "Mul", "Div", "Neg", "Abs", "Sqrt", "Reciprocal", "Relu", "LeakyRelu", "Floor",
                "Ceil", "Round", "Max", "Min", "Reshape", "Flatten", "Transpose", "Gather", "Concat", "TopK",
                "ArgMax", "MaxPool", "GreaterOrEqual", "Greater", "Where", "Identity"}
AS_IDENTITY = {"Dropout", "Cast"}  # the IR's float interpreter treats both as identity
ELEMENTWISE = {"Add", "Sub", "Mul", "Div", "Max", "Min"}


class _Emitter:
    """Collects nodes and initializers with fresh tensor names."""

    def __init__(self, consts: dict[str, np.ndarray]) -> None:
        self.consts = consts
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.names: dict[str, str] = {}  # model tensor -> our name
        self.const_names: dict[str, str] = {}
        self.count = 0

    def fresh(self, prefix: str = "t") -> str:
        self.count += 1
        return f"{prefix}{self.count}"

    def const(self, value: np.ndarray) -> str:
        name = self.fresh("c")
        self.inits.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def model_const(self, name: str) -> str:
        if name not in self.const_names:
            self.const_names[name] = self.const(self.consts[name])
        return self.const_names[name]

    def node(self, op: str, inputs: list[str], n_out: int = 1, **attrs) -> list[str]:
        outs = [self.fresh() for _ in range(n_out)]
        self.nodes.append(helper.make_node(op, inputs, outs, name=f"n{len(self.nodes)}", **attrs))
        return outs

    def one(self, op: str, inputs: list[str], **attrs) -> str:
        return self.node(op, inputs, 1, **attrs)[0]

    def operand(self, name: str) -> str:
        if not name:
            return ""
        if name in self.names:
            return self.names[name]
        if name in self.consts:
            return self.model_const(name)
        raise BnnccError("host graph: a tensor is read before any op writes it")


def _where(side: str, i: int, node: float_ops.FloatNode) -> str:
    return f"host {side} op {i} ({node.op})"


def _float_node(em: _Emitter, node: float_ops.FloatNode, ranks: dict[str, int], side: str, i: int) -> None:
    """Write one float op of the head or tail, keeping the IR interpreter's float32 semantics."""
    op, a = node.op, dict(node.attrs)
    data = [n for n in node.inputs if n and n not in em.consts]
    consts = [em.consts[n] for n in node.inputs if n and n in em.consts]
    if len(data) > 1 and op not in ("Concat", "Max", "Min", "Where"):
        raise BnnccError(f"{_where(side, i, node)}: two data inputs are not supported on the host")
    if op in AS_IDENTITY:
        outs = [em.one("Identity", [em.operand(node.inputs[0])])]
    elif op == "BatchNormalization":
        outs = [_batchnorm(em, node, ranks[node.inputs[0]])]
    elif op in ELEMENTWISE and any(np.asarray(c).dtype != np.float32 for c in consts):
        # numpy promotes to float64 and the interpreter rounds once to float32: do the same
        ins = [em.one("Cast", [em.operand(n)], to=TensorProto.DOUBLE) for n in node.inputs]
        outs = [em.one("Cast", [em.one(op, ins)], to=TensorProto.FLOAT)]
    elif op in ("Squeeze", "Unsqueeze"):
        ins = [em.operand(node.inputs[0])]
        if "axes" in a:
            ins.append(em.const(np.asarray(a.pop("axes"), dtype=np.int64)))
        elif len(node.inputs) > 1:
            ins.append(em.operand(node.inputs[1]))
        outs = [em.one(op, ins)]
    elif op == "Clip":
        ins = [em.operand(node.inputs[0])]
        for k, key in ((1, "min"), (2, "max")):
            if len(node.inputs) > k and node.inputs[k]:
                ins.append(em.operand(node.inputs[k]))
            elif key in a:
                ins.append(em.const(np.asarray(a.pop(key), dtype=F32)))
            else:
                ins.append("")
        outs = [em.one("Clip", ins)]
    elif op in PASS_THROUGH:
        if op == "Reshape" and not a.pop("allowzero", 0) == 0:  # an opset-14 attribute; 0 is opset 13's meaning
            raise BnnccError(f"{_where(side, i, node)}: Reshape with allowzero=1 is not supported")
        if op in ("Where", "Max", "Min", "Concat") and any(np.asarray(c).dtype != np.float32 for c in consts
                                                              if np.asarray(c).dtype.kind == "f"):
            raise BnnccError(f"{_where(side, i, node)}: float64 constants are not supported in host files")
        outs = em.node(op, [em.operand(n) for n in node.inputs], len(node.outputs), **a)
    else:
        raise BnnccError(f"{_where(side, i, node)}: not written to the RRAM host files (only ops that every "
                         "IEEE runtime computes bit-exactly are; see docs/rram-mapping.md)")
    for orig, ours in zip(node.outputs, outs, strict=False):
        if orig:
            em.names[orig] = ours


def _batchnorm(em: _Emitter, node: float_ops.FloatNode, rank: int) -> str:
    """x * a + b in float32 with BatchNorm's folded a and b (`batchnorm_affine`), as the IR interpreter does."""
    a, b = batchnorm_affine(*(em.consts[n] for n in node.inputs[1:5]), node.attrs.get("epsilon", 1e-5))
    shape = [1, -1] + [1] * (rank - 2)
    x = em.one("Mul", [em.operand(node.inputs[0]), em.const(a.reshape(shape))])
    return em.one("Add", [x, em.const(b.reshape(shape))])


def _count(em: _Emitter, q: float_ops.Quantizer, x: str, rank: int) -> str:
    """The quantizer's integer count (int64) in standard ops, as `Quantizer.count` computes it."""
    i64 = TensorProto.INT64
    if isinstance(q, float_ops.BipolarQuant):
        return em.one("Cast", [em.one("GreaterOrEqual", [x, em.const(F32(q.t))])], to=i64)
    if isinstance(q, float_ops.SignQuant):
        zero = em.const(F32(0))
        ge = em.one("Cast", [em.one("GreaterOrEqual", [x, zero])], to=i64)
        return em.one("Add", [ge, em.one("Cast", [em.one("Greater", [x, zero])], to=i64)])
    if isinstance(q, float_ops.RoundClip):
        y = em.one("Clip", [em.one("Round", [x]), em.const(F32(q.lo)), em.const(F32(q.hi))])
        return em.one("Sub", [em.one("Cast", [y], to=i64), em.const(np.int64(q.lo))])
    if isinstance(q, float_ops.IntQuant):
        y = em.one("Add", [em.one("Div", [x, em.const(q.scale.astype(F32))]), em.const(q.zeropt.astype(F32))])
        y = em.one("Clip", [y, em.const(F32(q.qmin)), em.const(F32(q.qmax))])
        y = _rounding(em, q.rounding, y)
        return em.one("Sub", [em.one("Cast", [y], to=i64), em.const(np.int64(q.qmin))])
    if isinstance(q, float_ops.MultiThreshold):
        perm = [0] + list(range(2, rank)) + [1]  # channels last, then one axis for the thresholds
        inv = list(np.argsort(perm))
        xc = em.one("Unsqueeze", [em.one("Transpose", [x], perm=perm), em.const(np.array([-1], np.int64))])
        hits = em.one("Cast", [em.one("GreaterOrEqual", [xc, em.const(q.thresholds.astype(F32))])], to=i64)
        total = em.one("ReduceSum", [hits, em.const(np.array([-1], np.int64))], keepdims=0)
        return em.one("Transpose", [total], perm=[int(p) for p in inv])
    raise BnnccError(f"host head: quantizer {type(q).__name__} is not written to the RRAM host files")


def _rounding(em: _Emitter, mode: str, y: str) -> str:
    """QONNX rounding modes (float_ops.ROUNDING) in standard ops."""
    if mode in ("ROUND", "HALF_EVEN"):
        return em.one("Round", [y])
    if mode in ("CEIL", "FLOOR"):
        return em.one(mode.capitalize(), [y])
    sign, mag = em.one("Sign", [y]), em.one("Abs", [y])
    if mode == "DOWN":
        inner = em.one("Floor", [mag])
    elif mode == "UP":
        inner = em.one("Ceil", [mag])
    elif mode == "HALF_UP":
        inner = em.one("Floor", [em.one("Add", [mag, em.const(F32(0.5))])])
    elif mode == "HALF_DOWN":
        inner = em.one("Ceil", [em.one("Sub", [mag, em.const(F32(0.5))])])
    else:
        raise BnnccError(f"host head: rounding mode {mode} is not supported")
    return em.one("Mul", [sign, inner])


def _ranks(nodes: list[float_ops.FloatNode], consts: dict, start: str,
           sample: np.ndarray) -> tuple[dict[str, int], dict[str, np.ndarray]]:
    """Rank and value of every tensor, from one run of the IR's own float interpreter on `sample`."""
    env = {start: sample}
    for n in nodes:
        float_ops.run_node(n, env, consts)
    return {k: np.ndim(v) for k, v in env.items()}, env


def _model(em: _Emitter, inp: onnx.ValueInfoProto, outs: list[onnx.ValueInfoProto]) -> onnx.ModelProto:
    graph = helper.make_graph(em.nodes, "host", [inp], outs, em.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="bnncc")
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model, full_check=True)
    return model


def _value_info(name: str, elem: int, shape: tuple[int, ...]) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, elem, ["N", *shape])


def head_model(head: ops.HostHead, input_shape: tuple[int, ...]) -> onnx.ModelProto:
    """float32 [N, *input_shape] -> int64 hardware values [N, *head.out_shape]."""
    em = _Emitter(head.consts)
    em.names[head.input_name] = "x"
    ranks, _ = _ranks(head.nodes[:-1], head.consts, head.input_name, np.zeros((1, *input_shape), F32))
    for i, n in enumerate(head.nodes[:-1]):
        _float_node(em, n, ranks, "head", i)
    q = float_ops.make_quantizer(head.nodes[-1], head.consts)
    k = _count(em, q, em.operand(head.quantized), ranks[head.quantized])
    if head.dtype.is_bipolar:
        v = em.one("Sub", [em.one("Mul", [k, em.const(np.int64(2))]), em.const(np.int64(1))])
    else:
        v = em.one("Add", [k, em.const(np.int64(head.offset))])
    if head.nhwc:
        rank = ranks[head.quantized]
        v = em.one("Transpose", [v], perm=[0] + list(range(2, rank)) + [1])
    em.nodes.append(helper.make_node("Identity", [v], ["values"], name=f"n{len(em.nodes)}"))
    return _model(em, _value_info("x", TensorProto.FLOAT, input_shape),
                  [_value_info("values", TensorProto.INT64, tuple(head.out_shape))])


def tail_model(tail: ops.HostTail, acc_shape: tuple[int, ...]) -> onnx.ModelProto:
    """int64 accumulators [N, *acc_shape] -> the model's outputs (float32, or int64 indices)."""
    em = _Emitter(tail.consts)
    i64, f64 = TensorProto.INT64, TensorProto.DOUBLE
    if tail.table is not None:  # a quantizer's codes: its own float32 per code (index = value - min)
        dtype, floats = tail.table
        lo = -1 if dtype.is_bipolar else dtype.min
        code = em.one("Sub", ["acc", em.const(np.int64(lo))])
        if dtype.is_bipolar:
            code = em.one("Div", [code, em.const(np.int64(2))])
        y = em.one("Gather", [em.const(np.asarray(floats, np.float32)), code], axis=0)
    else:
        dot = em.one("Add", [em.one("Mul", ["acc", em.const(np.int64(tail.m))]), em.const(np.int64(tail.b0))])
        y = em.one("Mul", [em.one("Cast", [dot], to=f64), em.const(np.asarray(tail.a, np.float64))])
        y = em.one("Cast", [em.one("Add", [y, em.const(np.asarray(tail.b, np.float64))])], to=TensorProto.FLOAT)
    flat = em.one("Reshape", [y, em.const(np.array([0, -1], np.int64))])
    em.names[tail.start] = em.one("Gather", [flat, em.const(np.asarray(tail.onnx_index, np.int64))], axis=1)
    sample = tail.dequant(np.zeros((1, *acc_shape), np.int64))
    ranks, env = _ranks(tail.nodes, tail.consts, tail.start, sample)
    for i, n in enumerate(tail.nodes):
        _float_node(em, n, ranks, "tail", i)
    outs = []
    for k, name in enumerate(tail.outputs):
        value = np.asarray(env[name])
        elem = helper.np_dtype_to_tensor_dtype(value.dtype)
        if elem not in (TensorProto.FLOAT, i64):
            raise BnnccError(f"host tail: output {k} has dtype {value.dtype}; only float32 and int64 are written")
        em.nodes.append(helper.make_node("Identity", [em.names[name]], [f"y{k}"], name=f"n{len(em.nodes)}"))
        outs.append(_value_info(f"y{k}", elem, value.shape[1:]))
    return _model(em, _value_info("acc", i64, acc_shape), outs)


def serialize(model: onnx.ModelProto) -> bytes:
    """Deterministic bytes (same model -> same file)."""
    return model.SerializeToString(deterministic=True)
