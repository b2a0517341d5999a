"""The RRAM mapping itself: encodings and bit slices, tiles, ADC bits, files, determinism, refusals."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import onnx
import pytest

from bnncc import fixtures
from bnncc.backends.rram import host
from bnncc.backends.rram.backend import RramBackend, RramOptions
from bnncc.backends.rram.config import RramConfig, parse_xbar
from bnncc.backends.rram.estimate import ADC_TABLE, CONSTANTS, adc_cost, estimate
from bnncc.backends.rram.mapper import map_graph
from bnncc.backends.rram.weights import adc_windows, encode, exact_bits, tile_conductance
from bnncc.commands.common import read_npy
from bnncc.errors import BnnccError
from bnncc.frontend import load
from bnncc.ir import float_ops, ops
from bnncc.ir.dtypes import FLOAT32
from bnncc.ir.graph import TensorType

TFC = "../shared/models/qonnx-zoo-tfc/TFC_1W1A.onnx"
DOC = Path(__file__).resolve().parents[1] / "docs" / "rram-mapping.md"
RRAM = RramBackend()


def _args(out: Path, **kw) -> RramOptions:
    return RramOptions(out=str(out), **kw)


@pytest.fixture(scope="module")
def tfc():
    return load(TFC)


# -- encodings ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["differential", "reference"])
@pytest.mark.parametrize("cell_bits", [1, 2, 3])
@pytest.mark.parametrize("grid", ["bipolar", "ternary", "int5", "pow2"])
def test_slices_rebuild_the_weights_and_partial_sums(encoding, cell_bits, grid):
    rng = np.random.default_rng(cell_bits)
    w = {"bipolar": rng.choice([-1, 1], (40, 7)), "ternary": rng.integers(-1, 2, (40, 7)),
         "int5": rng.integers(-16, 16, (40, 7)),
         "pow2": rng.choice([-1, 1], (40, 7)) * (1 << rng.integers(0, 5, (40, 7))) * rng.integers(0, 2, (40, 7))}[grid]
    cfg = RramConfig(encoding=encoding, cell_bits=cell_bits)
    code = encode(w, cfg)
    assert code.digits.min() >= 0 and code.digits.max() <= cfg.levels - 1
    scale = np.array([1 << (cell_bits * s) for s in range(code.slices)])[:, None, None]
    if encoding == "differential":
        np.testing.assert_array_equal((scale * (code.digits[0] - code.digits[1])).sum(0), w)
    else:
        np.testing.assert_array_equal(code.alpha * (scale * code.digits[0]).sum(0) + code.beta, w)
    # the digital recombination of exact slice partial sums gives sum_i b_i w_i
    b = rng.integers(0, 2, (9, 40))
    partial = np.einsum("mk,skj->msj", b, code.signed())
    n = b.sum(1)[:, None]
    z = (partial * np.array(code.slice_weights)[None, :, None]).sum(1)
    np.testing.assert_array_equal((z + code.popcount_coef * n) >> code.shift, b @ w)
    g = tile_conductance(code, slice(0, 40), slice(0, 7), cfg)
    assert g.min() >= cfg.g_off * (1 - 1e-12) and g.max() <= cfg.g_on * (1 + 1e-12)
    assert g.shape == (40, 7 * code.slices * code.columns_per_slice + (encoding == "reference"))


@pytest.mark.parametrize("encoding", ["differential", "reference"])
@pytest.mark.parametrize("rows", [64, 128, 256])
@pytest.mark.parametrize("cell_bits", [1, 2])
def test_derived_adc_bits_meet_the_bound(tfc, encoding, rows, cell_bits):
    """At most ceil(log2(R (2^c - 1) + 1)) bits for R active rows of c-bit cells, in both encodings (each
    ADC window spans sum_i |q_i| <= R (2^c - 1) values of its own column)."""
    m = map_graph(tfc, RramConfig(rows=rows, cols=rows, encoding=encoding, cell_bits=cell_bits))
    for s in m.matrices:
        r = max(t.word_lines[1] - t.word_lines[0] for t in s.tiles)
        assert s.derived_bits <= math.ceil(math.log2(r * ((1 << cell_bits) - 1) + 1))
        assert s.adc_bits == s.derived_bits
    if cell_bits == 1:  # full row tiles with both weight signs in a column: the bound is reached
        assert m.matrices[0].derived_bits == math.ceil(math.log2(rows + 1))


def test_windows_are_the_reachable_range():
    cfg = RramConfig()
    w = np.array([[1, -1], [1, 1], [-1, 1]])
    code = encode(w, cfg)
    np.testing.assert_array_equal(adc_windows(code, slice(0, 3), slice(0, 2)), [[-1, 2], [-1, 2]])
    assert exact_bits(np.array([[-1, 2]])) == 2 and exact_bits(np.array([[0, 0]])) == 1


# -- tiles and files -----------------------------------------------------------------------------------------


def test_tfc_tiles_and_report(tfc, tmp_path):
    report = RRAM.compile(tfc, _args(tmp_path))
    assert report["tiles"] == 10  # 784 rows -> 7 row tiles of 128; 64 outputs x G+/G- = 128 columns
    assert [layer["tiles"] for layer in report["layers"]] == [7, 1, 1, 1]
    assert report["adcs"] == 7 * 8 + 8 + 8 + 2  # 64 sensed pairs / 8 columns per ADC
    assert report["cells_used"] == 2 * (784 * 64 + 64 * 64 * 2 + 64 * 10)
    assert report["adc_bits"] == 8 and report["adc_exact"]
    est = report["estimate"]
    assert est["ops"] == 2 * (784 * 64 + 64 * 64 * 2 + 64 * 10)
    assert est["energy_pj"] == pytest.approx(sum(est["energy_pj_by_group"].values()), rel=1e-6)
    assert est["tops_per_w"] == pytest.approx(est["ops"] / est["energy_pj"], rel=1e-3)
    assert est["area_mm2"] > 0 and est["latency_ns"] > 0
    assert set(est["energy_pj_by_group"]) == {"array", "adc", "digital"}
    files = sorted(str(p.relative_to(tmp_path / "rram")) for p in (tmp_path / "rram").rglob("*") if p.is_file())
    assert files == [".bnncc-output.json", "host_head.onnx", "host_tail.onnx", "mapping.json", "report.json"] + \
        [f"tiles/xbar{i:04d}.npy" for i in range(10)]
    mapping = json.loads((tmp_path / "rram" / "mapping.json").read_text())
    assert mapping["schema"] == "bnncc.rram.mapping" and mapping["version"] == 2
    first = mapping["stages"][0]
    assert first["input"] == {"coding": "bipolar", "bits": 1}
    assert [t["word_lines"] for t in first["tiles"]] == [[r, min(r + 128, 784)] for r in range(0, 784, 128)]
    g = np.load(tmp_path / "rram" / first["tiles"][0]["file"])
    assert g.shape == (128, 128) and set(np.unique(g)) == {1 / 900e3, 1 / 6e3}
    assert [s["op"] for s in mapping["stages"]] == ["matrix", "threshold"] * 3 + ["matrix"]
    assert [s["inputs"] for s in mapping["stages"]] == [[s["index"] - 1] for s in mapping["stages"]]  # a chain


def test_same_model_same_bytes(tmp_path):
    model = fixtures.binary_cnn(seed=0)
    graph = load(str(fixtures.save(model, tmp_path / "m.onnx")))
    for out in ("a", "b"):
        RRAM.compile(graph, _args(tmp_path / out, sim=True, encoding="reference", cell_bits=2, xbar="64x32"))
    a, b = tmp_path / "a" / "rram", tmp_path / "b" / "rram"
    names = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert names == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    for n in names:
        assert (a / n).read_bytes() == (b / n).read_bytes(), n
    # a second compile into the same folder replaces it cleanly
    RRAM.compile(graph, _args(tmp_path / "a"))
    assert not [p for p in (tmp_path / "a").iterdir() if p.name != "rram"]


def test_model_names_never_reach_the_files(tmp_path):
    model = fixtures.with_hostile_names(fixtures.binary_mlp(seed=0), rename_input=True)
    graph = load(str(fixtures.save(model, tmp_path / "m.onnx")))
    RRAM.compile(graph, _args(tmp_path, sim=True))
    for p in (tmp_path / "rram").rglob("*"):
        assert re.fullmatch(r"[a-z0-9_.]+", p.name.replace("-", "_")), p.name
        if p.is_file() and p.suffix in (".json", ".onnx"):
            data = p.read_bytes()
            assert b"../*/" not in data and b"$[{" not in data and b"fc0" not in data, p
    for name in ("host_head.onnx", "host_tail.onnx"):
        g = onnx.load(tmp_path / "rram" / name).graph
        names = {t for n in g.node for t in (*n.input, *n.output, n.name)} | {i.name for i in g.initializer}
        assert all(re.fullmatch(r"x|acc|values|y\d+|[tcn]\d+", t) for t in names), names


# -- refusals: one line, naming the option or the layer --------------------------------------------------------


@pytest.mark.parametrize(("kw", "msg"), [
    ({"xbar": "128"}, r"--xbar '128': expected ROWSxCOLS"),
    ({"xbar": "0x128"}, r"--xbar 0x128: rows must be"),
    ({"cell_bits": 0}, r"--cell-bits 0"),
    ({"adc_bits": 0}, r"--adc-bits 0"),
    ({"g_on": 1e-6, "g_off": 1e-5}, r"--g-on 1e-06 must be larger than --g-off"),
    ({"g_on": -1.0}, r"--g-on -1.0"),
    ({"encoding": "ref"}, r"--encoding ref"),
])
def test_bad_options(tfc, tmp_path, kw, msg):
    with pytest.raises(BnnccError, match=msg):
        RRAM.compile(tfc, _args(tmp_path, **kw))
    assert not (tmp_path / "rram").exists()


def test_bad_input_file(tfc, tmp_path):
    (tmp_path / "x.npy").write_text("not numpy")
    with pytest.raises(BnnccError, match="--input .*not a readable .npy"):
        read_npy(str(tmp_path / "x.npy"))
    with pytest.raises(BnnccError, match="--input .*no such file"):
        read_npy(str(tmp_path / "missing.npy"))


def test_pow2_slices_need_wide_crossbars(tmp_path):
    graph = load(str(fixtures.save(fixtures.pow2_mlp(k=1, seed=0), tmp_path / "m.onnx")))
    with pytest.raises(BnnccError, match=r"layer \d+ \(MatMul\): --xbar 64x8 is too narrow: one output column "
                                         r"needs 10 physical columns \(5 slices"):
        RRAM.compile(graph, _args(tmp_path, xbar="64x8"))


def test_inexact_host_ops_are_refused():
    nodes = [float_ops.FloatNode("Softmax", ["y"], ["z"], {"axis": -1}, "sm")]
    tail = ops.HostTail(np.ones(3), np.zeros(3), np.arange(3), nodes, {}, "y", ["z"], (TensorType((3,), FLOAT32),))
    with pytest.raises(BnnccError, match=r"host tail op 0 \(Softmax\): not written"):
        host.tail_model(tail, (3,))


def test_parse_xbar():
    assert parse_xbar("64x32") == (64, 32) and parse_xbar(" 256 X 256 ") == (256, 256)


# -- estimates and their documentation ------------------------------------------------------------------------


def test_adc_cost_table_and_extrapolation():
    assert adc_cost(8) == ADC_TABLE[8]
    energies = [adc_cost(b)[0] for b in range(1, 14)]
    areas = [adc_cost(b)[1] for b in range(1, 14)]
    assert all(np.diff(energies) > 0) and all(np.diff(areas) > 0)


def test_estimate_scales_with_conductance(tfc):
    hi = estimate(map_graph(tfc, RramConfig()))
    lo = estimate(map_graph(tfc, RramConfig(g_on=1e-5, g_off=1e-7)))
    assert lo["energy_pj_by_component"]["array"] < hi["energy_pj_by_component"]["array"] / 10
    assert lo["energy_pj_by_component"]["adc"] == hi["energy_pj_by_component"]["adc"]


def test_docs_cover_schema_and_every_constant():
    doc = DOC.read_text()
    for key in CONSTANTS:
        assert f"`{key}`" in doc, key
    for word in ("bnncc.rram.mapping", "version 1", "adc_window", "slice_weights", "popcount_coef", "plane_coefs",
                 "thermometer", "twos_complement", "host_head.onnx", "Sun et al.", "NeuroSim", "ISAAC"):
        assert word in doc, word


# -- host files: every quantizer and rounding mode, BN and TopK tails --------------------------------------------


def _tiny(tmp_path: Path, head: str, tail: str, rounding: str = "ROUND") -> Path:
    """x [N, 16] -> head quantizer -> MatMul(+-1) [16 x 8] -> tail, built with onnx.helper."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(7)
    inits = [numpy_helper.from_array(rng.choice([-1.0, 1.0], (16, 8)).astype(np.float32), "w")]
    nodes = []
    if head == "sign":
        nodes.append(helper.make_node("Sign", ["x"], ["q"]))
    else:
        inits += [numpy_helper.from_array(np.array(v, np.float32), n)
                  for n, v in (("s", 0.5), ("z", 0.0), ("b", 3.0))]
        nodes.append(helper.make_node("Quant", ["x", "s", "z", "b"], ["q"], domain="qonnx.custom_op.general",
                                      signed=1, narrow=0, rounding_mode=rounding))
    nodes.append(helper.make_node("MatMul", ["q", "w"], ["m"]))
    outputs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 8])]
    if tail == "bn":
        for n, v in (("g", rng.uniform(0.5, 2, 8)), ("be", rng.normal(0, 1, 8)), ("mu", rng.normal(0, 2, 8)),
                     ("var", rng.uniform(1, 9, 8))):
            inits.append(numpy_helper.from_array(v.astype(np.float32), n))
        nodes.append(helper.make_node("BatchNormalization", ["m", "g", "be", "mu", "var"], ["y"], epsilon=1e-3))
    else:  # per-channel scale (one negative), then TopK indices: stays on the host
        inits += [numpy_helper.from_array(np.linspace(-1, 2, 8).astype(np.float32), "a"),
                  numpy_helper.from_array(np.array([1], np.int64), "k")]
        nodes += [helper.make_node("Mul", ["m", "a"], ["sc"]), helper.make_node("TopK", ["sc", "k"], ["v", "y"])]
        outputs = [helper.make_tensor_value_info("y", TensorProto.INT64, ["N", 1])]
    graph = helper.make_graph(nodes, "tiny", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 16])],
                              outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13),
                                                    helper.make_opsetid("qonnx.custom_op.general", 1)])
    model.ir_version = 8
    path = tmp_path / f"{head}_{tail}_{rounding}.onnx"
    path.write_bytes(model.SerializeToString())
    return path


