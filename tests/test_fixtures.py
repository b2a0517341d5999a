"""The dialect fixtures: valid ONNX, run in onnxruntime at any batch, varied labels, exact dialect
patterns, weights on their grids, deterministic, and robust to hostile names."""

from __future__ import annotations

import itertools
import subprocess
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import numpy_helper

from bnncc import fixtures as F

ROOT = Path(__file__).resolve().parent.parent

# name -> (builder, weight-grid kind). Kinds: "binary" (+-1), "int:lo:hi", "pow2:k:emin:emax",
# "shiftadd" (shift layers pow2 k=1 in [-3, 0], adder layers and convs on the activation grid).
CASES: dict[str, tuple[Callable[[], onnx.ModelProto], str]] = {
    "binary_mlp": (lambda: F.binary_mlp(), "binary"),
    "binary_mlp_in8": (lambda: F.binary_mlp(input_bits=8, seed=3), "binary"),
    "binary_mlp_deep": (lambda: F.binary_mlp((100, 48, 48, 48, 48, 10), seed=5), "binary"),
    "binary_cnn": (lambda: F.binary_cnn(), "binary"),
    "binary_cnn_in8": (lambda: F.binary_cnn((3, 14, 14), (8, 8), (16, 10), seed=1, input_bits=8), "binary"),
    "int_mlp_ternary": (lambda: F.int_mlp(), "int:-1:1"),
    "int_mlp_w3a4_wide": (lambda: F.int_mlp(weight_bits=3, act_bits=4, narrow=False, seed=2), "int:-4:3"),
    "int_mlp_affine_unsigned": (
        lambda: F.int_mlp(weight_bits=4, act_bits=3, narrow=False, signed=False, norm="affine",
                          channel_scale=True, seed=4), "int:-8:7"),
    "pow2_mlp_k1": (lambda: F.pow2_mlp(k=1), "pow2:1:-4:0"),
    "pow2_mlp_k2": (lambda: F.pow2_mlp(k=2, exp_range=(-3, 1), seed=1), "pow2:2:-3:1"),
    "pow2_mlp_k2_signed": (lambda: F.pow2_mlp(k=2, signed_act=True, channel_scale=True, seed=2), "pow2:2:-4:0"),
    "shiftadd_mlp": (lambda: F.shiftadd_mlp(), "shiftadd"),
    "shiftadd_mlp_long": (lambda: F.shiftadd_mlp((32, 24, 24, 24, 24, 10), seed=1, act_bits=3), "shiftadd"),
    "shiftadd_cnn": (lambda: F.shiftadd_cnn(), "shiftadd"),
    "shiftadd_cnn_deep": (lambda: F.shiftadd_cnn((2, 16, 16), (4, 6, 6, 8), (12, 10), seed=2, act_bits=3), "shiftadd"),
}
ADDER_OPS = (F.ADDER_OP, F.ADDER_CONV_OP)

_cache: dict[str, onnx.ModelProto] = {}


def model_of(name: str) -> onnx.ModelProto:
    if name not in _cache:
        _cache[name] = CASES[name][0]()
    return _cache[name]


def run(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, {sess.get_inputs()[0].name: x})[0]


def inits(model: onnx.ModelProto) -> dict[str, np.ndarray]:
    return {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}


def all_nodes(model: onnx.ModelProto) -> list[onnx.NodeProto]:
    return [*model.graph.node, *(n for f in model.functions for n in f.node)]


def consumers(model: onnx.ModelProto, tensor: str) -> list[onnx.NodeProto]:
    return [n for n in model.graph.node if tensor in n.input]


def producer(model: onnx.ModelProto, tensor: str) -> onnx.NodeProto | None:
    return next((n for n in model.graph.node if tensor in n.output), None)


names = pytest.mark.parametrize("name", list(CASES))


