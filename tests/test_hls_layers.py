"""HLS blocks one at a time (padded and strided windows, pools on accumulators, standalone thresholds,
every weight kind) under random foldings, C-simulated against the IR op."""

from __future__ import annotations

import numpy as np
import pytest
from ir_graphs import layer_graph, random_thresholds

from bnncc.backends.fpga import hls
from bnncc.hw import dataflow
from bnncc.hw.design import realize
from bnncc.ir import ops
from bnncc.ir.dtypes import BIPOLAR, int_type
from bnncc.ir.executor import run_hardware
from bnncc.ir.graph import TensorType
from bnncc.sim import csim

OPTIONS = {"part": "xcu250-figd2104-2L-e", "clock_ns": "10", "ap_ctrl": "ap_ctrl_none"}


def _csim(tmp_path, graph, seed: int) -> None:
    rng = np.random.default_rng(seed)
    df = dataflow.build(graph)
    design = realize(df, {b.name: b.fold(b.options()[int(rng.integers(len(b.options())))]) for b in df.blocks})
    hls.write(tmp_path, design, "layer-test", OPTIONS)
    t = graph.input_type
    values = rng.choice(t.dtype.values(), size=(12,) + t.shape)
    result = csim.run(tmp_path / "hls", design, values, run_hardware(graph, values))
    assert result.passed and result.vectors == 12, result


@pytest.mark.parametrize("stride,pad", [(1, (1, 1, 1, 1)), (2, (0, 1, 1, 0))])
def test_padded_strided_convolution(tmp_path, stride, pad):
    rng = np.random.default_rng(stride)
    w = rng.integers(-1, 2, (9 * 4, 6))
    layers = [ops.SlidingWindow(3, stride, pad, 0), ops.MatMul(w, ops.WeightGrid("ternary", -1, 1))]
    _csim(tmp_path, layer_graph(TensorType((7, 6, 4), int_type(-2, 1)), layers), stride)


def test_pool_on_accumulators_then_standalone_thresholds(tmp_path):
    rng = np.random.default_rng(5)
    w = rng.integers(0, 2, (8, 4)).astype(np.uint8)
    layers = [ops.SlidingWindow(1, 1, (0, 0, 0, 0)), ops.XnorPopcount(w), ops.MaxPool(2, 2),
              random_thresholds(rng, 0, 8, 4, int_type(0, 3))]
    _csim(tmp_path, layer_graph(TensorType((4, 4, 8), BIPOLAR), layers), 5)


@pytest.mark.parametrize("kind", ["bipolar", "int", "pow2", "adder"])
def test_integer_weight_kinds_with_multibit_outputs(tmp_path, kind):
    rng = np.random.default_rng(len(kind))
    in_type = TensorType((3, 10), int_type(-8, 7))
    if kind == "bipolar":
        matrix = ops.MatMul(np.where(rng.random((10, 6)) < 0.5, -1, 1), ops.WeightGrid("bipolar", -1, 1))
    elif kind == "int":
        matrix = ops.MatMul(rng.integers(-7, 8, (10, 6)), ops.WeightGrid("int", -7, 7))
    elif kind == "pow2":
        matrix = ops.MatMul(rng.choice([-12, -3, 0, 1, 6, 8], (10, 6)), ops.WeightGrid("pow2", -12, 8, k=2))
    else:
        matrix = ops.Adder(rng.integers(-8, 8, (10, 6)), ops.WeightGrid("int", -8, 7))
    acc = matrix.infer(in_type)
    th = random_thresholds(rng, acc.dtype.min, acc.dtype.max, 6, int_type(-4, 3))
    _csim(tmp_path, layer_graph(in_type, [matrix, th]), len(kind))