@pytest.mark.parametrize(("head", "tail", "rounding"), [
    ("sign", "bn", "ROUND"), ("sign", "topk", "ROUND"),
    *[("quant", "bn", r) for r in ("ROUND", "HALF_EVEN", "CEIL", "FLOOR", "DOWN", "UP", "HALF_UP", "HALF_DOWN")],
])
def test_host_files_reproduce_every_quantizer_and_tail(tmp_path, head, tail, rounding):
    from bnncc.ir.executor import run
    from bnncc.sim.crossbar import CrossbarSim

    graph = load(str(_tiny(tmp_path, head, tail, rounding)))
    assert [n.op for n in graph.nodes[-1].op.nodes] == (["BatchNormalization"] if tail == "bn" else ["Mul", "TopK"])
    RRAM.compile(graph, _args(tmp_path, xbar="8x8"))
    rng = np.random.default_rng(3)
    x = np.concatenate([rng.integers(-12, 13, (40, 16)) * 0.25, rng.normal(0, 2, (40, 16))]).astype(np.float32)
    ref, got = run(graph, x), CrossbarSim(tmp_path / "rram").run(x)
    np.testing.assert_array_equal(got.hardware_out, ref.hardware_out)
    for a, b in zip(got.outputs, ref.outputs, strict=True):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(got.labels, ref.labels)


def test_simulator_and_mapper_agree_on_the_schema():
    from bnncc.backends.rram import mapper
    from bnncc.sim import crossbar

    assert (crossbar.SCHEMA, crossbar.VERSION) == (mapper.SCHEMA, mapper.VERSION)
