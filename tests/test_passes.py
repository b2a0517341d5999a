"""Each pass on its own: constant folding, batch freedom, dead-node removal, XNOR rewriting."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from bnncc.errors import BnnccError
from bnncc.frontend import dialect, read_onnx
from bnncc.ir import ops
from bnncc.ir.executor import run
from bnncc.ir.float_ops import FloatNode
from bnncc.ir.passes import batch_freedom, dead_nodes, fold_constants, lower, xnor

ZOO = "../shared/models/qonnx-zoo-tfc/TFC_1W1A.onnx"
FINN = "../shared/models/finn-tfc-w1a1/model.onnx"


def _prepared(path: str):
    return dead_nodes.apply(batch_freedom.apply(fold_constants.apply(dialect.apply(read_onnx(path)))))


def test_fold_constants_removes_brevitas_flatten_chain_and_weight_quantizers():
    fg = read_onnx(ZOO)
    before = [n.op for n in fg.nodes]
    assert {"Shape", "Gather", "Unsqueeze", "Concat"} <= set(before)
    fg = fold_constants.apply(fg)
    after = [n.op for n in fg.nodes]
    assert not {"Shape", "Gather", "Unsqueeze", "Concat", "Transpose"} & set(after)
    assert after.count("BipolarQuant") == 4  # activations stay; the 4 weight quantizers are folded
    assert fg.shapes[fg.nodes[0].outputs[0]] == (1, 784)


def test_batch_freedom_rewrites_reshape_and_runs_any_batch():
    fg = _prepared(ZOO)
    reshape = next(n for n in fg.nodes if n.op == "Reshape")
    assert fg.consts[reshape.inputs[1]].tolist() == [0, -1]
    graph = xnor.apply(lower.apply(fg))
    x = np.random.default_rng(0).random((37, 1, 28, 28)).astype(np.float32)
    batched = run(graph, x).outputs[0]
    single = np.concatenate([run(graph, x[i:i + 1]).outputs[0] for i in range(37)])
    np.testing.assert_array_equal(batched, single)


def test_batch_freedom_refuses_ops_on_the_batch_axis():
    fg = fold_constants.apply(read_onnx(FINN))
    fg.nodes.insert(0, FloatNode("Transpose", [fg.input], ["moved"], {"perm": [1, 0, 2, 3]}, "swap"))
    fg.nodes[1].inputs[0] = "moved"
    with pytest.raises(BnnccError, match="'swap' \\(Transpose\\): transpose moves the batch axis"):
        batch_freedom.apply(fg)


def test_dead_nodes_drops_unused_branches():
    fg = fold_constants.apply(read_onnx(FINN))
    fg.nodes.append(FloatNode("Relu", [fg.nodes[3].outputs[0]], ["unused"], {}, "dead"))
    fg.consts["orphan"] = np.zeros(3)
    fg = dead_nodes.apply(fg)
    assert "dead" not in [n.name for n in fg.nodes] and "orphan" not in fg.consts


def test_xnor_pass_keeps_every_integer_output():
    graph = lower.apply(_prepared(FINN))
    plain = copy.deepcopy(graph)
    rewritten = xnor.apply(graph)
    assert sum(isinstance(n.op, ops.XnorPopcount) for n in rewritten.nodes) == 4
    x = np.random.default_rng(1).integers(0, 256, (64, 1, 28, 28)).astype(np.float32)
    x[:8] = 127.5  # pixels that quantize exactly at the input threshold
    a, b = run(plain, x, trace=True), run(rewritten, x, trace=True)
    np.testing.assert_array_equal(a.outputs[0], b.outputs[0])
    for n_plain, n_new in zip(plain.nodes, rewritten.nodes, strict=True):
        va, vb = a.trace.get(n_plain.output), b.trace.get(n_new.output)
        if isinstance(n_new.op, ops.XnorPopcount):  # dot = 2 * popcount - MW
            np.testing.assert_array_equal(va, 2 * vb - n_new.op.weights.shape[0])
        elif va is not None:
            np.testing.assert_array_equal(va, vb)


def test_xnor_popcount_equals_integer_matmul_for_odd_widths():
    rng = np.random.default_rng(2)
    for mw in (1, 63, 64, 65, 130):
        w = rng.integers(0, 2, (mw, 7)).astype(np.uint8)
        x = np.where(rng.random((5, 3, mw)) < 0.5, -1, 1)
        dot = ops.MatMul(2 * w.astype(np.int64) - 1, ops.WeightGrid("bipolar", -1, 1)).execute(x)
        np.testing.assert_array_equal(2 * ops.XnorPopcount(w).execute(x) - mw, dot)
