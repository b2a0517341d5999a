"""How a block turns accumulators into output codes: threshold comparisons (any monotone activation) or,
where it is exact, requantization (bnncc.hw.requant: one multiply, add, shift and clip per lane). Both
forms' memories, parameters and cost terms, shared by the block kinds that end in an activation; the
folding's "requant" key picks the form, the optimizer the cheaper one."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from bnncc.errors import BnnccError
from bnncc.hw.block import Fold, Memory, Param
from bnncc.hw.requant import Requant, fit, signed_width
from bnncc.ir.dtypes import DataType

REQUANT_MIN_THRESHOLDS = 3  # fewer thresholds are always cheaper to compare than to multiply
REQUANT_BY_DEFAULT = 15  # from 4-bit codes on, a folding that does not say requantizes where it can


def out_min(dtype: DataType) -> int:
    """The value of output code 0 (thresholds count up from it; bipolar codes are bits)."""
    return 0 if dtype.is_bipolar else int(dtype.min)


def requantization(thresholds: np.ndarray | None, descending: np.ndarray | None, acc: DataType) -> Requant | None:
    """The requantization of a block's thresholds over its accumulator's range, where one is exact."""
    if thresholds is None or thresholds.shape[1] < REQUANT_MIN_THRESHOLDS:
        return None
    return fit(thresholds, descending, acc.min, acc.max)


def choose(name: str, given, f: Fold, requant: Requant | None, n_thresholds: int) -> Fold:
    """Add the folding's activation form to fold `f`: given["requant"], or the default for the block."""
    want = given.get("requant", requant is not None and n_thresholds >= REQUANT_BY_DEFAULT)
    if not isinstance(want, bool | np.bool_):
        raise BnnccError(f"folding of {name}: requant={want!r} must be true or false")
    if want and requant is None:
        raise BnnccError(f"folding of {name}: requant=true, but its thresholds are not an affine function of the "
                         "accumulator (or there are fewer than 3): it keeps threshold comparisons")
    if want:
        f["requant"] = True
    return f


def variants(requant: Requant | None) -> list[dict]:
    """The activation forms the optimizer may choose from, each said explicitly (a fold that leaves requant
    out gets the default form)."""
    return [{}] if requant is None else [{"requant": False}, {"requant": True}]


