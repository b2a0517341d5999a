"""Hostile input, one regression test per failure a fuzz run found: no data loss, no hang, no silently
wrong answer, every refusal one line naming the file, node and op, exit 2, nothing written."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from bnncc import fixtures
from bnncc.backends import output
from bnncc.cli import main

ROOT = Path(__file__).resolve().parents[1]
FINN = "../shared/models/finn-tfc-w1a1"


def _model(seed: int = 0) -> onnx.ModelProto:
    return fixtures.binary_mlp((16, 8, 4), seed=seed)


def _save(tmp_path: Path, model: onnx.ModelProto, name: str = "m.onnx") -> str:
    path = tmp_path / name
    path.write_bytes(model.SerializeToString())
    return str(path)


def _refused(capsys, argv: list[str], *fragments: str) -> str:
    capsys.readouterr()  # what earlier calls printed
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 2, (code, err)
    assert err.startswith("bnncc: error:") and err.count("\n") == 1 and "Traceback" not in err, err
    for f in fragments:
        assert f in err, (f, err)
    return err


def _compile(path: str, out: Path, *extra: str) -> list[str]:
    return [path, "--target", "fpga", "-o", str(out), *extra]


# -- output folders --------------------------------------------------------------------------------------


def test_current_folder_parents_home_and_root_are_never_replaced(tmp_path, capsys, monkeypatch):
    path = _save(tmp_path, _model())
    work = tmp_path / "work"
    (work / "sub").mkdir(parents=True)
    (work / "report.json").write_text("{}")  # looked like a bnncc output to the old check
    (work / "mine.txt").write_text("keep me")
    monkeypatch.chdir(work / "sub")
    for target in (".", "..", str(Path.home()), "/"):
        _refused(capsys, _compile(path, Path(target)), "the current folder, one of its parents")
    assert (work / "mine.txt").read_text() == "keep me" and (work / "report.json").exists()
    assert sorted(p.name for p in work.iterdir()) == ["mine.txt", "report.json", "sub"]


def test_a_folder_bnncc_did_not_write_is_refused_and_left_alone(tmp_path, capsys):
    path = _save(tmp_path, _model())
    out = tmp_path / "out"
    out.mkdir()
    (out / "report.json").write_text("{}")
    (out / "notes.txt").write_text("mine")
    _refused(capsys, _compile(path, out), "was not written by bnncc")
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt", "report.json"]


def test_a_bnncc_output_is_replaced_but_not_with_a_user_file_in_it(tmp_path, capsys):
    path = _save(tmp_path, _model())
    out = tmp_path / "out"
    assert main(_compile(path, out)) == 0
    first = output.written_files(out)
    assert (out / output.MARKER).is_file() and "report.json" in first
    assert main(_compile(path, out, "--fps", "1e6")) == 0  # ours: replaced
    (out / "hls" / "my_notes.txt").write_text("mine")
    _refused(capsys, _compile(path, out), "holds 1 file(s) bnncc did not write", "hls/my_notes.txt")
    assert (out / "hls" / "my_notes.txt").read_text() == "mine"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".bnncc")] == []


def test_rram_output_inside_a_user_folder(tmp_path, capsys):
    path = _save(tmp_path, _model())
    user = tmp_path / "results"
    user.mkdir()
    (user / "paper.tex").write_text("mine")
    argv = [path, "--target", "rram", "-o", str(user)]
    assert main(argv) == 0 and main(argv) == 0  # writes, then replaces, only results/rram
    (user / "rram" / "extra.npy").write_bytes(b"x")
    _refused(capsys, argv, "holds 1 file(s) bnncc did not write")
    assert (user / "paper.tex").read_text() == "mine" and (user / "rram" / "extra.npy").exists()


def test_a_failed_rename_puts_the_old_folder_back(tmp_path, monkeypatch):
    path = _save(tmp_path, _model())
    out = tmp_path / "out"
    assert main(_compile(path, out)) == 0
    before = {f: (out / f).read_bytes() for f in output.written_files(out)}
    real = os.replace
    calls = []

    def flaky(src, dst):
        calls.append((src, dst))
        if len(calls) == 2:  # old folder moved aside; the new one fails to move in
            raise OSError("disk full (test)")
        return real(src, dst)

    monkeypatch.setattr(output.os, "replace", flaky)
    assert main(_compile(path, out, "--fps", "1e6")) == 2
    assert {f: (out / f).read_bytes() for f in output.written_files(out)} == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".bnncc")] == []


def test_a_refused_input_leaves_no_empty_folder(tmp_path, capsys):
    path = _save(tmp_path, _model())
    (tmp_path / "x.npy").write_text("not numpy")
    _refused(capsys, [path, "--target", "rram", "-o", str(tmp_path / "new"), "--input", str(tmp_path / "x.npy")],
             "not a readable .npy")
    assert not (tmp_path / "new").exists()


# -- malformed graphs ---------------------------------------------------------------------------------------


def _mutate(fn) -> onnx.ModelProto:
    m = _model()
    fn(m.graph)
    return m


def test_a_tensor_written_twice_is_refused_not_a_hang(tmp_path, capsys):
    def twice(g):
        g.node[3].output[0] = g.node[1].output[0]
    _refused(capsys, ["inspect", _save(tmp_path, _mutate(twice))], "which node", "already writes")


def test_an_initializer_shadowed_by_a_node_output(tmp_path, capsys):
    def shadow(g):
        g.node[2].output[0] = g.initializer[0].name
    _refused(capsys, ["inspect", _save(tmp_path, _mutate(shadow))], "the name of an initializer")


def test_a_duplicate_initializer(tmp_path, capsys):
    def dup(g):
        g.initializer.append(g.initializer[-1])
    _refused(capsys, ["inspect", _save(tmp_path, _mutate(dup))], "is defined twice")


def test_a_node_without_outputs(tmp_path, capsys):
    def none(g):
        del g.node[2].output[:]
    _refused(capsys, ["inspect", _save(tmp_path, _mutate(none))], "writes no tensor")


def test_a_name_that_is_not_utf8(tmp_path, capsys):
    data = bytearray(_model().SerializeToString())
    name = b"fc0/matmul"
    at = data.find(name)
    assert at > 0
    data[at:at + 3] = b"\xff\xfe\xfd"
    path = tmp_path / "bad.onnx"
    path.write_bytes(bytes(data))
    _refused(capsys, ["inspect", str(path)], "not valid UTF-8")


def test_op_types_and_names_are_printed_with_escapes(tmp_path, capsys):
    def esc(g):
        g.node[2].op_type = "Evil\x1b[2J"
        g.node[2].name = "n\x07\n"
    err = _refused(capsys, ["inspect", _save(tmp_path, _mutate(esc))], "Evil\\x1b[2J", "not supported")
    assert "\x1b" not in err and "\x07" not in err


def test_attribute_of_the_wrong_type(tmp_path, capsys):
    m = fixtures.binary_cnn(seed=0)
    conv = next(n for n in m.graph.node if n.op_type == "Conv")
    pads = next(a for a in conv.attribute if a.name == "pads")
    conv.attribute.remove(pads)
    conv.attribute.append(helper.make_attribute("pads", "zero"))
    _refused(capsys, ["inspect", _save(tmp_path, m)], "attribute 'pads' is STRING, expected INTS")


def test_a_huge_dimension_is_refused_not_allocated(tmp_path, capsys):
    def huge(g):
        g.input[0].type.tensor_type.shape.dim[1].dim_value = 10**9
    _refused(capsys, ["inspect", _save(tmp_path, _mutate(huge))], "is too large")


def test_tensor_data_that_does_not_fit_its_dims(tmp_path, capsys):
    def short(g):
        t = g.initializer[-1]
        t.dims[0] = t.dims[0] + 7
    _refused(capsys, ["inspect", _save(tmp_path, _mutate(short))], "unreadable tensor data")


@pytest.mark.parametrize("to", [TensorProto.BOOL, TensorProto.UINT8, TensorProto.FLOAT16])
def test_a_value_changing_cast_is_refused(tmp_path, capsys, to):
    def cast(g):
        n = g.node[3]
        mid = n.output[0] + "/precast"
        g.node.insert(4, helper.make_node("Cast", [mid], [n.output[0]], name="cast", to=to))
        n.output[0] = mid
    _refused(capsys, ["inspect", _save(tmp_path, _mutate(cast))], "'cast' (Cast)", "changes values")


def test_an_identity_cast_is_accepted(tmp_path, capsys):
    def cast(g):
        n = g.node[3]
        mid = n.output[0] + "/precast"
        g.node.insert(4, helper.make_node("Cast", [mid], [n.output[0]], name="cast", to=TensorProto.FLOAT))
        n.output[0] = mid
    assert main(["inspect", _save(tmp_path, _mutate(cast))]) == 0



def _insert_before(g, node, slot: int, new_nodes: list, new_input: str) -> str:
    """Put new_nodes in front of node's input `slot`, which then reads new_input; returns the old input."""
    old = node.input[slot]
    node.input[slot] = new_input
    nodes = list(g.node)
    i = nodes.index(node)
    g.ClearField("node")
    g.node.extend(nodes[:i] + new_nodes + nodes[i:])
    return old


