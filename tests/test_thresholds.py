"""Exact threshold extraction: unit cases on the bisection, then whole QONNX graphs with the hard
BatchNorm cases (gamma = 0, gamma < 0, half-integer boundaries, narrow range) against qonnx."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from qonnx_ref import qonnx_run

from bnncc.errors import BnnccError
from bnncc.frontend import load
from bnncc.ir import ops
from bnncc.ir.executor import run
from bnncc.ir.passes.thresholds import extract, threshold_counts


def _check(counts, lo, hi, levels):
    t, desc = extract(counts, np.array(lo), np.array(hi), levels, "test")
    acc = np.arange(min(lo), max(hi) + 1)[:, None].repeat(len(lo), 1).clip(lo, hi)
    np.testing.assert_array_equal(threshold_counts(acc, t, desc), counts(acc))
    return t, desc


def test_half_integer_boundary_rounds_half_to_even():
    # value = clip(round(acc / 2), -1, 1): round(0.5) = 0 and round(-0.5) = -0, so the switch
    # points are -1 (value >= 0) and 2 (value >= 1); round-half-up would give 1 for the second.
    t, desc = _check(lambda a: np.clip(np.round(a / np.float32(2)), -1, 1).astype(np.int64) + 1, [-9], [9], 3)
    assert t.tolist() == [[-1, 2]] and not desc[0]


def test_negative_scale_flips_comparison():
    t, desc = _check(lambda a: (a * -3 + 1 >= 0).astype(np.int64), [-5], [5], 2)
    assert desc[0] and t.tolist() == [[0]]  # -3a + 1 >= 0  <=>  a <= 0


def test_constant_channel_gets_thresholds_outside_range():
    t, _ = _check(lambda a: np.ones_like(a), [-4, -4], [4, 4], 2)
    assert (t <= -4).all()
    t, _ = _check(lambda a: np.zeros_like(a), [-4], [4], 2)
    assert (t > 4).all()


def test_non_monotonic_activation_is_refused():
    with pytest.raises(BnnccError, match="not monotonic"):
        extract(lambda a: (np.abs(a) >= 2).astype(np.int64), np.array([-5]), np.array([5]), 2, "node 'n' (Abs)")


def _qonnx_model(gamma, beta, mean, var, narrow: int, path: str) -> None:
    """BipolarQuant -> MatMul(±1) -> BN -> Quant(2 bit, narrow?) -> MatMul(±1) -> logits."""
    rng = np.random.default_rng(3)
    c = len(gamma)
    w1 = np.where(rng.random((6, c)) < 0.5, -1.0, 1.0).astype(np.float32)
    w2 = np.where(rng.random((c, 4)) < 0.5, -1.0, 1.0).astype(np.float32)
    f = lambda name, v: numpy_helper.from_array(np.asarray(v, np.float32), name)  # noqa: E731
    inits = [f("one", 1.0), f("zero", 0.0), f("two", 2.0), f("w1", w1), f("w2", w2), f("g", gamma), f("b", beta),
             f("m", mean), f("v", var), f("half", 0.5)]
    dom = "qonnx.custom_op.general"
    nodes = [
        helper.make_node("BipolarQuant", ["x", "one"], ["xq"], domain=dom),
        helper.make_node("MatMul", ["xq", "w1"], ["y"]),
        helper.make_node("BatchNormalization", ["y", "g", "b", "m", "v"], ["z"], epsilon=0.0),
        helper.make_node("Quant", ["z", "half", "zero", "two"], ["zq"], domain=dom, signed=1, narrow=narrow,
                         rounding_mode="ROUND"),
        helper.make_node("MatMul", ["zq", "w2"], ["out"]),
    ]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 6])],
                              [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 4])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid(dom, 1)])
    model.ir_version = 8
    onnx.save(model, path)


@pytest.mark.parametrize("narrow", [0, 1])
def test_batchnorm_cases_match_qonnx_on_every_input(tmp_path, narrow):
    # Accumulators of 6 bipolar inputs are even: -6..6. Means on odd values and 0.25 scales put
    # BN outputs exactly on the Quant's half-integer rounding boundaries.
    gamma = [1.0, 0.0, -1.0, 0.5, -0.25, 2.0]
    beta = [0.0, 0.3, 0.0, 0.25, 0.125, -0.5]
    mean = [1.0, 0.0, -1.0, 2.0, 0.0, 1.5]
    var = [1.0, 1.0, 4.0, 0.25, 1.0, 16.0]
    path = str(tmp_path / "bn.onnx")
    _qonnx_model(gamma, beta, mean, var, narrow, path)
    patterns = np.array([[1.0 if (i >> b) & 1 else -1.0 for b in range(6)] for i in range(64)], np.float32)
    x = np.concatenate([patterns, np.zeros((1, 6), np.float32)])  # BipolarQuant(0) = +1
    graph = load(path)
    th = next(n.op for n in graph.nodes if isinstance(n.op, ops.MultiThreshold))
    assert th.thresholds.shape == (6, 2 if narrow else 3)
    assert th.descending.tolist()[2] and th.descending.tolist()[4]  # the negative gammas
    np.testing.assert_array_equal(run(graph, x).outputs[0], qonnx_run(path, x))


def test_thresholds_on_float32_ties_are_counted_and_inspect_reports_them(tmp_path, capsys):
    from bnncc.cli import main

    # the BN cases above put outputs exactly on the Quant's rounding points: every such step is a tie
    tied = str(tmp_path / "tied.onnx")
    _qonnx_model([1.0, 0.0, -1.0, 0.5, -0.25, 2.0], [0.0, 0.3, 0.0, 0.25, 0.125, -0.5],
                 [1.0, 0.0, -1.0, 2.0, 0.0, 1.5], [1.0, 1.0, 4.0, 0.25, 1.0, 16.0], 0, tied)
    th = next(n.op for n in load(tied).nodes if isinstance(n.op, ops.MultiThreshold))
    assert 0 < th.ties <= th.thresholds.size
    # scales that put no accumulator near a rounding point: none
    clear = str(tmp_path / "clear.onnx")
    _qonnx_model([0.37] * 6, [0.011] * 6, [0.13] * 6, [1.3] * 6, 0, clear)
    assert next(n.op for n in load(clear).nodes if isinstance(n.op, ops.MultiThreshold)).ties == 0
    assert main(["inspect", tied]) == 0
    out = capsys.readouterr().out
    assert "f32 ties" in out and f"{th.ties} threshold(s) sit on a float32 tie" in out
    assert main(["inspect", clear, "--json"]) == 0
    assert "float32 tie" not in capsys.readouterr().out
