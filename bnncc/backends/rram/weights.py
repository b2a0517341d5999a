"""Signed integer weight matrices as crossbar cells: bit slices, conductances, ADC windows.

Two encodings (docs/rram-mapping.md, "Weight encodings"):

- **differential**: W = W+ - W-, both magnitudes sliced into c-bit digits; every (column, slice)
  is a pair of physical columns G+ / G- whose currents are subtracted before the ADC, so the
  g_off leakage cancels. The sensed value of a slice is sum_i b_i (D+_i - D-_i) in units of
  V_read * g_step.
- **reference**: one cell per weight digit, W = alpha * U + beta with U >= 0 sliced into c-bit
  digits, and one mid-conductance reference column per tile (g_ref = (g_on + g_off) / 2). The
  sensed value I - I_ref is sum_i b_i (2 D_i - L) in half steps (L = 2**c - 1); the periphery
  recovers sum_i b_i W_i = (sum_s alpha 2**(c s) P_s + kappa * n) / 2 with n the active word lines.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bnncc.backends.rram.config import RramConfig


@dataclass
class CellCode:
    """A weight matrix [K, MH] as digits of c-bit cells, and how to undo the encoding digitally."""

    encoding: str
    slices: int
    alpha: int  # reference encoding: W = alpha * U + beta (differential: 1, 0)
    beta: int
    digits: np.ndarray  # int64 [2 or 1, S, K, MH]: (D+, D-) for differential, (D,) for reference
    slice_weights: list[int]  # multiplier of slice s in the shift-add (a power of two)
    popcount_coef: int  # kappa: multiplier of the active word-line count before the final shift
    shift: int  # final arithmetic right shift (1 for the reference encoding's half steps)
    levels_max: int  # L = 2**c - 1

    @property
    def columns_per_slice(self) -> int:
        return 2 if self.encoding == "differential" else 1

    def signed(self) -> np.ndarray:
        """Sensed contribution of each cell when its word line is on, in units of i_unit: [S, K, MH]."""
        if self.encoding == "differential":
            return self.digits[0] - self.digits[1]
        return 2 * self.digits[0] - self.levels_max


def _slices(x: np.ndarray, cell_bits: int) -> np.ndarray:
    """Non-negative integers -> [S, ...] c-bit digits, least significant first (S >= 1)."""
    n_bits = max(int(x.max(initial=0)), 1).bit_length()
    n = -(-n_bits // cell_bits)
    mask = (1 << cell_bits) - 1
    return np.stack([(x >> (cell_bits * s)) & mask for s in range(n)])


def encode(w: np.ndarray, cfg: RramConfig) -> CellCode:
    """Slice the integer matrix for the configured encoding and cell precision."""
    w = np.asarray(w, dtype=np.int64)
    c, lmax = cfg.cell_bits, cfg.levels - 1
    if cfg.encoding == "differential":
        plus, minus = _slices(np.maximum(w, 0), c), _slices(np.maximum(-w, 0), c)
        s = max(len(plus), len(minus))
        pad = lambda d: np.concatenate([d, np.zeros((s - len(d),) + d.shape[1:], np.int64)])  # noqa: E731
        digits = np.stack([pad(plus), pad(minus)])
        return CellCode("differential", s, 1, 0, digits, [1 << (c * i) for i in range(s)], 0, 0, lmax)
    bipolar = bool(np.all(np.abs(w) == 1))
    alpha, beta = (2, -1) if bipolar else (1, int(w.min(initial=0)))
    digits = _slices((w - beta) // alpha, c)[None]
    s = digits.shape[1]
    weights = [alpha << (c * i) for i in range(s)]
    kappa = alpha * lmax * sum(1 << (c * i) for i in range(s)) + 2 * beta
    return CellCode("reference", s, alpha, beta, digits, weights, kappa, 1, lmax)


def tile_conductance(code: CellCode, rows: slice, cols: slice, cfg: RramConfig) -> np.ndarray:
    """Siemens [rows, physical columns] of one tile: per logical column j, per slice s, the G+ and G-
    columns (differential) or the one digit column (reference, then the reference column last)."""
    g = cfg.g_off + code.digits[:, :, rows, cols].astype(np.float64) * cfg.g_step  # [P, S, r, j]
    phys = g.transpose(2, 3, 1, 0)  # [r, j, S, P]: column order j-major, then slice, then G+/G-
    phys = phys.reshape(phys.shape[0], -1)
    if code.encoding == "reference":
        ref = np.full((phys.shape[0], 1), (cfg.g_on + cfg.g_off) / 2)
        phys = np.concatenate([phys, ref], axis=1)
    return np.ascontiguousarray(phys)


def adc_windows(code: CellCode, rows: slice, cols: slice) -> np.ndarray:
    """Per sensed column (j-major, then slice) the reachable [lo, hi] of its ADC input: [sensed, 2]."""
    q = code.signed()[:, rows, cols]  # [S, r, j]
    lo, hi = np.minimum(q, 0).sum(1), np.maximum(q, 0).sum(1)  # [S, j]
    return np.stack([lo.T.reshape(-1), hi.T.reshape(-1)], axis=1)


def exact_bits(windows: np.ndarray) -> int:
    """ADC bits that resolve every value of every window: ceil(log2(hi - lo + 1)), at least 1."""
    span = int((windows[:, 1] - windows[:, 0]).max(initial=0))
    return max(1, span.bit_length())
