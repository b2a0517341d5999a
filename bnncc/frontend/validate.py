"""Checks that run before anything is lowered, so a malformed model is refused with one line naming the
file, the node and the op, instead of a Python exception, a hang or a silently wrong answer.

`structure` reads the protobuf: every name decodes, every node writes a tensor, every tensor has one
producer (SSA) and no node output shadows an initializer or a graph input, initializers are unique and
well-formed, a standard op has only the attributes its ONNX spec names, and those bnncc reads have the
types ONNX defines; the model imports each domain once and a standard opset onnxruntime and the
installed onnx define (`standard_opset`), and its data input has a type float32 holds exactly
(`input_type`). `finite` refuses NaN (and infinity but as a Clip bound) in any constant and BatchNorm
variances whose square root is not real; `casts` runs once shapes and types are traced and allows a `Cast`
on the data path only where it cannot change a value (to float32 of a float32 tensor); a Cast of constants
is folded exactly. Quantizer attributes are checked where quantizers are made
(`bnncc.ir.float_ops.make_quantizer`).
"""

from __future__ import annotations

import functools

import numpy as np
import onnx
from onnx import AttributeProto, TensorProto, numpy_helper

from bnncc.errors import BnnccError
from bnncc.ir.graph import FloatGraph, quote

MAX_ELEMENTS = 1 << 27  # per tensor: 128 M elements (512 MB of float32); larger is refused, not allocated
MIN_OPSET = 7  # the oldest standard opset onnxruntime runs

# The attribute types of the ops bnncc reads (ONNX operator specs, QONNX/FINN custom ops).
ATTRIBUTE_TYPES = {
    "kernel_shape": AttributeProto.INTS, "strides": AttributeProto.INTS, "pads": AttributeProto.INTS,
    "dilations": AttributeProto.INTS, "perm": AttributeProto.INTS, "axes": AttributeProto.INTS,
    "group": AttributeProto.INT, "axis": AttributeProto.INT, "transA": AttributeProto.INT,
    "transB": AttributeProto.INT, "keepdims": AttributeProto.INT, "largest": AttributeProto.INT,
    "sorted": AttributeProto.INT, "ceil_mode": AttributeProto.INT, "allowzero": AttributeProto.INT,
    "select_last_index": AttributeProto.INT, "storage_order": AttributeProto.INT, "to": AttributeProto.INT,
    "signed": AttributeProto.INT, "narrow": AttributeProto.INT, "training_mode": AttributeProto.INT,
    "alpha": AttributeProto.FLOAT, "beta": AttributeProto.FLOAT, "epsilon": AttributeProto.FLOAT,
    "momentum": AttributeProto.FLOAT, "out_scale": AttributeProto.FLOAT, "out_bias": AttributeProto.FLOAT,
    "min": AttributeProto.FLOAT, "max": AttributeProto.FLOAT,
    "auto_pad": AttributeProto.STRING, "rounding_mode": AttributeProto.STRING,
    "out_dtype": AttributeProto.STRING, "data_layout": AttributeProto.STRING,
    "value": AttributeProto.TENSOR,
}
ATTRIBUTE_NAMES = {v: k for k, v in AttributeProto.AttributeType.items()}


def op_text(op: str) -> str:
    """An op type for a message: as is when it is a plain identifier, else quoted with escapes."""
    return op if op.isidentifier() else quote(op)


@functools.cache
def standard_attributes(op: str, opset: int) -> frozenset[str] | None:
    """The attribute names the ONNX operator spec gives a standard op at this opset (None: no such op)."""
    try:
        return frozenset(onnx.defs.get_schema(op, opset, "").attributes)
    except onnx.defs.SchemaError:
        return None


def structure(model: onnx.ModelProto, path: str) -> dict[str, np.ndarray]:
    """Check the graph's structure; returns the initializers as arrays (each checked)."""
    g = model.graph
    try:
        nodes = [(n, list(n.input), list(n.output), n.op_type, n.domain, n.name) for n in g.node]  # decodes them
        inputs = [i.name for i in g.input]
        outputs = [o.name for o in g.output]
        init_names = [i.name for i in g.initializer]
    except UnicodeDecodeError:
        raise BnnccError(f"{path}: a node, tensor or op name is not valid UTF-8") from None
    names = inputs + outputs + init_names + [x for _, ins, outs, op, domain, name in nodes
                                             for x in (*ins, *outs, op, domain, name)]
    bad = next((x for x in names if not isinstance(x, str)), None)
    if bad is not None:  # the upb protobuf hands back bytes for a string field that is not UTF-8
        raise BnnccError(f"{path}: the name {bad!r} is not valid UTF-8")
    consts: dict[str, np.ndarray] = {}
    for t, name in zip(g.initializer, init_names, strict=True):
        if name in consts:
            raise BnnccError(f"{path}: initializer {quote(name)} is defined twice")
        consts[name] = tensor_array(t, f"{path}: initializer {quote(name)}")
    opset = standard_opset(model, path, any(domain in ("", "ai.onnx") for *_, domain, _ in nodes))
    produced: dict[str, str] = {}
    for k, (node, _, outs, op, domain, name) in enumerate(nodes):
        where = f"{path}: node {quote(name or (outs[0] if outs else f'#{k}'))} ({op_text(op)})"
        if not any(outs):
            raise BnnccError(f"{where}: writes no tensor")
        for o in outs:
            if not o:
                continue
            if o in produced:
                raise BnnccError(f"{where}: writes {quote(o)}, which node {quote(produced[o])} already writes "
                                 "(a tensor must have one producer)")
            if o in consts or o in inputs:
                what = "an initializer" if o in consts else "a graph input"
                raise BnnccError(f"{where}: writes {quote(o)}, the name of {what}")
            produced[o] = name or o
        known = standard_attributes(op, opset) if domain in ("", "ai.onnx") and opset else None
        for a in node.attribute:
            if known is not None and a.name not in known:
                raise BnnccError(f"{where}: attribute {quote(a.name)} is not one the ONNX spec gives {op_text(op)} "
                                 f"(opset {opset})")
            want = ATTRIBUTE_TYPES.get(a.name)
            if want is not None and a.type != want:
                raise BnnccError(f"{where}: attribute {quote(a.name)} is {ATTRIBUTE_NAMES.get(a.type, a.type)}, "
                                 f"expected {ATTRIBUTE_NAMES[want]}")
    for o in outputs:
        if o not in produced and o not in consts and o not in inputs:
            raise BnnccError(f"{path}: graph output {quote(o)} is never produced")
    return consts


