"""The one writer of the bnncc ONNX dialect (``docs/onnx-dialect.md``), built on ``onnx.helper``.

Both producers of dialect models use it: ``bnncc.fixtures`` (random calibrated test models) and
``bnncc.export`` (trained torch models). Keeping a single writer means the op patterns, constant
shapes, opsets and the adder function bodies (``AdderMatMul``, ``AdderConv``) cannot drift apart
between what the tests build and what users export. The writer only emits nodes; it computes
nothing (the fixtures add their numpy calibration on top, the exporter takes its values from torch).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from bnncc.ir.spec import BN_EPS, IntQuantSpec, batchnorm_affine

OPSET = 13
IR_VERSION = 8
ADDER_DOMAIN = "bnncc"
ADDER_OP = "AdderMatMul"
ADDER_CONV_OP = "AdderConv"
BATCH_DIM = "N"

_F32 = np.float32

__all__ = [
    "ADDER_CONV_OP",
    "ADDER_DOMAIN",
    "ADDER_OP",
    "BATCH_DIM",
    "BN_EPS",
    "IR_VERSION",
    "OPSET",
    "DialectWriter",
    "IntQuantSpec",
    "adder_conv_function",
    "adder_function",
    "fold_batchnorm",
]


def fold_batchnorm(gamma: np.ndarray, beta: np.ndarray, mean: np.ndarray, var: np.ndarray,
                   eps: float = BN_EPS) -> tuple[np.ndarray, np.ndarray]:
    """The dialect's folded inference BatchNorm (`batchnorm_affine`, onnxruntime's order), per channel."""
    return batchnorm_affine(*(np.asarray(t).reshape(-1) for t in (gamma, beta, mean, var)), eps)


def _int64_const(name: str, values: Sequence[int]) -> onnx.NodeProto:
    """A Constant node holding int64 ``values`` (a function has no initializers)."""
    return helper.make_node("Constant", [], [name], name=name,
                            value=helper.make_tensor(f"{name}_value", TensorProto.INT64, [len(values)], list(values)))


def _neg_abs_diff_sum(x: str, w: str, x_axis: int, sum_axis: int) -> list[onnx.NodeProto]:
    """The adder core shared by both functions: Y = Neg(ReduceSum(Abs(Sub(Unsqueeze(x, x_axis), w)),
    sum_axis)). Opset 13 takes Unsqueeze/ReduceSum axes as inputs, hence the Constant nodes."""
    return [
        _int64_const("axes_u", [x_axis]),
        helper.make_node("Unsqueeze", [x, "axes_u"], ["Xu"], name="unsqueeze"),
        helper.make_node("Sub", ["Xu", w], ["D"], name="sub"),
        helper.make_node("Abs", ["D"], ["A"], name="abs"),
        _int64_const("axes_r", [sum_axis]),
        helper.make_node("ReduceSum", ["A", "axes_r"], ["S"], name="reduce_sum", keepdims=0),
        helper.make_node("Neg", ["S"], ["Y"], name="neg"),
    ]


def adder_function() -> onnx.FunctionProto:
    """The model-local ``bnncc.AdderMatMul(X [N, MW], W [MW, MH]) -> Y [N, MH]``, Y = -sum_i |X_i - W_ij|:
    X [N, MW, 1] - W [MW, MH], summed over axis 1."""
    return helper.make_function(
        ADDER_DOMAIN, ADDER_OP, ["X", "W"], ["Y"], _neg_abs_diff_sum("X", "W", 2, 1),
        opset_imports=[helper.make_opsetid("", OPSET)],
        doc_string="AdderNet layer: Y[n, j] = -sum_i |X[n, i] - W[i, j]|",
    )


def _identity_kernel() -> list[onnx.NodeProto]:
    """E [C*kh*kw, C, kh, kw], E[(c, i, j), c, i, j] = 1, built from Shape(W) at run time so one body
    serves every C and k: Conv(X, E) then yields the patches, row (c, i, j) = X[c, y + i, x + j]
    (exact in float32: each output is one product x * 1 plus zeros)."""
    return [
        helper.make_node("Shape", ["W"], ["w_shape"], name="w_shape"),
        _int64_const("from_c", [1]),
        _int64_const("to_end", [4]),
        helper.make_node("Slice", ["w_shape", "from_c", "to_end"], ["patch_shape"], name="patch_shape"),
        helper.make_node("ReduceProd", ["patch_shape"], ["fan_in"], name="fan_in", keepdims=1),
        helper.make_node("Concat", ["fan_in", "fan_in"], ["eye_shape"], name="eye_shape", axis=0),
        helper.make_node("ConstantOfShape", ["eye_shape"], ["zeros"], name="zeros",
                         value=helper.make_tensor("zeros_value", TensorProto.FLOAT, [1], [0.0])),
        helper.make_node("EyeLike", ["zeros"], ["eye"], name="eye"),
        helper.make_node("Concat", ["fan_in", "patch_shape"], ["kernel_shape"], name="kernel_shape", axis=0),
        helper.make_node("Reshape", ["eye", "kernel_shape"], ["E"], name="identity_kernel"),
    ]


def adder_conv_function() -> onnx.FunctionProto:
    """The model-local ``bnncc.AdderConv(X [N, C, H, W], W [O, C, k, k]) -> Y [N, O, H', W']``,
    Y[n, o, y, x] = -sum_{c,i,j} |X[n, c, s*y + i, s*x + j] - W[o, c, i, j]|, no padding.

    Patches P = Conv(X, E) [N, C*k*k, H', W'] with the identity kernel E; then the adder core on
    P [N, 1, C*k*k, H', W'] - W reshaped [O, C*k*k, 1, 1], summed over axis 2. The optional ``strides``
    attribute (default [1, 1]) is passed to that Conv by attribute reference.
    """
    patches = helper.make_node("Conv", ["X", "E"], ["P"], name="patches")
    patches.attribute.append(helper.make_attribute_ref("strides", onnx.AttributeProto.INTS))
    nodes = [
        *_identity_kernel(),
        patches,
        _int64_const("w_rows", [0, -1, 1, 1]),  # [O, C*k*k, 1, 1]: 0 copies O
        helper.make_node("Reshape", ["W", "w_rows"], ["Wr"], name="w_rows_reshape"),
        *_neg_abs_diff_sum("P", "Wr", 1, 2),
    ]
    return helper.make_function(
        ADDER_DOMAIN, ADDER_CONV_OP, ["X", "W"], ["Y"], nodes,
        opset_imports=[helper.make_opsetid("", OPSET)],
        attributes=["strides"],
        doc_string="AdderNet convolution: Y[n, o, y, x] = -sum_{c,i,j} |X[n, c, s*y + i, s*x + j] - W[o, c, i, j]|",
    )


# The model-local functions, by op name: a model carries exactly those it uses.
FUNCTIONS = {ADDER_OP: adder_function, ADDER_CONV_OP: adder_conv_function}


class DialectWriter:
    """Accumulates the nodes and initializers of one dialect model, walking it from input to output.

    ``self.x`` is the name of the tensor the next op reads and ``self.shape`` its per-sample shape
    (``[C]`` or ``[C, H, W]``), which decides how per-channel constants are shaped.
    """

    def __init__(self, name: str, in_shape: Sequence[int]) -> None:
        self.name = name
        self.in_shape = tuple(int(d) for d in in_shape)
        self.shape: tuple[int, ...] = self.in_shape
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.init_names: set[str] = set()
        self.functions: set[str] = set()  # the bnncc functions the model calls
        self.value_info: list[onnx.ValueInfoProto] = []
        self.x = "x"
        self._consts: dict[str, str] = {}

    # -- plumbing ---------------------------------------------------------------------------------
    def init(self, name: str, value: np.ndarray) -> str:
        assert name not in self.init_names, name
        self.init_names.add(name)
        self.inits.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def shared(self, key: str, value: float) -> str:
        """One float32 scalar initializer per value, shared by every node that needs it."""
        if key not in self._consts:
            self._consts[key] = self.init(f"const/{key}", np.array(value, dtype=_F32))
        return self._consts[key]

    def node(self, op: str, inputs: list[str], name: str, domain: str = "", **attrs: object) -> str:
        out = name
        self.nodes.append(helper.make_node(op, inputs, [out], name=name, domain=domain, **attrs))
        return out

    def channel_shape(self, v: np.ndarray) -> np.ndarray:
        """Per-channel constants broadcast along axis 1: [C] for [N, C], [C, 1, 1] for NCHW."""
        v = np.asarray(v, dtype=_F32)
        return v.reshape(-1, 1, 1) if len(self.shape) == 3 else v.reshape(-1)

    def channels(self) -> int:
        return int(self.shape[0])

    # -- quantizers ---------------------------------------------------------------------------------
    def bipolar(self, p: str) -> None:
        ge = self.node("GreaterOrEqual", [self.x, self.shared("zero", 0.0)], f"{p}/ge")
        self.x = self.node("Where", [ge, self.shared("one", 1.0), self.shared("minus_one", -1.0)],
                           f"{p}/bipolar")

    def int_quant(self, p: str, spec: IntQuantSpec) -> None:
        s = self.init(f"{p}/scale", np.array(spec.scale, dtype=_F32))
        qmin = self.init(f"{p}/qmin", np.array(spec.qmin, dtype=_F32))
        qmax = self.init(f"{p}/qmax", np.array(spec.qmax, dtype=_F32))
        d = self.node("Div", [self.x, s], f"{p}/div")
        r = self.node("Round", [d], f"{p}/round")
        c = self.node("Clip", [r, qmin, qmax], f"{p}/clip")
        self.x = self.node("Mul", [c, s], f"{p}/quant")

    def quant(self, p: str, spec: IntQuantSpec | None) -> None:
        if spec is None:
            self.bipolar(p)
        else:
            self.int_quant(p, spec)

    def relu(self, p: str) -> None:
        self.x = self.node("Relu", [self.x], f"{p}/relu")

    # -- linear layers ------------------------------------------------------------------------------
    def matmul(self, p: str, w: np.ndarray) -> None:
        """``x @ W`` with W laid out [inputs, outputs] (torch's Linear weight transposed)."""
        w = np.asarray(w, dtype=_F32)
        self.x = self.node("MatMul", [self.x, self.init(f"{p}/W", w)], f"{p}/matmul")
        self.shape = (int(w.shape[1]),)

    def conv(self, p: str, w: np.ndarray, pad: int = 0, stride: int = 1) -> None:
        w = np.asarray(w, dtype=_F32)
        k = int(w.shape[-1])
        self.x = self.node("Conv", [self.x, self.init(f"{p}/W", w)], f"{p}/conv",
                           kernel_shape=[k, k], strides=[stride, stride], pads=[pad] * 4, dilations=[1, 1],
                           group=1)
        _, h, wd = self.shape
        self.shape = (int(w.shape[0]), (h + 2 * pad - k) // stride + 1, (wd + 2 * pad - k) // stride + 1)

    def adder(self, p: str, w: np.ndarray) -> None:
        """``bnncc.AdderMatMul(x, W)``, W [inputs, outputs] on the input's activation grid."""
        w = np.asarray(w, dtype=_F32)
        self.functions.add(ADDER_OP)
        self.x = self.node(ADDER_OP, [self.x, self.init(f"{p}/W", w)], f"{p}/adder", domain=ADDER_DOMAIN)
        self.shape = (int(w.shape[1]),)

    def adder_conv(self, p: str, w: np.ndarray, stride: int = 1) -> None:
        """``bnncc.AdderConv(x, W)``, W [Cout, Cin, k, k] on the input's activation grid, no padding."""
        w = np.asarray(w, dtype=_F32)
        k = int(w.shape[-1])
        self.functions.add(ADDER_CONV_OP)
        self.x = self.node(ADDER_CONV_OP, [self.x, self.init(f"{p}/W", w)], f"{p}/adder_conv",
                           domain=ADDER_DOMAIN, strides=[stride, stride])
        _, h, wd = self.shape
        self.shape = (int(w.shape[0]), (h - k) // stride + 1, (wd - k) // stride + 1)
        # Shape inference cannot see through the body (its kernel's shape is computed at run time),
        # so the output shape is declared here; inference carries it on to the following ops.
        self.value_info.append(helper.make_tensor_value_info(self.x, TensorProto.FLOAT, [BATCH_DIM, *self.shape]))

    def maxpool(self, p: str, k: int = 2) -> None:
        self.x = self.node("MaxPool", [self.x], f"{p}/maxpool", kernel_shape=[k, k], strides=[k, k])
        c, h, w = self.shape
        self.shape = (c, h // k, w // k)

    def flatten(self, p: str) -> None:
        self.x = self.node("Flatten", [self.x], f"{p}/flatten", axis=1)
        self.shape = (int(np.prod(self.shape)),)

    # -- per-channel float ops ------------------------------------------------------------------------
    def mul(self, p: str, v: np.ndarray | float) -> None:
        v = self.channel_shape(v) if np.ndim(v) else np.array(v, dtype=_F32)
        self.x = self.node("Mul", [self.x, self.init(f"{p}/mul_c", v)], f"{p}/mul")

    def add(self, p: str, v: np.ndarray | float) -> None:
        v = self.channel_shape(v) if np.ndim(v) else np.array(v, dtype=_F32)
        self.x = self.node("Add", [self.x, self.init(f"{p}/add_c", v)], f"{p}/add")

    def batchnorm(self, p: str, gamma: np.ndarray, beta: np.ndarray, mean: np.ndarray, var: np.ndarray,
                  eps: float = BN_EPS) -> None:
        """Inference BatchNorm, emitted folded as per-channel ``Mul(a)`` then ``Add(b)`` with
        a = gamma * (1/sqrt(var + eps)), b = beta - mean * a in float32: the order onnxruntime (and so
        qonnx) evaluates BatchNormalization in, while the ONNX spec's formula differs in the last bit, which
        flips a sign on exact boundaries in a runtime that follows the spec. Explicit Mul/Add mean the same
        everywhere."""
        c = self.channels()
        if any(np.asarray(a).reshape(-1).shape != (c,) for a in (gamma, beta, mean, var)):
            raise ValueError(f"{p}: BatchNorm parameters must have shape ({c},)")
        a, b = fold_batchnorm(gamma, beta, mean, var, eps)
        self.mul(p, a)
        self.add(p, b)

    # -- output ---------------------------------------------------------------------------------------
    def finish(self, doc: str, producer: str = "bnncc") -> onnx.ModelProto:
        """The checked model; the last node writes the graph output ``logits`` directly (no Identity:
        it is not a dialect op), and every intermediate shape is stored as value_info (qonnx's
        executor refuses models without them)."""
        out_name = "logits"
        assert self.nodes[-1].output[0] == self.x
        self.nodes[-1].output[0] = out_name
        graph = helper.make_graph(
            self.nodes, self.name,
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, [BATCH_DIM, *self.in_shape])],
            [helper.make_tensor_value_info(out_name, TensorProto.FLOAT, [BATCH_DIM, self.channels()])],
            initializer=self.inits,
            doc_string=doc,
            value_info=self.value_info,
        )
        opsets = [helper.make_opsetid("", OPSET)]
        functions = [FUNCTIONS[op]() for op in sorted(self.functions)]
        if functions:
            opsets.append(helper.make_opsetid(ADDER_DOMAIN, 1))
        model = helper.make_model(graph, opset_imports=opsets, functions=functions,
                                  producer_name=producer, ir_version=IR_VERSION)
        model = onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True)
        onnx.checker.check_model(model, full_check=True)
        return model
