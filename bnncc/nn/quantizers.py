"""Quantizer functions with their training gradients (straight-through estimators).

Every forward here computes exactly the value the exported ONNX graph computes (docs/onnx-dialect.md),
so a model in eval mode and its export agree bit for bit:

- bipolar: x >= 0 -> +1 else -1 (never ``torch.sign``: sign(0) = 0 is a third value);
- integer: clamp(round_half_even(x / s), qmin, qmax) * s, as Div/Round/Clip/Mul;
- power of two: R(x) = sign(x) * 2**round(log2|x|) with R(0) = 0, and k-term sums Q_k;
- DeepShift-PS: sign(round(s)) * 2**round(p).

Gradients are the usual estimators: hardtanh STE for bipolar activations, clipped STE for binary
latent weights and integer activations, identity STE for power-of-two rounding, DeepShift's
estimators for shift parameters. Values returned by ``forward`` are never rebuilt as ``x + (q - x)``
(that trick rounds in float32 and would break exactness); every STE is an autograd Function.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = [
    "bipolar",
    "binary_weight",
    "int_quant",
    "pow2_round",
    "pow2_quant",
    "pow2_ste",
    "shift_weight",
    "straight_through",
]


class _Bipolar(torch.autograd.Function):
    """Forward x >= 0 -> +1 else -1; backward the hardtanh STE g * 1[|x| <= 1]."""

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:  # type: ignore[override]
        ctx.save_for_backward(x)
        return torch.where(x >= 0, 1.0, -1.0).to(x.dtype)

    @staticmethod
    def backward(ctx, g: Tensor) -> Tensor:  # type: ignore[override]
        (x,) = ctx.saved_tensors
        return g * (x.abs() <= 1).to(g.dtype)


def bipolar(x: Tensor) -> Tensor:
    """Bipolar activation (+1 for x >= 0, so exact zeros give +1) with the hardtanh STE."""
    return _Bipolar.apply(x)


def binary_weight(w: Tensor) -> Tensor:
    """±1 weights from latent weights (w = 0 gives +1), clipped straight-through gradient: the same
    function as the bipolar activation (latent weights live in [-1, 1])."""
    return _Bipolar.apply(w)


def _int_codes(x: Tensor, scale: Tensor, qmin: int, qmax: int) -> Tensor:
    return torch.clamp(torch.round(torch.div(x, scale)), qmin, qmax)


class _IntQuant(torch.autograd.Function):
    """Forward clamp(round(x / s), qmin, qmax) * s; backward g where qmin <= x / s <= qmax."""

    @staticmethod
    def forward(ctx, x: Tensor, scale: Tensor, qmin: int, qmax: int) -> Tensor:  # type: ignore[override]
        d = torch.div(x, scale)
        ctx.save_for_backward((d >= qmin) & (d <= qmax))
        return torch.mul(torch.clamp(torch.round(d), qmin, qmax), scale)

    @staticmethod
    def backward(ctx, g: Tensor):  # type: ignore[override]
        (inside,) = ctx.saved_tensors
        return g * inside.to(g.dtype), None, None, None


def int_quant(x: Tensor, scale: Tensor, qmin: int, qmax: int) -> Tensor:
    """Integer quantizer, round half to even (``torch.round``, like ONNX Round), clipped STE.

    ``scale`` is a float32 scalar tensor so the division is float32 / float32 as in ONNX ``Div``.
    """
    return _IntQuant.apply(x, scale, qmin, qmax)


def pow2_round(x: Tensor, e_min: int, e_max: int) -> Tensor:
    """R(x) = sign(x) * 2**round(log2|x|), exponent clamped to ``e_max``; R(0) = 0.

    Rounding is in the log domain (half to even on log2|x|), so the switching point between 2**e and
    2**(e+1) is the geometric midpoint 2**(e + 1/2). Magnitudes whose rounded exponent falls below
    ``e_min`` flush to 0 (a legal weight), rather than being raised to 2**e_min.
    """
    a = x.abs()
    e = torch.round(torch.log2(torch.where(a > 0, a, torch.ones_like(a))))
    keep = (a > 0) & (e >= e_min)
    mag = torch.exp2(torch.clamp(e, e_min, e_max))
    return torch.where(keep, torch.where(x >= 0, mag, -mag), torch.zeros_like(x))


def pow2_quant(w: Tensor, k: int, e_min: int, e_max: int) -> Tensor:
    """Q_k(w): Q_0 = 0, Q_j(w) = Q_{j-1}(w) + R(w - Q_{j-1}(w)); a sum of k signed powers of two.

    Sums of two powers of two within [e_min, e_max] are exact in float32 (at most 9 significant bits).
    """
    q = torch.zeros_like(w)
    for _ in range(k):
        q = q + pow2_round(w - q, e_min, e_max)
    return q


class _Identity(torch.autograd.Function):
    """Returns ``q`` (computed without grad) with the identity gradient to ``x``."""

    @staticmethod
    def forward(ctx, x: Tensor, q: Tensor) -> Tensor:  # type: ignore[override]
        return q.clone()

    @staticmethod
    def backward(ctx, g: Tensor):  # type: ignore[override]
        return g, None


def straight_through(x: Tensor, q: Tensor) -> Tensor:
    """``q``'s values with the identity gradient to ``x`` (``q`` computed without grad)."""
    return _Identity.apply(x, q)


def pow2_ste(w: Tensor, k: int, e_min: int, e_max: int) -> Tensor:
    """Q_k(w) with the identity straight-through gradient (LightNN)."""
    with torch.no_grad():
        q = pow2_quant(w, k, e_min, e_max)
    return _Identity.apply(w, q)


class _ShiftWeight(torch.autograd.Function):
    """DeepShift-PS: w = sign(round(s)) * 2**clamp(round(p)).

    Backward with round treated as identity: dw/dp = sign(round(s)) * 2**e * ln 2 and dw/ds = 2**e
    (the sign's estimator is the identity too, so a zero weight can become non-zero again).
    """

    @staticmethod
    def forward(ctx, p: Tensor, s: Tensor, e_min: int, e_max: int) -> Tensor:  # type: ignore[override]
        mag = torch.exp2(torch.clamp(torch.round(p), e_min, e_max))
        sg = torch.sign(torch.round(s))
        ctx.save_for_backward(mag, sg)
        return sg * mag

    @staticmethod
    def backward(ctx, g: Tensor):  # type: ignore[override]
        mag, sg = ctx.saved_tensors
        return g * sg * mag * math.log(2.0), g * mag, None, None


def shift_weight(p: Tensor, s: Tensor, e_min: int, e_max: int) -> Tensor:
    """Shift-layer weights from trainable shifts ``p`` and signs ``s`` (ternary: |s| <= 0.5 gives 0)."""
    return _ShiftWeight.apply(p, s, e_min, e_max)
