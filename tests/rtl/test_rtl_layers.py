"""Each RTL block alone, with random weights, random thresholds and a random legal folding, streamed
with random input gaps and output back-pressure, against the IR op it implements."""

from __future__ import annotations

import numpy as np
import pytest
from ir_graphs import affine_thresholds, layer_graph, random_thresholds

from bnncc.backends.fpga import rtl as rtl_writer
from bnncc.hw import dataflow
from bnncc.hw.design import realize
from bnncc.ir import ops
from bnncc.ir.dtypes import BIPOLAR, int_type
from bnncc.ir.executor import run_hardware
from bnncc.ir.graph import Graph, TensorType
from bnncc.sim import rtl


def _check(tmp_path, graph: Graph, rng, simulator: str = "icarus", images: int = 6, fold: dict | None = None) -> dict:
    df = dataflow.build(graph)
    design = realize(df, {b.name: b.fold(fold or b.options()[int(rng.integers(len(b.options())))]) for b in df.blocks})
    rtl_writer.write(tmp_path, design, "layer-test")
    t = graph.input_type
    values = rng.choice(t.dtype.values(), size=(images,) + t.shape)
    expected = run_hardware(graph, values)[design.output_tensor]
    result = rtl.verify(tmp_path / "rtl", design, values, expected, seed=int(rng.integers(1 << 30)),
                        simulator=simulator, images_for_rate=16)
    assert result["passed"] and result["mismatches"] == 0, result
    assert result["efficiency"] >= 0.95, result
    return result


@pytest.mark.parametrize("seed", [0, 1])
def test_xnor_mvau_withrandom_thresholds(tmp_path, seed):
    rng = np.random.default_rng(seed)
    mw, mh = int(rng.choice([12, 64, 70])), int(rng.choice([6, 8]))
    w = rng.integers(0, 2, (mw, mh)).astype(np.uint8)
    th = random_thresholds(rng, 0, mw, mh, BIPOLAR)
    _check(tmp_path, layer_graph(TensorType((mw,), BIPOLAR), [ops.XnorPopcount(w), th]), rng)


@pytest.mark.parametrize("kind", ["bipolar", "ternary", "int", "pow2", "adder"])
def test_integer_mvau_kinds(tmp_path, kind):
    rng = np.random.default_rng(len(kind))
    mw, mh = 12, 6
    in_type = TensorType((2, mw), int_type(-8, 7) if kind != "bipolar" else int_type(0, 15))
    if kind == "bipolar":
        w, grid = np.where(rng.random((mw, mh)) < 0.5, -1, 1), ops.WeightGrid("bipolar", -1, 1)
    elif kind == "ternary":
        w, grid = rng.integers(-1, 2, (mw, mh)), ops.WeightGrid("ternary", -1, 1)
    elif kind == "int":
        w, grid = rng.integers(-5, 6, (mw, mh)), ops.WeightGrid("int", -5, 5)
    elif kind == "pow2":
        w = rng.choice([-12, -6, -4, -1, 0, 1, 3, 7, 8], (mw, mh))  # <= 2 signed powers of two each
        grid = ops.WeightGrid("pow2", -12, 8, k=2, e_min=0, e_max=4)
    else:
        w, grid = rng.integers(-8, 8, (mw, mh)), ops.WeightGrid("int", -8, 7)
    matrix = ops.Adder(w, grid) if kind == "adder" else ops.MatMul(w, grid)
    acc = matrix.infer(in_type)
    th = random_thresholds(rng, acc.dtype.min, acc.dtype.max, mh, int_type(-2, 1))
    _check(tmp_path, layer_graph(in_type, [matrix, th]), rng)


