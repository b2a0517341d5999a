"""Weight-grid detection: float weights -> integers on a grid times a scale.

Tries one power-of-two scale for the whole matrix first (exact for ±1, ternary, integer and
power-of-two weights), then a per-output-channel scale (Brevitas' float scales). Classifies the
integers as bipolar, ternary, pow2 (every weight a sum of k <= 2 signed powers of two, by its
non-adjacent form) or int.
"""

from __future__ import annotations

import numpy as np

from bnncc.errors import BnnccError
from bnncc.ir.ops import WeightGrid
from bnncc.ir.pow2 import naf, pow2_exponent

MAX_INT = 1 << 15


def _pow2_scale(w: np.ndarray) -> int | None:
    e_min = pow2_exponent(w)
    if e_min is None:
        return 0
    return e_min if np.abs(w[w != 0]).astype(np.float64).max() * 2.0**-e_min <= MAX_INT else None


def _column_scales(w: np.ndarray) -> np.ndarray | None:
    scales = np.ones(w.shape[1])
    for j in range(w.shape[1]):
        col = w[:, j]
        nz = np.abs(col[col != 0])
        if nz.size == 0:
            continue
        for m in range(1, 256):
            s = nz.min() / m
            q = col / s
            if np.all(np.abs(q - np.round(q)) <= 1e-3) and np.abs(q).max() <= MAX_INT:
                scales[j] = s
                break
        else:
            return None
    return scales


def detect(w: np.ndarray, where: str) -> tuple[np.ndarray, np.ndarray, WeightGrid]:
    """(integers [MW, MH], per-channel scale [MH] as float64, grid) with w ≈ integers * scale."""
    w = np.asarray(w, dtype=np.float64)
    if not np.all(np.isfinite(w)):
        raise BnnccError(f"{where}: weights contain NaN or infinity")
    magnitude = abs(float(w.flat[0])) if w.size else 0.0
    if magnitude > 0 and np.frexp(magnitude)[0] == 0.5 and np.all(np.abs(w) == magnitude):
        # ±2**e everywhere (every binary layer): what the general search below finds, without the search
        return np.sign(w).astype(np.int64), np.full(w.shape[1], magnitude), WeightGrid("bipolar", -1, 1)
    e_min = _pow2_scale(w)
    if e_min is not None:
        scale = np.full(w.shape[1], 2.0**e_min)
    else:
        cols = _column_scales(w)
        if cols is None:
            raise BnnccError(f"{where}: weights are not on an integer or power-of-two grid "
                             "(float weights are not supported in hardware)")
        scale = cols
    q = np.round(w / scale).astype(np.int64)
    lo, hi = int(q.min()), int(q.max())
    if lo >= -1 and hi <= 1 and not (q == 0).any():
        grid = WeightGrid("bipolar", -1, 1)
    elif lo >= -1 and hi <= 1:
        grid = WeightGrid("ternary", -1, 1)
    elif e_min is not None and naf(q)[0].max() <= 2:
        terms, top = naf(q)
        grid = WeightGrid("pow2", lo, hi, k=int(terms.max()), e_min=e_min, e_max=e_min + int(top.max()))
    else:
        grid = WeightGrid("int", lo, hi)
    return q, scale, grid
