"""Every quantizer's integer codes, bnncc's executor against qonnx's (a test and benchmark helper).

qonnx runs the original file (shapes inferred, no cleanup, so node and tensor names are the file's). Each IR
node that ends at one of the file's Quant or Trunc nodes is compared code for code, teacher-forced: every
IR node reads the codes *qonnx* produced upstream, so one float32 tie does not cascade into later layers.
A differing code is a float32 boundary case when qonnx's own pre-rounding value x / scale + zp lies within
BOUNDARY of a rounding point (a half-integer): there the float32 order of operations decides, not the model.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.core.onnx_exec import execute_onnx
from qonnx.transformation.infer_shapes import InferShapes

from bnncc.ir import ops
from bnncc.ir.executor import run as execute
from bnncc.ir.graph import Graph

BOUNDARY = 1e-5  # in code units: float32 ops on values of a few hundred codes move them by ~1e-5 at most


@dataclass
class Agreement:
    quantizers: dict[str, tuple[int, int, int]] = field(default_factory=dict)  # node -> (codes, differ, boundary)
    labels_equal: float = 0.0
    tail_rel_error: float = 0.0  # our tail on qonnx's last codes vs qonnx's output, relative to max |output|
    free_rel_error: float = 0.0  # free-running outputs, on images whose codes all agree
    label_count: int = 0
    clean_labels_equal: float = 1.0  # labels on the images whose codes all agree
    reference: np.ndarray | None = None  # qonnx's outputs
    outputs: np.ndarray | None = None  # ours, free-running

    @property
    def differing(self) -> int:
        return sum(d for _, d, _ in self.quantizers.values())

    @property
    def unexplained(self) -> int:
        return sum(d - b for _, d, b in self.quantizers.values())


def qonnx_context(path: str | os.PathLike[str], x: np.ndarray) -> dict[str, np.ndarray]:
    model = ModelWrapper(os.fspath(path)).transform(InferShapes())
    name = model.graph.input[0].name
    per_image = [execute_onnx(model, {name: np.ascontiguousarray(x[i:i + 1])}, return_full_exec_context=True)
                 for i in range(len(x))]
    out = {}
    for k, v in per_image[0].items():
        if v is None:
            continue
        v = np.asarray(v)
        out[k] = np.concatenate([np.asarray(c[k]) for c in per_image]) if v.ndim and v.shape[0] == 1 else v
    out["__nodes__"] = {n.name: n for n in model.graph.node}
    out["__output__"] = out[model.graph.output[0].name]
    return out


def _nhwc(a: np.ndarray) -> np.ndarray:
    return a.transpose(0, 2, 3, 1) if a.ndim == 4 else a


def _codes(ctx: dict, node) -> tuple[np.ndarray, np.ndarray]:
    """qonnx's integer values at a Quant/Trunc node, and its pre-rounding value x / scale + zp."""
    scale_in = ctx[node.input[1]]
    scale_out = ctx[node.input[4]] if node.op_type == "Trunc" and len(node.input) == 6 else scale_in
    zp = ctx[node.input[2]]
    value = np.round(ctx[node.output[0]] / scale_out + (zp if node.op_type == "Quant" else 0))
    return _nhwc(value).astype(np.int64), _nhwc(ctx[node.input[0]] / scale_in + zp)


def agreement(path: str | os.PathLike[str], graph: Graph, x: np.ndarray, codes=None) -> Agreement:
    """Compare on the batch `x`. `codes` (an InputCodes): the graph declares its input as codes."""
    ctx = qonnx_context(path, x)
    nodes = ctx["__nodes__"]
    result = Agreement()
    env: dict[str, np.ndarray] = {}
    clean = np.ones(len(x), bool)
    for node in graph.nodes:
        src = nodes.get(node.source[-1]) if node.source else None
        if isinstance(node.op, ops.HostHead):
            if src is not None and src.op_type in ("Quant", "Trunc"):
                env[node.outputs[0]] = _codes(ctx, src)[0]
            else:  # the head is our input-codes Quant
                env[node.outputs[0]] = np.round(_nhwc(x) / codes.scale).astype(np.int64)
            continue
        out = node.op.execute(*(env[i] for i in node.inputs))
        if isinstance(node.op, ops.MultiThreshold) and src is not None and src.op_type in ("Quant", "Trunc"):
            want, pre = _codes(ctx, src)
            want, pre = want.reshape(out.shape), pre.reshape(out.shape)
            differ = out != want
            near = np.abs(np.abs(pre - np.floor(pre)) - 0.5) <= BOUNDARY
            boundary = differ & near & (np.abs(out - want) == 1)
            result.quantizers[src.name] = (out.size, int(differ.sum()), int(boundary.sum()))
            clean &= ~differ.reshape(len(x), -1).any(1)
            out = want
        for name, value in zip(node.outputs, out if isinstance(out, tuple) else (out,), strict=True):
            env[name] = value
    ref = ctx["__output__"]
    tail = env[graph.nodes[-1].outputs[0]]
    scale = np.abs(ref).max()
    result.tail_rel_error = float(np.abs(tail - ref).max() / scale)
    ours = execute(graph, x)
    result.reference, result.outputs = ref, ours.outputs[0]
    result.labels_equal = float(np.mean(ours.labels == ref.argmax(1)))
    result.label_count = int(np.unique(ref.argmax(1)).size)
    if clean.any():
        result.free_rel_error = float(np.abs(ours.outputs[0][clean] - ref[clean]).max() / scale)
        result.clean_labels_equal = float(np.mean(ours.labels[clean] == ref[clean].argmax(1)))
    return result


def images(n: int, side: int, seed: int = 0) -> np.ndarray:
    """Seeded 8-bit RGB images / 255: random 4 x 4 colour blocks (so pooled features differ between images)
    plus pixel noise."""
    rng = np.random.default_rng(seed)
    blocks = rng.integers(0, 256, (n, 3, 4, 4)).astype(np.float64)
    coarse = np.kron(blocks, np.ones((side // 4, side // 4)))
    pixels = np.clip(coarse + rng.normal(0, 24, coarse.shape), 0, 255)
    return (np.round(pixels) / 255.0).astype(np.float32)
