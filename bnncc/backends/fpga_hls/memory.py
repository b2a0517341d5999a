"""Weights, thresholds and threshold directions of a block as rows of 64-bit words, the layout
the HLS unit reads: one row per (output fold, input fold), PE x SIMD weights wide."""

from __future__ import annotations

import numpy as np


def words_of_bits(bits: np.ndarray) -> np.ndarray:
    """[rows, n] 0/1 -> [rows, ceil(n/64)] uint64 (bit j of the row at bit j % 64 of word j // 64)."""
    rows, n = bits.shape
    padded = np.zeros((rows, max(1, -(-n // 64)) * 64), dtype=np.uint8)
    padded[:, :n] = bits
    return np.packbits(padded, axis=1, bitorder="little").view("<u8")


def weight_rows(codes: np.ndarray, pe: int, simd: int, bits: int) -> np.ndarray:
    """codes [MW, MH] unsigned -> [NF*SF, words]: row nf*SF + sf, code (pe, s) at bit (pe*SIMD + s)*bits."""
    mw, mh = codes.shape
    nf, sf = mh // pe, mw // simd
    tiles = codes.reshape(sf, simd, nf, pe).transpose(2, 0, 3, 1).reshape(nf * sf, pe * simd)
    expanded = (tiles[..., None] >> np.arange(bits)) & 1
    return words_of_bits(expanded.reshape(nf * sf, -1).astype(np.uint8))


def threshold_rows(thresholds: np.ndarray | None, channels: int, pe: int) -> np.ndarray:
    """[C, T] int64 -> [NF, PE*max(T,1)] two's-complement words."""
    t = np.zeros((channels, 1), dtype=np.int64) if thresholds is None or thresholds.shape[1] == 0 else thresholds
    return t.astype(np.int64).reshape(channels // pe, -1).view(np.uint64)


def direction_rows(descending: np.ndarray | None, channels: int, pe: int) -> np.ndarray:
    d = np.zeros(channels, dtype=np.uint8) if descending is None else descending.astype(np.uint8)
    return words_of_bits(d.reshape(channels // pe, pe))


def c_rows(words: np.ndarray) -> list[str]:
    """C initializers of the rows, shortest hex (fully folded layers have one word per weight)."""
    return [", ".join(f"0x{w:x}ULL" for w in row) for row in words.tolist()]
