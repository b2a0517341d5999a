"""The `bnncc` command: inspect and run, and bad input: one line on stderr, exit 2, nothing written."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from bnncc import fixtures
from bnncc.cli import main

FINN = "../shared/models/finn-tfc-w1a1"
ZOO = "../shared/models/qonnx-zoo-tfc/TFC_1W1A.onnx"


def _cli(capsys, *argv) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_run_json_prints_finn_labels(capsys):
    code, out, _ = _cli(capsys, "run", f"{FINN}/model.onnx", "--input", f"{FINN}/input.npy", "--json")
    assert code == 0 and json.loads(out)["labels"] == [7, 2, 1, 0]


def test_run_writes_output_and_matches_labels(capsys, tmp_path):
    x = np.random.default_rng(0).random((9, 1, 28, 28)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    code, out, _ = _cli(capsys, "run", ZOO, "--input", str(tmp_path / "x.npy"), "--output", str(tmp_path / "y.npy"),
                        "--json")
    got = json.loads(out)
    y = np.load(tmp_path / "y.npy")
    assert code == 0 and y.shape == (9, 10) and got["labels"] == np.argmax(y, 1).tolist()
    np.testing.assert_array_equal(np.array(got["outputs"], np.float32), y)


def test_inspect_table_and_json(capsys):
    code, out, _ = _cli(capsys, "inspect", f"{FINN}/model.onnx")
    assert code == 0 and "XnorPopcount" in out and "LabelSelect" in out and "total" in out
    code, out, _ = _cli(capsys, "inspect", f"{FINN}/model.onnx", "--json")
    layers = json.loads(out)["layers"]
    xnor = [r for r in layers if r["op"] == "XnorPopcount"]
    assert [r["params"] for r in xnor] == [784 * 64, 64 * 64, 64 * 64, 64 * 10]
    assert all(r["binary_ops"] == r["macs"] for r in xnor) and layers[0]["side"] == "host"


def _model(path, nodes, inits=(), in_shape=(1, 4), out_shape=(1, 4)) -> str:
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(in_shape))],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, list(out_shape))], list(inits))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return str(path)


def _bipolar_layer(prefix: str, src: str, dst: str, w: np.ndarray) -> tuple[list, list]:
    inits = [numpy_helper.from_array(np.float32(0), f"{prefix}z"), numpy_helper.from_array(np.float32(1), f"{prefix}p"),
             numpy_helper.from_array(np.float32(-1), f"{prefix}m"), numpy_helper.from_array(w, f"{prefix}w")]
    nodes = [helper.make_node("GreaterOrEqual", [src, f"{prefix}z"], [f"{prefix}c"]),
             helper.make_node("Where", [f"{prefix}c", f"{prefix}p", f"{prefix}m"], [f"{prefix}q"]),
             helper.make_node("MatMul", [f"{prefix}q", f"{prefix}w"], [dst], name=f"{prefix}matmul")]
    return nodes, inits


BAD = {
    "unknown op": lambda p: _model(p, [helper.make_node("FancyOp", ["x"], ["y"], name="odd", domain="acme")]),
    "cycle": lambda p: _model(p, [helper.make_node("Add", ["x", "b"], ["a"], name="first"),
                                  helper.make_node("Relu", ["a"], ["b"], name="second"),
                                  helper.make_node("Relu", ["b"], ["y"], name="third")]),
    "residual": lambda p: _model(p, *[sum(t, []) for t in zip(
        _bipolar_layer("l", "x", "h", np.ones((4, 4), np.float32)),
        ([helper.make_node("Add", ["h", "x"], ["y"], name="skip")], []), strict=True)]),
    "float only": lambda p: _model(p, [helper.make_node("GlobalAveragePool", ["x"], ["y"], name="gap")],
                                    in_shape=(1, 2, 3, 3), out_shape=(1, 2, 1, 1)),
    "non-monotonic": lambda p: _model(p, *[sum(t, []) for t in zip(
        _bipolar_layer("a", "x", "h", np.ones((4, 4), np.float32)),
        ([helper.make_node("Abs", ["h"], ["ha"], name="fold")], []),
        _bipolar_layer("b", "ha", "y", np.ones((4, 4), np.float32)), strict=True)]),
    "truncated": lambda p: (p.write_bytes(open(ZOO, "rb").read()[:3000]), str(p))[1],
    "missing": lambda p: str(p) + ".absent",
}
EXPECT = {"unknown op": "'odd' (FancyOp)", "cycle": "cycle", "residual": "'skip' (Add) read the float input",
          "float only": "no activation quantizer found", "non-monotonic": "'fold' (Abs): non-monotonic",
          "truncated": "truncated or corrupt", "missing": "no such file"}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_models_exit_2_with_one_line_and_write_nothing(capsys, tmp_path, case):
    path = BAD[case](tmp_path / "m.onnx")
    np.save(tmp_path / "x.npy", np.zeros((2, 4), np.float32))
    out_path = tmp_path / "y.npy"
    code, out, err = _cli(capsys, "run", path, "--input", str(tmp_path / "x.npy"), "--output", str(out_path))
    assert code == 2 and out == "" and not out_path.exists()
    assert err.count("\n") == 1 and err.startswith("bnncc: error:") and EXPECT[case] in err
    assert {p.name for p in tmp_path.iterdir()} <= {"m.onnx", "x.npy"}  # nothing else was written


def test_wrong_input_shape_and_bad_npy(capsys, tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((2, 3, 28, 28), np.float32))
    code, _, err = _cli(capsys, "run", f"{FINN}/model.onnx", "--input", str(tmp_path / "x.npy"))
    assert code == 2 and "input of shape [2, 3, 28, 28] does not match the model's [N, 1, 28, 28]" in err
    (tmp_path / "junk.npy").write_bytes(b"not numpy")
    code, _, err = _cli(capsys, "run", f"{FINN}/model.onnx", "--input", str(tmp_path / "junk.npy"))
    assert code == 2 and "not a readable .npy" in err


def test_truncated_file_in_a_real_process_has_no_traceback(tmp_path):
    bad = tmp_path / "t.onnx"
    bad.write_bytes(open(ZOO, "rb").read()[:5000])
    p = subprocess.run([sys.executable, "-m", "bnncc.cli", "inspect", str(bad)], capture_output=True, text=True)
    assert p.returncode == 2 and "Traceback" not in p.stderr and p.stderr.count("\n") == 1


def test_hostile_names_import_and_run(capsys, tmp_path):
    model = fixtures.with_hostile_names(fixtures.binary_mlp(seed=3), rename_input=True)
    path = tmp_path / "h.onnx"
    fixtures.save(model, str(path))
    x = np.random.default_rng(4).normal(size=(16, 64)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    code, out, _ = _cli(capsys, "run", str(path), "--input", str(tmp_path / "x.npy"), "--json")
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    want = sess.run(None, {sess.get_inputs()[0].name: x})[0]
    assert code == 0 and json.loads(out)["labels"] == np.argmax(want, 1).tolist()
    code, out, _ = _cli(capsys, "inspect", str(path))
    body = out.split("\n", 1)[1]  # the first line quotes the file path
    for s in ("../", "*/", '"', "$", "[{", "\n\n"):
        assert s not in body.replace("\n\n#", "")
