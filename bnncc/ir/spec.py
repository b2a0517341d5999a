"""Quantizer specifications, written once and shared by the IR, the dialect writer and the training
library: the integer code range of an n-bit quantizer and the integer quantizer the dialect spells
``Mul(Clip(Round(Div(x, scale)), qmin, qmax), scale)``."""

from __future__ import annotations

from dataclasses import dataclass

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