def _ort_labels(path: str, x: np.ndarray) -> list[int]:
    import onnxruntime as ort

    s = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    return s.run(None, {s.get_inputs()[0].name: x})[0].argmax(1).tolist()


def _labels(capsys, path: str, x_path: Path) -> list[int]:
    import json

    capsys.readouterr()
    assert main(["run", path, "--input", str(x_path), "--json"]) == 0
    return json.loads(capsys.readouterr().out)["labels"]


def test_a_cast_of_constants_is_evaluated_exactly(tmp_path, capsys):
    """Cast(BOOL) then Cast(FLOAT) on a BatchNorm bias turns it into 0/1: the labels follow onnxruntime's."""
    m = _model()
    add = next(n for n in m.graph.node if n.op_type == "Add")
    src = add.input[1]
    _insert_before(m.graph, add, 1, [helper.make_node("Cast", [src], ["b"], to=TensorProto.BOOL, name="c1"),
                                     helper.make_node("Cast", ["b"], ["f"], to=TensorProto.FLOAT, name="c2")], "f")
    path = _save(tmp_path, m)
    x = fixtures.random_inputs(m, 16, seed=1)
    np.save(tmp_path / "x.npy", x)
    assert _labels(capsys, path, tmp_path / "x.npy") == _ort_labels(path, x)
    assert _labels(capsys, path, tmp_path / "x.npy") != _labels(capsys, _save(tmp_path, _model(), "base.onnx"),
                                                                 tmp_path / "x.npy")


