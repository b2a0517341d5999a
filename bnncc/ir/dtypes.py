"""Exact datatypes of IR tensors.

An integer tensor holds *values* (what the math uses: ±1 for bipolar, -1..1 for ternary); the
hardware stores *codes* 0..levels-1 (bipolar bit b = (v+1)/2, intN code v - min).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class DataType:
    name: str
    min: int = 0
    max: int = 0

    @property
    def is_float(self) -> bool:
        return self.name == "float32"

    @property
    def is_bipolar(self) -> bool:
        return self.name == "bipolar"

    @property
    def levels(self) -> int:
        """Number of distinct values (codes)."""
        return 2 if self.is_bipolar else self.max - self.min + 1

    @property
    def bits(self) -> int:
        """Bits of one code in hardware."""
        return 32 if self.is_float else max(1, int(self.levels - 1).bit_length())

    def values(self) -> np.ndarray:
        if self.is_bipolar:
            return np.array([-1, 1], dtype=np.int64)
        return np.arange(self.min, self.max + 1, dtype=np.int64)

    def to_codes(self, v: np.ndarray) -> np.ndarray:
        return (v + 1) // 2 if self.is_bipolar else v - self.min

    def from_codes(self, c: np.ndarray) -> np.ndarray:
        return 2 * c - 1 if self.is_bipolar else c + self.min

    def __str__(self) -> str:
        return self.name


FLOAT32 = DataType("float32")
BIPOLAR = DataType("bipolar", -1, 1)
BINARY = DataType("binary", 0, 1)
TERNARY = DataType("ternary", -1, 1)
INT64 = DataType("int64", -(1 << 63), (1 << 63) - 1)  # host-side integer outputs (indices), not a hardware type


@functools.lru_cache(maxsize=1024)
def small_int(lo: int, hi: int) -> np.dtype:
    """The narrowest numpy integer type holding [lo, hi] (tensors between layers stay small in memory)."""
    for t in (np.int8, np.int16, np.int32):
        info = np.iinfo(t)
        if info.min <= lo and hi <= info.max:
            return np.dtype(t)
    return np.dtype(np.int64)


def int_type(lo: int, hi: int) -> DataType:
    """The smallest named integer type holding [lo, hi] exactly (keeps the true range)."""
    lo, hi = int(lo), int(hi)
    if (lo, hi) == (0, 1):
        return BINARY
    if (lo, hi) == (-1, 1):
        return TERNARY
    if lo >= 0:
        return DataType(f"uint{max(1, hi.bit_length())}", lo, hi)
    bits = max((-lo - 1).bit_length(), max(hi, 0).bit_length()) + 1
    return DataType(f"int{bits}", lo, hi)

