"""Lowering: the float ONNX-level chain -> IR (host head, integer layers, host tail).

Walks the data path once. Before the first activation quantizer everything is the host head.
Each linear op (MatMul/Gemm/Conv/AdderMatMul/AdderConv) on an integer tensor becomes an integer
matrix op (after a SlidingWindow for the convolutions) whose weights come from `weight_grid` (an
adder's: its input's value grid); the float ops up to the next quantizer become integer
thresholds by `thresholds.extract` (evaluating those very float ops); what follows the last
linear op is the host tail. Data movement is tracked as an index map from ONNX positions to our
NHWC positions, so the first FC after a flatten gets its rows permuted instead of data moved.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bnncc.errors import BnnccError
from bnncc.ir import ops
from bnncc.ir.dtypes import BIPOLAR, FLOAT32, INT64, DataType, int_type
from bnncc.ir.float_ops import FloatNode, Quantizer, is_quantizer, make_quantizer, run_node
from bnncc.ir.graph import FloatGraph, Graph, Node, TensorType, quote
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
TWO_INPUT = {"Add": "residual Add", "Sub": "Sub of two activations", "Mul": "Mul of two activations",
             "Concat": "Concat", "Div": "Div of two activations", "MatMul": "MatMul of two activations"}


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


class Lowering:
    def __init__(self, fg: FloatGraph):
        self.fg = fg
        self.nodes: list[Node] = []
        self.types: dict[str, TensorType] = {}
        self.cur = "x"
        self.types["x"] = TensorType(tuple(fg.input_shape[1:]), FLOAT32)

    def where(self, n: FloatNode) -> str:
        return f"{self.fg.path}: node {quote(n.name)} ({n.op})"

    def emit(self, op, source: list[FloatNode]) -> str:
        out = f"t{len(self.nodes)}"
        types = op.infer(self.types[self.cur])
        outs = [out] + [f"{out}_{j}" for j in range(1, len(types))] if isinstance(types, tuple) else [out]
        for name, t in zip(outs, types if isinstance(types, tuple) else (types,), strict=True):
            self.types[name] = t
        self.nodes.append(Node(op, [self.cur], outs, [n.name for n in source]))
        self.cur = out
        return out

    @property
    def type(self) -> TensorType:
        return self.types[self.cur]

    def shape(self, name: str) -> tuple[int, ...]:
        return tuple(self.fg.shapes[name][1:])

    # -- the data path -------------------------------------------------------------------------

    def chain(self) -> list[FloatNode]:
        fg = self.fg
        consumers = fg.consumers()
        for n in fg.nodes:
            data = [i for i in n.inputs if i and i not in fg.consts]
            if len(data) > 1:
                what = TWO_INPUT.get(n.op, f"{n.op} of two activations")
                raise BnnccError(f"{self.where(n)}: {what} is not supported yet (branches in the graph)")
            if n.op in LINEAR and (len(n.inputs) < 2 or n.inputs[1] not in fg.consts):
                raise BnnccError(f"{self.where(n)}: the weights are not constant")
        chain, cur, walked = [], fg.input, set()
        while True:
            users = consumers.get(cur, [])
            if not users:
                break
            if len(users) > 1:
                raise BnnccError(f"{fg.path}: tensor {quote(cur)} feeds {len(users)} nodes; branches are not supported")
            if id(users[0]) in walked:  # a node that writes a tensor an earlier node wrote: never loop on it
                raise BnnccError(f"{self.where(users[0])}: writes {quote(users[0].outputs[0])}, a tensor another node "
                                 "already produced")
            walked.add(id(users[0]))
            chain.append(users[0])
            cur = users[0].outputs[0]
        if len(chain) != len(fg.nodes):
            on_path = {id(n) for n in chain}
            stray = next(n for n in fg.nodes if id(n) not in on_path)
            raise BnnccError(f"{self.where(stray)}: not on the path from the input to the output")
        return chain

    def run(self) -> Graph:
        chain = self.chain()
        qi = next((i for i, n in enumerate(chain) if is_quantizer(n)), None)
        if qi is None:
            raise BnnccError(f"{self.fg.path}: no activation quantizer found; nothing integer to compile")
        q = make_quantizer(chain[qi], self.fg.consts)
        dtype, offset = canonical_values(q, self.where(chain[qi]))
        oshape = self.shape(chain[qi].outputs[0])
        nhwc = len(oshape) == 3
        our = (oshape[1], oshape[2], oshape[0]) if nhwc else oshape
        self.emit(ops.HostHead(chain[: qi + 1], self.fg.consts, self.fg.input, chain[qi].inputs[0], dtype,
                               offset, our, nhwc), chain[: qi + 1])
        self.index = canonical_nhwc(oshape) if nhwc else np.arange(int(np.prod(oshape))).reshape(oshape)
        self.values = Values(dtype, q.dequant(np.arange(q.levels)).reshape(-1).astype(F32))
        i = qi + 1
        while i < len(chain):
            try:
                i = self.step(chain, i)
            except (ValueError, IndexError, KeyError, TypeError, ZeroDivisionError) as e:
                # shapes or attributes the checks before lowering could not see: still the node and the op
                raise BnnccError(f"{self.where(chain[i])}: cannot be lowered ({type(e).__name__}: {e})") from None
        if not isinstance(self.nodes[-1].op, ops.HostTail | ops.LabelSelect):
            self.values_tail(chain)
        return Graph(self.fg.path, "x", self.types["x"], self.nodes, self.types, list(self.fg.outputs))

    def step(self, chain: list[FloatNode], i: int) -> int:
        """Lower chain[i] (and what it takes with it); returns the index of the next node to lower."""
        n = chain[i]
        if n.op in LINEAR:
            return self.layer(chain, i)
        if n.op in MOVES:
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

    def pool_params(self, n: FloatNode) -> tuple[int, int]:
        k, s = n.attrs.get("kernel_shape", [1, 1]), n.attrs.get("strides", [1, 1])
        if k[0] != k[1] or s[0] != s[1] or any(n.attrs.get("pads", [0])) or n.attrs.get("ceil_mode", 0):
            raise BnnccError(f"{self.where(n)}: only square, unpadded max-pool is supported")
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
            self.tail(chain[i + 1:], extra, a, b, lo, hi, start, out_index)
            return len(chain)
        post = extra + chain[i + 1: post_end]
        self.threshold(post, chain[post_end], a, b, lo, hi, start, len(out_shape) + 1)
        return post_end + 1

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

    def chain_fn(self, post: list[FloatNode], a, b, start: str, rank: int, stop: int | None = None):
        """Float32 values of the post ops on synthetic [B, C, 1, ...] accumulators (pools skipped)."""
        def fn(acc: np.ndarray) -> np.ndarray:
            y = (a * acc.astype(np.float64) + b).astype(F32)
            env = {start: y.reshape(y.shape + (1,) * (rank - 2))}
            for n in post[:stop]:
                if n.op == "MaxPool":
                    env[n.outputs[0]] = env[n.inputs[0]]
                else:
                    run_node(n, env, self.fg.consts)
            return env
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
        dtype, _ = canonical_values(q, where)
        self.emit(ops.MultiThreshold(t, desc, dtype), post + [qnode])
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

    def values_tail(self, chain: list[FloatNode]) -> None:
        alpha, beta = self.values.affine(f"{self.fg.path}: output")
        c = self.type.shape[-1]
        self.emit(ops.HostTail(np.full(c, alpha), np.full(c, beta), self.index, [], self.fg.consts,
                               chain[-1].outputs[0], list(self.fg.outputs), self.output_types()), [])

    def output_types(self) -> tuple[TensorType, ...]:
        """Per-sample types of the model's outputs, as the float graph was traced."""
        return tuple(TensorType(self.shape(o), FLOAT32 if np.issubdtype(self.fg.dtypes[o], np.floating) else INT64)
                     for o in self.fg.outputs)


def apply(fg: FloatGraph) -> Graph:
    return Lowering(fg).run()
