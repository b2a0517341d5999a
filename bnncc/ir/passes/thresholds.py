"""Exact threshold extraction.

Given `counts(acc)`: the quantizer code that the *original float32 subgraph* produces for an
integer accumulator (BN, scalar Mul/Add, rounding, evaluated as ONNX/QONNX do), find per
channel the accumulator values where the code switches, by bisection over the reachable range.
Nothing is derived by algebra; the result is checked on every boundary and on random samples,
so a non-monotonic activation is reported instead of silently mis-compiled.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from bnncc.errors import BnnccError
from bnncc.ir.ops import threshold_counts

Counts = Callable[[np.ndarray], np.ndarray]  # int64 [B, C] accumulators -> int64 [B, C] codes


def extract(counts: Counts, lo: np.ndarray, hi: np.ndarray, levels: int, where: str,
            seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Thresholds int64 [C, levels-1] and a descending flag per channel."""
    lo, hi = lo.astype(np.int64), hi.astype(np.int64)
    c_lo, c_hi = counts(lo[None])[0], counts(hi[None])[0]
    desc = c_lo > c_hi
    sign = np.where(desc, -1, 1)
    u_lo, u_hi = np.minimum(sign * lo, sign * hi), np.maximum(sign * lo, sign * hi)
    k = np.arange(1, levels)[:, None]  # [L-1, 1]
    # Invariant: count(left) < k <= count(right), with virtual codes -inf / +inf outside the range.
    left = np.broadcast_to(u_lo - 1, (levels - 1, lo.size)).copy()
    right = np.broadcast_to(u_hi + 1, (levels - 1, lo.size)).copy()
    while np.any(right - left > 1):
        mid = (left + right) // 2
        active = right - left > 1
        ok = counts(np.where(active, mid * sign, lo)) >= k
        right = np.where(active & ok, mid, right)
        left = np.where(active & ~ok, mid, left)
    t = (right * sign).T.copy()  # [C, L-1]
    _verify(counts, t, desc, lo, hi, where, seed)
    return t, desc


def _verify(counts: Counts, t, desc, lo, hi, where: str, seed: int) -> None:
    span = hi - lo
    if span.max() < 4096:  # small ranges: every value, which includes every boundary and both ends
        acc = np.minimum(lo + np.arange(span.max() + 1)[:, None], hi)
    else:
        rng = np.random.default_rng(seed)
        acc = np.concatenate([np.clip(t.T - 1, lo, hi), np.clip(t.T, lo, hi), lo[None], hi[None],
                              lo + (rng.random((64, lo.size)) * (span + 1)).astype(np.int64).clip(0, span)])
    bad = np.argwhere(counts(acc) != threshold_counts(acc, t, desc))
    if bad.size:
        b, c = bad[0]
        raise BnnccError(f"{where}: the activation is not monotonic in the accumulator "
                         f"(channel {c}, accumulator {acc[b, c]}); non-monotonic activations are not supported")


def float32_ties(value: Callable[[np.ndarray], np.ndarray], count: Callable[[np.ndarray], np.ndarray],
                 t: np.ndarray, desc: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> int:
    """How many reachable thresholds sit on a float32 tie: on one side of the step, the model's float32 value
    at the quantizer (`value`: int64 [B, C] accumulators -> the quantizer's float32 input) is one float32
    step from another code. There a float runtime whose sums round differently (onnxruntime's convolution)
    can give the neighbouring code; bnncc's follow the model's ops on the exactly rounded accumulator."""
    lo, hi = lo.astype(np.int64), hi.astype(np.int64)
    step = t.T  # [L-1, C]: the first accumulator of the higher code (descending: of the lower code)
    other = step - np.where(desc, -1, 1)
    reachable = (np.minimum(step, other) >= lo) & (np.maximum(step, other) <= hi)
    tie = np.zeros(step.shape, bool)
    for acc in (step, other):
        acc = np.clip(acc, lo, hi)
        y = value(acc)
        codes = count(y).reshape(acc.shape)
        for direction in (np.inf, -np.inf):
            tie |= count(np.nextafter(y, np.asarray(direction, y.dtype))).reshape(acc.shape) != codes
    return int((tie & reachable).sum())
