"""The random Brevitas test models are fit for parity tests: they load and run in qonnx, their labels
vary, no hidden layer is constant, and the BN boundary cases really occur."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import pytest
from brevitas_models import binary_cnn, binary_mlp, random_inputs, w2a2_mlp
from qonnx_ref import qonnx_model, qonnx_run, qonnx_run_all

N_IMAGES = 500
QONNX_DOMAIN = "qonnx.custom_op.general"

# builder, input shape without batch, activation quantizer op, its output levels
MODELS: dict[str, tuple[Callable[..., object], tuple[int, ...], str, set[float]]] = {
    "binary_mlp": (binary_mlp, (64,), "BipolarQuant", {-1.0, 1.0}),
    "w2a2_mlp": (w2a2_mlp, (64,), "Quant", {-1.0, 0.0, 1.0}),
    "binary_cnn": (binary_cnn, (1, 14, 14), "BipolarQuant", {-1.0, 1.0}),
}


@pytest.fixture(scope="module", params=sorted(MODELS))
def run(request, tmp_path_factory) -> tuple[str, Path, np.ndarray, dict[str, np.ndarray]]:
    # One export and one 500-image qonnx run per model, shared by every check below.
    name = request.param
    build, shape, _, _ = MODELS[name]
    path = tmp_path_factory.mktemp(name) / f"{name}.onnx"
    build(path, seed=0)
    x = random_inputs(shape, N_IMAGES, seed=1)
    return name, path, x, qonnx_run_all(path, x)


def _outputs(path: Path, *op_types: str) -> list[str]:
    # Tensor names in the cleaned graph, whose names key qonnx_run_all's result.
    model = qonnx_model(path)
    return [n.output[0] for n in model.graph.node if n.op_type in op_types]


def _live_channels(a: np.ndarray) -> int:
    flat = a.reshape(a.shape[0], a.shape[1], -1)
    return sum(not np.all(flat[:, c] == flat[:1, c]) for c in range(a.shape[1]))


def test_exported_ops_are_qonnx(run) -> None:
    name, path, _, _ = run
    model = onnx.load(str(path))
    assert QONNX_DOMAIN in {o.domain for o in model.opset_import}
    quants = [n for n in model.graph.node if n.op_type == MODELS[name][2]]
    assert quants and all(n.domain == QONNX_DOMAIN for n in quants)
    assert "Sign" not in {n.op_type for n in model.graph.node}


def test_labels_vary(run) -> None:
    _, path, x, ctx = run
    out = ctx[qonnx_model(path).graph.output[0].name]
    assert out.shape == (N_IMAGES, 10)
    np.testing.assert_array_equal(qonnx_run(path, x[:3]), out[:3])
    labels = np.unique(out.argmax(axis=1))
    assert labels.size >= 5, f"only labels {labels} on {N_IMAGES} random inputs"


def test_hidden_layers_vary(run) -> None:
    name, path, _, ctx = run
    _, _, quant_op, levels = MODELS[name]
    # Weight quantizers do not depend on the input, so qonnx_run_all leaves them unbatched.
    acts = [ctx[t] for t in _outputs(path, quant_op) if ctx[t].shape[0] == N_IMAGES]
    accs = [ctx[t] for t in _outputs(path, "MatMul", "Conv")]
    assert len(acts) >= 3 and len(accs) >= 3
    for a in acts:
        assert set(np.unique(a).tolist()) <= levels
        # BN gamma == 0 makes two channels per layer constant on purpose; the rest must move.
        assert _live_channels(a) >= a.shape[1] - 2, f"{_live_channels(a)} of {a.shape[1]} channels vary"
    for a in accs:
        assert _live_channels(a) >= a.shape[1] - 2


def test_boundaries_occur(run) -> None:
    # Accumulators are integers with exact zeros (even fan-ins), and live BN channels hit exactly 0.
    name, path, _, ctx = run
    accs = [ctx[t] for t in _outputs(path, "MatMul", "Conv")]
    for a in accs:
        np.testing.assert_array_equal(a, np.round(a))
    assert any((a == 0).any() for a in accs)
    for t in _outputs(path, "BatchNormalization"):
        flat = ctx[t].reshape(N_IMAGES, ctx[t].shape[1], -1)
        hits = [(flat[:, c] == 0).any() and not (flat[:, c] == 0).all() for c in range(flat.shape[1])]
        assert any(hits), f"{name} {t}: no live channel reaches BN output exactly 0"


def test_executor_equals_qonnx(run) -> None:
    """The reference executor gives qonnx's float outputs exactly, on inputs with exact zeros."""
    from bnncc.frontend import load
    from bnncc.ir.executor import run as execute

    _, path, x, ctx = run
    want = ctx[qonnx_model(path).graph.output[0].name]
    got = execute(load(str(path)), x)
    np.testing.assert_array_equal(got.outputs[0], want)
    np.testing.assert_array_equal(got.labels, np.argmax(want, axis=1))