@names
def test_valid_onnx_in_our_envelope(name: str) -> None:
    m = model_of(name)
    onnx.checker.check_model(m, full_check=True)
    assert m.ir_version == 8
    opsets = {o.domain: o.version for o in m.opset_import}
    assert opsets[""] == 13
    assert (F.ADDER_DOMAIN in opsets) == any(n.op_type in ADDER_OPS for n in m.graph.node)
    assert sorted(f.name for f in m.functions) == sorted({n.op_type for n in m.graph.node} & set(ADDER_OPS))
    (inp,), (out,) = m.graph.input, m.graph.output
    assert inp.type.tensor_type.shape.dim[0].dim_param == "N"
    assert out.type.tensor_type.shape.dim[0].dim_param == "N"
    assert out.type.tensor_type.elem_type == onnx.TensorProto.FLOAT and len(out.type.tensor_type.shape.dim) == 2
    assert all(t.data_type == onnx.TensorProto.FLOAT for t in m.graph.initializer)


@names
def test_runs_on_any_batch(name: str) -> None:
    m = model_of(name)
    x = F.random_inputs(m, 37, seed=7)
    y37 = run(m, x)
    y1 = run(m, x[:1])
    n_out = m.graph.output[0].type.tensor_type.shape.dim[1].dim_value
    assert y37.shape == (37, n_out) and y1.shape == (1, n_out)
    assert y37.dtype == np.float32 and np.all(np.isfinite(y37))
    # A row does not depend on the rest of the batch (inference-mode BN, no batch coupling).
    np.testing.assert_allclose(y1[0], y37[0], rtol=1e-6, atol=1e-6)


@names
def test_random_inputs_give_varied_labels(name: str) -> None:
    m = model_of(name)
    labels = run(m, F.random_inputs(m, 300, seed=11)).argmax(axis=1)
    assert np.unique(labels).size >= 5, np.bincount(labels)


@names
def test_quantizer_patterns(name: str) -> None:
    m = model_of(name)
    c = inits(m)
    assert not any(n.op_type == "Sign" for n in all_nodes(m))
    for n in m.graph.node:
        if n.op_type == "GreaterOrEqual":  # Where(GreaterOrEqual(x, 0), 1, -1)
            assert c[n.input[1]].shape == () and c[n.input[1]] == 0
            (where,) = consumers(m, n.output[0])
            assert where.op_type == "Where" and list(where.input).index(n.output[0]) == 0
            assert c[where.input[1]] == 1.0 and c[where.input[2]] == -1.0
        if n.op_type == "Round":  # Mul(Clip(Round(Div(x, s)), qmin, qmax), s)
            div = producer(m, n.input[0])
            assert div is not None and div.op_type == "Div"
            s = c[div.input[1]]
            assert s.shape == () and s > 0
            (clip,) = consumers(m, n.output[0])
            assert clip.op_type == "Clip"
            qmin, qmax = c[clip.input[1]], c[clip.input[2]]
            assert qmin.shape == qmax.shape == () and qmin == np.round(qmin) and qmax == np.round(qmax)
            assert qmin < qmax
            (mul,) = consumers(m, clip.output[0])
            assert mul.op_type == "Mul" and c[mul.input[1]] == s
    for n in m.graph.node:
        if n.op_type == "Conv":
            attrs = {a.name: onnx.helper.get_attribute_value(a) for a in n.attribute}
            assert attrs.get("group", 1) == 1 and len(n.input) == 2  # no bias
        if n.op_type == "MaxPool":
            attrs = {a.name: onnx.helper.get_attribute_value(a) for a in n.attribute}
            assert not any(attrs.get("pads", [0])) and attrs["kernel_shape"] == attrs["strides"]
            assert producer(m, n.input[0]).op_type in ("Where", "Mul")  # after a quantizer


def _pow2_values(k: int, emin: int, emax: int) -> set[float]:
    terms = [0.0] + [s * 2.0**e for s in (-1, 1) for e in range(emin, emax + 1)]
    return {sum(t) for t in itertools.product(terms, repeat=k)}


