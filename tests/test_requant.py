"""Requantization (bnncc.hw.requant, bnncc.hw.activation): exact where it is chosen, checked against the
threshold counts on every reachable accumulator, refused where thresholds are not affine, costed, chosen
by the optimizer for many levels, and bit-exact in C simulation."""

from __future__ import annotations

import numpy as np
import pytest
from ir_graphs import affine_thresholds, layer_graph, random_thresholds

from bnncc.backends.fpga import hls
from bnncc.cost.devices import device
from bnncc.cost.model import ANALYTICAL
from bnncc.errors import BnnccError
from bnncc.hw import dataflow, requant
from bnncc.hw.design import realize
from bnncc.hw.folding import optimize
from bnncc.ir import ops
from bnncc.ir.dtypes import int_type
from bnncc.ir.executor import run_hardware
from bnncc.ir.graph import TensorType
from bnncc.ir.ops import threshold_counts
from bnncc.sim import csim

UINT8 = int_type(0, 255)


@pytest.mark.parametrize("seed", range(4))
def test_fit_is_exact_on_every_accumulator(seed):
    rng = np.random.default_rng(seed)
    lo, hi = -700, 900
    th = affine_thresholds(rng, lo, hi, 24, UINT8)
    r = requant.fit(th.thresholds, th.descending, lo, hi)
    assert r is not None and (r.mult[th.descending] < 0).all() and (r.mult[~th.descending] > 0).all()
    acc = np.broadcast_to(np.arange(lo, hi + 1)[:, None], (hi - lo + 1, 24)).copy()
    assert np.array_equal(requant.apply(r, acc, 256), threshold_counts(acc, th.thresholds, th.descending))


@pytest.mark.parametrize("seed", range(3))
def test_thresholds_off_the_line_get_corrections_and_stay_exact(seed):
    rng = np.random.default_rng(10 + seed)
    lo, hi = -700, 900
    th = affine_thresholds(rng, lo, hi, 16, UINT8, nudged=2)
    r = requant.fit(th.thresholds, th.descending, lo, hi)
    assert r is not None and 1 <= r.fixes <= requant.MAX_FIXES and (r.fix_by != 0).any(axis=1).sum() >= 8
    acc = np.broadcast_to(np.arange(lo, hi + 1)[:, None], (hi - lo + 1, 16)).copy()
    assert np.array_equal(requant.apply(r, acc, 256), threshold_counts(acc, th.thresholds, th.descending))


def test_thresholds_that_are_not_affine_have_none():
    rng = np.random.default_rng(3)
    th = random_thresholds(rng, -200, 200, 8, int_type(0, 15))
    assert requant.fit(th.thresholds, th.descending, -200, 200) is None


def _graph(rng, thresholds, **kw):
    w = rng.integers(-7, 8, (40, 16))
    layers = [ops.MatMul(w, ops.WeightGrid("int", -7, 7))]
    in_type = TensorType((40,), int_type(0, 15))
    acc = layers[0].infer(in_type)
    layers.append(thresholds(rng, acc.dtype.min, acc.dtype.max, 16, UINT8, **kw))
    return layer_graph(in_type, layers)


def test_the_optimizer_requantizes_256_levels_and_the_estimate_shrinks():
    graph = _graph(np.random.default_rng(1), affine_thresholds)
    df = dataflow.build(graph)
    (mvau,) = df.blocks
    dev = device("xc7z020clg400-1")
    fold = {"PE": 4, "SIMD": 8}
    compare = mvau.cost(mvau.fold(fold | {"requant": False}), dev, ANALYTICAL)
    scale = mvau.cost(mvau.fold(fold | {"requant": True}), dev, ANALYTICAL)
    assert scale["lut"] < compare["lut"] / 4
    assert mvau.fold(fold)["requant"]  # 255 thresholds: requantized unless the folding says otherwise
    chosen = optimize(df, 10**6, 10.0, 100.0, dev, ANALYTICAL)
    assert chosen[mvau.name]["requant"]


def test_requant_is_refused_where_it_is_not_exact():
    graph = _graph(np.random.default_rng(2), random_thresholds)
    (mvau,) = dataflow.build(graph).blocks
    assert mvau.requant is None and "requant" not in mvau.fold({"PE": 2})
    with pytest.raises(BnnccError, match="not an affine function"):
        mvau.fold({"PE": 2, "requant": True})


