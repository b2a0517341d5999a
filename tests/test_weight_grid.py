"""Weight-grid detection: the integer grid, the scale and the kind for each weight family."""

from __future__ import annotations

import numpy as np
import pytest

from bnncc.errors import BnnccError
from bnncc.ir.passes.weight_grid import detect
from bnncc.ir.pow2 import naf


def test_naf_counts_signed_powers_of_two():
    terms, top = naf(np.array([0, 1, 3, 7, 11, -12, 5]))
    assert terms.tolist() == [0, 1, 2, 2, 3, 2, 2]  # 7 = 8 - 1, 11 = 16 - 4 - 1, 12 = 16 - 4
    assert top.tolist() == [-1, 0, 2, 3, 4, 4, 2]


@pytest.mark.parametrize("values,kind", [
    ([-1, 1], "bipolar"), ([-1, 0, 1], "ternary"), ([-0.5, 0.5], "bipolar"), ([-2, -1, 0, 1, 2, 4], "pow2"),
    ([-3, 0.75, 1.5], "pow2"), ([-11, 3, 5], "int"),
])
def test_kinds(values, kind):
    rng = np.random.default_rng(0)
    w = rng.choice(np.array(values, dtype=np.float32), size=(40, 6))
    w[:len(values), 0] = values  # every value occurs
    q, scale, grid = detect(w, "n")
    assert grid.kind == kind
    np.testing.assert_array_equal(q * scale, w)


def test_pow2_terms_and_exponents():
    w = np.array([[0.75, -0.25], [2.0, 0.0]], dtype=np.float32)  # 0.75 = 1 - 0.25
    q, scale, grid = detect(w, "n")
    assert (grid.kind, grid.k, grid.e_min, grid.e_max) == ("pow2", 2, -2, 1)
    assert scale.tolist() == [0.25, 0.25] and q.tolist() == [[3, -1], [8, 0]]


def test_per_channel_float_scales():
    base = np.random.default_rng(1).integers(-3, 4, size=(32, 4)).astype(np.float64)
    base[0] = 3
    s = np.array([0.037, 0.11, 1.3, 0.2])
    q, scale, grid = detect((base * s).astype(np.float32), "n")
    np.testing.assert_allclose(q * scale, (base * s).astype(np.float32), rtol=1e-6)
    assert grid.kind == "int"


def test_float_weights_are_refused():
    w = np.random.default_rng(2).normal(size=(16, 3)).astype(np.float32)
    with pytest.raises(BnnccError, match="node 'x'.*not on an integer or power-of-two grid"):
        detect(w, "node 'x' (MatMul)")


def test_uniform_magnitudes_take_the_fast_path_only_for_powers_of_two():
    w = np.where(np.random.default_rng(0).random((8, 4)) < 0.5, -0.25, 0.25)
    q, scale, grid = detect(w, "t")
    assert grid.kind == "bipolar" and np.all(scale == 0.25) and np.array_equal(q * scale, w)
    q, scale, grid = detect(w * 3, "t")  # ±0.75 = ±3 * 2**-2: a power-of-two grid, not bipolar
    assert grid.kind == "pow2" and np.all(scale == 0.25) and set(np.unique(q)) == {-3, 3}
