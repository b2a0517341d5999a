"""Requantization: an n-bit activation as an affine function of the accumulator, rounded down and
clipped, instead of 2**n - 1 threshold comparisons.

A channel's thresholds T_1 <= ... <= T_{L-1} (ascending: code = #{k : acc >= T_k}; descending:
#{k : acc <= T_k}) are replaced by integers M, B and one shift S per block with

    code = clip((M * acc + B) >> S, 0, L - 1)          (an arithmetic shift: floor division)

where that is exact. Exactness is checked, not assumed: both codes are monotone in the accumulator in
the same direction, so they agree on the whole reachable range [lo, hi] if they agree at lo, at hi
and on both sides of every threshold, and that is a set of linear inequalities in (M, B),
`M * x + B >= k * 2**S` (code at x at least k) and `M * x + B <= k * 2**S - 1` (code at x below k).
For a fixed M the feasible B form an interval and its width is concave in M, so the best M is found
by an integer ternary search; S grows until every channel has a solution, up to MAX_SHIFT.

Thresholds derived from a float32 graph are not always on a line: where a boundary falls within
float32 rounding of an integer, the reference rounds it one accumulator step off (about half the
channels of a trained 8-bit layer). Such a channel gets the line that matches the most thresholds and
a few corrections, "at accumulator x, add d": the two codes are threshold counts, so they differ
exactly on the accumulators between a threshold T_k and its line's T'_k, and those are listed in full
(at most MAX_FIXES per channel; more, and the block keeps its thresholds).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MAX_SHIFT = 24  # the multiplier stays within one DSP48 input (25 x 18) for accumulators up to 18 bits
MAX_FIXES = 8  # corrections per channel: an equality compare each, cheap next to 2**n comparators


@dataclass(frozen=True)
class Requant:
    mult: np.ndarray  # int64 [C]: M (negative for a descending channel)
    bias: np.ndarray  # int64 [C]: B
    shift: int  # S, the same for every channel
    fix_at: np.ndarray | None = None  # int64 [C, F]: accumulators whose code the line gets wrong
    fix_by: np.ndarray | None = None  # int64 [C, F]: what to add there (0: an unused slot)

    @property
    def fixes(self) -> int:
        return 0 if self.fix_at is None else self.fix_at.shape[1]

    @property
    def fix_bits(self) -> int:
        return signed_width(self.fix_by) if self.fixes else 1

    @property
    def mult_bits(self) -> int:
        return signed_width(self.mult)

    @property
    def bias_bits(self) -> int:
        return signed_width(self.bias)


def signed_width(v: np.ndarray) -> int:
    """Bits of the two's-complement integers that hold every value of v."""
    lo, hi = int(np.min(v, initial=0)), int(np.max(v, initial=0))
    return max((-lo - 1).bit_length(), hi.bit_length()) + 1


def apply(r: Requant, acc: np.ndarray, levels: int) -> np.ndarray:
    """Codes of int64 accumulators [..., C]."""
    acc = acc.astype(np.int64)
    code = np.clip((r.mult * acc + r.bias) >> r.shift, 0, levels - 1)
    for f in range(r.fixes):
        code = code + np.where(acc == r.fix_at[:, f], r.fix_by[:, f], 0)
    return code


BIG = 1 << 62