@pytest.mark.parametrize("pe,simd", [(1, 1), (4, 8), (16, 40)])
def test_requantizing_mvau_in_c_simulation(tmp_path, pe, simd):
    rng = np.random.default_rng(pe)
    graph = _graph(rng, affine_thresholds)
    df = dataflow.build(graph)
    design = realize(df, {b.name: b.fold({"PE": pe, "SIMD": simd, "requant": True}) for b in df.blocks})
    hls.write(tmp_path, design, "requant-test", {"part": "xc7z020clg400-1", "clock_ns": "10",
                                                 "ap_ctrl": "ap_ctrl_none"})
    values = rng.integers(0, 16, (10, 40))
    result = csim.run(tmp_path / "hls", design, values, run_hardware(graph, values))
    assert result.passed and result.vectors == 10, result


def corrected_graph(rng, pixels: int = 256):
    """acc = x (one input, weight 1) over every int8 value, then 4-bit thresholds of which two per channel
    are off the line: the corrections decide the codes of some of the accumulators the inputs reach."""
    in_type = TensorType((pixels, 1), int_type(-128, 127))
    matrix = ops.MatMul(np.ones((1, 16), np.int64), ops.WeightGrid("int", -1, 1))
    return layer_graph(in_type, [matrix, affine_thresholds(rng, -128, 127, 16, int_type(0, 15), nudged=2)])


def test_corrected_requantization_in_c_simulation(tmp_path):
    graph = corrected_graph(np.random.default_rng(5))
    df = dataflow.build(graph)
    (mvau,) = df.blocks
    assert mvau.requant is not None and mvau.requant.fixes >= 1
    design = realize(df, {mvau.name: mvau.fold({"PE": 4, "SIMD": 1, "requant": True})})
    hls.write(tmp_path, design, "requant-test", {"part": "xc7z020clg400-1", "clock_ns": "10",
                                                 "ap_ctrl": "ap_ctrl_none"})
    values = np.arange(-128, 128).reshape(1, 256, 1)  # every accumulator, so every correction
    result = csim.run(tmp_path / "hls", design, values, run_hardware(graph, values))
    assert result.passed and result.vectors == 1, result


def test_steep_thresholds_fit_without_overflow():
    """Equal thresholds: the least-squares slope is float noise, whose inverse overflowed int64."""
    assert requant._fit_with_corrections(np.full(15, -50), -100, 100, requant.MAX_SHIFT) is None
    th = np.array([[0] * 14 + [1], [3] * 7 + [4] * 8])
    desc = np.array([False, True])
    r = requant.fit(th, desc, -100, 100)
    acc = np.broadcast_to(np.arange(-100, 101)[:, None], (201, 2)).copy()
    assert r is not None and np.array_equal(requant.apply(r, acc, 16), threshold_counts(acc, th, desc))


def test_thresholds_far_from_any_line_are_refused_before_the_search():
    rng = np.random.default_rng(4)
    lo, hi = np.full(8, -700), np.full(8, 900)
    scattered = np.sort(rng.integers(-600, 800, (8, 255)), axis=1)
    assert requant._far_from_a_line(scattered, lo, hi) and requant.fit(scattered, np.zeros(8, bool), -700, 900) is None
    th = affine_thresholds(rng, -700, 900, 8, UINT8, nudged=2)
    t = np.where(th.descending[:, None], -th.thresholds, th.thresholds)
    assert not requant._far_from_a_line(np.sort(t, axis=1), np.where(th.descending, -hi, lo),
                                        np.where(th.descending, -lo, hi))


def test_folding_json_gives_back_the_chosen_activation_form(tmp_path):
    """--fps requantizes these 3-bit layers (7 thresholds, below the default); reading its folding.json
    back must build the same design, requant and all."""
    import json

    from bnncc import fixtures
    from bnncc.cli import main

    path = fixtures.save(fixtures.int_mlp(weight_bits=4, act_bits=3, narrow=False, signed=False, seed=6,
                                          norm="affine", channel_scale=True), tmp_path / "m.onnx")
    assert main([str(path), "--target", "fpga", "-o", str(tmp_path / "a"), "--fps", "1000000"]) == 0
    first = json.loads((tmp_path / "a" / "report.json").read_text())
    assert any(f.get("requant") for f in first["folding"].values())
    again = ["--folding", str(tmp_path / "a" / "folding.json")]
    assert main([str(path), "--target", "fpga", "-o", str(tmp_path / "b"), *again]) == 0
    second = json.loads((tmp_path / "b" / "report.json").read_text())
    assert second["folding"] == first["folding"]
    assert [(r["block"], r["lut"], r["dsp"]) for r in second["estimate"]["blocks"]] == \
        [(r["block"], r["lut"], r["dsp"]) for r in first["estimate"]["blocks"]]