@pytest.mark.parametrize("slot", [0, 1])
def test_no_ops_inside_a_quantizer_pattern_are_seen_through(tmp_path, capsys, slot):
    """An Identity between the input quantizer's Round and Clip (or on a Clip bound) changes nothing:
    the input layer stays on the FPGA."""
    import json

    base = fixtures.pow2_mlp(seed=0)
    m = fixtures.pow2_mlp(seed=0)
    clip = next(n for n in m.graph.node if n.op_type == "Clip")
    _insert_before(m.graph, clip, slot, [helper.make_node("Identity", [clip.input[slot]], ["id"], name="id")], "id")
    mvaus = []
    for name, model in (("base", base), ("identity", m)):
        assert main(_compile(_save(tmp_path, model, f"{name}.onnx"), tmp_path / name)) == 0
        report = json.loads((tmp_path / name / "report.json").read_text())
        mvaus.append([b["block"] for b in report["estimate"]["blocks"] if b["kind"] == "mvau"])
    assert mvaus[0] == mvaus[1] and len(mvaus[0]) == 3


def test_a_scale_that_overflows_float32_is_refused(tmp_path, capsys):
    """A finite scale of 3e38 makes the float model's sums infinite (qonnx gives NaN logits): refused."""
    m = onnx.load("../shared/models/qonnx-zoo-tfc/TFC_1W1A.onnx")
    bq = [n for n in m.graph.node if n.op_type == "BipolarQuant"][2]
    t = next(t for t in m.graph.initializer if t.name == bq.input[1])
    t.CopyFrom(numpy_helper.from_array(np.full(numpy_helper.to_array(t).shape, 3e38, np.float32), t.name))
    _refused(capsys, ["inspect", _save(tmp_path, m)], "(MatMul)", "overflow")


