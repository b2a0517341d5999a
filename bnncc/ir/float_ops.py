"""Host-side float32 semantics of the ONNX ops bnncc reads, in numpy.

This interpreter runs the host head and tail, folds constants, and is what exact threshold
extraction evaluates: the original float32 subgraph, op by op, as ONNX and QONNX define it.
Quantizers (ops whose output takes finitely many values) also expose `count`/`dequant` so a
pass can read their integer codes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from bnncc.errors import BnnccError, quote
from bnncc.ir.dtypes import small_int
from bnncc.ir.spec import batchnorm_affine, int_range

F32 = np.float32


@dataclass
class FloatNode:
    """One ONNX-level op. `inputs` name tensors of the graph (data or constants); '' is absent."""

    op: str
    inputs: list[str]
    outputs: list[str]
    attrs: dict = field(default_factory=dict)
    name: str = ""


def _f32(x: np.ndarray) -> np.ndarray:
    return np.asarray(x, dtype=F32) if np.asarray(x).dtype == np.float64 else np.asarray(x)


def _binary(fn: Callable) -> Callable:
    return lambda ins, a: [_f32(fn(ins[0], ins[1]))]


def _unary(fn: Callable) -> Callable:
    return lambda ins, a: [_f32(fn(ins[0]))]


def _reshape(ins, a):
    x, shape = ins[0], [int(s) for s in ins[1]]
    shape = [x.shape[i] if s == 0 and not a.get("allowzero", 0) else s for i, s in enumerate(shape)]
    return [x.reshape(shape)]


def _flatten(ins, a):
    x, axis = ins[0], a.get("axis", 1)
    axis = axis % x.ndim if x.ndim else 0
    return [x.reshape(int(np.prod(x.shape[:axis])), -1)]


def _axes(ins, a) -> list[int] | None:
    if len(ins) > 1 and ins[1] is not None:
        return [int(v) for v in np.atleast_1d(ins[1])]
    return a.get("axes")


def _squeeze(ins, a):
    axes = _axes(ins, a)
    return [np.squeeze(ins[0], axis=tuple(axes) if axes is not None else None)]


def _unsqueeze(ins, a):
    x = ins[0]
    axes = sorted(ax % (x.ndim + len(_axes(ins, a))) for ax in _axes(ins, a))
    for ax in axes:
        x = np.expand_dims(x, ax)
    return [x]


def _transpose(ins, a):
    return [np.transpose(ins[0], a.get("perm"))]


def _batchnorm(ins, a):
    x, gamma, beta, mean, var = ins[:5]
    shape = [1, -1] + [1] * (x.ndim - 2)
    eps = F32(a.get("epsilon", 1e-5))
    scale, bias = batchnorm_affine(gamma, beta, mean, var, eps)
    return [(x * scale.reshape(shape) + bias.reshape(shape)).astype(F32)]


def _gemm(ins, a):
    x, w = ins[0], ins[1]
    if a.get("transA", 0):
        x = x.T
    if a.get("transB", 0):
        w = w.T
    y = F32(a.get("alpha", 1.0)) * (x @ w)
    if len(ins) > 2 and ins[2] is not None:
        y = y + F32(a.get("beta", 1.0)) * ins[2]
    return [_f32(y)]


def _clip(ins, a):
    lo = ins[1] if len(ins) > 1 and ins[1] is not None else a.get("min", -np.inf)
    hi = ins[2] if len(ins) > 2 and ins[2] is not None else a.get("max", np.inf)
    return [_f32(np.minimum(np.maximum(ins[0], lo), hi))]


CAST_TYPES = {1: np.float32, 11: np.float64, 10: np.float16, 9: np.bool_, 2: np.uint8, 3: np.int8, 4: np.uint16,
              5: np.int16, 6: np.int32, 7: np.int64, 12: np.uint32, 13: np.uint64}  # ONNX TensorProto codes


def _cast(x: np.ndarray, a: dict) -> np.ndarray:
    """ONNX Cast, exactly where ONNX defines it: to bool (x != 0), to an integer type (truncation towards
    zero, of values the type holds), to a float type (rounding to it). Out-of-range values are undefined in
    ONNX (runtimes differ), so they are refused, as is a type numpy cannot represent."""
    target = CAST_TYPES.get(a.get("to"))
    if target is None:
        raise BnnccError(f"Cast to type {a.get('to')!r} is not supported")
    x = np.asarray(x)
    if np.issubdtype(target, np.integer) and x.dtype.kind == "f":
        info = np.iinfo(target)
        t = np.trunc(x)
        if not np.all(np.isfinite(x)) or t.min(initial=0) < info.min or t.max(initial=0) > info.max:
            raise BnnccError(f"a Cast to {np.dtype(target).name} changes values outside its range (undefined in ONNX)")
        return t.astype(target)
    return x.astype(target)


def _windows(x: np.ndarray, k: tuple[int, int], s: tuple[int, int], pads, pad_value) -> np.ndarray:
    """NCHW -> [N, C, OH, OW, kh, kw] views after padding."""
    t, l, b, r = pads
    if any(pads):
        x = np.pad(x, ((0, 0), (0, 0), (t, b), (l, r)), constant_values=pad_value)
    v = np.lib.stride_tricks.sliding_window_view(x, k, axis=(2, 3))
    return v[:, :, :: s[0], :: s[1]]


def _spatial(a, w_shape=None):
    k = tuple(a.get("kernel_shape") or w_shape[2:])
    s = tuple(a.get("strides", [1, 1]))
    p = a.get("pads", [0, 0, 0, 0])
    if a.get("auto_pad", "NOTSET") not in ("NOTSET", "VALID", b"NOTSET", b"VALID"):
        raise BnnccError("auto_pad SAME is not supported; export with explicit pads")
    if any(d != 1 for d in a.get("dilations", [1, 1])):
        raise BnnccError("dilated convolution/pooling is not supported")
    return k, s, (p[0], p[1], p[2], p[3])


def _conv(ins, a):
    x, w = ins[0], ins[1]
    if a.get("group", 1) != 1:
        raise BnnccError("grouped convolution is not supported")
    k, s, p = _spatial(a, w.shape)
    v = _windows(x, k, s, p, 0)  # N C OH OW kh kw
    n, c, oh, ow = v.shape[:4]
    wm = w.reshape(w.shape[0], -1).T.astype(np.float64)  # [C*kh*kw, O], rows in (c, i, j) order
    # float64 products and sums of float32 values: exact for the integer-valued tensors bnncc evaluates,
    # in any summation order; the patch matrix is built a few images at a time to bound its size
    step = max(1, (1 << 22) // max(1, oh * ow * wm.shape[0]))
    parts = []
    for i in range(0, max(n, 1), step):
        patches = v[i:i + step].transpose(0, 2, 3, 1, 4, 5).reshape(-1, wm.shape[0]).astype(np.float64)
        parts.append((patches @ wm).reshape(-1, oh, ow, wm.shape[1]).transpose(0, 3, 1, 2))
    y = np.concatenate(parts)
    if len(ins) > 2 and ins[2] is not None:
        y = y + ins[2].reshape(1, -1, 1, 1)
    return [y.astype(F32)]


def _maxpool(ins, a):
    if a.get("ceil_mode", 0):
        raise BnnccError("MaxPool ceil_mode=1 is not supported")
    k, s, p = _spatial(a)
    return [_windows(ins[0], k, s, p, -np.inf).max(axis=(-2, -1))]


def _avgpool(ins, a):
    if a.get("ceil_mode", 0):
        raise BnnccError("AveragePool ceil_mode=1 is not supported")
    k, s, p = _spatial(a)
    if any(p) and not a.get("count_include_pad", 0):
        raise BnnccError("AveragePool with padding counts only the real elements (count_include_pad=0); "
                         "not supported")
    windows = _windows(ins[0], k, s, p, 0.0).astype(np.float64)
    return [_f32(windows.sum(axis=(-2, -1)) / (k[0] * k[1]))]


def _global_avgpool(ins, a):
    x = ins[0]
    return [_f32(x.astype(np.float64).mean(axis=tuple(range(2, x.ndim)), keepdims=True))]


def _topk(ins, a):
    x, k = ins[0], int(np.asarray(ins[1]).ravel()[0])
    axis, largest = a.get("axis", -1), a.get("largest", 1)
    order = np.argsort(-x if largest else x, axis=axis, kind="stable")
    idx = np.take(order, np.arange(k), axis=axis)
    return [np.take_along_axis(x, idx, axis=axis), idx.astype(np.int64)]


def _argmax(ins, a):
    axis, keep = a.get("axis", 0), a.get("keepdims", 1)
    y = np.argmax(ins[0], axis=axis)
    return [np.expand_dims(y, axis) if keep else y]


ADDER_CHUNK = 1 << 22  # broadcast elements per chunk of an adder product (32 MB at 8 bytes each)


def adder_product(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """-sum_i |x[r, i] - w[i, j]| for x [R, MW], w [MW, MH], in their dtype. Walks rows and columns
    in chunks: the plain broadcast is [R, MW, MH], gigabytes for a convolution's R = N * H' * W'."""
    mw, mh = w.shape
    cols = max(1, min(mh, ADDER_CHUNK // max(1, mw)))
    rows = max(1, ADDER_CHUNK // max(1, mw * cols))
    out = np.empty((x.shape[0], mh), dtype=np.result_type(x, w))
    for r in range(0, x.shape[0], rows):
        for j in range(0, mh, cols):
            out[r : r + rows, j : j + cols] = -np.abs(x[r : r + rows, :, None] - w[:, j : j + cols]).sum(axis=1)
    return out


def _adder(ins, a):
    """AdderNet layer y = -sum_i |x_i - w_ij| (domain bnncc): float64 sums, rounded once to float32."""
    x, w = ins[0].astype(np.float64), ins[1].astype(np.float64)
    y = adder_product(x.reshape(-1, x.shape[-1]), w)
    return [y.reshape(x.shape[:-1] + (w.shape[1],)).astype(F32)]


def _adder_conv(ins, a):
    """AdderNet convolution (domain bnncc), no padding: the adder product of the patch matrix, its
    columns ordered (c, i, j) as W [O, C, k, k] flattens per output channel, with W."""
    x, w = ins[0].astype(np.float64), ins[1].astype(np.float64)
    o, c, kh, kw = w.shape
    v = _windows(x, (kh, kw), tuple(a.get("strides", [1, 1])), (0, 0, 0, 0), 0)  # N C OH OW kh kw
    n, _, oh, ow = v.shape[:4]
    patches = v.transpose(0, 2, 3, 1, 4, 5).reshape(n * oh * ow, c * kh * kw)
    y = adder_product(patches, w.reshape(o, -1).T)
    return [y.reshape(n, oh, ow, o).transpose(0, 3, 1, 2).astype(F32)]


def _softmax(x: np.ndarray, axis: int) -> np.ndarray:
    e = np.exp(x - x.max(axis, keepdims=True))
    return _f32(e / e.sum(axis, keepdims=True))


def _concat(ins, a):
    return [np.concatenate([np.atleast_1d(t) for t in ins], axis=a.get("axis", 0))]


def _gather(ins, a):
    return [np.take(ins[0], ins[1].astype(np.int64), axis=a.get("axis", 0))]


OPS: dict[str, Callable] = {
    "Add": _binary(np.add),
    "Sub": _binary(np.subtract),
    "Mul": _binary(np.multiply),
    "Div": _binary(np.divide),
    "Pow": _binary(np.power),
    "Max": lambda ins, a: [_f32(np.maximum.reduce(ins))],
    "Min": lambda ins, a: [_f32(np.minimum.reduce(ins))],
    "Neg": _unary(np.negative),
    "Abs": _unary(np.abs),
    "Sqrt": _unary(np.sqrt),
    "Reciprocal": _unary(lambda x: F32(1) / x),
    "Relu": _unary(lambda x: np.maximum(x, F32(0))),
    "LeakyRelu": lambda ins, a: [_f32(np.where(ins[0] >= 0, ins[0], ins[0] * F32(a.get("alpha", 0.01))))],
    "Tanh": _unary(np.tanh),
    "Sigmoid": _unary(lambda x: F32(1) / (F32(1) + np.exp(-x))),
    "Round": _unary(np.round),  # numpy rounds half to even, as ONNX Round does
    "Floor": _unary(np.floor),
    "Ceil": _unary(np.ceil),
    "Clip": _clip,
    "Identity": lambda ins, a: [ins[0]],
    "Dropout": lambda ins, a: [ins[0]],
    "Cast": lambda ins, a: [_cast(ins[0], a)],
    "Reshape": _reshape,
    "Flatten": _flatten,
    "Squeeze": _squeeze,
    "Unsqueeze": _unsqueeze,
    "Transpose": _transpose,
    "Shape": lambda ins, a: [np.array(ins[0].shape, dtype=np.int64)],
    "Gather": _gather,
    "Concat": _concat,
    "BatchNormalization": _batchnorm,
    "MatMul": lambda ins, a: [_f32(ins[0].astype(np.float64) @ ins[1].astype(np.float64))],
    "Gemm": _gemm,
    "Conv": _conv,
    "MaxPool": _maxpool,
    "AveragePool": _avgpool,
    "GlobalAveragePool": _global_avgpool,
    "AdderMatMul": _adder,
    "AdderConv": _adder_conv,
    "TopK": _topk,
    "ArgMax": _argmax,
    "Softmax": lambda ins, a: [_softmax(ins[0], a.get("axis", -1))],
    "GreaterOrEqual": lambda ins, a: [ins[0] >= ins[1]],
    "Greater": lambda ins, a: [ins[0] > ins[1]],
    "Where": lambda ins, a: [_f32(np.where(ins[0], ins[1], ins[2]))],
}


# ---------------------------------------------------------------------------------------------
# Quantizers: output = dequant(count(x)), count in 0..levels-1, non-decreasing in x.


class Quantizer:
    levels: int

    def count(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def dequant(self, k: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def __call__(self, ins, a):
        return [self.dequant(self.count(ins[0]))]


@dataclass
class BipolarQuant(Quantizer):
    """QONNX BipolarQuant (and our dialect's Where(x >= t, hi, lo)): x >= t -> hi, else lo."""

    hi: float = 1.0
    lo: float = -1.0
    t: float = 0.0
    levels: int = 2

    def count(self, x):
        return (x >= F32(self.t)).astype(np.int8)

    def dequant(self, k):
        return np.where(k > 0, F32(self.hi), F32(self.lo)).astype(F32)


ROUNDING = {
    "ROUND": np.round,
    "HALF_EVEN": np.round,
    "CEIL": np.ceil,
    "FLOOR": np.floor,
    "DOWN": np.fix,
    "UP": lambda x: np.sign(x) * np.ceil(np.abs(x)),
    "HALF_UP": lambda x: np.sign(x) * np.floor(np.abs(x) + F32(0.5)),
    "HALF_DOWN": lambda x: np.sign(x) * np.ceil(np.abs(x) - F32(0.5)),
}


@dataclass
class IntQuant(Quantizer):
    """QONNX Quant/IntQuant, computed in QONNX's order: x/scale + zp, clip, round, -zp, *scale."""

    scale: np.ndarray
    zeropt: np.ndarray
    qmin: int
    qmax: int
    rounding: str = "ROUND"

    @property
    def levels(self) -> int:
        return self.qmax - self.qmin + 1

    def count(self, x):
        y = x / self.scale + self.zeropt
        y = np.clip(y, self.qmin, self.qmax).astype(y.dtype)
        if self.levels > 1 << 24:  # a 32-bit bias: its codes lose their low bits in float32 arithmetic
            return ROUNDING[self.rounding](y).astype(np.int64) - self.qmin
        return (ROUNDING[self.rounding](y) - self.qmin).astype(small_int(0, self.levels))

    def dequant(self, k):
        q = (k + self.qmin).astype(F32)
        return ((q - self.zeropt) * self.scale).astype(F32)


@dataclass
class RoundClip(Quantizer):
    """Our dialect's Clip(Round(x), lo, hi): integer-valued floats lo..hi."""

    lo: int
    hi: int

    @property
    def levels(self) -> int:
        return self.hi - self.lo + 1

    def count(self, x):
        return (np.clip(np.round(x), self.lo, self.hi) - self.lo).astype(small_int(0, self.levels))

    def dequant(self, k):
        return (k + self.lo).astype(F32)


@dataclass
class SignQuant(Quantizer):
    """ONNX Sign: ternary, Sign(0) = 0."""

    levels: int = 3

    def count(self, x):
        return (x >= 0).astype(np.int8) + (x > 0)

    def dequant(self, k):
        return (k - 1).astype(F32)


@dataclass
class MultiThreshold(Quantizer):
    """FINN MultiThreshold: out_bias + out_scale * #{i : x >= T[c, i]}, channel axis 1 (NC...)."""

    thresholds: np.ndarray
    out_scale: float = 1.0
    out_bias: float = 0.0

    @property
    def levels(self) -> int:
        return self.thresholds.shape[1] + 1

    def count(self, x):
        xc = np.moveaxis(x, 1, -1)[..., None]  # channels last, then one axis for thresholds
        return np.moveaxis((xc >= self.thresholds).sum(-1).astype(small_int(0, self.levels)), -1, 1)

    def dequant(self, k):
        return (F32(self.out_scale) * k.astype(F32) + F32(self.out_bias)).astype(F32)


@dataclass
class TruncQuant(Quantizer):
    """QONNX Trunc, computed in qonnx's order: y = round(x / scale + zp) / trunc_scale, then (v2 only) clamped
    to the output's code range, rounded by `rounding`; output (y - out_zp) * out_scale. v1 (5 inputs)
    drops 2^(in_bits - out_bits) and keeps the input scale and zero point; v2 (6 inputs) takes an output scale,
    trunc_scale = 2^round(log2(out_scale / scale)). v1 does not clamp: lowering checks its codes stay in range."""

    scale: np.ndarray
    zeropt: np.ndarray
    trunc_scale: np.ndarray
    out_scale: np.ndarray
    out_zeropt: np.ndarray
    qmin: int
    qmax: int
    rounding: str
    clamp: bool

    @property
    def levels(self) -> int:
        return self.qmax - self.qmin + 1

    def codes(self, x):
        """The codes before any clamp of ours (v1 may leave the output range)."""
        y = np.round(x / self.scale + self.zeropt) / self.trunc_scale
        if self.clamp:
            y = np.clip(y, self.qmin, self.qmax).astype(y.dtype)
        return ROUNDING[self.rounding](y)

    def count(self, x):
        return (np.clip(self.codes(x), self.qmin, self.qmax) - self.qmin).astype(small_int(0, self.levels))

    def dequant(self, k):
        q = (k + self.qmin).astype(F32)
        return ((q - self.out_zeropt) * self.out_scale).astype(F32)


MAX_LEVELS = 1 << 16  # codes of one quantizer: beyond 16 bits nothing is integer hardware any more
QUANTIZER_OPS = ("BipolarQuant", "Quant", "IntQuant", "RoundClip", "Sign", "MultiThreshold", "Trunc")


def make_quantizer(node: FloatNode, consts: dict[str, np.ndarray], max_bits: int = 8) -> Quantizer:
    """The quantizer a quantizer node stands for; its parameters must be constants. Activations have at most
    8 bits (their codes become thresholds); a constant's quantizer (a 32-bit bias) may have up to 32."""

    def const(i: int) -> np.ndarray:
        if i >= len(node.inputs) or node.inputs[i] not in consts:
            raise BnnccError(f"{node.op} node {quote(node.name)}: input {i} must be a constant")
        return np.asarray(consts[node.inputs[i]])

    def positive_scale(i: int) -> np.ndarray:
        s = const(i)
        if s.size == 0 or not np.all(np.isfinite(s)) or np.any(s <= 0):
            raise BnnccError(f"{node.op} node {quote(node.name)}: the scale must be positive and finite, got "
                             f"{s.ravel()[:4].tolist()}")
        return s

    a = node.attrs
    if node.op == "BipolarQuant":
        s = positive_scale(1)
        if s.size != 1:
            raise BnnccError(f"BipolarQuant node {quote(node.name)}: per-channel scale is not supported")
        return BipolarQuant(hi=float(s.ravel()[0]), lo=-float(s.ravel()[0]))
    if node.op == "Where":
        return BipolarQuant(hi=float(a["hi"]), lo=float(a["lo"]), t=float(a["t"]))
    if node.op in ("Quant", "IntQuant"):
        if const(3).size != 1:
            raise BnnccError(f"{node.op} node {quote(node.name)}: the bit width must be one number, got "
                             f"{const(3).size} values")
        bits = float(const(3).ravel()[0])
        signed, narrow = a.get("signed", 1), a.get("narrow", 0)
        if signed not in (0, 1) or narrow not in (0, 1):
            raise BnnccError(f"{node.op} node {quote(node.name)}: signed={signed!r} and narrow={narrow!r} must be "
                             "0 or 1")
        if bits != int(bits) or not 1 <= bits <= max_bits:
            raise BnnccError(f"{node.op} node {quote(node.name)}: bit width {bits} is not an integer in "
                             f"1..{max_bits}")
        bits = int(bits)
        zp = const(2)
        if not np.all(np.isfinite(zp)) or np.any(zp != np.round(zp)):
            raise BnnccError(f"{node.op} node {quote(node.name)}: the zero point must be an integer, got "
                             f"{zp.ravel()[:4].tolist()}")
        scale = positive_scale(1)
        if bits == 1 and signed:
            if scale.size != 1 or zp.size != 1 or float(zp.ravel()[0]) != 0:
                raise BnnccError(f"{node.op} node {quote(node.name)}: 1-bit signed quant needs scalar scale, zp 0")
            return BipolarQuant(hi=float(scale.ravel()[0]), lo=-float(scale.ravel()[0]))
        qmin, qmax = int_range(bits, bool(signed), bool(narrow))
        rounding = a.get("rounding_mode", "ROUND")
        rounding = rounding.decode() if isinstance(rounding, bytes) else rounding
        if rounding.upper() not in ROUNDING:
            raise BnnccError(f"{node.op} node {quote(node.name)}: unknown rounding mode {rounding}")
        return IntQuant(scale.astype(F32), zp.astype(F32), qmin, qmax, rounding.upper())
    if node.op == "Trunc":
        return _trunc(node, const, positive_scale)
    if node.op == "RoundClip":
        if a["hi"] - a["lo"] >= MAX_LEVELS:
            raise BnnccError(f"quantizer node {quote(node.name)}: Clip(Round(x), {a['lo']:g}, {a['hi']:g}) has more "
                             f"than {MAX_LEVELS:,} levels")
        return RoundClip(int(a["lo"]), int(a["hi"]))
    if node.op == "Sign":
        return SignQuant()
    if node.op == "MultiThreshold":
        t = const(1).astype(F32)
        return MultiThreshold(t, float(a.get("out_scale", 1.0)), float(a.get("out_bias", 0.0)))
    raise BnnccError(f"node {quote(node.name)}: {node.op} is not a quantizer")


def _trunc(node: FloatNode, const, positive_scale) -> TruncQuant:
    v2 = len(node.inputs) == 6
    if len(node.inputs) not in (5, 6):
        raise BnnccError(f"Trunc node {quote(node.name)}: {len(node.inputs)} inputs; Trunc v1 has 5, v2 has 6")
    scale, zp = positive_scale(1).astype(F32), const(2).astype(F32)
    in_bits, out_bits = (float(const(i).ravel()[0]) for i in ((3, 5) if v2 else (3, 4)))
    if not all(b == int(b) and 1 <= b <= 16 for b in (in_bits, out_bits)):
        raise BnnccError(f"Trunc node {quote(node.name)}: bit widths {in_bits:g}, {out_bits:g} are not integers "
                         "in 1..16")
    a = node.attrs
    qmin, qmax = int_range(int(out_bits), bool(a.get("signed", 0)), bool(a.get("narrow", 0)))
    rounding = str(a.get("rounding_mode", "FLOOR")).upper()
    if rounding not in ROUNDING:
        raise BnnccError(f"Trunc node {quote(node.name)}: unknown rounding mode {rounding}")
    if v2:
        out_scale = positive_scale(4).astype(F32)
        trunc_scale = (F32(2) ** np.round(np.log2(out_scale / scale))).astype(F32)
        out_zp = (zp / trunc_scale).astype(F32)
    else:
        out_scale, trunc_scale, out_zp = scale, np.asarray(F32(2.0 ** (in_bits - out_bits))), zp
    return TruncQuant(scale, zp, np.asarray(trunc_scale, F32), out_scale, out_zp, qmin, qmax, rounding, v2)


def is_quantizer(node: FloatNode) -> bool:
    return node.op in QUANTIZER_OPS or (node.op == "Where" and "t" in node.attrs)


def run_node(node: FloatNode, env: dict[str, np.ndarray], consts: dict[str, np.ndarray]) -> None:
    """Evaluate one node, reading inputs from env/consts and writing its outputs into env."""
    ins = [env.get(n, consts.get(n)) if n else None for n in node.inputs]
    if is_quantizer(node):
        fn = make_quantizer(node, consts, 32 if node.inputs[0] in consts else 8)
    elif node.op in OPS:
        fn = OPS[node.op]
    else:
        raise BnnccError(f"node {quote(node.name)}: op {node.op} is not supported")
    try:
        outs = fn(ins, node.attrs)
    except BnnccError as e:
        if fn is OPS.get(node.op):  # a quantizer's errors name their node already
            raise BnnccError(f"node {quote(node.name)} ({node.op}): {e}") from None
        raise
    for name, value in zip(node.outputs, outs, strict=False):
        if name:
            env[name] = value
