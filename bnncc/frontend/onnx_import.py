"""Read an ONNX file into a FloatGraph, then run the passes that lower it to the IR."""

from __future__ import annotations

import gc
import heapq
import os

import onnx

from bnncc.errors import BnnccError
from bnncc.frontend import dialect, validate
from bnncc.frontend.validate import op_text
from bnncc.ir.float_ops import OPS, QUANTIZER_OPS, FloatNode
from bnncc.ir.graph import FloatGraph, Graph, quote
from bnncc.ir.passes.input_codes import InputCodes

# Domains whose custom ops we read: QONNX (current and Brevitas-era) and FINN.
CUSTOM_DOMAINS = {"onnx.brevitas", "qonnx.custom_op.general", "finn.custom_op.general", "finn"}
STANDARD_DOMAINS = {"", "ai.onnx"}
LOCAL_FUNCTIONS = {("bnncc", "AdderMatMul"), ("bnncc", "AdderConv")}


def _attrs(node: onnx.NodeProto) -> dict:
    out = {}
    for a in node.attribute:
        v = onnx.helper.get_attribute_value(a)
        out[a.name] = v.decode() if isinstance(v, bytes) else v
    return out


def read_onnx(path: str) -> FloatGraph:
    """Parse the file into float nodes, constants and the one data input; no rewriting yet."""
    if not os.path.isfile(path):
        raise BnnccError(f"{path}: no such file")
    try:
        model = onnx.load(path)
    except Exception as e:  # protobuf raises several types for truncated or foreign data
        raise BnnccError(f"{path}: not a readable ONNX file (truncated or corrupt): {type(e).__name__}") from None
    g = model.graph
    if not g.node:
        raise BnnccError(f"{path}: the graph has no nodes (truncated or not an ONNX model)")
    consts = validate.structure(model, path)
    nodes: list[FloatNode] = []
    standard_ops = set(OPS) | {"Sign"}
    for n in g.node:
        op, domain = n.op_type, n.domain

        def where(n=n, op=op) -> str:  # built only for a message: a model may have 100,000 nodes
            return f"{path}: node {quote(n.name or n.output[0])} ({op_text(op)})"

        if domain in STANDARD_DOMAINS and op == "Constant":
            a = _attrs(n)
            if "value" not in a:
                raise BnnccError(f"{where()}: only tensor-valued Constant nodes are supported")
            consts[n.output[0]] = validate.tensor_array(a["value"], where())
            continue
        known = (
            (domain in STANDARD_DOMAINS and op in standard_ops)
            or (domain in CUSTOM_DOMAINS and op in QUANTIZER_OPS)
            or (domain, op) in LOCAL_FUNCTIONS
        )
        if not known:
            raise BnnccError(f"{where()}: op {op_text(op)} of domain {quote(domain or 'ai.onnx')} is not supported")
        nodes.append(FloatNode(op, list(n.input), list(n.output), _attrs(n) if n.attribute else {},
                               n.name or n.output[0]))
    data_inputs = [i for i in g.input if i.name not in consts]
    if len(data_inputs) != 1:
        raise BnnccError(f"{path}: expected one data input, found {len(data_inputs)}")
    dims = data_inputs[0].type.tensor_type.shape.dim
    shape = tuple(d.dim_value if d.dim_value > 0 else 1 for d in dims)
    if not shape:
        raise BnnccError(f"{path}: input {quote(data_inputs[0].name)} has no declared shape")
    validate.input_shape(shape, path, data_inputs[0].name)
    validate.input_type(data_inputs[0], path)
    fg = FloatGraph(path, nodes, consts, data_inputs[0].name, shape, [o.name for o in g.output])
    _toposort(fg)
    return fg


def _toposort(fg: FloatGraph) -> None:
    """Order nodes so producers come first (Kahn's algorithm with the ready nodes in file order:
    O(E + N log N)); a cycle or a dangling input is an error."""
    ready = set(fg.consts) | {fg.input, ""}
    waiting: dict[str, list[int]] = {}  # tensor -> nodes still waiting for it
    missing = []
    for k, n in enumerate(fg.nodes):
        need = {i for i in n.inputs if i not in ready}
        missing.append(len(need))
        for i in need:
            waiting.setdefault(i, []).append(k)
    queue = [k for k, m in enumerate(missing) if m == 0]  # sorted: a valid heap
    ordered: list[FloatNode] = []
    while queue:
        n = fg.nodes[heapq.heappop(queue)]
        ordered.append(n)
        for o in n.outputs:
            if o in ready:
                continue
            ready.add(o)
            for k in waiting.pop(o, []):
                missing[k] -= 1
                if missing[k] == 0:
                    heapq.heappush(queue, k)
    if len(ordered) != len(fg.nodes):
        done = {id(n) for n in ordered}
        n = next(n for n in fg.nodes if id(n) not in done)
        produced = {o for m in fg.nodes if id(m) not in done for o in m.outputs}
        absent = [i for i in n.inputs if i not in ready]
        kind = "is part of a cycle" if any(m in produced for m in absent) else "reads an undefined tensor"
        raise BnnccError(f"{fg.path}: node {quote(n.name)} ({n.op}) {kind}: {quote(absent[0])}")
    for o in fg.outputs:
        if o not in ready:
            raise BnnccError(f"{fg.path}: graph output {quote(o)} is never produced")
    fg.nodes = ordered


def load(path: str, input_codes: InputCodes | None = None) -> Graph:
    """ONNX file -> lowered, verified IR graph. `input_codes` declares a raw float input to be integer codes
    times a scale (`passes.input_codes`)."""
    from bnncc.ir import passes

    collecting = gc.isenabled()
    gc.disable()  # loading builds no reference cycles; the collector's full passes over 100,000s of node
    try:          # objects would only make a large graph's load superlinear
        fg = read_onnx(path)
        validate.finite(fg)
        if input_codes is not None:
            fg = passes.input_codes.apply(fg, input_codes)
        fg = passes.fold_constants.apply(fg)
        validate.casts(fg)
        fg = passes.no_ops.apply(fg)
        fg = dialect.apply(fg)
        fg = passes.batch_freedom.apply(fg)
        fg = passes.dead_nodes.apply(fg)
        graph = passes.lower.apply(fg)
        return passes.xnor.apply(graph)
    finally:
        if collecting:
            gc.enable()

