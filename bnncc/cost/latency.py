"""CPU latency as a cost model: one image's latency on one core is a sum over the network's IR operations of a
fixed cost per call and costs per element in, per element out, per threshold comparison and, per matrix
kernel, per MAC and per weight, each fitted per operation kind (the op's class: `MatMul`, `XnorPopcount`,
`MultiThreshold`, ...; MatMul and XnorPopcount share one GEMM kernel) to the `cpu-measured` rows of a cost
store (`bnncc calibrate --target cpu`, then `--fit`). The same features serve both runtimes measured there,
bnncc's executor and onnxruntime running the ONNX file: the ONNX graph does the same work in other nodes,
and the fit weighs it per runtime.

A fitted latency holds for the CPU it was measured on (the model file names it); an operation kind the fit
never saw costs nothing in the sum, so `predict` lists such kinds and a caller should not trust the number.
"""

from __future__ import annotations

import math
from collections import defaultdict

RUNTIMES = {"executor": "latency_s", "onnxruntime": "latency_ort_s"}  # runtime -> the store's metric


def features(graph) -> dict[str, float]:
    """The work of an IR graph per operation kind (the op's class): calls, elements in and out, for a
    threshold its comparisons, and per matrix kernel its MACs (compute) and weights (the memory a one-image
    product streams)."""
    out: dict[str, float] = defaultdict(float)
    for n in graph.nodes:
        kind = type(n.op).__name__
        t_out = graph.types[n.outputs[0]]
        d = n.op.describe(graph.types[n.inputs[0]], t_out)
        out[f"{kind}.calls"] += 1
        out[f"{kind}.in"] += sum(math.prod(graph.types[i].shape) for i in n.inputs)
        out[f"{kind}.out"] += math.prod(t_out.shape)
        if "macs" in d:  # MatMul and XnorPopcount run the same float GEMM (ops.exact_product): one cost
            kernel = "GEMM" if d["kind"] in ("matmul", "xnor") else kind
            out[f"{kernel}.macs"] += d["macs"]
            out[f"{kernel}.weights"] += math.prod(n.op.weights.shape)
        if d.get("kind") == "threshold":
            out[f"{kind}.compares"] += d["pixels"] * d["channels"] * d["thresholds"]
    return dict(out)


def kinds(names) -> set[str]:
    """The operation kinds named by feature names ("GEMM.macs" -> "GEMM")."""
    return {n.rsplit(".", 1)[0] for n in names if n != "const"}


def predict(entry: dict, feats: dict[str, float]) -> tuple[float, list[str]]:
    """Seconds (the fitted sum) and the operation kinds of `feats` the fit never saw."""
    coef = dict(zip(entry["features"], entry["coef"], strict=True))
    seconds = coef.get("const", 0.0) + sum(coef.get(name, 0.0) * value for name, value in feats.items())
    return seconds, sorted(kinds(feats) - kinds(entry["features"]))
