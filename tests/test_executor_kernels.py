"""The executor's fast exact kernels (float32 GEMM on ±1 values, narrow integer tensors, one-comparison
thresholds) against the references they replace: the bit-packed XNOR-popcount kernel and plain integer
arithmetic, on random and edge-case shapes and values."""

from __future__ import annotations

import numpy as np
import pytest

from bnncc import fixtures
from bnncc.frontend import load
from bnncc.ir import ops
from bnncc.ir.dtypes import BIPOLAR, int_type
from bnncc.ir.executor import run


@pytest.mark.parametrize("mw,mh", [(1, 3), (7, 5), (63, 8), (64, 64), (65, 9), (200, 17), (1024, 33)])
def test_xnor_gemm_equals_the_bit_packed_kernel(mw, mh):
    rng = np.random.default_rng(mw * 31 + mh)
    op = ops.XnorPopcount(rng.integers(0, 2, (mw, mh)).astype(np.uint8))
    x = rng.choice(np.array([-1, 1], dtype=np.int8), size=(37, mw))
    x[0], x[1] = 1, -1  # all agree, all disagree with the +1 weights
    fast, packed = op.execute(x), op.execute_packed(x)
    assert np.array_equal(fast, packed) and fast.min() >= 0 and fast.max() <= mw
    assert np.array_equal(op.execute(x.reshape(37, 1, mw)), packed.reshape(37, 1, mh))  # extra pixel axes


def test_integer_matmul_is_exact_on_both_sides_of_the_float32_limit():
    rng = np.random.default_rng(0)
    for scale in (1, 2**13):  # bound below 2**24 (float32 GEMM), then far above it (float64)
        w = rng.integers(-127, 128, (300, 20)) * scale
        op = ops.MatMul(w, ops.WeightGrid("int", int(w.min()), int(w.max())))
        x = rng.integers(-128, 128, (50, 300)).astype(np.int16)
        x[0] = 127
        assert np.array_equal(op.execute(x), x.astype(np.int64) @ w.astype(np.int64))


@pytest.mark.parametrize("levels", [2, 4, 16])
def test_thresholds_equal_their_definition(levels):
    rng = np.random.default_rng(levels)
    c = 12
    t = np.sort(rng.integers(-20, 21, (c, levels - 1)), axis=1)
    desc = rng.random(c) < 0.5
    t[desc] = t[desc][:, ::-1]
    out = int_type(0, levels - 1) if levels > 2 else BIPOLAR
    op = ops.MultiThreshold(t, desc, out)
    acc = rng.integers(-25, 26, (200, c)).astype(np.int16)
    want = np.where(desc, (acc[..., None] <= t).sum(-1), (acc[..., None] >= t).sum(-1))
    assert np.array_equal(op.execute(acc), out.from_codes(want))


def test_run_with_and_without_a_trace_agree(tmp_path):
    model = fixtures.binary_cnn(seed=3, input_bits=8)
    graph = load(str(fixtures.save(model, tmp_path / "m.onnx")))
    x = fixtures.random_inputs(model, 40, seed=2)
    lean, traced = run(graph, x), run(graph, x, trace=True)
    assert np.array_equal(lean.outputs[0], traced.outputs[0]) and np.array_equal(lean.labels, traced.labels)
    assert np.array_equal(lean.hardware_out, traced.hardware_out) and len(traced.trace) > len(lean.trace)
