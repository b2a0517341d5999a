"""Our dialect end to end: every fixture family imports, and the executor equals onnxruntime —
bit for bit where float32 computes the integers exactly (power-of-two scales), otherwise to float32
rounding with equal labels wherever the top-2 margin exceeds that rounding."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest

from bnncc import fixtures
from bnncc.errors import BnnccError
from bnncc.frontend import load
from bnncc.ir import ops
from bnncc.ir.executor import run


def _ort(path: str, x: np.ndarray) -> np.ndarray:
    # Graph optimizations fold per-channel Mul/Add into Conv weights, which changes float rounding
    # exactly on switching points: the reference is the graph op by op, as written.
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
    return sess.run(None, {sess.get_inputs()[0].name: x})[0]


def _compare(got: np.ndarray, want: np.ndarray, exact: bool) -> None:
    if exact:
        np.testing.assert_array_equal(got, want)
        return
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    top2 = np.sort(want, axis=1)[:, -2:]
    clear = top2[:, 1] - top2[:, 0] > 1e-4
    assert clear.mean() > 0.9
    np.testing.assert_array_equal(np.argmax(got, 1)[clear], np.argmax(want, 1)[clear])


@pytest.mark.parametrize("name", sorted(fixtures.SMALL_BUILDERS))
@pytest.mark.parametrize("hostile", [False, True])
def test_executor_equals_onnxruntime(tmp_path, name, hostile):
    model = fixtures.SMALL_BUILDERS[name](1)
    if hostile:
        model = fixtures.with_hostile_names(model, rename_input=True)
    path = str(tmp_path / "m.onnx")
    fixtures.save(model, path)
    x = fixtures.random_inputs(model, 300, seed=5)
    x[::7] = 0.0  # exact zeros at the input quantizer
    graph = load(path)
    got = run(graph, x)
    spec = fixtures.input_quantizer(model)
    exact = spec is None or float(np.log2(spec.scale)).is_integer()
    _compare(got.outputs[0], _ort(path, x), exact)
    assert len(set(got.labels.tolist())) >= 5
    kinds = {type(n.op).__name__ for n in graph.nodes}
    assert {"HostHead", "HostTail"} <= kinds


def test_families_lower_to_their_hardware_ops(tmp_path):
    expect = {"binary_mlp": ops.XnorPopcount, "binary_cnn": ops.SlidingWindow, "shiftadd_mlp": ops.Adder}
    for name, op in expect.items():
        fixtures.save(fixtures.SMALL_BUILDERS[name](0), str(tmp_path / f"{name}.onnx"))
        assert any(isinstance(n.op, op) for n in load(str(tmp_path / f"{name}.onnx")).nodes)
    for k in (1, 2):
        fixtures.save(fixtures.pow2_mlp(k=k, seed=0), str(tmp_path / "p.onnx"))
        grids = {n.op.grid.k for n in load(str(tmp_path / "p.onnx")).nodes if isinstance(n.op, ops.MatMul)}
        assert max(grids) == k


def test_zero_padding_on_bipolar_input_is_refused(tmp_path):
    fixtures.save(fixtures.binary_cnn(pad=1), str(tmp_path / "pad.onnx"))
    with pytest.raises(BnnccError, match=r"\(Conv\): zero padding of a bipolar input"):
        load(str(tmp_path / "pad.onnx"))


@pytest.mark.parametrize("builder", [fixtures.lfc, fixtures.cnv], ids=["lfc", "cnv"])
def test_finn_sized_topologies(tmp_path, builder):
    model = builder(0)
    path = str(tmp_path / "big.onnx")
    fixtures.save(model, path)
    x = fixtures.random_inputs(model, 8, seed=0)
    _compare(run(load(path), x).outputs[0], _ort(path, x), fixtures.input_quantizer(model) is None)