def _quantizer_feeding(m: onnx.ModelProto, tensor: str) -> tuple[float, float, float]:
    mul = producer(m, tensor)
    assert mul is not None and mul.op_type == "Mul"
    clip = producer(m, mul.input[0])
    assert clip is not None and clip.op_type == "Clip"
    c = inits(m)
    return float(c[mul.input[1]]), float(c[clip.input[1]]), float(c[clip.input[2]])


@names
def test_weights_on_their_grid(name: str) -> None:
    m = model_of(name)
    kind = CASES[name][1]
    c = inits(m)
    linear = [n for n in m.graph.node if n.op_type in ("MatMul", "Conv", *ADDER_OPS)]
    assert linear
    for n in linear:
        w = c[n.input[1]].astype(np.float64)
        if kind == "binary":
            assert n.op_type not in ADDER_OPS and np.all(np.abs(w) == 1)
        elif kind.startswith("int:"):
            lo, hi = (int(v) for v in kind.split(":")[1:])
            assert np.all(w == np.round(w)) and w.min() >= lo and w.max() <= hi
        elif kind.startswith("pow2:"):
            k, emin, emax = (int(v) for v in kind.split(":")[1:])
            assert np.isin(w, sorted(_pow2_values(k, emin, emax))).all()
            assert (w == 0).any()  # zero weights are legal and occur
        elif n.op_type in ADDER_OPS:  # shiftadd: weights = s * codes of the quantizer feeding X
            s, qmin, qmax = _quantizer_feeding(m, n.input[0])
            codes = w / s
            assert np.allclose(codes, np.round(codes), atol=1e-6)
            assert codes.min() >= qmin - 1e-6 and codes.max() <= qmax + 1e-6
        else:
            assert np.isin(w, sorted(_pow2_values(1, -3, 0))).all()


def test_adder_function_declared_and_inlined() -> None:
    m = model_of("shiftadd_mlp")
    (f,) = m.functions
    assert (f.domain, f.name, list(f.input), list(f.output)) == (F.ADDER_DOMAIN, F.ADDER_OP, ["X", "W"], ["Y"])
    assert [n.op_type for n in f.node if n.op_type != "Constant"] == ["Unsqueeze", "Sub", "Abs", "ReduceSum", "Neg"]
    # The adder output matches -sum |x - w| computed in numpy on the quantized input.
    adder = next(n for n in m.graph.node if n.op_type == F.ADDER_OP)
    probe = onnx.ModelProto()
    probe.CopyFrom(m)
    probe.graph.output.extend([onnx.helper.make_tensor_value_info(t, onnx.TensorProto.FLOAT, None)
                               for t in (adder.input[0], adder.output[0])])
    sess = ort.InferenceSession(probe.SerializeToString(), providers=["CPUExecutionProvider"])
    x = F.random_inputs(m, 20, seed=1)
    _, xq, y = sess.run(None, {"x": x})
    w = inits(m)[adder.input[1]]
    np.testing.assert_allclose(y, -np.abs(xq[:, :, None] - w[None]).sum(axis=1), rtol=1e-6)


def test_bn_has_negative_and_zero_gammas() -> None:
    m = model_of("binary_mlp")
    c = inits(m)
    assert "BatchNormalization" not in {n.op_type for n in m.graph.node}  # folded to Mul/Add
    scales = np.concatenate([c[n.input[1]].ravel() for n in m.graph.node
                             if n.op_type == "Mul" and n.input[1].startswith("fc")])
    assert (scales < 0).any() and (scales == 0).any() and (scales > 0).any()


def test_deterministic_for_a_seed() -> None:
    a = F.binary_cnn(seed=3).SerializeToString(deterministic=True)
    assert a == F.binary_cnn(seed=3).SerializeToString(deterministic=True)
    assert a != F.binary_cnn(seed=4).SerializeToString(deterministic=True)
    x1, x2 = (F.random_inputs(model_of("pow2_mlp_k1"), 5, seed=9) for _ in range(2))
    np.testing.assert_array_equal(x1, x2)


