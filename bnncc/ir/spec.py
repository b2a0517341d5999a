"""Quantizer specifications, written once and shared by the IR, the dialect writer and the training
library: the integer code range of an n-bit quantizer, the integer quantizer the dialect spells
``Mul(Clip(Round(Div(x, scale)), qmin, qmax), scale)``, and inference BatchNorm's float32 affine."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BN_EPS = 1e-5  # the BatchNorm epsilon of the dialect and of bnncc.nn


@dataclass(frozen=True)
class IntQuantSpec:
    """An n-bit integer quantizer ``Mul(Clip(Round(Div(x, scale)), qmin, qmax), scale)``."""

    scale: float
    qmin: int
    qmax: int


def int_range(bits: int, signed: bool, narrow: bool = False) -> tuple[int, int]:
    """Integer code range of an n-bit quantizer, with QONNX's ``narrow`` meaning (drop one end code)."""
    if bits < 1:
        raise ValueError(f"bits must be >= 1, got {bits}")
    if signed:
        lo, hi = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
        return (lo + 1 if narrow else lo), hi
    hi = 2**bits - 1
    return 0, (hi - 1 if narrow else hi)


def batchnorm_affine(gamma, beta, mean, var, eps: float = BN_EPS) -> tuple[np.ndarray, np.ndarray]:
    """Inference BatchNorm as x * a + b with a = gamma * (1 / sqrt(var + eps)) and b = beta - mean * a, every
    step rounded to float32: the order onnxruntime's kernel (and so qonnx, which runs standard ops in it)
    computes, bit for bit. The spec's (x - mean) / sqrt(var + eps) * gamma + beta differs by a float32 step on
    about half the inputs, which at a quantizer's rounding point is another code."""
    f32 = np.float32
    g, b, m, v = (np.asarray(t, dtype=f32) for t in (gamma, beta, mean, var))
    a = (g * (f32(1) / np.sqrt(v + f32(eps)))).astype(f32)
    return a, (b - m * a).astype(f32)
