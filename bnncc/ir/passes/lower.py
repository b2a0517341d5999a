"""Lowering: the float ONNX-level DAG -> IR (host head, integer layers and joins, host tail).

Walks the graph once, in topological order, one segment at a time: a segment is a run of nodes each of
which is its predecessor's only reader, so it ends where a tensor forks, joins or leaves the model.
Before the first activation quantizer everything is the host head.
Each linear op (MatMul/Gemm/Conv/AdderMatMul/AdderConv) on an integer tensor becomes an integer
matrix op (after a SlidingWindow for the convolutions) whose weights come from `weight_grid` (an
adder's: its input's value grid); the float ops up to the next quantizer become integer
thresholds by `thresholds.extract` (evaluating those very float ops); what follows the last
linear op is the host tail. Data movement is tracked as an index map from ONNX positions to our
NHWC positions, so the first FC after a flatten gets its rows permuted instead of data moved.
A residual Add joins two integer tensors as wa * a + wb * b at their exact float32 scales and, like a
linear op, takes the float ops up to its quantizer as thresholds, checked on every reachable pair of
codes; an average pool is an integer window sum with the division folded into what follows.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from bnncc.errors import BnnccError
from bnncc.ir import ops
from bnncc.ir.dtypes import BIPOLAR, FLOAT32, INT64, DataType, int_type
from bnncc.ir.float_ops import FloatNode, Quantizer, TruncQuant, is_quantizer, make_quantizer, run_node
from bnncc.ir.graph import FloatGraph, Graph, Node, TensorType, quote
from bnncc.ir.ops import threshold_counts
from bnncc.ir.passes import thresholds, weight_grid

F32 = np.float32
CONVS = {"Conv", "AdderConv"}  # a SlidingWindow, then the matrix op on its patches
ADDERS = {"AdderMatMul", "AdderConv"}  # the matrix op is an Adder on the input's value grid
LINEAR = {"MatMul", "Gemm"} | CONVS | ADDERS
MOVES = {"Reshape", "Flatten", "Transpose", "Squeeze", "Unsqueeze", "Identity", "Dropout"}
SCALAR_OPS = {"Mul", "Div", "Add", "Sub", "Neg", "Identity", "Dropout", "Cast"}
CHANNEL_OPS = {"Mul", "Div", "Add", "Sub", "Neg", "BatchNormalization", "Relu", "Clip", "LeakyRelu", "Tanh",
               "Sigmoid", "Identity", "Dropout", "Cast", "Squeeze", "Unsqueeze", "MaxPool"}
NON_MONOTONIC = {"Abs", "Sin", "Cos", "Pow", "Softmax"}
TWO_INPUT = {"Sub": "Sub of two activations", "Mul": "Mul of two activations",
             "Div": "Div of two activations", "MatMul": "MatMul of two activations"}
JOINS = {"Add", "Concat"}  # ops that may read two integer tensors
AVG_POOLS = {"AveragePool", "GlobalAveragePool"}
PAIRS_CHECKED = 1 << 16  # a join's pairs of codes checked one by one up to this many (8 x 8 bits), else sampled


def canonical_nhwc(shape: tuple[int, ...]) -> np.ndarray:
    """Index map of an ONNX [C, H, W] tensor stored as NHWC."""
    c, h, w = shape
    return np.arange(c * h * w).reshape(h, w, c).transpose(2, 0, 1)


@dataclass
class Values:
    """The integer tensor in flight: its value type and the float each value stands for."""

    dtype: DataType
    floats: np.ndarray  # float32 [levels]: float of dtype.values()[k]

    def affine(self, where: str) -> tuple[float, float]:
        v = self.dtype.values().astype(np.float64)
        f = self.floats.astype(np.float64)
        alpha = (f[-1] - f[0]) / (v[-1] - v[0])
        beta = f[0] - alpha * v[0]
        if alpha == 0 or not np.allclose(alpha * v + beta, f, rtol=1e-6, atol=1e-5 * abs(alpha)):
            raise BnnccError(f"{where}: the input levels {f.tolist()} are not equally spaced")
        return alpha, beta


def exact_scale(values: Values, where: str) -> tuple[float, float]:
    """The float32 scale s and offset b with floats[k] == fl32(v[k] * s + b): the values' grid as the model
    computes it (the affine fit's float64 slope can sit one float32 step off)."""
    alpha, beta = values.affine(where)
    v = values.dtype.values().astype(F32)
    s0 = F32(alpha)
    for s in (s0, np.nextafter(s0, F32(np.inf)), np.nextafter(s0, F32(-np.inf))):
        if np.array_equal((v * s + F32(beta)).astype(F32), values.floats):
            return float(s), float(F32(beta))
    return float(s0), float(F32(beta))


def join_weights(sa: float, sb: float) -> list[tuple[int, int]]:
    """Integer weights (wa, wb) for wa * a + wb * b, smallest first: the convergents of sa / sb, ending with
    the exact ratio of the two float32 scales (float32 numbers are dyadic, so it is a ratio of integers).
    The first whose thresholds give the model's codes on every pair wins."""
    x = Fraction(float(F32(sa))) / Fraction(float(F32(sb)))
    out, (p0, q0, p1, q1) = [], (0, 1, 1, 0)
    rest = x
    while True:
        a = rest.numerator // rest.denominator
        p0, q0, p1, q1 = p1, q1, a * p1 + p0, a * q1 + q0
        if p1 > 0:
            out.append((p1, q1))
        if rest == a:
            return out
        rest = 1 / (rest - a)


def exact_sums(floats: np.ndarray, count: int) -> bool:
    """Whether float32 adds any `count` of these values exactly, in any order: they are all multiples of one
    power of two q, and `count` times the largest stays below 2^24 q."""
    f = np.asarray(floats, np.float64)
    nonzero = f[f != 0]
    if nonzero.size == 0:
        return True
    mant, exp = np.frexp(nonzero)
    ints = (mant * (1 << 24)).astype(np.int64)  # f = ints * 2^(exp - 24), exactly (float32 values)
    low = exp - 24 + np.array([(int(v) & -int(v)).bit_length() - 1 for v in np.abs(ints)])
    return bool(count * np.abs(nonzero).max() < np.ldexp(1.0, int(low.min()) + 24))


def is_pow2(x: int) -> bool:
    return x > 0 and x & (x - 1) == 0


def canonical_values(q: Quantizer, where: str) -> tuple[DataType, int]:
    """The value type of a quantizer's codes and the offset value = code + offset (bipolar: 2c-1)."""
    f = np.asarray(q.dequant(np.arange(q.levels)), dtype=np.float64).reshape(q.levels, -1)
    if f.shape[1] != 1:
        raise BnnccError(f"{where}: per-channel activation scales are not supported")
    f = f[:, 0]
    if q.levels == 2 and f[0] == -f[1] and f[1] > 0:
        return BIPOLAR, 0
    zero = np.flatnonzero(f == 0)
    k0 = int(zero[0]) if zero.size else 0
    return int_type(-k0, q.levels - 1 - k0), -k0


@dataclass
class Live:
    """An integer tensor a later segment may read: its IR name, value grid and ONNX-to-NHWC index map."""

    name: str
    values: Values
    index: np.ndarray


class Lowering:
    def __init__(self, fg: FloatGraph):
        self.fg = fg
        self.nodes: list[Node] = []
        self.types: dict[str, TensorType] = {}
        self.cur = "x"
        self.types["x"] = TensorType(tuple(fg.input_shape[1:]), FLOAT32)
        self.live: dict[str, Live] = {}  # ONNX tensor -> the integer tensor standing for it
        self.consumers = fg.consumers()

    def where(self, n: FloatNode) -> str:
        return f"{self.fg.path}: node {quote(n.name)} ({n.op})"

    def emit(self, op, source: list[FloatNode], inputs: list[str] | None = None) -> str:
        out = f"t{len(self.nodes)}"
        inputs = [self.cur] if inputs is None else inputs
        types = op.infer(*(self.types[i] for i in inputs))
        outs = [out] + [f"{out}_{j}" for j in range(1, len(types))] if isinstance(types, tuple) else [out]
        for name, t in zip(outs, types if isinstance(types, tuple) else (types,), strict=True):
            self.types[name] = t
        self.nodes.append(Node(op, inputs, outs, [n.name for n in source]))
        self.cur = out
        return out

    @property
    def type(self) -> TensorType:
        return self.types[self.cur]

    def shape(self, name: str) -> tuple[int, ...]:
        return tuple(self.fg.shapes[name][1:])

    def data_inputs(self, n: FloatNode) -> list[str]:
        return [i for i in n.inputs if i and i not in self.fg.consts]

    def save(self, onnx_name: str) -> None:
        self.live[onnx_name] = Live(self.cur, self.values, self.index)

    def load(self, onnx_name: str) -> None:
        t = self.live[onnx_name]
        self.cur, self.values, self.index = t.name, t.values, t.index

    # -- the data path -------------------------------------------------------------------------

    def check_nodes(self) -> None:
        for n in self.fg.nodes:
            data = self.data_inputs(n)
            if len(data) > 1 and n.op not in JOINS:
                what = TWO_INPUT.get(n.op, f"{n.op} of two activations")
                raise BnnccError(f"{self.where(n)}: {what} is not supported")
            if n.op in LINEAR and (len(n.inputs) < 2 or n.inputs[1] not in self.fg.consts):
                raise BnnccError(f"{self.where(n)}: the weights are not constant")

    def segment(self, n: FloatNode) -> list[FloatNode]:
        """`n` and the nodes after it, each its predecessor's only reader, up to a fork, a join or an output."""
        seg = [n]
        while seg[-1].outputs[0] not in self.fg.outputs:
            users = self.consumers.get(seg[-1].outputs[0], [])
            if len(users) != 1 or len(self.data_inputs(users[0])) != 1:
                break
            seg.append(users[0])
        return seg

    def head_chain(self) -> list[FloatNode]:
        """The host head: the input's chain up to its first quantizer."""
        seg = self.segment(self.consumers[self.fg.input][0]) if self.fg.input in self.consumers else []
        readers = self.consumers.get(self.fg.input, [])
        if len(readers) > 1:
            names = ", ".join(f"{quote(n.name)} ({n.op})" for n in readers)
            raise BnnccError(f"{self.fg.path}: nodes {names} read the float input before any quantizer; the host "
                             "head must be a chain (quantize the input first, or declare it with --input-codes)")
        qi = next((i for i, n in enumerate(seg) if is_quantizer(n)), None)
        if qi is None:
            stop = seg[-1] if seg else None
            if stop is not None and stop.outputs[0] not in self.fg.outputs:
                raise BnnccError(f"{self.where(stop)}: the float input branches or joins here, before any "
                                 "activation quantizer; the host head must be a chain")
            raise BnnccError(f"{self.fg.path}: no activation quantizer found; nothing integer to compile")
        return seg[: qi + 1]

    def run(self) -> Graph:
        self.check_nodes()
        head = self.head_chain()
        q = make_quantizer(head[-1], self.fg.consts)
        dtype, offset = canonical_values(q, self.where(head[-1]))
        oshape = self.shape(head[-1].outputs[0])
        nhwc = len(oshape) == 3
        our = (oshape[1], oshape[2], oshape[0]) if nhwc else oshape
        self.emit(ops.HostHead(head, self.fg.consts, self.fg.input, head[-1].inputs[0], dtype,
                               offset, our, nhwc), head)
        self.index = canonical_nhwc(oshape) if nhwc else np.arange(int(np.prod(oshape))).reshape(oshape)
        self.values = Values(dtype, q.dequant(np.arange(q.levels)).reshape(-1).astype(F32))
        self.save(head[-1].outputs[0])
        done = {id(n) for n in head}
        for n in self.fg.nodes:
            if id(n) in done:
                continue
            missing = [i for i in self.data_inputs(n) if i not in self.live]
            if missing or not self.data_inputs(n):
                raise BnnccError(f"{self.where(n)}: not on the path from the input to the output")
            if self.nodes and isinstance(self.nodes[-1].op, ops.HostTail | ops.LabelSelect):
                raise BnnccError(f"{self.where(n)}: the model has outputs on several branches; not supported")
            seg = self.segment(n)
            done.update(id(m) for m in seg)
            self.load(self.data_inputs(n)[0])
            i = 0
            while i < len(seg):
                try:
                    i = self.step(seg, i)
                except (ValueError, IndexError, KeyError, TypeError, ZeroDivisionError) as e:
                    # shapes or attributes the checks before lowering could not see: still the node and the op
                    raise BnnccError(f"{self.where(seg[i])}: cannot be lowered ({type(e).__name__}: {e})") from None
            self.save(seg[-1].outputs[0])
        if not isinstance(self.nodes[-1].op, ops.HostTail | ops.LabelSelect):
            out = self.fg.outputs[0]
            if out not in self.live:
                raise BnnccError(f"{self.fg.path}: graph output {quote(out)} is not computed from the input")
            self.load(out)
            self.values_tail(out)
        return Graph(self.fg.path, "x", self.types["x"], self.nodes, self.types, list(self.fg.outputs))

    def step(self, chain: list[FloatNode], i: int) -> int:
        """Lower chain[i] (and what it takes with it); returns the index of the next node to lower."""
        n = chain[i]
        if n.op in LINEAR:
            return self.layer(chain, i)
        if n.op == "Add" and len(self.data_inputs(n)) == 2:
            return self.residual(chain, i)
        if n.op == "Concat" and len(self.data_inputs(n)) > 1:
            self.concat(n)
        elif n.op in AVG_POOLS:
            return self.average_pool(chain, i)
        elif n.op in MOVES:
            env = {n.inputs[0]: self.index[None]}
            run_node(n, env, self.fg.consts)
            self.index = env[n.outputs[0]][0]
        elif n.op in SCALAR_OPS:
            self.scalar_op(n)
        elif n.op == "MaxPool":
            self.pool(n, chain[i:i + 1])
        else:
            raise BnnccError(f"{self.where(n)}: not supported between integer layers")
        return i + 1

    # -- pieces ----------------------------------------------------------------------------------

    def scalar_op(self, n: FloatNode) -> None:
        for i in n.inputs[1:]:
            if i and np.asarray(self.fg.consts[i]).size != 1:
                raise BnnccError(f"{self.where(n)}: per-channel scaling between a quantizer and the next layer "
                                 "is not supported")
        env = {n.inputs[0]: self.values.floats}
        if n.inputs[0] in self.fg.consts:  # e.g. Sub(c, x)
            env = {i: self.values.floats for i in n.inputs if i not in self.fg.consts}
        run_node(n, env, self.fg.consts)
        self.values = Values(self.values.dtype, np.asarray(env[n.outputs[0]], F32).reshape(-1))

    def to_nhwc(self, n: FloatNode) -> tuple[int, int, int]:
        shape = self.index.shape
        if len(shape) != 3 or not np.array_equal(self.index, canonical_nhwc(shape)):
            raise BnnccError(f"{self.where(n)}: input layout {list(shape)} is not an NCHW feature map we stream")
        if self.type.shape != (shape[1], shape[2], shape[0]):
            raise BnnccError(f"{self.where(n)}: reshaping a flat tensor into a feature map is not supported")
        return shape

    def pool(self, n: FloatNode, source: list[FloatNode]) -> None:
        k, s = self.pool_params(n)
        f = self.values.floats
        if np.any(np.diff(f) <= 0):
            raise BnnccError(f"{self.where(n)}: max-pool over a decreasing value map is not supported")
        shape = self.to_nhwc(n)
        self.emit(ops.MaxPool(k, s), source)
        self.index = canonical_nhwc((shape[0],) + self.type.shape[:2])

    def pool_params(self, n: FloatNode, what: str = "max-pool") -> tuple[int, int]:
        k, s = n.attrs.get("kernel_shape", [1, 1]), n.attrs.get("strides", [1, 1])
        if k[0] != k[1] or s[0] != s[1] or any(n.attrs.get("pads", [0])) or n.attrs.get("ceil_mode", 0):
            raise BnnccError(f"{self.where(n)}: only square, unpadded {what} is supported")
        return int(k[0]), int(s[0])

    def layer(self, chain: list[FloatNode], i: int) -> int:
        """One linear op and its float ops up to the next quantizer (or the tail). Returns the next index."""
        n = chain[i]
        w = np.asarray(self.fg.consts[n.inputs[1]], dtype=np.float64)
        alpha, beta = self.values.affine(self.where(n))
        extra: list[FloatNode] = []  # a bias, as the Add the ONNX op performs after its matmul
        start = n.outputs[0]
        if n.op in CONVS:
            w = self.window(n, w, alpha, beta)
            if len(n.inputs) > 2 and n.inputs[2]:
                extra.append(self.bias_node(n, self.fg.consts[n.inputs[2]].reshape(-1, 1, 1)))
        else:
            if n.op == "Gemm":
                if n.attrs.get("transA", 0):
                    raise BnnccError(f"{self.where(n)}: Gemm with transA is not supported")
                w = (w.T if n.attrs.get("transB", 0) else w) * n.attrs.get("alpha", 1.0)
                if len(n.inputs) > 2 and n.inputs[2]:
                    bias = self.fg.consts[n.inputs[2]] * np.float32(n.attrs.get("beta", 1.0))
                    extra.append(self.bias_node(n, bias.reshape(-1)))
            if self.index.ndim != 1:
                raise BnnccError(f"{self.where(n)}: the input is not flat ({list(self.index.shape)})")
            if len(self.type.shape) != 1:
                self.emit(ops.Flatten(), [n])
            w = w[np.argsort(self.index.reshape(-1))]  # our row p holds the ONNX row the index maps to p
        if extra:
            start = f"{n.outputs[0]}#matmul"
            extra[0].inputs[0] = start
        where = self.where(n)
        if n.op in ADDERS:
            self.emit(self.adder(w, alpha, beta, where), [n])
            # |x - w| = |alpha| * |xq - wq| for x = alpha * xq + beta and w = alpha * wq + beta.
            a, b = np.full(w.shape[1], abs(alpha)), np.zeros(w.shape[1])
        else:
            wq, scale, grid = weight_grid.detect(w, where)
            self.emit(ops.MatMul(wq, grid), [n])
            a, b = alpha * scale, beta * scale * wq.sum(0)
        lo, hi = self.matrix_op.acc_range(self.types[self.nodes[-1].input])
        reach = np.abs(a) * np.maximum(np.abs(lo), np.abs(hi)) + np.abs(b)
        if not np.all(reach <= np.finfo(F32).max):
            raise BnnccError(f"{where}: its float32 results overflow (up to {float(reach.max()):.3g}): the scales "
                             "are too large for the model to have finite values")
        post_end = next((j for j in range(i + 1, len(chain)) if is_quantizer(chain[j])), None)
        out_shape = self.shape(n.outputs[0])
        out_index = canonical_nhwc(out_shape) if len(out_shape) == 3 else np.arange(out_shape[0])
        if post_end is None:
            self.check_leaves(chain, n)
            self.tail(chain[i + 1:], extra, a, b, lo, hi, start, out_index)
            return len(chain)
        post = extra + chain[i + 1: post_end]
        self.threshold(post, chain[post_end], a, b, lo, hi, start, len(out_shape) + 1)
        return post_end + 1

    def check_leaves(self, chain: list[FloatNode], n: FloatNode) -> None:
        """What follows `n` without a quantizer must be the model's output, not a fork or a join."""
        end = chain[-1].outputs[0]
        readers = len(self.consumers.get(end, []))
        if readers and not set(chain[-1].outputs) & set(self.fg.outputs):
            raise BnnccError(f"{self.where(n)}: its result feeds {'a join' if readers == 1 else f'{readers} nodes'} "
                             "before any quantizer; forks and joins need integer codes (quantize before them)")

    def residual(self, chain: list[FloatNode], i: int) -> int:
        """A residual Add of two integer tensors and the float ops up to its quantizer (or the tail)."""
        n = chain[i]
        where = self.where(n)
        ins = [self.live[x] for x in self.data_inputs(n)]
        if not np.array_equal(ins[0].index, ins[1].index) or \
                self.types[ins[0].name].shape != self.types[ins[1].name].shape:
            raise BnnccError(f"{where}: its two inputs have different shapes or layouts ({list(ins[0].index.shape)} "
                             f"and {list(ins[1].index.shape)}); broadcasting is not supported")
        (sa, ba), (sb, bb) = (exact_scale(t.values, where) for t in ins)
        if sa <= 0 or sb <= 0:
            raise BnnccError(f"{where}: an input with a negative scale ({sa:g}, {sb:g}) is not supported")
        weights = join_weights(sa, sb)
        post_end = next((j for j in range(i + 1, len(chain)) if is_quantizer(chain[j])), None)
        scales = f"scales {sa!r} and {sb!r}"
        if post_end is None:
            wa, wb = weights[-1]
            if not (is_pow2(wa) and is_pow2(wb)):
                raise BnnccError(f"{where}: joins {scales}, whose ratio is not a power of two, with no quantizer "
                                 "after it: its float32 sum is not an exact integer sum")
            self.join(n, ins, wa, wb)
            a, b = self.join_affine(sa / wa, ba + bb)
            self.check_leaves(chain, n)
            self.tail(chain[i + 1:], [], a, b, *self.join_range(), n.outputs[0], self.index)
            return len(chain)
        post = chain[i + 1: post_end]
        rank = len(self.shape(n.outputs[0])) + 1
        for wa, wb in weights:
            self.join(n, ins, wa, wb)
            a, b = self.join_affine(sa / wa, ba + bb)
            self.threshold(post, chain[post_end], a, b, *self.join_range(), n.outputs[0], rank)
            mismatch = self.check_pairs(n, post + [chain[post_end]], ins, (wa, wb))
            if mismatch is None:
                return post_end + 1
            del self.nodes[-2:]
        raise BnnccError(f"{where}: joins {scales}: {mismatch}; the sum is not exact")

    def join(self, n: FloatNode, ins: list[Live], wa: int, wb: int) -> None:
        self.emit(ops.Add(wa, wb), [n], [t.name for t in ins])
        self.index = ins[0].index

    def join_affine(self, grid: float, offset: float) -> tuple[np.ndarray, np.ndarray]:
        channels = self.type.shape[-1]
        return np.full(channels, grid), np.full(channels, offset)

    def join_range(self) -> tuple[np.ndarray, np.ndarray]:
        channels = self.type.shape[-1]
        return np.full(channels, self.type.dtype.min), np.full(channels, self.type.dtype.max)

    def check_pairs(self, n: FloatNode, post: list[FloatNode], ins: list[Live], w: tuple[int, int]) -> str | None:
        """The join's thresholds against the model's own float32 ops on every reachable pair of codes
        (sampled beyond PAIRS_CHECKED): the add, what follows it and the quantizer. The first disagreement,
        or None."""
        va, vb = (t.values.dtype.values() for t in ins)
        if len(set(self.data_inputs(n))) == 1:  # x + x: only equal codes meet
            ka = kb = np.arange(va.size)
        else:
            ka, kb = np.meshgrid(np.arange(va.size), np.arange(vb.size), indexing="ij")
            ka, kb = ka.reshape(-1), kb.reshape(-1)
        if ka.size > PAIRS_CHECKED:
            pick = np.random.default_rng(0).choice(ka.size, PAIRS_CHECKED, replace=False)
            ka, kb = ka[pick], kb[pick]
        rank = len(self.shape(n.outputs[0])) + 1
        env = {x: t.values.floats[k].reshape((-1,) + (1,) * (rank - 1))
               for x, t, k in zip(self.data_inputs(n), ins, (ka, kb), strict=True)}
        env = self.post_fn([n] + post[:-1], env)
        q = make_quantizer(post[-1], self.fg.consts)
        want = q.count(env[post[-1].inputs[0]]).reshape(ka.size, -1)
        mt = self.nodes[-1].op
        acc = (w[0] * va[ka] + w[1] * vb[kb])[:, None]
        got = threshold_counts(np.broadcast_to(acc, (ka.size, mt.thresholds.shape[0])), mt.thresholds, mt.descending)
        want = np.broadcast_to(want, got.shape)
        bad = np.argwhere(got != want)
        if not bad.size:
            return None
        p, c = bad[0]
        return (f"at codes ({int(va[ka[p]])}, {int(vb[kb[p]])}) the model's float32 ops give code {int(want[p, c])} "
                f"in channel {int(c)}, {w[0]}*a + {w[1]}*b gives {int(got[p, c])}")

    def concat(self, n: FloatNode) -> None:
        ins = [self.live[x] for x in self.data_inputs(n)]
        where = self.where(n)
        if any(t.values.dtype != ins[0].values.dtype or not np.array_equal(t.values.floats, ins[0].values.floats)
               for t in ins):
            grids = "; ".join(f"{t.values.floats[:2].tolist()}.." for t in ins)
            raise BnnccError(f"{where}: joins tensors on different value grids ({grids}); Concat needs one grid")
        if n.attrs.get("axis") not in (1, -3) or any(t.index.ndim != 3 for t in ins):
            raise BnnccError(f"{where}: only a channel Concat (axis 1) of feature maps is supported")
        for t in ins:
            if not np.array_equal(t.index, canonical_nhwc(t.index.shape)):
                raise BnnccError(f"{where}: an input's layout is not an NCHW feature map we stream")
        self.emit(ops.Concat(), [n], [t.name for t in ins])
        self.values = ins[0].values
        c, h, w = sum(t.index.shape[0] for t in ins), *ins[0].index.shape[1:]
        self.index = canonical_nhwc((c, h, w))

    def average_pool(self, chain: list[FloatNode], i: int) -> int:
        """An average pool as an integer window sum; its division goes into the thresholds after it, or into
        the value grid the next layer reads."""
        n = chain[i]
        where = self.where(n)
        c, h, w = self.to_nhwc(n)
        if n.op == "GlobalAveragePool":
            if h != w:
                raise BnnccError(f"{where}: global average pooling of a {h}x{w} map: only square maps are supported")
            k = s = h
        else:
            k, s = self.pool_params(n, "average pool")
        alpha, beta = self.values.affine(where)
        self.emit(ops.SumPool(k, s), [n])
        self.index = canonical_nhwc((c,) + self.type.shape[:2])
        lo, hi = (np.full(c, v) for v in (self.type.dtype.min, self.type.dtype.max))
        a, b = np.full(c, alpha / (k * k)), np.full(c, beta)
        stop = next((j for j in range(i + 1, len(chain)) if is_quantizer(chain[j]) or chain[j].op in LINEAR),
                    len(chain))
        if stop < len(chain) and is_quantizer(chain[stop]):
            self.threshold(chain[i + 1: stop], chain[stop], a, b, lo, hi, n.outputs[0], 4)
            self.check_mean_rounding(chain[i + 1: stop + 1], a, b, lo, hi, n.outputs[0], k * k)
            return stop + 1
        sums = self.type.dtype.values()
        self.values = Values(self.type.dtype, (a[0] * sums.astype(np.float64) + b[0]).astype(F32))
        return i + 1

    def check_mean_rounding(self, post, a, b, lo, hi, start: str, count: int) -> None:
        """The model averages `count` float32 values: unless that sum is exact and `count` a power of two, its
        mean may sit a few float32 steps from the exact a * sum + b, by an amount that depends on the runtime's
        order of additions. Refuse when a step that small moves any reachable sum across a quantizer boundary."""
        q = make_quantizer(post[-1], self.fg.consts)
        sums = np.arange(int(lo.min()), int(hi.max()) + 1)[:, None]
        y = a * sums + b
        exact = count & (count - 1) == 0 and exact_sums(self.values.floats, count)
        slack = 0.0 if exact else count * np.finfo(F32).eps * np.abs(y) + np.finfo(F32).tiny

        def quantizer_input(mean: np.ndarray) -> np.ndarray:
            return self.post_fn(post[:-1], {start: mean.astype(F32)[..., None, None]})[post[-1].inputs[0]]

        at_mean = quantizer_input(y)
        codes = [q.count(quantizer_input(y - slack)), q.count(at_mean), q.count(quantizer_input(y + slack))]
        bad = np.argwhere((codes[0] != codes[1]) | (codes[2] != codes[1]))
        if bad.size:
            s = int(sums[bad[0][0], 0])
            raise BnnccError(f"{self.where(post[-1])}: the average of window sum {s} lies within float32 rounding of "
                             "a quantizer boundary; its code is not determined exactly")
        if isinstance(q, TruncQuant):
            raw = q.codes(at_mean)
            if raw.min() < q.qmin or raw.max() > q.qmax:
                raise BnnccError(f"{self.where(post[-1])}: Trunc v1 codes leave its {q.levels} output levels on "
                                 "reachable sums (v1 does not clamp)")

    def window(self, n: FloatNode, w: np.ndarray, alpha: float, beta: float) -> np.ndarray:
        """Emit the SlidingWindow of a (adder) convolution; returns its weights W [Cout, Cin, k, k] as the
        [k*k*Cin, Cout] matrix whose rows follow the window's order (kh, kw, ci)."""
        self.to_nhwc(n)
        if n.op == "AdderConv" and set(n.attrs) - {"strides"}:
            raise BnnccError(f"{self.where(n)}: bnncc.AdderConv takes only a strides attribute, "
                             f"not {sorted(set(n.attrs) - {'strides'})}")
        if w.ndim != 4:
            raise BnnccError(f"{self.where(n)}: weights of shape {list(w.shape)} are not [Cout, Cin, k, k]")
        if n.attrs.get("group", 1) != 1 or any(d != 1 for d in n.attrs.get("dilations", [1, 1])):
            raise BnnccError(f"{self.where(n)}: grouped or dilated convolution is not supported")
        co, ci, kh, kw = w.shape
        stride = n.attrs.get("strides", [1, 1])
        if kh != kw or stride[0] != stride[1]:
            raise BnnccError(f"{self.where(n)}: only square kernels and strides are supported")
        pads = tuple(int(p) for p in n.attrs.get("pads", [0, 0, 0, 0]))
        pad_value = 0
        dtype = self.values.dtype
        if any(pads):
            zero = -beta / alpha
            if zero != round(zero) or not dtype.min <= zero <= dtype.max or dtype.is_bipolar:
                raise BnnccError(f"{self.where(n)}: zero padding of a {dtype} input: 0 is not one of its "
                                 "values; pad with a value the model uses or remove the padding")
            pad_value = int(zero)
        self.emit(ops.SlidingWindow(int(kh), int(stride[0]), pads, pad_value), [n])
        return w.transpose(2, 3, 1, 0).reshape(kh * kw * ci, co)

    def adder(self, w: np.ndarray, alpha: float, beta: float, where: str) -> ops.Adder:
        """The Adder of float weights that lie on the input's value grid (w = alpha * wq + beta)."""
        wq = (w - beta) / alpha
        if not np.allclose(wq, np.round(wq), atol=1e-4):
            raise BnnccError(f"{where}: adder weights are not on the input's value grid")
        wq = np.round(wq).astype(np.int64)
        return ops.Adder(wq, ops.WeightGrid("int", int(wq.min()), int(wq.max())))

    @property
    def matrix_op(self):
        return self.nodes[-1].op

    def bias_node(self, n: FloatNode, bias: np.ndarray) -> FloatNode:
        name = f"{n.outputs[0]}#bias"
        self.fg.consts[name] = np.asarray(bias, F32)
        return FloatNode("Add", ["", name], [n.outputs[0]], {}, n.name)

    def post_fn(self, post: list[FloatNode], env: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run the float ops `post` on `env` (pools pass their input through: they act on positions)."""
        for n in post:
            if n.op == "MaxPool":
                env[n.outputs[0]] = env[n.inputs[0]]
            else:
                run_node(n, env, self.fg.consts)
        return env

    def chain_fn(self, post: list[FloatNode], a, b, start: str, rank: int, stop: int | None = None):
        """Float32 values of the post ops on synthetic [B, C, 1, ...] accumulators (pools skipped)."""
        def fn(acc: np.ndarray) -> dict[str, np.ndarray]:
            y = (a * acc.astype(np.float64) + b).astype(F32)
            return self.post_fn(post[:stop], {start: y.reshape(y.shape + (1,) * (rank - 2))})
        return fn

    def check_post(self, post: list[FloatNode], channels: int) -> None:
        for n in post:
            if n.op in NON_MONOTONIC:
                raise BnnccError(f"{self.where(n)}: non-monotonic activation before a quantizer is not supported")
            if n.op not in CHANNEL_OPS:
                raise BnnccError(f"{self.where(n)}: not supported between a layer and its quantizer")
            for c in n.inputs[1:]:
                if c in self.fg.consts and self.fg.consts[c].size not in (1, channels):
                    raise BnnccError(f"{self.where(n)}: constants that vary per position are not supported")

    def threshold(self, post, qnode: FloatNode, a, b, lo, hi, start: str, rank: int) -> None:
        where = self.where(qnode)
        q = make_quantizer(qnode, self.fg.consts)
        self.check_post(post, a.size)
        for j, p in enumerate(post):
            if p.op == "MaxPool":
                pre = self.chain_fn(post, a, b, start, rank, stop=j)
                ys = [pre(x[None])[p.inputs[0]].reshape(-1) for x in (lo, hi)]
                if np.any(ys[0] > ys[1]):
                    raise BnnccError(f"{self.where(p)}: max-pool before the quantizer needs an increasing "
                                     "accumulator-to-float map (negative scale)")
                k, s = self.pool_params(p)
                shape = self.to_nhwc_acc(p)
                self.emit(ops.MaxPool(k, s), [p])
                self.index = canonical_nhwc((shape[0],) + self.type.shape[:2])
        fn = self.chain_fn(post, a, b, start, rank)
        qin = qnode.inputs[0]

        def counts(acc):
            y = fn(acc)[qin]
            if np.isnan(y).any():
                raise BnnccError(f"{where}: the float ops before this quantizer give NaN on reachable accumulators")
            return q.count(y).reshape(acc.shape)

        t, desc = thresholds.extract(counts, lo, hi, q.levels, where)
        ties = thresholds.float32_ties(lambda acc: fn(acc)[qin], q.count, t, desc, lo, hi)
        dtype, _ = canonical_values(q, where)
        self.emit(ops.MultiThreshold(t, desc, dtype, ties), post + [qnode])
        self.values = Values(dtype, q.dequant(np.arange(q.levels)).reshape(-1).astype(F32))
        oshape = self.shape(qnode.outputs[0])
        if len(oshape) == 3:
            self.index = canonical_nhwc(oshape)
        elif len(oshape) == 1 and len(self.type.shape) == 1:
            self.index = np.arange(oshape[0])
        else:
            raise BnnccError(f"{where}: output shape {list(oshape)} does not match the layer's {list(self.type.shape)}")

    def to_nhwc_acc(self, n: FloatNode) -> tuple[int, int, int]:
        h, w, c = self.type.shape
        return (c, h, w)

    def tail(self, post, extra, a, b, lo, hi, start: str, out_index: np.ndarray) -> None:
        nodes = extra + post
        if self.label_select(nodes, a, b, lo, hi, start):
            return
        for o in self.fg.outputs:
            if o not in {x for n in nodes for x in n.outputs} | ({start} if not nodes else set()):
                raise BnnccError(f"{self.fg.path}: graph output {quote(o)} is an intermediate tensor; not supported")
        self.emit(ops.HostTail(a, b, out_index, nodes, self.fg.consts, start, list(self.fg.outputs),
                               self.output_types()), nodes)

    def label_select(self, nodes, a, b, lo, hi, start: str) -> bool:
        """Put the final top-1 into hardware when it provably equals argmax of the accumulators."""
        if not nodes or len(self.fg.outputs) != 1:
            return False
        last = nodes[-1]
        if last.op == "TopK":
            k = self.fg.consts.get(last.inputs[1])
            ok = k is not None and int(k.ravel()[0]) == 1 and last.attrs.get("largest", 1) == 1 \
                and self.fg.outputs[0] == last.outputs[1] and last.attrs.get("axis", -1) in (-1, 1)
        else:
            ok = last.op == "ArgMax" and last.attrs.get("axis", 0) in (-1, 1) \
                and not last.attrs.get("select_last_index", 0)
        scalar = all(all(i == "" or i not in self.fg.consts or self.fg.consts[i].size == 1 for i in n.inputs[1:])
                     and n.op in SCALAR_OPS for n in nodes[:-1])
        if not (ok and scalar and np.all(a == a[0]) and np.all(b == b[0]) and a[0] > 0
                and self.type.shape == (a.size,) and hi.max() - lo.min() < (1 << 20)):
            return False
        acc = np.arange(lo.min(), hi.max() + 1)[:, None]
        y = self.chain_fn(nodes[:-1], a[:1], b[:1], start, 2)(acc)[last.inputs[0]]
        if not np.all(np.diff(y.reshape(-1)) > 0):  # strictly increasing: same argmax, same ties
            return False
        self.emit(ops.LabelSelect(), [last])
        return True

    def values_tail(self, out: str) -> None:
        alpha, beta = self.values.affine(f"{self.fg.path}: output")
        c = self.type.shape[-1]
        self.emit(ops.HostTail(np.full(c, alpha), np.full(c, beta), self.index, [], self.fg.consts,
                               out, list(self.fg.outputs), self.output_types(),
                               table=(self.values.dtype, self.values.floats)), [])

    def output_types(self) -> tuple[TensorType, ...]:
        """Per-sample types of the model's outputs, as the float graph was traced."""
        return tuple(TensorType(self.shape(o), FLOAT32 if np.issubdtype(self.fg.dtypes[o], np.floating) else INT64)
                     for o in self.fg.outputs)


def apply(fg: FloatGraph) -> Graph:
    return Lowering(fg).run()