def test_an_attribute_the_op_does_not_have(tmp_path, capsys):
    m = _model()
    next(n for n in m.graph.node if n.op_type == "Add").attribute.append(helper.make_attribute("axis", 3))
    _refused(capsys, ["inspect", _save(tmp_path, m)], "(Add)", "attribute 'axis'", "ONNX spec")

def _set_const(g, name_part: str, value) -> None:
    t = next(i for i in g.initializer if name_part in i.name)
    t.CopyFrom(numpy_helper.from_array(np.asarray(value, dtype=numpy_helper.to_array(t).dtype), t.name))


def test_nan_in_a_batchnorm_statistic_or_scale(tmp_path, capsys):
    def nan(g):
        t = next(i for i in g.initializer if i.name.endswith("mul_c"))
        v = numpy_helper.to_array(t).copy()
        v.reshape(-1)[0] = np.nan
        t.CopyFrom(numpy_helper.from_array(v, t.name))
    _refused(capsys, ["inspect", _save(tmp_path, _mutate(nan))], "holds NaN")


def test_a_nan_clip_bound(tmp_path, capsys):
    m = fixtures.int_mlp(seed=0)
    clip = next(n for n in m.graph.node if n.op_type == "Clip")
    t = next(i for i in m.graph.initializer if i.name == clip.input[1])
    t.CopyFrom(numpy_helper.from_array(np.array(np.nan, dtype=np.float32), t.name))
    _refused(capsys, ["inspect", _save(tmp_path, m)], "holds NaN")


# -- QONNX quantizer attributes ------------------------------------------------------------------------------


def _quant_model(scale=1.0, zeropt=0.0, bits=2.0, narrow=1, signed=1) -> onnx.ModelProto:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])
    w = np.array([[1, -1, 1], [-1, 1, 1], [1, 1, -1], [-1, -1, -1]], dtype=np.float32)
    inits = [numpy_helper.from_array(np.asarray(v, dtype=np.float32), n) for n, v in
             (("s", scale), ("z", zeropt), ("b", bits), ("w", w))]
    nodes = [helper.make_node("Quant", ["x", "s", "z", "b"], ["q"], name="quant", domain="qonnx.custom_op.general",
                              narrow=narrow, signed=signed, rounding_mode="ROUND"),
             helper.make_node("MatMul", ["q", "w"], ["y"], name="mm")]
    g = helper.make_graph(nodes, "q", [x], [y], initializer=inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 13),
                                               helper.make_opsetid("qonnx.custom_op.general", 1)])


@pytest.mark.parametrize("kw,fragment", [
    ({"narrow": -1}, "narrow=-1"), ({"signed": 2}, "signed=2"), ({"bits": [2.0, 3.0]}, "one number"),
    ({"bits": 9.0}, "bit width 9"), ({"scale": 0.0}, "positive and finite"), ({"scale": -1.0}, "positive"),
    ({"zeropt": 0.5}, "zero point must be an integer"),
])
def test_quant_attributes_are_checked(tmp_path, capsys, kw, fragment):
    assert main(["inspect", _save(tmp_path, _quant_model())]) == 0
    capsys.readouterr()
    _refused(capsys, ["inspect", _save(tmp_path, _quant_model(**kw), "bad.onnx")], "'quant'", fragment)


