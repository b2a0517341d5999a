"""IR ops. Each op keeps, side by side: its type/shape rule (`infer`), its exact integer
semantics on a batch (`execute`, axis 0 is the batch), and the structure backends read
(`describe`: MW, MH, pixels, bit widths, MACs, memory).

Integer tensors are NHWC (channels last); the host head converts from ONNX's NCHW.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np

from bnncc.errors import BnnccError
from bnncc.ir.bits import pack_bits
from bnncc.ir.dtypes import DataType, int_type, small_int
from bnncc.ir.float_ops import FloatNode, adder_product, make_quantizer, run_node
from bnncc.ir.graph import TensorType

F32 = np.float32
EXACT_F32 = 1 << 24  # every integer of magnitude below this is a float32, so float32 sums of them are exact
CHUNK_ELEMENTS = 1 << 22  # elements of one chunk's temporary (16-32 MB): bounds memory on large batches
GEMM_CHUNK = 1 << 21  # elements of a GEMM chunk's input plus output rows: big enough for BLAS to run at full speed


class FloatWeights:
    """An integer weight matrix as float32 and float64 arrays, each converted once, on first use."""

    def __init__(self, w: np.ndarray) -> None:
        self.w, self.cache = w, {}

    def __call__(self, ftype) -> np.ndarray:
        if ftype not in self.cache:
            self.cache[ftype] = np.ascontiguousarray(self.w, dtype=ftype)
        return self.cache[ftype]


def exact_product(x: np.ndarray, w: FloatWeights, bound: float, out_dtype: np.dtype, offset: int = 0,
                  halve: bool = False) -> np.ndarray:
    """(x @ w + offset) (halved if `halve`) over integers, exactly: a float32 GEMM where `bound` (a bound
    on |x @ w| and on every partial sum) and the offset stay below 2**24, since every summation order is
    then exact; float64 otherwise. The offset and the halving (exact: the caller knows the sum is even)
    are applied chunk by chunk, so each chunk's temporaries stay in cache."""
    flat = x.reshape(-1, x.shape[-1])
    ftype = np.float32 if bound + abs(offset) < EXACT_F32 else np.float64
    wf = w(ftype)
    out = np.empty((flat.shape[0], wf.shape[1]), dtype=out_dtype)
    step = max(1, GEMM_CHUNK // max(1, wf.shape[0] + wf.shape[1]))  # rows whose result stays in cache
    for i in range(0, flat.shape[0], step):
        r = flat[i : i + step].astype(ftype) @ wf
        if offset:
            r += offset
        if halve:
            r *= 0.5
        out[i : i + step] = r
    return out.reshape(x.shape[:-1] + (wf.shape[1],))


def _windows_nhwc(x: np.ndarray, k: int, s: int, pad: tuple[int, int, int, int], value: int) -> np.ndarray:
    """[N, H, W, C] -> [N, OH, OW, k, k, C] (views) after padding with `value`."""
    t, l, b, r = pad
    if any(pad):
        x = np.pad(x, ((0, 0), (t, b), (l, r), (0, 0)), constant_values=value)
    v = np.lib.stride_tricks.sliding_window_view(x, (k, k), axis=(1, 2))  # N OH OW C k k
    return np.moveaxis(v[:, ::s, ::s], 3, -1)


def _out_hw(h: int, w: int, k: int, s: int, pad) -> tuple[int, int]:
    return (h + pad[0] + pad[2] - k) // s + 1, (w + pad[1] + pad[3] - k) // s + 1


@dataclass
class HostHead:
    """Host side: the float32 ONNX subgraph up to the first quantizer, whose integer values it
    emits (bipolar as ±1), transposed to NHWC for spatial inputs."""

    nodes: list[FloatNode]
    consts: dict[str, np.ndarray]
    input_name: str
    quantized: str  # the quantizer's input tensor
    dtype: DataType
    offset: int  # value = count + offset (or 2*count - 1 for bipolar)
    out_shape: tuple[int, ...]
    nhwc: bool
    host = True

    def infer(self, t: TensorType) -> TensorType:
        return TensorType(self.out_shape, self.dtype)

    def counts(self, x: np.ndarray) -> np.ndarray:
        env = {self.input_name: np.asarray(x, F32)}
        for n in self.nodes[:-1]:
            run_node(n, env, self.consts)
        return make_quantizer(self.nodes[-1], self.consts).count(env[self.quantized])

    def execute(self, x: np.ndarray) -> np.ndarray:
        k = self.counts(x)
        v = (2 * k - 1 if self.dtype.is_bipolar else k + self.offset).astype(small_int(self.dtype.min, self.dtype.max))
        return np.moveaxis(v, 1, -1) if self.nhwc else v

    def describe(self, t_in: TensorType, t_out: TensorType) -> dict:
        return {"kind": "head", "ops": [n.op for n in self.nodes], "out_bits": t_out.dtype.bits}

    def __str__(self) -> str:
        return f"HostHead[{' > '.join(n.op for n in self.nodes)}]"


@dataclass
class SlidingWindow:
    """im2col on NHWC: [H, W, C] -> [OH, OW, k*k*C], window order (kh, kw, c)."""

    kernel: int
    stride: int
    pad: tuple[int, int, int, int]  # top, left, bottom, right
    pad_value: int = 0
    host = False

    def infer(self, t: TensorType) -> TensorType:
        h, w, c = t.shape
        oh, ow = _out_hw(h, w, self.kernel, self.stride, self.pad)
        return TensorType((oh, ow, self.kernel * self.kernel * c), t.dtype)

    def execute(self, x: np.ndarray) -> np.ndarray:
        v = _windows_nhwc(x, self.kernel, self.stride, self.pad, self.pad_value)
        return np.ascontiguousarray(v).reshape(v.shape[:3] + (-1,))

    def describe(self, t_in: TensorType, t_out: TensorType) -> dict:
        return {"kind": "window", "kernel": self.kernel, "stride": self.stride, "pad": list(self.pad),
                "ifm": list(t_in.shape), "ofm": list(t_out.shape), "bits": t_in.dtype.bits}

    def __str__(self) -> str:
        pad = list(self.pad)
        return f"SlidingWindow(k={self.kernel}, s={self.stride}, pad={pad}, value={self.pad_value})"


@dataclass
class WeightGrid:
    """How a weight matrix's integers are built: bipolar, ternary, int, or pow2 (k signed terms)."""

    kind: str
    min: int
    max: int
    k: int = 0  # pow2: terms per weight
    e_min: int = 0  # pow2: the float weight is int * 2**e_min (times a per-channel scale)
    e_max: int = 0

    @property
    def bits(self) -> int:
        if self.kind == "bipolar":
            return 1
        return int_type(self.min, self.max).bits

    def __str__(self) -> str:
        if self.kind == "pow2":
            return f"pow2(k={self.k}, e={self.e_min}..{self.e_max})"
        return self.kind if self.kind in ("bipolar", "ternary") else f"int<{self.min}..{self.max}>"


def _matrix_describe(kind: str, t_in: TensorType, t_out: TensorType, w: np.ndarray, grid: WeightGrid) -> dict:
    mw, mh = w.shape
    pixels = int(np.prod(t_in.shape[:-1]))
    return {"kind": kind, "MW": mw, "MH": mh, "pixels": pixels, "in_bits": t_in.dtype.bits,
            "weight": str(grid), "weight_bits": grid.bits, "acc_bits": t_out.dtype.bits,
            "macs": mw * mh * pixels, "params": mw * mh, "weight_mem_bits": mw * mh * grid.bits}


@dataclass
class MatMul:
    """acc[..., j] = sum_i x[..., i] * W[i, j] over integers."""

    weights: np.ndarray  # int64 [MW, MH]
    grid: WeightGrid
    host = False

    @functools.cached_property
    def signed_colsums(self) -> tuple[np.ndarray, np.ndarray]:
        """Per output column, the sum of its positive and of its negative weights."""
        w = self.weights
        total, magnitude = w.sum(0), np.abs(w).sum(0)
        return (magnitude + total) // 2, (total - magnitude) // 2

    def acc_range(self, t: TensorType) -> tuple[np.ndarray, np.ndarray]:
        lo, hi = t.dtype.min, t.dtype.max  # lo <= hi: a positive weight is smallest at lo, a negative at hi
        pos, neg = self.signed_colsums
        return lo * pos + hi * neg, hi * pos + lo * neg

    def infer(self, t: TensorType) -> TensorType:
        lo, hi = self.acc_range(t)
        return TensorType(t.shape[:-1] + (self.weights.shape[1],), int_type(lo.min(), hi.max()))

    @functools.cached_property
    def max_abs_colsum(self) -> int:
        pos, neg = self.signed_colsums
        return int((pos - neg).max(initial=0))

    @functools.cached_property
    def float_weights(self) -> FloatWeights:
        return FloatWeights(self.weights)

    def execute(self, x: np.ndarray) -> np.ndarray:
        bound = self.max_abs_colsum * int(max(-int(x.min(initial=0)), int(x.max(initial=0))))
        return exact_product(x, self.float_weights, bound, small_int(-bound, bound))

    def describe(self, t_in: TensorType, t_out: TensorType) -> dict:
        return _matrix_describe("matmul", t_in, t_out, self.weights, self.grid)

    def __str__(self) -> str:
        return f"MatMul(W: {self.grid}[{self.weights.shape[0]}x{self.weights.shape[1]}])"


@dataclass
class XnorPopcount:
    """popcount(XNOR(x, w)) over bipolar bits; the dot product is 2 * popcount - MW."""

    weights: np.ndarray  # uint8 bits [MW, MH], 1 <-> +1
    grid: WeightGrid = field(default_factory=lambda: WeightGrid("bipolar", -1, 1))
    host = False

    def infer(self, t: TensorType) -> TensorType:
        return TensorType(t.shape[:-1] + (self.weights.shape[1],), int_type(0, self.weights.shape[0]))

    @functools.cached_property
    def packed_weights(self) -> np.ndarray:
        """[MH, words] uint64, packed once (the op's weights never change after lowering)."""
        return pack_bits(np.ascontiguousarray(self.weights.T))

    @functools.cached_property
    def signed_weights(self) -> FloatWeights:
        """The weights as ±1 values [MW, MH]."""
        return FloatWeights(2 * self.weights.astype(np.int8) - 1)

    def execute(self, x: np.ndarray) -> np.ndarray:
        """popcount = (dot + MW) / 2 with dot = x @ W over ±1 values: a float32 GEMM is exact here
        (|dot| <= MW < 2**24) and fast; `execute_packed` is the bit-level reference it is tested against."""
        mw = self.weights.shape[0]
        return exact_product(x, self.signed_weights, mw, small_int(0, mw), offset=mw, halve=True)

    def execute_packed(self, x: np.ndarray) -> np.ndarray:
        """XNOR and popcount on bit-packed 64-bit words, as the hardware computes it."""
        mw, mh = self.weights.shape
        xp = pack_bits((x > 0).astype(np.uint8))  # [..., words]
        wp = self.packed_weights
        flat = xp.reshape(-1, xp.shape[-1])
        out = np.empty((flat.shape[0], mh), dtype=np.int64)
        step = max(1, (1 << 22) // (mh * wp.shape[1]))  # bounds the XOR temporary to ~32 MB
        for i in range(0, flat.shape[0], step):
            xor = flat[i : i + step, None, :] ^ wp[None]
            out[i : i + step] = mw - np.bitwise_count(xor).sum(-1, dtype=np.int64)
        return out.reshape(x.shape[:-1] + (mh,))

    def describe(self, t_in: TensorType, t_out: TensorType) -> dict:
        d = _matrix_describe("xnor", t_in, t_out, self.weights, self.grid)
        d["binary_ops"] = d["macs"]
        return d

    def __str__(self) -> str:
        return f"XnorPopcount(W: bipolar[{self.weights.shape[0]}x{self.weights.shape[1]}])"


@dataclass
class Adder:
    """AdderNet: acc[..., j] = -sum_i |x[..., i] - W[i, j]| over integers."""

    weights: np.ndarray  # int64 [MW, MH], on the input's value grid
    grid: WeightGrid
    host = False

    def acc_range(self, t: TensorType) -> tuple[np.ndarray, np.ndarray]:
        lo, hi, w = t.dtype.min, t.dtype.max, self.weights
        worst = np.maximum(np.abs(lo - w), np.abs(hi - w)).sum(0)
        best = np.where((w >= lo) & (w <= hi), 0, np.minimum(np.abs(lo - w), np.abs(hi - w))).sum(0)
        return -worst, -best

    def infer(self, t: TensorType) -> TensorType:
        lo, hi = self.acc_range(t)
        return TensorType(t.shape[:-1] + (self.weights.shape[1],), int_type(lo.min(), hi.max()))

    def execute(self, x: np.ndarray) -> np.ndarray:
        flat = x.reshape(-1, x.shape[-1]).astype(np.int64, copy=False)
        return adder_product(flat, self.weights.astype(np.int64, copy=False)).reshape(x.shape[:-1] + (-1,))

    def describe(self, t_in: TensorType, t_out: TensorType) -> dict:
        return _matrix_describe("adder", t_in, t_out, self.weights, self.grid)

    def __str__(self) -> str:
        return f"Adder(W: {self.grid}[{self.weights.shape[0]}x{self.weights.shape[1]}])"


@dataclass
class _Pooling:
    """k x k windows with stride s, no padding, NHWC."""

    kernel: int
    stride: int
    host = False

    def out_shape(self, t: TensorType) -> tuple[int, int, int]:
        h, w, c = t.shape
        return (*_out_hw(h, w, self.kernel, self.stride, (0, 0, 0, 0)), c)

    def windows(self, x: np.ndarray) -> np.ndarray:
        return _windows_nhwc(x, self.kernel, self.stride, (0, 0, 0, 0), 0)


@dataclass
class MaxPool(_Pooling):
    """Max over k x k windows, NHWC (an OR over bits for bipolar values)."""

    def infer(self, t: TensorType) -> TensorType:
        return TensorType(self.out_shape(t), t.dtype)

    def execute(self, x: np.ndarray) -> np.ndarray:
        return self.windows(x).max(axis=(3, 4))

    def describe(self, t_in: TensorType, t_out: TensorType) -> dict:
        return {"kind": "maxpool", "kernel": self.kernel, "stride": self.stride,
                "ifm": list(t_in.shape), "ofm": list(t_out.shape), "bits": t_in.dtype.bits}

    def __str__(self) -> str:
        return f"MaxPool(k={self.kernel}, s={self.stride})"


def threshold_counts(acc: np.ndarray, t: np.ndarray, desc: np.ndarray) -> np.ndarray:
    """#{i: acc >= T[c, i]} per channel (last axis), or #{i: acc <= T[c, i]} where desc[c]."""
    if t.shape[1] == 1:  # one threshold a channel (bipolar outputs): one comparison, no [..., T] temporary
        th = t[:, 0] + desc  # acc <= T is not (acc >= T + 1)
        if acc.dtype.kind == "i" and np.iinfo(acc.dtype).min <= th.min() and th.max() <= np.iinfo(acc.dtype).max:
            th = th.astype(acc.dtype)  # compare in the accumulator's own width
        return (acc >= th) ^ desc
    up = (acc[..., None] >= t).sum(-1)
    down = (acc[..., None] <= t).sum(-1) if desc.any() else up
    return np.where(desc, down, up)


@dataclass
class MultiThreshold:
    """out code = #{i : acc >= T[c, i]} (#{i : acc <= T[c, i]} where descending[c]); the value
    is the code mapped by `dtype` (bipolar: 2*code - 1)."""

    thresholds: np.ndarray  # int64 [C, levels - 1], sorted ascending (descending: decreasing)
    descending: np.ndarray  # bool [C]
    dtype: DataType
    # thresholds on a float32 tie of the model's float ops (lowering's `thresholds.float32_ties`): where a
    # float runtime's codes may differ from the exact ones
    ties: int = 0
    host = False

    def infer(self, t: TensorType) -> TensorType:
        return TensorType(t.shape, self.dtype)

    def execute(self, x: np.ndarray) -> np.ndarray:
        codes = threshold_counts(x, self.thresholds, self.descending)
        return self.dtype.from_codes(codes.astype(small_int(2 * self.dtype.min, 2 * self.dtype.max + 1)))

    def describe(self, t_in: TensorType, t_out: TensorType) -> dict:
        c, n = self.thresholds.shape
        bits = int_type(int(min(self.thresholds.min(), t_in.dtype.min)),
                        int(max(self.thresholds.max(), t_in.dtype.max))).bits
        return {"kind": "threshold", "channels": c, "thresholds": n, "threshold_bits": bits,
                "out_bits": t_out.dtype.bits, "pixels": int(np.prod(t_in.shape[:-1])),
                "threshold_mem_bits": c * n * bits, "float32_ties": self.ties}

    def __str__(self) -> str:
        c, n = self.thresholds.shape
        return f"MultiThreshold(T: [{c}x{n}], descending={int(self.descending.sum())}) -> {self.dtype}"


@dataclass
class Flatten:
    """NHWC [H, W, C] -> [H*W*C] in memory order (the next matrix's rows were permuted to match)."""

    host = False

    def infer(self, t: TensorType) -> TensorType:
        return TensorType((t.size,), t.dtype)

    def execute(self, x: np.ndarray) -> np.ndarray:
        return x.reshape(x.shape[0], -1)

    def describe(self, t_in: TensorType, t_out: TensorType) -> dict:
        return {"kind": "flatten"}

    def __str__(self) -> str:
        return "Flatten"


@dataclass
class LabelSelect:
    """Index of the largest accumulator (ties to the lowest index, as numpy.argmax)."""

    host = False

    def infer(self, t: TensorType) -> TensorType:
        return TensorType((1,), int_type(0, t.shape[-1] - 1))

    def execute(self, x: np.ndarray) -> np.ndarray:
        return np.argmax(x, axis=-1)[..., None].astype(np.int64)

    def describe(self, t_in: TensorType, t_out: TensorType) -> dict:
        return {"kind": "labelselect", "classes": t_in.shape[-1], "in_bits": t_in.dtype.bits}

    def __str__(self) -> str:
        return "LabelSelect(k=1)"


@dataclass
class Add:
    """Exact integer join of two tensors of one shape: wa * a + wb * b (a residual add). The weights are 1
    at equal scales and a power of two (a shift) where the scales differ by one; otherwise lowering picks
    the smallest integer weights whose thresholds reproduce the model on every pair of codes."""

    wa: int = 1
    wb: int = 1
    host = False

    def infer(self, a: TensorType, b: TensorType) -> TensorType:
        if a.shape != b.shape:
            raise BnnccError(f"Add of shapes {list(a.shape)} and {list(b.shape)}")
        lo = self.wa * a.dtype.min + self.wb * b.dtype.min
        return TensorType(a.shape, int_type(lo, self.wa * a.dtype.max + self.wb * b.dtype.max))

    def execute(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return self.wa * a.astype(np.int64) + self.wb * b.astype(np.int64)

    def describe(self, t_in: TensorType, t_out: TensorType) -> dict:
        return {"kind": "add", "weights": [self.wa, self.wb], "out_bits": t_out.dtype.bits}

    def __str__(self) -> str:
        return "Add" if (self.wa, self.wb) == (1, 1) else f"Add({self.wa}*a + {self.wb}*b)"


@dataclass
class Concat:
    """Channel concatenation (NHWC: the last axis) of tensors that share one value grid."""

    host = False

    def infer(self, *ts: TensorType) -> TensorType:
        if len({t.shape[:-1] for t in ts}) != 1:
            raise BnnccError(f"Concat of shapes {[list(t.shape) for t in ts]}")
        lo, hi = min(t.dtype.min for t in ts), max(t.dtype.max for t in ts)
        dtype = ts[0].dtype if all(t.dtype == ts[0].dtype for t in ts) else int_type(lo, hi)
        return TensorType(ts[0].shape[:-1] + (sum(t.shape[-1] for t in ts),), dtype)

    def execute(self, *xs: np.ndarray) -> np.ndarray:
        return np.concatenate(xs, axis=-1)

    def describe(self, t_in: TensorType, t_out: TensorType) -> dict:
        return {"kind": "concat", "bits": t_out.dtype.bits}

    def __str__(self) -> str:
        return "Concat"


@dataclass
class SumPool(_Pooling):
    """Integer sum over k x k windows, NHWC: an average pool whose division is folded into what follows."""

    def infer(self, t: TensorType) -> TensorType:
        n = self.kernel * self.kernel
        return TensorType(self.out_shape(t), int_type(n * t.dtype.min, n * t.dtype.max))

    def execute(self, x: np.ndarray) -> np.ndarray:
        return self.windows(x.astype(np.int64)).sum(axis=(3, 4))

    def describe(self, t_in: TensorType, t_out: TensorType) -> dict:
        return {"kind": "sumpool", "kernel": self.kernel, "stride": self.stride,
                "ifm": list(t_in.shape), "ofm": list(t_out.shape), "bits": t_in.dtype.bits,
                "out_bits": t_out.dtype.bits}

    def __str__(self) -> str:
        return f"SumPool(k={self.kernel}, s={self.stride})"


@dataclass
class HostTail:
    """Host side: float32(a[c] * (m * acc + b0) + b[c]) in ONNX layout, then the remaining float
    ops of the model in ONNX order. `m, b0` are integers (an XNOR popcount's 2*pc - MW)."""

    a: np.ndarray  # float64 [C]
    b: np.ndarray  # float64 [C]
    onnx_index: np.ndarray  # ONNX per-sample shape; entries index our flat accumulator
    nodes: list[FloatNode]
    consts: dict[str, np.ndarray]
    start: str  # the ONNX tensor the dequantized accumulators stand for
    outputs: list[str]  # the model's outputs, in ONNX order
    out_types: tuple[TensorType, ...]  # their per-sample types, as traced on the float graph
    m: int = 1
    b0: int = 0
    # A quantizer's codes leave the model as its own float32 table (value type, float per code), not a*v + b
    table: tuple[DataType, np.ndarray] | None = None
    host = True

    def infer(self, t: TensorType) -> tuple[TensorType, ...]:
        return self.out_types

    def dequant(self, acc: np.ndarray) -> np.ndarray:
        if self.table is not None:
            dtype, floats = self.table
            y = floats[dtype.to_codes(acc.astype(np.int64))]
        else:
            dot = acc.astype(np.float64) * self.m + self.b0  # exact: |acc| far below 2**53
            y = (self.a * dot + self.b).astype(F32)
        return y.reshape(y.shape[0], -1)[:, self.onnx_index]

    def execute(self, x: np.ndarray) -> tuple[np.ndarray, ...]:
        env = {self.start: self.dequant(x)}
        for n in self.nodes:
            run_node(n, env, self.consts)
        return tuple(env[o] for o in self.outputs)

    def describe(self, t_in: TensorType, t_out: TensorType) -> dict:
        return {"kind": "tail", "ops": ["Dequant"] + [n.op for n in self.nodes]}

    def __str__(self) -> str:
        return f"HostTail[{' > '.join(['Dequant'] + [n.op for n in self.nodes])}]"