def memories(thresholds, descending, requant: Requant | None, f: Fold, channels: int, acc_bits: int,
             style: str = "distributed") -> list[Memory]:
    """Thresholds [NF, PE x max(T, 1)] (a zero slot when there are none) and directions [NF, PE]; or,
    requantizing, multipliers and biases [NF, PE] and the corrections' accumulators and amounts
    [NF, PE x F] (the RTL's ROMs; HLS has each correction table after the multipliers and biases)."""
    pe = f["PE"]
    if f.get("requant"):
        nf, fixes = channels // pe, requant.fixes
        mult, bias = requant.mult.reshape(nf, pe), requant.bias.reshape(nf, pe)
        at = (requant.fix_at if fixes else np.zeros((channels, 0), np.int64)).reshape(nf, pe * fixes)
        by = (requant.fix_by if fixes else np.zeros((channels, 0), np.int64)).reshape(nf, pe * fixes)
        rtl = [Memory("m", "requantization multipliers", mult, requant.mult_bits, 64, "M", style, hls=False),
               Memory("b", "requantization biases", bias, requant.bias_bits, 64, "B", style, hls=False)]
        if fixes:
            rtl += [Memory("x", "requantization corrections: accumulators", at, acc_bits, 64, "X", style, hls=False),
                    Memory("y", "requantization corrections: amounts", by, requant.fix_bits, 64, "Y", style,
                           hls=False)]
        return rtl + [
            Memory("m", "requantization multipliers, then the corrections' accumulators", np.hstack([mult, at]),
                   64, 64, "M", style, rtl=False),
            Memory("b", "requantization biases, then the corrections' amounts", np.hstack([bias, by]), 64, 64,
                   "B", style, rtl=False)]
    t = np.zeros((channels, 1), dtype=np.int64) if thresholds is None or thresholds.shape[1] == 0 else thresholds
    d = np.zeros(channels, dtype=np.int64) if descending is None else descending.astype(np.int64)
    return [Memory("t", "thresholds", t.astype(np.int64).reshape(channels // pe, -1), acc_bits, 64, "T", style),
            Memory("d", "threshold directions", d.reshape(channels // pe, pe), 1, 1, "D", "distributed")]


def registers(thresholds, descending, requant: Requant | None, pe: int, requantizing: int, channels: int,
              acc_bits: int) -> int:
    """Memory.logic_registers summed over the activation ROMs at PE: the flip-flops of their registered reads
    were they logic (the threshold and direction rows, or the requantization rows)."""
    f = {"PE": pe, "requant": bool(requantizing)}
    return sum(m.logic_registers() for m in memories(thresholds, descending, requant, f, channels, acc_bits) if m.rtl)


def params(requant: Requant | None, f: Fold, n_thresholds: int, acc_bits: int) -> list[Param]:
    """REQUANT and its widths (zeros when comparing), and the word counts of the two HLS tables."""
    pe, on = f["PE"], bool(f.get("requant"))
    m_bits, b_bits = (requant.mult_bits, requant.bias_bits) if on else (1, 1)
    fixes, fix_bits = (requant.fixes, requant.fix_bits) if on else (0, 1)
    return [Param("REQUANT", int(on)), Param("SHIFT", requant.shift if on else 0),
            Param("M_BITS", m_bits), Param("B_BITS", b_bits), Param("PROD_BITS", max(m_bits + acc_bits, b_bits) + 1),
            Param("FIXES", fixes), Param("FIX_BITS", fix_bits, hls=False),
            Param("N_THR_SLOTS", max(n_thresholds, 1), rtl=False),
            Param("T_WORDS", pe * (1 + fixes) if on else pe * max(n_thresholds, 1), rtl=False),
            Param("D_WORDS", pe * (1 + fixes) if on else math.ceil(pe / 64), rtl=False)]


def terms(requant: Requant | None, f: Fold, channels_per_pe, n_thresholds: int, acc_bits: int, device, model,
          style: str = "distributed") -> dict[str, Any]:
    """LUTs, BRAM18 and DSPs of the activation of PE lanes: comparators (a carry-chain compare is ~b/2
    LUTs) and their table, or a multiplier, adder and clip per lane, an equality compare and adder per
    correction, and a row of two numbers and the corrections per channel."""
    pe, chosen = f["PE"], np.asarray(f.get("requant", False))  # arrays in a batched estimate
    comparators = pe * n_thresholds * acc_bits // 2 + pe * n_thresholds
    mem = model.memory(channels_per_pe, pe * n_thresholds * acc_bits, style, device)
    compare = {"lut": comparators + mem["lut"], "bram18": mem["bram18"], "dsp": 0}
    if requant is None or not chosen.any():
        return compare
    m_bits, b_bits = requant.mult_bits, requant.bias_bits
    prod = max(m_bits + acc_bits, b_bits) + 1
    on_dsp = model.multiplier_on_dsp(m_bits * acc_bits, device)
    multiply = 0 if on_dsp else (2 * math.ceil((m_bits + acc_bits) / device.lut_inputs) - 1) * (m_bits + acc_bits)
    fixes = requant.fixes * (math.ceil(acc_bits / 3) + requant.fix_bits + 2)  # a LUT6 compares 3 bit pairs
    mem = model.memory(channels_per_pe, pe * (m_bits + b_bits + requant.fixes * (acc_bits + requant.fix_bits)),
                       style, device)
    scale = {"lut": pe * (multiply + prod + 2 * signed_width(np.array([n_thresholds])) + fixes) + mem["lut"],
             "bram18": mem["bram18"], "dsp": pe * math.ceil(m_bits / 18) * math.ceil(acc_bits / 25) * on_dsp}
    return {r: np.where(chosen, scale[r], compare[r]) for r in compare}