def test_input_quantizer_is_read_from_the_graph() -> None:
    assert F.input_quantizer(model_of("binary_mlp")) is None
    spec = F.input_quantizer(model_of("binary_mlp_in8"))
    assert spec is not None and (spec.qmin, spec.qmax) == (0, 255)
    assert np.float32(spec.scale) == np.float32(1 / 255)
    # pixel/255 inputs map to codes 0..255 exactly.
    x = (np.arange(256, dtype=np.float32) / np.float32(255))
    assert np.array_equal(np.round(x / np.float32(spec.scale)), np.arange(256))
    assert F.int_range(2, True, True) == (-1, 1) and F.int_range(4, False, False) == (0, 15)
    assert F.int_range(8, True, False) == (-128, 127) and F.int_range(3, False, True) == (0, 6)


@pytest.mark.parametrize("name", ["binary_cnn", "int_mlp_ternary", "shiftadd_mlp", "shiftadd_cnn"])
@pytest.mark.parametrize("rename_input", [False, True])
def test_hostile_names(name: str, rename_input: bool) -> None:
    m = model_of(name)
    h = F.with_hostile_names(m, rename_input=rename_input)
    onnx.checker.check_model(h, full_check=True)
    inp = h.graph.input[0].name
    assert (inp != m.graph.input[0].name) == rename_input
    renamed = [n.name for n in h.graph.node] + [t.name for t in h.graph.initializer] + [h.graph.output[0].name]
    for s in renamed + [n.name for f in h.functions for n in f.node]:
        assert all(tok in s for tok in ("../", "*/", '"', "'", "$", "[", "{", "}", "\n")), repr(s)
    x = F.random_inputs(m, 37, seed=2)
    np.testing.assert_array_equal(run(h, x), run(m, x))
    np.testing.assert_array_equal(F.random_inputs(h, 4, seed=1), F.random_inputs(m, 4, seed=1))


def test_trained_parameters_are_used_verbatim() -> None:
    rng = np.random.default_rng(0)
    sizes = (16, 8, 4)
    weights = [np.where(rng.standard_normal((a, b)) >= 0, 1.0, -1.0).astype(np.float32)
               for a, b in zip(sizes[:-1], sizes[1:], strict=True)]
    bn = [{"gamma": rng.standard_normal(b).astype(np.float32), "beta": rng.standard_normal(b).astype(np.float32),
           "mean": rng.standard_normal(b).astype(np.float32), "var": rng.uniform(1, 2, b).astype(np.float32),
           "eps": 1e-3} for b in sizes[1:]]
    m = F.binary_mlp(sizes, weights=weights, bn=bn, input_bits=4)
    assert [n.op_type for n in m.graph.node][-3:] == ["MatMul", "Mul", "Add"]  # the BN tail, folded
    c = inits(m)
    mm = [n for n in m.graph.node if n.op_type == "MatMul"]
    for n, w in zip(mm, weights, strict=True):
        np.testing.assert_array_equal(c[n.input[1]], w)
    muls = [c[n.input[1]].ravel() for n in m.graph.node if n.op_type == "Mul" and n.input[1].startswith("fc")]
    folded = [d["gamma"] * (np.float32(1) / np.sqrt(d["var"] + np.float32(1e-3))) for d in bn]
    for got, want in zip(muls, folded, strict=True):
        np.testing.assert_array_equal(got, want)
    # Reference forward pass in numpy equals onnxruntime.
    x = F.random_inputs(m, 50, seed=0)
    s = np.float32(1 / 15)
    h = np.clip(np.round(x / s), 0, 15) * s
    for i, (w, d) in enumerate(zip(weights, bn, strict=True)):
        h = (h @ w - d["mean"]) / np.sqrt(d["var"] + np.float32(1e-3)) * d["gamma"] + d["beta"]
        if i < len(weights) - 1:
            h = np.where(h >= 0, 1.0, -1.0).astype(np.float32)
    np.testing.assert_allclose(run(m, x), h, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError):
        F.binary_mlp(sizes, weights=[w * 2 for w in weights])
    with pytest.raises(ValueError):
        F.binary_mlp(sizes, weights=weights, bn=bn[:1] * 3)