def test_bipolar_quant_scale_zero(tmp_path, capsys):
    m = _quant_model()
    q = m.graph.node[0]
    q.op_type, q.domain = "BipolarQuant", "qonnx.custom_op.general"
    del q.input[2:]
    del q.attribute[:]
    _set_const(m.graph, "s", 0.0)
    _refused(capsys, ["inspect", _save(tmp_path, m)], "BipolarQuant node 'quant'", "positive and finite")


# -- inputs and flags ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("bad,fragment", [(np.nan, "is nan"), (np.inf, "is inf"), (1e39, "is inf")])
def test_non_finite_inputs(tmp_path, capsys, bad, fragment):
    x = np.zeros((3, 16), dtype=np.float64)
    x[1, 5] = bad
    np.save(tmp_path / "x.npy", x)
    path = _save(tmp_path, _model())
    _refused(capsys, ["run", path, "--input", str(tmp_path / "x.npy")], "input element [1, 5]", fragment)
    _refused(capsys, _compile(path, tmp_path / "o", "--csim", "--input", str(tmp_path / "x.npy")), "[1, 5]")
    assert not (tmp_path / "o").exists()


def test_complex_inputs(tmp_path, capsys):
    np.save(tmp_path / "x.npy", np.zeros((2, 16), dtype=np.complex64))
    _refused(capsys, ["run", _save(tmp_path, _model()), "--input", str(tmp_path / "x.npy")], "not real numbers")



@pytest.mark.parametrize("argv", [["m.onnx", "--target", "rram", "--cell-bits", "1.5"], ["run", "m.onnx"],
                                  ["m.onnx", "--target", "fpga", "--fps", "nan"],
                                  ["m.onnx", "--target", "fpga", "--clock-ns", "-1"]])
def test_usage_errors_are_one_line(capsys, argv):
    with pytest.raises(SystemExit) as e:
        main(argv)
    err = capsys.readouterr().err
    assert e.value.code == 2 and err.startswith("bnncc: error: "), err
    assert err.count("\n") == 1 and err.endswith("--help)\n"), err


def test_a_folding_file_nested_too_deeply(tmp_path, capsys):
    (tmp_path / "f.json").write_text("[" * 200_000 + "]" * 200_000)
    _refused(capsys, _compile(_save(tmp_path, _model()), tmp_path / "o", "--folding", str(tmp_path / "f.json")),
             "--folding", "nested too deeply")


