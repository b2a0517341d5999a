"""The float ops that thresholds are checked against compute what onnxruntime (and so qonnx) computes, bit for
bit: at a quantizer's rounding point one float32 step decides the code."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from bnncc.ir.float_ops import FloatNode, run_node


def onnxruntime_batchnorm(x, params, eps):
    names = ("gamma", "beta", "mean", "var")
    node = helper.make_node("BatchNormalization", ["x", *names], ["y"], epsilon=eps)
    graph = helper.make_graph(
        [node], "bn", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x.shape))],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, list(x.shape))],
        [numpy_helper.from_array(p, n) for p, n in zip(params, names, strict=True)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    model.ir_version = 8
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {"x": x})[0]


@pytest.mark.parametrize("shape", [(2, 64, 9, 9), (16, 48)])
def test_batchnorm_equals_onnxruntime_bit_for_bit(shape):
    rng = np.random.default_rng(7)
    c = shape[1]
    params = [rng.uniform(0.3, 0.7, c), rng.normal(0.45, 0.2, c), rng.normal(0, 2, c), rng.uniform(0.5, 20, c)]
    params = [p.astype(np.float32) for p in params]
    x = (rng.standard_normal(shape) * 3).astype(np.float32)
    eps = 1e-5
    consts = dict(zip(("gamma", "beta", "mean", "var"), params, strict=True))
    env = {"x": x}
    run_node(FloatNode("BatchNormalization", ["x", *consts], ["y"], {"epsilon": eps}, "bn"), env, consts)
    want = onnxruntime_batchnorm(x, params, eps)
    assert env["y"].dtype == np.float32
    assert np.array_equal(env["y"], want)
    # the textbook order misses by a float32 step on many values: the test can tell the two apart
    f = np.float32
    r = [p.reshape((1, -1) + (1,) * (len(shape) - 2)) for p in params]
    textbook = ((x - r[2]) / np.sqrt(r[3] + f(eps)) * r[0] + r[1]).astype(f)
    assert not np.array_equal(textbook, want)


@pytest.mark.parametrize("rounding", ["ROUND", "HALF_EVEN", "CEIL", "FLOOR", "DOWN", "UP", "HALF_UP", "HALF_DOWN"])
@pytest.mark.parametrize("bits,signed,narrow,zp", [(4, 0, 0, 0.0), (4, 1, 1, 0.0), (3, 1, 0, 0.0), (8, 0, 0, 3.0)])
def test_quant_equals_qonnx(rounding, bits, signed, narrow, zp):
    from qonnx.custom_op.general.quant import quant

    rng = np.random.default_rng(bits + 10 * signed)
    scale = rng.uniform(0.05, 0.4, (1, 8, 1, 1)).astype(np.float32)
    codes = rng.integers(-140, 280, (3, 8, 5, 5)) / 2  # every half-integer: ties and both clipping ends
    x = np.concatenate([((codes - zp) * scale).astype(np.float32),
                        (rng.standard_normal((3, 8, 5, 5)) * 20 * scale).astype(np.float32)])
    consts = {"s": scale, "z": np.float32(zp), "b": np.float32(bits)}
    env = {"x": x}
    node = FloatNode("Quant", ["x", "s", "z", "b"], ["y"], {"signed": signed, "narrow": narrow,
                                                            "rounding_mode": rounding}, "q")
    run_node(node, env, consts)
    want = quant(x, scale, np.float32(zp), np.float32(bits), signed, narrow, rounding)
    assert np.array_equal(env["y"], want.astype(np.float32))
