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
