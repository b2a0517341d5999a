"""The adder convolution ``bnncc.AdderConv`` end to end: its function body in onnxruntime equals a
numpy reference exactly, the float interpreter equals onnxruntime tensor by tensor, and the lowered
SlidingWindow + Adder equals both, at stride 1 (the fixture) and stride 2 (also in HLS csim). The
fixture's HLS csim, RTL simulation and RRAM mapping run with the other networks' (test_hls.py,
rtl/test_rtl_networks.py, test_rram_sim.py via SMALL_BUILDERS)."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from bnncc import fixtures
from bnncc.backends.fpga.driver import FpgaBackend, FpgaOptions
from bnncc.errors import BnnccError
from bnncc.frontend import load, read_onnx
from bnncc.ir import ops
from bnncc.ir.executor import run
from bnncc.ir.float_ops import OPS, run_node
from bnncc.onnx_writer import ADDER_CONV_OP, ADDER_DOMAIN, OPSET, DialectWriter, IntQuantSpec, adder_conv_function


def _session(model: onnx.ModelProto) -> ort.InferenceSession:
    # Op by op as written: graph optimizations may fold constants into other rounding orders.
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])


def _reference(x: np.ndarray, w: np.ndarray, stride: int) -> np.ndarray:
    """Y[n, o, y, x] = -sum_{c,i,j} |X[n, c, s*y + i, s*x + j] - W[o, c, i, j]|, by explicit loops."""
    n, _, h, wd = x.shape
    o, _, k, _ = w.shape
    oh, ow = (h - k) // stride + 1, (wd - k) // stride + 1
    y = np.zeros((n, o, oh, ow))
    for r in range(oh):
        for c in range(ow):
            patch = x[:, None, :, r * stride:r * stride + k, c * stride:c * stride + k].astype(np.float64)
            y[:, :, r, c] = -np.abs(patch - w[None].astype(np.float64)).sum(axis=(2, 3, 4))
    return y.astype(np.float32)


def _single_node(shape: tuple[int, ...], w: np.ndarray, stride: int | None) -> onnx.ModelProto:
    """One AdderConv node; stride None leaves the attribute out (the default, 1)."""
    c, h, wd = shape
    o, _, k, _ = w.shape
    s = stride or 1
    out = ["N", o, (h - k) // s + 1, (wd - k) // s + 1]
    attrs = {} if stride is None else {"strides": [stride, stride]}
    node = helper.make_node(ADDER_CONV_OP, ["x", "w"], ["y"], domain=ADDER_DOMAIN, name="ac", **attrs)
    graph = helper.make_graph([node], "ac", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", c, h, wd])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, out)],
                              initializer=[numpy_helper.from_array(w, "w")])
    opsets = [helper.make_opsetid("", OPSET), helper.make_opsetid(ADDER_DOMAIN, 1)]
    model = helper.make_model(graph, opset_imports=opsets, functions=[adder_conv_function()], ir_version=8)
    onnx.checker.check_model(model, full_check=True)
    return model


def test_function_body_is_standard_opset_13() -> None:
    f = adder_conv_function()
    assert (f.domain, f.name, list(f.input), list(f.output), list(f.attribute)) == (
        ADDER_DOMAIN, ADDER_CONV_OP, ["X", "W"], ["Y"], ["strides"])
    assert [(o.domain, o.version) for o in f.opset_import] == [("", 13)]
    for n in f.node:
        assert n.domain == "" and onnx.defs.has(n.op_type, "")
        assert onnx.defs.get_schema(n.op_type, 13, "").since_version <= 13
    # Shape-generic: no constant in the body knows C, k or O (they come from Shape(W)).
    consts = [numpy_helper.to_array(a.t) for n in f.node if n.op_type == "Constant" for a in n.attribute]
    assert all(v.size <= 4 for v in consts)


@pytest.mark.parametrize("c, h, wd, o, k, stride", [
    (2, 6, 7, 3, 3, None), (3, 5, 5, 4, 1, 1), (1, 4, 6, 2, 2, 1), (4, 9, 8, 5, 3, 2), (2, 7, 7, 3, 3, 3)])
def test_function_equals_numpy_reference(c, h, wd, o, k, stride) -> None:
    rng = np.random.default_rng(c * 100 + k)
    w = rng.integers(-8, 8, (o, c, k, k)).astype(np.float32)
    x = rng.integers(-8, 8, (5, c, h, wd)).astype(np.float32)
    x[1, :, :k, :k] = w[0]  # a window equal to a filter: every difference exactly 0
    x[2] = 0.0
    x[3] = -x[3] * 0.25  # negative values off the integer grid (still exact in float32)
    model = _single_node((c, h, wd), w, stride)
    got = _session(model).run(None, {"x": x})[0]
    want = _reference(x, w, stride or 1)
    np.testing.assert_array_equal(got, want)
    assert got[1, 0, 0, 0] == 0.0 and (want < 0).any()
    attrs = {} if stride is None else {"strides": [stride, stride]}
    np.testing.assert_array_equal(OPS[ADDER_CONV_OP]([x, w], attrs)[0], want)  # the float interpreter


def _ort_all_tensors(model: onnx.ModelProto, x: np.ndarray) -> dict[str, np.ndarray]:
    """Every node output of the graph (the fixture stores all their shapes as value_info)."""
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    outs = {o.name for o in probe.graph.output}
    probe.graph.output.extend(vi for vi in model.graph.value_info if vi.name not in outs)
    sess = _session(probe)
    names = [o.name for o in sess.get_outputs()]
    return dict(zip(names, sess.run(names, {"x": x}), strict=True))


@pytest.mark.parametrize("build", [
    lambda: fixtures.shiftadd_cnn(seed=3),
    lambda: fixtures.shiftadd_cnn((2, 16, 16), (4, 6, 6, 8), (12, 10), seed=2, act_bits=3),
], ids=["small", "two_pairs"])
def test_fixture_interpreter_onnxruntime_and_executor_agree(tmp_path, build) -> None:
    model = build()
    path = str(fixtures.save(model, tmp_path / "m.onnx"))
    x = fixtures.random_inputs(model, 200, seed=4)
    x[::9] = 0.0
    want = _ort_all_tensors(model, x)
    fg = read_onnx(path)
    env = {fg.input: x}
    for n in fg.nodes:
        run_node(n, env, fg.consts)
        np.testing.assert_array_equal(env[n.outputs[0]], want[n.outputs[0]], err_msg=n.name)
    graph = load(path)
    kinds = [type(n.op) for n in graph.nodes]
    adders = [i for i, k in enumerate(kinds) if k is ops.Adder]
    assert adders and all(kinds[i - 1] is ops.SlidingWindow for i in adders)
    got = run(graph, x)
    np.testing.assert_array_equal(got.outputs[0], want["logits"])  # power-of-two scales: bit for bit
    assert len(set(got.labels.tolist())) >= 5


def _strided_model(stride: int) -> onnx.ModelProto:
    """signed codes -> AdderConv(stride) -> Mul/Add -> unsigned codes -> Flatten -> MatMul logits."""
    rng = np.random.default_rng(stride)
    spec = IntQuantSpec(0.5, -4, 3)
    w = DialectWriter("strided", (2, 9, 9))
    w.int_quant("in", spec)
    w.adder_conv("ac", (rng.integers(-4, 4, (3, 2, 3, 3)) * 0.5).astype(np.float32), stride=stride)
    w.mul("ac", 0.25)
    w.add("ac", rng.uniform(4.0, 6.0, 3))
    w.int_quant("ac/act", IntQuantSpec(0.25, 0, 7))
    w.flatten("flat")
    w.matmul("fc", rng.integers(-2, 3, (w.shape[0], 4)).astype(np.float32))
    return w.finish("strided adder conv")


def test_strided_adder_conv_lowers_to_a_strided_window(tmp_path) -> None:
    model = _strided_model(2)
    path = str(fixtures.save(model, tmp_path / "s.onnx"))
    graph = load(path)
    window = next(n.op for n in graph.nodes if isinstance(n.op, ops.SlidingWindow))
    assert (window.kernel, window.stride) == (3, 2) and graph.types[graph.nodes[2].output].shape == (4, 4, 3)
    x = np.random.default_rng(0).normal(0.0, 1.5, (100, 2, 9, 9)).astype(np.float32)
    want = _session(model).run(None, {"x": x})[0]
    np.testing.assert_array_equal(run(graph, x).outputs[0], want)
    assert np.unique(want).size > 20


def test_strided_adder_conv_csim_bit_exact(tmp_path) -> None:
    """The stride-1 fixture runs in tests/test_hls.py; here the window generator skips pixels."""
    path = str(fixtures.save(_strided_model(2), tmp_path / "s.onnx"))
    opts = FpgaOptions(out=str(tmp_path / "out"), part="xcu250-figd2104-2L-e", csim=True, vectors=16)
    report = FpgaBackend().compile(load(path), opts)
    code = FpgaBackend().exit_code(report)
    assert code == 0 and report["verification"]["csim"] == {"passed": True, "vectors": 18, "mismatches": 0}


def test_adder_conv_attributes_other_than_strides_are_refused(tmp_path) -> None:
    model = fixtures.shiftadd_cnn(seed=0)
    node = next(n for n in model.graph.node if n.op_type == ADDER_CONV_OP)
    node.attribute.append(helper.make_attribute("pads", [1, 1, 1, 1]))
    path = str(fixtures.save(model, tmp_path / "p.onnx"))
    with pytest.raises(BnnccError, match=r"\(AdderConv\): bnncc.AdderConv takes only a strides attribute"):
        load(path)


def test_adder_conv_off_the_input_grid_is_refused(tmp_path) -> None:
    model = fixtures.shiftadd_cnn(seed=0)
    node = next(n for n in model.graph.node if n.op_type == ADDER_CONV_OP)
    init = next(t for t in model.graph.initializer if t.name == node.input[1])
    init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init) + np.float32(0.125), init.name))
    path = str(fixtures.save(model, tmp_path / "g.onnx"))
    with pytest.raises(BnnccError, match=r"\(AdderConv\): adder weights are not on the input's value grid"):
        load(path)
