"""Bit packing, written once: 0/1 arrays into little-endian 64-bit words (the executor's XNOR
kernel, the HLS weight and threshold arrays)."""

from __future__ import annotations

import numpy as np


def pack_bits(bits: np.ndarray) -> np.ndarray:
    """Pack a 0/1 array along its last axis into uint64 words (bit i at bit i % 64 of word i // 64)."""
    n = bits.shape[-1]
    words = -(-n // 64)
    padded = np.zeros(bits.shape[:-1] + (words * 64,), dtype=np.uint8)
    padded[..., :n] = bits
    return np.packbits(padded, axis=-1, bitorder="little").view("<u8")
