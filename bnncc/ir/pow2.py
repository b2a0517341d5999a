"""Powers of two, written once: the exponent grid of float weights, and the non-adjacent form (NAF)
of integers, the fewest signed powers of two that sum to each (what LightNN weights are made of)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np


def pow2_exponent(w: np.ndarray) -> int | None:
    """The largest e with every weight an integer multiple of 2**e (None when all weights are zero)."""
    nz = np.abs(w[w != 0]).astype(np.float64)
    if nz.size == 0:
        return None
    mant, exp = np.frexp(nz)
    mi = (mant * 2.0**53).astype(np.uint64)
    tz = np.bitwise_count((mi & (~mi + np.uint64(1))) - np.uint64(1)).astype(np.int64)  # trailing zeros
    return int((exp - 53 + tz).min())


def naf_digits(n: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
    """(position, digit) per bit position of the NAF of |n|, lowest first; digits are -1, 0 or +1."""
    n = np.abs(np.asarray(n, dtype=np.int64))
    pos = 0
    while np.any(n):
        digit = np.where((n & 1) == 1, 2 - (n & 3), 0)
        yield pos, digit
        n = (n - digit) >> 1
        pos += 1


def naf(n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per element: (number of signed powers of two in the NAF of |n|, highest power used, -1 for 0)."""
    n = np.asarray(n, dtype=np.int64)
    count, top = np.zeros_like(n), np.full_like(n, -1)
    for pos, digit in naf_digits(n):
        count += digit != 0
        top = np.where(digit != 0, pos, top)
    return count, top
