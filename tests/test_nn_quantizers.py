"""Every quantizer's forward values and gradients on hand-picked inputs, zeros and ties included."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from bnncc.nn import adder
from bnncc.nn import quantizers as Q
from bnncc.nn.lowmem import pack_bits, unpack_bits

torch.set_num_threads(1)


def _t(v) -> torch.Tensor:
    return torch.tensor(v, dtype=torch.float32, requires_grad=True)


def _eq(got: torch.Tensor, want) -> None:
    np.testing.assert_array_equal(got.detach().numpy(), np.asarray(want, dtype=np.float32))


@pytest.mark.parametrize("fn", [Q.bipolar, Q.binary_weight], ids=["bipolar", "binary_weight"])
def test_bipolar_zero_is_plus_one_and_hardtanh_gradient(fn):
    x = _t([-2.0, -1.0, -0.5, -0.0, 0.0, 0.5, 1.0, 2.0])
    y = fn(x)
    _eq(y, [-1, -1, -1, 1, 1, 1, 1, 1])  # -0.0 >= 0 too
    y.backward(torch.arange(1.0, 9.0))
    _eq(x.grad, [0, 2, 3, 4, 5, 6, 7, 0])  # g * 1[|x| <= 1], the ends included


def test_int_quant_rounds_half_to_even_and_clips_the_gradient():
    s = torch.tensor(0.25)
    x = _t([-0.1, 0.0, 0.125, 0.375, 0.625, 0.875, 3.75, 3.8, 4.0])
    y = Q.int_quant(x, s, 0, 15)
    # codes: clip(round(-0.4)) = 0, 0, round(0.5) = 0, round(1.5) = 2, round(2.5) = 2, round(3.5) = 4, 15, 15, 15
    _eq(y, [0, 0, 0, 0.5, 0.5, 1.0, 3.75, 3.75, 3.75])
    y.backward(torch.ones(9))
    _eq(x.grad, [0, 1, 1, 1, 1, 1, 1, 0, 0])  # where qmin <= x/s <= qmax


def test_int_quant_signed_range():
    s = torch.tensor(0.5)
    x = _t([-5.0, -4.0, -4.25, -0.25, 0.25, 0.75, 3.5, 3.75])
    y = Q.int_quant(x, s, -8, 7)
    # x/s = -10 -> -8, -8, -8.5 -> -8 (tie, even), -0.5 -> -0, 0.5 -> 0, 1.5 -> 2, 7, 7.5 -> 8 -> 7
    _eq(y, [-4, -4, -4, 0, 0, 1, 3.5, 3.5])
    y.backward(torch.ones(8))
    _eq(x.grad, [0, 1, 0, 1, 1, 1, 1, 0])


def test_pow2_round_log_domain_flush_and_clamp():
    x = torch.tensor([0.0, -0.0, 0.75, 0.7, -0.3, 1.5, 2.0**-9, 2.0**-8, 3 * 2.0**-10, -0.02, 0.09])
    # log2: -0.415 -> 0, -0.515 -> -1, -1.737 -> -2, 0.585 -> 1 -> clamp 0, -9 < e_min -> 0, -8, -8.415 -> -8,
    # log2(0.02) = -5.64 -> -6, log2(0.09) = -3.47 -> -3
    want = [0, 0, 1, 0.5, -0.25, 1, 0, 2.0**-8, 2.0**-8, -(2.0**-6), 2.0**-3]
    _eq(Q.pow2_round(x, -8, 0), want)


def test_pow2_quant_k1_k2_values():
    w = torch.tensor([0.0, 0.75, 0.3, 0.7, 2.0**-9, 1.7, -0.3, 0.5])
    _eq(Q.pow2_quant(w, 1, -8, 0), [0, 1, 0.25, 0.5, 0, 1, -0.25, 0.5])
    # Q2 = Q1 + R(w - Q1): 0.75 = 1 - 0.25; 0.3 -> 0.25 + R(0.05) = 0.25 + 2**-4; 0.7 -> 0.5 + 0.25;
    # 1.7 -> 1 + R(0.7) = 1.5; an exact power of two keeps a zero second term
    _eq(Q.pow2_quant(w, 2, -8, 0), [0, 0.75, 0.3125, 0.75, 0, 1.5, -0.3125, 0.5])


def test_pow2_ste_identity_gradient():
    w = _t([0.0, 0.3, -0.7, 5.0])
    y = Q.pow2_ste(w, 2, -8, 0)
    _eq(y, [0, 0.3125, -0.75, 2.0])  # 5 -> 1 + 1 (both terms clamp to 2**0)
    y.backward(torch.tensor([1.0, 2.0, 3.0, 4.0]))
    _eq(w.grad, [1, 2, 3, 4])


def test_shift_weight_values_and_deepshift_gradients():
    p = _t([-1.4, -0.6, 0.3, -7.6, -2.5])
    s = _t([0.7, -0.2, -1.0, 0.5, -0.51])
    w = Q.shift_weight(p, s, -7, 0)
    # e = clamp(round(p)): -1, -1, 0, -8 -> -7, -2 (tie, even); sign(round(s)): 1, 0, -1, 0 (tie), -1
    _eq(w, [0.5, 0, -1, 0, -0.25])
    w.backward(torch.ones(5))
    ln2 = np.float32(math.log(2.0))
    np.testing.assert_allclose(p.grad.numpy(), [0.5 * ln2, 0, -ln2, 0, -0.25 * ln2], rtol=1e-7)
    _eq(s.grad, [0.5, 0.5, 1.0, 2.0**-7, 0.25])


def test_adder_matmul_values_and_addernet_gradients():
    x = _t([[1.0, -2.0, 0.0]])
    w = _t([[0.0, 1.0], [-2.0, 3.0], [0.5, 0.0]])
    y = adder.adder_matmul(x, w)
    _eq(y, [[-1.5, -5.0]])
    y.backward(torch.ones(1, 2))
    _eq(w.grad, [[1, 0], [0, -5], [-0.5, 0]])  # X - F, full precision
    _eq(x.grad, [[-1, 1, 0.5]])  # sum_j HT(F - X)


def test_adder_chunks_equal_the_broadcast(monkeypatch):
    gen = torch.Generator().manual_seed(0)
    x = torch.randint(-8, 8, (37, 20), generator=gen).float().requires_grad_()
    w = torch.randint(-8, 8, (20, 9), generator=gen).float().requires_grad_()
    g = torch.randn(37, 9, generator=gen)
    monkeypatch.setattr(adder, "CHUNK_ELEMENTS", 500)  # 2 rows per chunk
    y = adder.adder_matmul(x, w)
    y.backward(g)
    x2, w2 = x.detach().clone().requires_grad_(), w.detach().clone().requires_grad_()
    d = x2[:, :, None] - w2[None]
    ref = -d.abs().sum(1)
    _eq(y, ref.detach())
    np.testing.assert_allclose(w.grad.numpy(), (g[:, None, :] * d).sum(0).detach().numpy(), rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(x.grad.numpy(), (g[:, None, :] * (-d).clamp(-1, 1)).sum(2).detach().numpy(),
                               rtol=1e-5, atol=1e-5)


def test_pack_bits_roundtrip_zero_is_plus_one():
    x = torch.tensor([[-1.0, 0.0, 1.0, -0.0, -3.0], [2.0, -1.0, 1.0, 1.0, -1.0]])
    packed = pack_bits(x)
    assert packed.dtype == torch.uint8 and packed.numel() == 2  # 10 bits -> 2 bytes
    _eq(unpack_bits(packed, x.shape), [[-1, 1, 1, 1, -1], [1, -1, 1, 1, -1]])