def test_zero_padding_option_builds_a_runnable_model() -> None:
    m = F.binary_cnn(pad=1)  # outside the dialect on bipolar inputs: for the frontend's refusal test
    conv = next(n for n in m.graph.node if n.op_type == "Conv")
    assert list(onnx.helper.get_attribute_value(next(a for a in conv.attribute if a.name == "pads"))) == [1] * 4
    assert run(m, F.random_inputs(m, 2)).shape == (2, 10)


@pytest.mark.parametrize("builder", [F.cnv, F.lfc], ids=["cnv", "lfc"])
def test_finn_topologies(builder: Callable[[int], onnx.ModelProto]) -> None:
    m = builder(0)
    onnx.checker.check_model(m, full_check=True)
    mm = [inits(m)[n.input[1]] for n in m.graph.node if n.op_type in ("MatMul", "Conv")]
    assert all(np.all(np.abs(w) == 1) for w in mm)
    if builder is F.cnv:
        assert [w.shape[0] for w in mm[:6]] == [64, 64, 128, 128, 256, 256]
        assert [w.shape for w in mm[6:]] == [(256, 512), (512, 512), (512, 10)]
        spec = F.input_quantizer(m)
        assert spec is not None and (np.float32(spec.scale), spec.qmin, spec.qmax) == (np.float32(1 / 255), 0, 255)
        assert [d.dim_value for d in m.graph.input[0].type.tensor_type.shape.dim[1:]] == [3, 32, 32]
    else:
        assert [w.shape for w in mm] == [(784, 1024), (1024, 1024), (1024, 1024), (1024, 10)]
        assert F.input_quantizer(m) is None
    x = F.random_inputs(m, 3, seed=0)
    y = run(m, x)
    assert y.shape == (3, 10) and np.all(np.isfinite(y))
    np.testing.assert_allclose(run(m, x[:1])[0], y[0], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", ["shiftadd_mlp", "shiftadd_cnn"])
def test_for_qonnx_runs_in_qonnx(name: str) -> None:
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.core.onnx_exec import execute_onnx

    m = F.with_hostile_names(model_of(name), rename_input=True)
    q = F.for_qonnx(m)
    assert not q.functions and all(n.domain == "" for n in q.graph.node)
    x = F.random_inputs(m, 1, seed=5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # qonnx warns when a tensor's shape is missing from value_info
        out = execute_onnx(ModelWrapper(q), {q.graph.input[0].name: x})
    np.testing.assert_array_equal(out[q.graph.output[0].name], run(m, x))


def test_save_is_deterministic(tmp_path: Path) -> None:
    m = model_of("pow2_mlp_k1")
    p1 = F.save(m, tmp_path / "a" / "m.onnx")
    p2 = F.save(F.pow2_mlp(k=1), tmp_path / "m.onnx")
    assert p1.read_bytes() == p2.read_bytes()
    np.testing.assert_array_equal(run(onnx.load(p1), F.random_inputs(m, 3)), run(m, F.random_inputs(m, 3)))


def test_no_torch_at_import() -> None:
    code = "import sys, bnncc.fixtures; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_example_trains_and_exports(tmp_path: Path) -> None:
    """The bundled example (torch, ~3 s of training) reaches > 85 % and writes dialect files."""
    res = subprocess.run([sys.executable, str(ROOT / "examples" / "make_example.py"), "--out", str(tmp_path)],
                         check=True, capture_output=True, text=True, cwd=ROOT, timeout=120)
    acc = float(res.stdout.split("onnxruntime) test accuracy ")[1].split()[0])
    assert acc > 0.85, res.stdout
    m = onnx.load(tmp_path / "digits_bnn.onnx")
    onnx.checker.check_model(m, full_check=True)
    x = np.load(tmp_path / "digits_input.npy")
    assert x.dtype == np.float32 and x.shape == (16, 64) and x.min() >= 0 and x.max() <= 1
    assert run(m, x).shape == (16, 10)
    assert [n.op_type for n in m.graph.node][:4] == ["Div", "Round", "Clip", "Mul"]