def test_onnxruntime_writes_nothing_outside_the_output(tmp_path):
    """The crossbar simulation runs onnxruntime, which would leave a device id under $HOME and a
    session file in $TMPDIR."""
    home, tmp = tmp_path / "home", tmp_path / "tmp"
    home.mkdir()
    tmp.mkdir()
    path = _save(tmp_path, _model())
    np.save(tmp_path / "x.npy", fixtures.random_inputs(_model(), 4, seed=0))
    env = {k: v for k, v in os.environ.items() if k != "ORT_DISABLE_TELEMETRY"} | {"HOME": str(home),
                                                                                   "TMPDIR": str(tmp)}
    r = subprocess.run([sys.executable, "-m", "bnncc.cli", path, "--target", "rram", "-o", str(tmp_path / "o"),
                        "--input", str(tmp_path / "x.npy")], env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert not list(home.rglob("*")) and not list(tmp.rglob("*"))

def test_options_without_effect_are_errors(tmp_path, capsys):
    path = _save(tmp_path, _model())
    np.save(tmp_path / "x.npy", np.zeros((2, 16), np.float32))
    _refused(capsys, _compile(path, tmp_path / "o", "--input", str(tmp_path / "x.npy")),
             "--input has no effect without --csim or --sim")
    _refused(capsys, _compile(path, tmp_path / "o", "--simulator", "verilator"), "--simulator has no effect")
    _refused(capsys, _compile(path, tmp_path / "o", "--strict-folding"), "--strict-folding has no effect")
    _refused(capsys, _compile(path, tmp_path / "o", "--xbar", "64x64"), "--xbar: not an option of --target fpga")
    _refused(capsys, [path, "--target", "rram", "-o", str(tmp_path / "r"), "--fps", "10"], "--fps: not an option")
    assert not (tmp_path / "o").exists() and not (tmp_path / "r").exists()


def test_no_numpy_warning_before_the_error_line(tmp_path):
    x = np.zeros((2, 16), dtype=np.float64)
    x[0, 0] = 1e300  # overflows float32: numpy would warn while converting
    np.save(tmp_path / "x.npy", x)
    p = subprocess.run([sys.executable, "-m", "bnncc.cli", "run", _save(tmp_path, _model()), "--input",
                        str(tmp_path / "x.npy")], capture_output=True, text=True, cwd=ROOT)
    assert p.returncode == 2 and p.stderr.startswith("bnncc: error:") and p.stderr.count("\n") == 1, p.stderr


def test_a_closed_pipe_ends_quietly(tmp_path):
    path = _save(tmp_path, fixtures.lfc(seed=0))
    p = subprocess.run(f"{sys.executable} -m bnncc.cli inspect {path} | head -n 2", shell=True, capture_output=True,
                       text=True, cwd=ROOT)
    assert p.stdout.count("\n") == 2 and "Error" not in p.stderr and "Traceback" not in p.stderr, p.stderr


# -- real models ---------------------------------------------------------------------------------------------


def test_brevitas_sfc_1w2a_compiles_and_simulates_for_rram(tmp_path, capsys):
    from brevitas_models import finn_topology

    path = tmp_path / "sfc.onnx"
    finn_topology("sfc_1w2a", path, seed=0)
    assert main([str(path), "--target", "rram", "--sim", "-o", str(tmp_path / "out")]) == 0
    assert "crossbar sim: passed: 64 vectors, 0 mismatches" in capsys.readouterr().err


def _with_opsets(*opsets: tuple[str, int]) -> onnx.ModelProto:
    m = _model()
    del m.opset_import[:]
    m.opset_import.extend(helper.make_opsetid(d, v) for d, v in opsets)
    return m


@pytest.mark.parametrize("opsets,fragment", [
    ((), "imports no opset"),
    ((("", 99),), "standard opset 99 is not one bnncc knows"),
    ((("", 1),), "standard opset 1 is not one bnncc knows"),
    ((("", 13), ("ai.onnx", 13)), "names domain 'ai.onnx' twice"),
], ids=["none", "future", "ancient", "twice"])
def test_opsets_the_runtimes_do_not_define_are_refused(tmp_path, capsys, opsets, fragment):
    """Found by the fuzz harness as accepted models the oracle could not load: their ops' meaning is unknown."""
    _refused(capsys, ["inspect", _save(tmp_path, _with_opsets(*opsets))], fragment)


@pytest.mark.parametrize("elem", [TensorProto.DOUBLE, TensorProto.STRING, TensorProto.INT64])
def test_a_data_input_float32_cannot_hold_is_refused(tmp_path, capsys, elem):
    m = _model()
    m.graph.input[0].type.tensor_type.elem_type = elem
    _refused(capsys, ["inspect", _save(tmp_path, m)], "reads its inputs as float32", TensorProto.DataType.Name(elem))


def test_an_int8_data_input_is_accepted(tmp_path, capsys):
    m = _model()
    m.graph.input[0].type.tensor_type.elem_type = TensorProto.INT8
    assert main(["inspect", _save(tmp_path, m)]) == 0