@pytest.mark.parametrize("kind", ["int", "adder"])
def test_requantizing_mvau(tmp_path, kind):
    """8-bit codes by one multiply, add, shift and clip per lane (the folding's requant), of either sign."""
    rng = np.random.default_rng(11 + len(kind))
    in_type = TensorType((3, 24), int_type(-8, 7))
    w = rng.integers(-8, 8, (24, 8))
    grid = ops.WeightGrid("int", -8, 7)
    matrix = ops.Adder(w, grid) if kind == "adder" else ops.MatMul(w, grid)
    acc = matrix.infer(in_type)
    graph = layer_graph(in_type, [matrix, affine_thresholds(rng, acc.dtype.min, acc.dtype.max, 8, int_type(0, 255))])
    (block,) = dataflow.build(graph).blocks
    assert block.requant is not None and all(o.get("requant") for o in block.options()[1::2])
    _check(tmp_path, graph, rng, fold={"PE": 4, "SIMD": 6, "requant": True})


def test_requantizing_mvau_with_corrections(tmp_path):
    """Thresholds off the line by one step: the corrections (an equality compare each) keep it exact."""
    rng = np.random.default_rng(5)
    in_type = TensorType((64, 1), int_type(-128, 127))  # acc = x: the inputs reach the corrected accumulators
    matrix = ops.MatMul(np.ones((1, 16), np.int64), ops.WeightGrid("int", -1, 1))
    graph = layer_graph(in_type, [matrix, affine_thresholds(rng, -128, 127, 16, int_type(0, 15), nudged=2)])
    (block,) = dataflow.build(graph).blocks
    assert block.requant is not None and block.requant.fixes >= 1
    _check(tmp_path, graph, rng, images=8, fold={"PE": 4, "SIMD": 1, "requant": True})


def test_mvau_without_thresholds_streams_accumulators(tmp_path):
    rng = np.random.default_rng(7)
    w = rng.integers(-3, 4, (16, 8))
    graph = layer_graph(TensorType((16,), int_type(-2, 1)), [ops.MatMul(w, ops.WeightGrid("int", -3, 3))])
    _check(tmp_path, graph, rng)


@pytest.mark.parametrize("stride,pad", [(1, (1, 1, 1, 1)), (2, (0, 1, 0, 1))])
def test_sliding_window_convolution(tmp_path, stride, pad):
    rng = np.random.default_rng(stride)
    c, co = 4, 6
    in_type = TensorType((7, 6, c), int_type(-2, 1))
    w = rng.integers(-1, 2, (9 * c, co))
    layers = [ops.SlidingWindow(3, stride, pad, 0), ops.MatMul(w, ops.WeightGrid("ternary", -1, 1))]
    _check(tmp_path, layer_graph(in_type, layers), rng)


@pytest.mark.parametrize("dtype", [BIPOLAR, int_type(-4, 3), int_type(0, 9)], ids=["bipolar", "signed", "unsigned"])
def test_maxpool(tmp_path, dtype):
    rng = np.random.default_rng(dtype.levels)
    _check(tmp_path, layer_graph(TensorType((5, 6, 4), dtype), [ops.MaxPool(2, 2)]), rng)


def test_pool_on_accumulators_then_standalonerandom_thresholds(tmp_path):
    rng = np.random.default_rng(11)
    w = rng.integers(0, 2, (8, 4)).astype(np.uint8)
    layers = [ops.SlidingWindow(1, 1, (0, 0, 0, 0)), ops.XnorPopcount(w), ops.MaxPool(2, 2)]
    th = random_thresholds(rng, 0, 8, 4, int_type(0, 3))
    _check(tmp_path, layer_graph(TensorType((4, 4, 8), BIPOLAR), layers + [th]), rng)


def test_label_select(tmp_path):
    rng = np.random.default_rng(12)
    _check(tmp_path, layer_graph(TensorType((10,), int_type(-20, 20)), [ops.LabelSelect()]), rng, images=12)


@pytest.mark.verilator
def test_xnor_mvau_on_verilator(tmp_path, simulator):
    rng = np.random.default_rng(3)
    w = rng.integers(0, 2, (32, 8)).astype(np.uint8)
    graph = layer_graph(TensorType((32,), BIPOLAR), [ops.XnorPopcount(w), random_thresholds(rng, 0, 32, 8, BIPOLAR)])
    _check(tmp_path, graph, rng, simulator=simulator)
