"""The real models nobody here wrote: FINN's TFC-w1a1 and the qonnx-zoo TFCs, against qonnx."""

from __future__ import annotations

import numpy as np
import pytest
from qonnx_ref import qonnx_model, qonnx_run, qonnx_run_all

from bnncc.data.mnist import load_mnist5k
from bnncc.frontend import load
from bnncc.ir import ops
from bnncc.ir.executor import run

FINN = "../shared/models/finn-tfc-w1a1"
ZOO = "../shared/models/qonnx-zoo-tfc"


def test_finn_tfc_labels_and_accumulators_equal_finn_float_graph():
    x = np.load(f"{FINN}/input.npy")
    graph = load(f"{FINN}/model.onnx")
    got = run(graph, x, trace=True)
    assert got.labels.tolist() == [7, 2, 1, 0] == np.load(f"{FINN}/expected_output.npy").ravel().tolist()
    assert isinstance(graph.nodes[-1].op, ops.LabelSelect)
    last = graph.nodes[-2]
    popcount = got.trace[last.output]
    ref = qonnx_run_all(f"{FINN}/model.onnx", x)
    matmuls = [n.output[0] for n in qonnx_model(f"{FINN}/model.onnx").graph.node if n.op_type == "MatMul"]
    np.testing.assert_array_equal(2 * popcount - last.op.weights.shape[0], ref[matmuls[-1]])


@pytest.fixture(scope="module")
def mnist500():
    x, y = load_mnist5k(seed=0)
    pick = np.random.default_rng(2026).choice(len(x), 500, replace=False)
    return x[pick] / 255.0, y[pick]


@pytest.mark.parametrize("name", ["TFC_1W1A", "TFC_1W2A", "TFC_2W2A"])
def test_qonnx_zoo_equals_qonnx_on_500_images(name, mnist500):
    x, y = mnist500
    path = f"{ZOO}/{name}.onnx"
    want = qonnx_run(path, x)
    got = run(load(path), x)
    np.testing.assert_array_equal(got.labels, np.argmax(want, axis=1))
    np.testing.assert_allclose(got.outputs[0], want, rtol=1e-6, atol=1e-6)  # float32 rounding at most
    assert (got.labels == y).mean() > 0.9