def standard_opset(model: onnx.ModelProto, path: str, used: bool) -> int:
    """The standard ONNX opset the model imports (0: none, when it has no standard op). Refused: a domain
    imported twice, standard ops without an import, and an opset neither onnxruntime nor the installed onnx
    defines (their ops' meaning is unknown)."""
    seen: dict[str, int] = {}
    for o in model.opset_import:
        domain = "" if o.domain == "ai.onnx" else o.domain
        if domain in seen:
            raise BnnccError(f"{path}: opset_import names domain {quote(domain or 'ai.onnx')} twice "
                             f"(versions {seen[domain]} and {o.version})")
        seen[domain] = o.version
    if "" not in seen:
        if used:
            raise BnnccError(f"{path}: the model uses standard ONNX ops but imports no opset for them")
        return 0
    newest = onnx.defs.onnx_opset_version()
    if not MIN_OPSET <= seen[""] <= newest:
        raise BnnccError(f"{path}: standard opset {seen['']} is not one bnncc knows ({MIN_OPSET} to {newest})")
    return seen[""]


# input element types whose every value float32 holds exactly (the executor, the host head and every
# backend read inputs as float32); DOUBLE, wide integers, strings and complex values are refused
EXACT_IN_FLOAT32 = {TensorProto.FLOAT, TensorProto.FLOAT16, TensorProto.BFLOAT16, TensorProto.BOOL, TensorProto.INT8,
                    TensorProto.UINT8, TensorProto.INT16, TensorProto.UINT16}


def input_type(value: onnx.ValueInfoProto, path: str) -> None:
    """The data input's element type is one that float32 holds exactly."""
    elem = value.type.tensor_type.elem_type if value.type.HasField("tensor_type") else None
    if elem not in EXACT_IN_FLOAT32:
        names = dict(zip(TensorProto.DataType.values(), TensorProto.DataType.keys(), strict=True))
        what = "not a tensor" if elem is None else names.get(elem, f"of element type {elem}")
        raise BnnccError(f"{path}: input {quote(value.name)} is {what}; bnncc reads its inputs as float32, which "
                         "would change such values (export with float32 inputs)")


def tensor_array(t: TensorProto, where: str) -> np.ndarray:
    """A tensor's values, refusing impossible sizes before allocating them."""
    if any(d < 0 for d in t.dims) or int(np.prod(t.dims, dtype=np.float64)) > MAX_ELEMENTS:
        raise BnnccError(f"{where}: dimensions {list(t.dims)} are negative or too large")
    try:
        return numpy_helper.to_array(t)
    except Exception as e:  # onnx raises ValueError/TypeError for data that does not fit the dims or type
        raise BnnccError(f"{where}: unreadable tensor data ({type(e).__name__}: {e})") from None


def input_shape(shape: tuple[int, ...], path: str, name: str) -> None:
    if int(np.prod(shape, dtype=np.float64)) > MAX_ELEMENTS:
        raise BnnccError(f"{path}: input {quote(name)} of shape {list(shape)} is too large")


def finite(fg: FloatGraph) -> None:
    """No NaN in any constant, no infinity but as a Clip bound, and a BatchNorm variance that keeps
    sqrt(var + epsilon) real (checked before folding, so no NaN is ever computed from one)."""
    for n in fg.nodes:
        for k, i in enumerate(n.inputs):
            c = fg.consts.get(i)
            if c is None or c.dtype.kind != "f" or c.size == 0 or np.isfinite(c).all():
                continue
            where = f"{fg.path}: node {quote(n.name)} ({op_text(n.op)})"
            if np.isnan(c).any():
                raise BnnccError(f"{where}: constant {quote(i)} holds NaN")
            if not (n.op == "Clip" and k in (1, 2)):
                raise BnnccError(f"{where}: constant {quote(i)} holds an infinity")
        if n.op == "BatchNormalization" and len(n.inputs) > 4 and n.inputs[4] in fg.consts:
            var = np.asarray(fg.consts[n.inputs[4]], dtype=np.float32) + np.float32(n.attrs.get("epsilon", 1e-5))
            if (var <= 0).any():
                raise BnnccError(f"{fg.path}: node {quote(n.name)} (BatchNormalization): variance + epsilon is not "
                                 f"positive for channel {int(np.flatnonzero(var.reshape(-1) <= 0)[0])}")


def casts(fg: FloatGraph) -> None:
    """Every Cast leaves its values unchanged: to FLOAT, of a float32 tensor (dtypes as traced)."""
    for n in fg.nodes:
        if n.op != "Cast":
            continue
        to, src = n.attrs.get("to"), fg.dtypes.get(n.inputs[0])
        if to != TensorProto.FLOAT or src != np.float32:
            target = TensorProto.DataType.Name(to) if to in TensorProto.DataType.values() else repr(to)
            raise BnnccError(f"{fg.path}: node {quote(n.name)} (Cast): a Cast to {target} of a {src} tensor "
                             "changes values; only a Cast to FLOAT of float32 values is supported")