def _fit(t: np.ndarray, lo: np.ndarray, hi: np.ndarray, shift: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per ascending channel (thresholds t [C, L-1] sorted, range [lo, hi]): (M, B, found) with
    clip((M * acc + B) >> shift, 0, L - 1) equal to the threshold count on the range where found."""
    levels = t.shape[1] + 1
    k = np.arange(1, levels, dtype=np.int64)[None, :] << shift
    lo, hi = lo[:, None], hi[:, None]
    hit, miss = t <= hi, t > lo  # code k is reached (at max(T_k, lo)); some accumulator stays below k
    x_hit, x_miss = np.maximum(t, lo), np.minimum(t - 1, hi)

    def window(m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        m = m[:, None]
        low = np.where(hit, k - m * x_hit, -BIG).max(axis=1)
        high = np.where(miss, k - 1 - m * x_miss, BIG).min(axis=1)
        return low, high

    m_lo = np.zeros(len(t), np.int64)
    m_hi = np.full(len(t), levels << shift, np.int64)  # more than L - 1 codes per accumulator step: never
    while np.any(m_hi - m_lo > 2):  # ternary search on the concave window width, all channels at once
        a, b = m_lo + (m_hi - m_lo) // 3, m_hi - (m_hi - m_lo) // 3
        (la, ha), (lb, hb) = window(a), window(b)
        rising = (ha - la) < (hb - lb)
        m_lo, m_hi = np.where(rising, a + 1, m_lo), np.where(rising, m_hi, b)
    mult, bias, found = m_lo.copy(), np.zeros(len(t), np.int64), np.zeros(len(t), bool)
    for step in range(3):
        m = np.minimum(m_lo + step, m_hi)
        low, high = window(m)
        new = ~found & (low <= high)
        mult, bias = np.where(new, m, mult), np.where(new, np.clip(0, low, high), bias)
        found |= new
    return mult, bias, found


def _line_thresholds(m: int, b: int, shift: int, levels: int) -> np.ndarray:
    """T'_k, the least x with (m * x + b) >> shift >= k (m > 0), for k = 1 .. levels - 1."""
    k = np.arange(1, levels, dtype=np.int64) << shift
    return -((b - k) // m)


def _corrections(t: np.ndarray, t_line: np.ndarray, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray] | None:
    """The accumulators in [lo, hi] where #{k: x >= t_k} and #{k: x >= t_line_k} differ, and by how much
    (None when they are more than MAX_FIXES)."""
    pos = np.concatenate([t, t_line])
    order = np.argsort(pos, kind="stable")
    pos, diff = pos[order], np.cumsum(np.concatenate([np.ones_like(t), -np.ones_like(t_line)])[order])
    at, by = [], []
    for i in np.flatnonzero(diff[:-1] != 0):  # the difference holds on [pos[i], pos[i + 1])
        start, stop = max(int(pos[i]), lo), min(int(pos[i + 1]) - 1, hi)
        if stop - start + 1 > MAX_FIXES - len(at):
            return None
        at += range(start, stop + 1)
        by += [int(diff[i])] * max(stop - start + 1, 0)
    return np.array(at, np.int64), np.array(by, np.int64)


def _fit_with_corrections(t: np.ndarray, lo: int, hi: int, shift: int):
    """For one ascending channel: (M, B, corrections at, by) of the line agreeing with the most
    thresholds, or None when it needs more than MAX_FIXES corrections."""
    levels = t.shape[0] + 1
    inside = (t > lo) & (t <= hi)
    k = np.arange(1, levels, dtype=np.int64)
    if inside.sum() < 2:
        return None
    slope = np.polyfit(k[inside], t[inside].astype(np.float64), 1)[0]
    if slope <= 0:
        return None
    if slope * levels < 1:  # more than L - 1 codes per accumulator step: no line
        return None
    best = None
    m0 = round((1 << shift) / slope)
    for m in range(max(m0 - 1, 1), m0 + 2):
        # T'_k == T_k exactly when B is in [k 2**S - m T_k, k 2**S - m (T_k - 1)): stab the most intervals
        starts = np.sort((k[inside] << shift) - m * t[inside])
        covered = np.arange(len(starts)) + 1 - np.searchsorted(starts, starts - m + 1)
        b = int(starts[int(np.argmax(covered))])
        fixes = _corrections(t, _line_thresholds(m, b, shift, levels), lo, hi)
        if fixes is not None and (best is None or len(fixes[0]) < len(best[2])):
            best = (m, b, *fixes)
    return best


def _far_from_a_line(t: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> bool:
    """Whether some channel's reachable thresholds stray more than MAX_FIXES accumulator steps from their
    least-squares line: then no line with a few corrections fits, and the search (seconds on a wide layer of
    random thresholds) is skipped. Affine thresholds stay within a step of it."""
    k = np.arange(t.shape[1], dtype=np.float64)[None, :]
    w = ((t > lo[:, None]) & (t <= hi[:, None])).astype(np.float64)
    n = np.maximum(w.sum(axis=1, keepdims=True), 1.0)
    mk, mt = (w * k).sum(axis=1, keepdims=True) / n, (w * t).sum(axis=1, keepdims=True) / n
    var = (w * (k - mk) ** 2).sum(axis=1, keepdims=True)
    slope = (w * (k - mk) * (t - mt)).sum(axis=1, keepdims=True) / np.where(var > 0, var, 1.0)
    return bool((w * np.abs(t - mt - slope * (k - mk))).max(initial=0.0) > MAX_FIXES)


def fit(thresholds: np.ndarray, descending: np.ndarray, lo, hi) -> Requant | None:
    """The requantization of thresholds [C, L-1] on the accumulator range [lo, hi] (per channel or one
    for all), or None when some channel has none with a shift up to MAX_SHIFT."""
    c = thresholds.shape[0]
    lo, hi = np.broadcast_to(lo, (c,)).astype(np.int64), np.broadcast_to(hi, (c,)).astype(np.int64)
    desc = np.asarray(descending, bool)
    # a descending channel counts #{k: acc <= T_k} = #{k: -acc >= -T_k}: ascending in -acc
    t = np.sort(np.where(desc[:, None], -thresholds.astype(np.int64), thresholds.astype(np.int64)), axis=1)
    lo, hi = np.where(desc, -hi, lo), np.where(desc, -lo, hi)
    if _far_from_a_line(t, lo, hi):
        return None
    mult, bias, shift = np.zeros(c, np.int64), np.zeros(c, np.int64), np.full(c, -1)
    for s in range(MAX_SHIFT + 1):
        todo = shift < 0
        if not todo.any():
            break
        m, b, found = _fit(t[todo], lo[todo], hi[todo], s)
        idx = np.flatnonzero(todo)[found]
        mult[idx], bias[idx], shift[idx] = m[found], b[found], s
    fixes: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for ch in np.flatnonzero(shift < 0):
        line = _fit_with_corrections(t[ch], int(lo[ch]), int(hi[ch]), MAX_SHIFT)
        if line is None:
            return None
        mult[ch], bias[ch], shift[ch], fixes[ch] = line[0], line[1], MAX_SHIFT, line[2:]
    top = int(shift.max())  # one shift for the block: floor(y / 2**s) = floor(y * 2**d / 2**(s + d))
    scale = np.left_shift(np.int64(1), top - shift)
    r = Requant(np.where(desc, -mult, mult) * scale, bias * scale, top)
    if not fixes:
        return r
    width = max(len(at) for at, _ in fixes.values())
    fix_at, fix_by = np.zeros((c, width), np.int64), np.zeros((c, width), np.int64)
    for ch, (at, by) in fixes.items():  # back from -acc for a descending channel
        fix_at[ch, :len(at)], fix_by[ch, :len(at)] = np.where(desc[ch], -at, at), by
    return Requant(r.mult, r.bias, r.shift, fix_at, fix_by)
