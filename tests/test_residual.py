"""Residual networks in the frontend and the executor: Brevitas' ResNet blocks against qonnx's executor code
for code, residual adds at equal, power-of-two and arbitrary scale ratios, average pooling with QONNX Trunc
(v1 and v2), --input-codes, and one test per refusal."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import helper, numpy_helper
from qonnx.custom_op.general.trunc import trunc_v1, trunc_v2
from qonnx_codes import agreement, images
from qonnx_ref import qonnx_run
from residual_models import QONNX, conv, join_model, node, quant, save

from bnncc.errors import BnnccError
from bnncc.finn_zoo import brevitas_resnet
from bnncc.frontend import InputCodes, load
from bnncc.ir import ops
from bnncc.ir.executor import run
from bnncc.ir.float_ops import FloatNode, make_quantizer

PIXELS = InputCodes(8, False, 1 / 255)


@pytest.fixture(scope="module", params=["shared", "random"])
def tiny_resnet(request, tmp_path_factory):
    path = tmp_path_factory.mktemp("resnet") / f"tiny-{request.param}.onnx"
    brevitas_resnet(path, "resnet_tiny_4w4a", seed=0, scales=request.param)
    return request.param, path


def test_brevitas_resnet_codes_equal_qonnx(tiny_resnet):
    scales, path = tiny_resnet
    graph = load(str(path), PIXELS)
    x = images(12, 16, seed=3)
    got = agreement(path, graph, x, PIXELS)
    assert len(got.quantizers) == 9  # the stem, 3 + 4 in the blocks (2 after the adds), the Trunc
    assert got.unexplained == 0, got.quantizers
    assert got.labels_equal >= 0.99 and got.label_count >= 4
    assert got.tail_rel_error < 1e-5 and got.free_rel_error < 1e-5
    adds = [n.op for n in graph.nodes if isinstance(n.op, ops.Add)]
    assert len(adds) == 2
    if scales == "shared":  # Brevitas shares the QuantReLU across each add: one scale, a plain integer add
        assert all((a.wa, a.wb) == (1, 1) for a in adds)
    else:  # every QuantReLU its own scale: small integer weights whose thresholds match on every pair
        assert all((a.wa, a.wb) != (1, 1) and max(a.wa, a.wb) < 1 << 12 for a in adds)
    assert any(isinstance(n.op, ops.SumPool) for n in graph.nodes)
    assert not graph.nodes[1].host  # --input-codes: the first convolution runs in hardware


@pytest.mark.parametrize("scales", ["shared", "random"])
def test_brevitas_resnet18_codes_equal_qonnx(tmp_path, scales):
    """Brevitas' quant_resnet18 at 4 bits (bnn_pynq resnet18_4w4a) on 10 seeded images; 100 in
    benchmarks/resnet.py."""
    path = tmp_path / f"resnet18-{scales}.onnx"
    brevitas_resnet(path, "resnet18_4w4a", seed=0, scales=scales)
    got = agreement(path, load(str(path), PIXELS), images(10, 32, seed=11), PIXELS)
    assert len(got.quantizers) == 29 and got.unexplained == 0, got.quantizers
    assert got.clean_labels_equal == 1.0 and got.labels_equal >= 0.8 and got.label_count >= 4
    assert got.tail_rel_error < 1e-5 and got.free_rel_error < 1e-5


def test_without_input_codes_the_first_conv_is_host(tiny_resnet):
    _, path = tiny_resnet
    graph = load(str(path))
    assert [n.op for n in graph.nodes[0].op.nodes] == ["Conv", "BatchNormalization", "Relu", "Quant"]
    x = images(6, 16, seed=4)
    assert agreement(path, graph, x).unexplained == 0


def _inputs(n: int = 64) -> np.ndarray:
    return (np.random.default_rng(0).integers(0, 16, (n, 2, 4, 4)) * 0.5).astype(np.float32)


@pytest.mark.parametrize("sa, sb, weights", [(0.25, 0.25, (1, 1)), (0.5, 0.125, (4, 1)), (0.3, 0.2, None)])
def test_residual_add_matches_qonnx(tmp_path, sa, sb, weights):
    path = join_model(tmp_path / "m.onnx", sa, sb)
    graph = load(path)
    add = next(n.op for n in graph.nodes if isinstance(n.op, ops.Add))
    if weights:
        assert (add.wa, add.wb) == weights
    x = _inputs()
    np.testing.assert_array_equal(run(graph, x).outputs[0], qonnx_run(path, x))


def test_power_of_two_add_reaches_the_output_exactly(tmp_path):
    path = join_model(tmp_path / "m.onnx", 0.5, 0.25, after="output")
    graph = load(path)
    assert str(next(n.op for n in graph.nodes if isinstance(n.op, ops.Add))) == "Add(2*a + 1*b)"
    x = _inputs()
    np.testing.assert_array_equal(run(graph, x).outputs[0], qonnx_run(path, x))


def test_concat_of_one_grid_matches_qonnx(tmp_path):
    path = join_model(tmp_path / "m.onnx", 0.25, 0.25, after="output", op="Concat")
    graph = load(path)
    assert any(isinstance(n.op, ops.Concat) for n in graph.nodes)
    x = _inputs()
    np.testing.assert_array_equal(run(graph, x).outputs[0], qonnx_run(path, x))


def _refusal(path: str) -> str:
    with pytest.raises(BnnccError) as e:
        load(path)
    return str(e.value)


def test_a_non_power_of_two_ratio_without_a_quantizer_is_refused(tmp_path):
    msg = _refusal(join_model(tmp_path / "m.onnx", 0.3, 0.2, after="output"))
    assert "'join' (Add)" in msg and "not a power of two" in msg and "0.3" in msg and "0.2" in msg


def test_concat_of_two_grids_is_refused(tmp_path):
    msg = _refusal(join_model(tmp_path / "m.onnx", 0.25, 0.5, after="output", op="Concat"))
    assert "'join' (Concat)" in msg and "different value grids" in msg


def test_a_join_of_accumulators_is_refused(tmp_path):
    parts = [quant("q0", "x", "x0", 0.5), conv("ca", "x0", "a", 2, 2, 1), conv("cb", "x0", "b", 2, 2, 2),
             node("Add", ["a", "b"], "s", "join"), quant("qo", "s", "y", 0.7)]
    msg = _refusal(save(tmp_path / "m.onnx", parts, (1, 2, 4, 4)))
    assert "'ca' (Conv)" in msg and "a join before any quantizer" in msg


def test_a_float_input_read_twice_is_refused(tmp_path):
    parts = [quant("qa", "x", "a", 0.5), quant("qb", "x", "b", 0.25), node("Add", ["a", "b"], "y", "join")]
    msg = _refusal(save(tmp_path / "m.onnx", parts, (1, 2, 4, 4)))
    assert "'qa' (Quant)" in msg and "'qb' (Quant)" in msg and "--input-codes" in msg


def test_a_padded_average_pool_is_refused(tmp_path):
    pool = node("AveragePool", ["x0"], "p", "pool", kernel_shape=[2, 2], pads=[1, 1, 1, 1], count_include_pad=1)
    parts = [quant("q0", "x", "x0", 0.5), pool,
             quant("qo", "p", "y", 0.5, bits=8)]
    msg = _refusal(save(tmp_path / "m.onnx", parts, (1, 2, 5, 5)))
    assert "'pool' (AveragePool)" in msg and "unpadded average pool" in msg


@pytest.mark.parametrize("version", [1, 2])
def test_trunc_follows_qonnx(version):
    rng = np.random.default_rng(version)
    x = (rng.integers(0, 241, 2000) * np.float32(0.0625 / 16)).astype(np.float32)
    scale, zp, in_bits, out_bits = np.float32(0.0625 / 16), np.float32(0), np.float32(10), np.float32(8)
    consts = {"s": scale, "z": zp, "ib": in_bits, "os": np.float32(4 * scale), "ob": out_bits}
    if version == 2:
        node = FloatNode("Trunc", ["x", "s", "z", "ib", "os", "ob"], ["y"], {"rounding_mode": "FLOOR"}, "t")
        want = trunc_v2(x, scale, zp, in_bits, 0, 0, np.float32(4 * scale), out_bits, "FLOOR")
    else:
        node = FloatNode("Trunc", ["x", "s", "z", "ib", "ob"], ["y"], {"rounding_mode": "FLOOR"}, "t")
        want = trunc_v1(x, scale, zp, in_bits, out_bits, "FLOOR")
    q = make_quantizer(node, consts)
    np.testing.assert_array_equal(q.dequant(q.count(x)), want.astype(np.float32))


def test_input_codes_option(tmp_path, capsys):
    from bnncc.cli import main

    path = tmp_path / "tiny.onnx"
    brevitas_resnet(path, "resnet_tiny_4w4a", seed=1)
    x = images(4, 16, seed=5)
    np.save(tmp_path / "x.npy", x)
    assert main(["run", str(path), "--input", str(tmp_path / "x.npy"), "--input-codes", "uint8",
                 "--input-scale", "1/255", "--json"]) == 0
    out, err = capsys.readouterr()
    assert '"labels"' in out and err == ""
    np.save(tmp_path / "off.npy", x + np.float32(0.001))
    assert main(["run", str(path), "--input", str(tmp_path / "off.npy"), "--input-codes", "uint8",
                 "--input-scale", "1/255"]) == 0
    assert "are not --input-codes values" in capsys.readouterr().err
    for bad in (["--input-codes", "uint9"], ["--input-scale", "1/255"], ["--input-codes", "uint8", "--input-scale",
                                                                          "0"]):
        assert main(["run", str(path), "--input", str(tmp_path / "x.npy"), *bad]) == 2
        assert capsys.readouterr().err.count("\n") == 1


def _pool_model(tmp_path, k: int, out_scale: float, out_bits: int = 8) -> str:
    parts = [quant("q0", "x", "x0", 1.0), node("AveragePool", ["x0"], "p", "pool", kernel_shape=[k, k],
                                                strides=[k, k]), quant("qo", "p", "y", out_scale, bits=out_bits)]
    return save(tmp_path / "pool.onnx", parts, (1, 2, 6 // k, 6 // k), (1, 2, 6, 6))


def test_an_exact_average_pool_matches_qonnx_even_on_ties(tmp_path):
    # 2x2 means of integers are exact in every runtime: sums = 2 mod 4 give exact .5 ties, rounded to even
    path = _pool_model(tmp_path, 2, 1.0)
    graph = load(path)
    assert any(isinstance(n.op, ops.SumPool) for n in graph.nodes)
    x = np.random.default_rng(0).integers(0, 16, (64, 2, 6, 6)).astype(np.float32)
    np.testing.assert_array_equal(run(graph, x).outputs[0], qonnx_run(path, x))


def test_an_average_that_float32_cannot_settle_is_refused(tmp_path):
    # 3x3 means: the runtime's order of additions and its division by 9 decide codes at sums on .5 ties
    msg = _refusal(_pool_model(tmp_path, 3, 2 / 9))
    assert "'qo' (Quant)" in msg and "within float32 rounding of a quantizer boundary" in msg


def test_a_trunc_v1_whose_codes_overflow_is_refused(tmp_path):
    consts = [numpy_helper.from_array(np.float32(v), n) for n, v in (("ts", 0.25), ("tz", 0.0), ("ti", 5.0),
                                                                      ("to", 3.0))]
    trunc = helper.make_node("Trunc", ["p", "ts", "tz", "ti", "to"], ["y"], name="trunc", domain=QONNX,
                             rounding_mode="FLOOR")
    parts = [quant("q0", "x", "x0", 1.0), node("AveragePool", ["x0"], "p", "pool", kernel_shape=[2, 2],
                                                strides=[2, 2]), ([trunc], consts)]
    msg = _refusal(save(tmp_path / "trunc.onnx", parts, (1, 2, 3, 3), (1, 2, 6, 6)))
    assert "'trunc' (Trunc)" in msg and "v1 does not clamp" in msg


def test_a_join_no_integer_weighting_reproduces_is_refused(tmp_path, monkeypatch):
    # Real models have always found weights (400 random scale triples tried); here the candidates are cut to
    # one far from the scales' ratio, so the check on every pair of codes must catch it
    from bnncc.ir.passes import lower

    monkeypatch.setattr(lower, "join_weights", lambda sa, sb: [(1, 9)])
    msg = _refusal(join_model(tmp_path / "m.onnx", 0.3, 0.2))
    assert "'join' (Add)" in msg and "0.3" in msg and "0.2" in msg and "1*a + 9*b gives" in msg
    assert "the sum is not exact" in msg


def test_a_tensor_added_to_itself_checks_only_equal_codes(tmp_path):
    from qonnx_codes import qonnx_context

    parts = [quant("q0", "x", "x0", 0.5), conv("ca", "x0", "a", 2, 2, 1), quant("qa", "a", "qa", 0.3),
             node("Add", ["qa", "qa"], "s", "join"), node("Relu", ["s"], "r", "relu"), quant("qo", "r", "y", 0.7)]
    path = save(tmp_path / "double.onnx", parts, (1, 2, 4, 4))
    graph = load(path)
    assert [(n.op.wa, n.op.wb) for n in graph.nodes if isinstance(n.op, ops.Add)] == [(1, 1)]
    x = _inputs()
    np.testing.assert_array_equal(run(graph, x).outputs[0], qonnx_context(path, x)["__output__"])
