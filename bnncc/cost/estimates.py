"""Analytical resource estimates per dataflow block, FINN-R style.

Each formula counts the datapath in LUT6 units from the block's structure (PE, SIMD, bit widths,
weight kind) and its memories in BRAM18 or LUTRAM. Every constant lives in `COEFFS`, so calibration
against measured reports (Yosys, Vivado) can replace them without touching the formulas.

Following FINN-R, an XNOR lane is costed as a 2-bit multiply: (2*ceil((W+A)/6) - 1) * (W+A) LUTs
with W = A = 1, i.e. 2 LUTs; an n-input adder tree of b-bit values as b*(2n - 1) LUTs.
"""

from __future__ import annotations

import math

COEFFS: dict[str, float] = {
    "block_overhead_lut": 120.0,  # control, counters, stream handshakes per block (FINN-R uses 300 per MVAU)
    "datapath_scale": 1.1,  # FINN-R's c1: routing/packing slack on the datapath
    "ff_per_lut": 0.7,  # pipeline registers per datapath LUT
    "dsp_min_product_bits": 25,  # W*A above this maps a multiply to one DSP (below: LUTs)
    "lutram_max_depth": 128,  # memories shallower than this go to LUTRAM (64-deep per LUT6)
    "bram_min_bits": 4096,  # and so do memories smaller than this
}
BRAM18_SHAPES = [(16384, 1), (8192, 2), (4096, 4), (2048, 9), (1024, 18), (512, 36)]


def memory(depth: int, width: int, style: str = "auto") -> dict[str, int]:
    """Cost of a depth x width ROM/RAM: BRAM18s (best aspect ratio) or LUTRAM LUTs."""
    if depth <= 0 or width <= 0:
        return {"lut": 0, "bram18": 0}
    small = depth < COEFFS["lutram_max_depth"] or depth * width < COEFFS["bram_min_bits"]
    if style == "distributed" or (style == "auto" and small):
        return {"lut": width * math.ceil(depth / 64), "bram18": 0}
    return {"lut": 0, "bram18": min(math.ceil(depth / d) * math.ceil(width / w) for d, w in BRAM18_SHAPES)}


def multiply_luts(w: int, a: int) -> int:
    return (2 * math.ceil((w + a) / 6) - 1) * (w + a)


def lane_luts(kind: str, in_bits: int, w_bits: int, terms: int = 0, shift_bits: int = 0) -> tuple[int, int]:
    """(LUTs, DSPs) of one PE x SIMD lane: the product (or |x - w|) of one input and one weight."""
    if kind == "xnor":
        return multiply_luts(1, 1), 0
    if kind in ("bipolar", "ternary"):
        return in_bits + 1, 0  # a conditional negate / zero
    if kind == "pow2":
        shifter = (in_bits + (1 << shift_bits)) * math.ceil((1 << shift_bits) / 4)
        return terms * (shifter + in_bits + (1 << shift_bits)), 0
    if kind == "adder":
        return 2 * (in_bits + 1), 0
    if w_bits * in_bits > COEFFS["dsp_min_product_bits"]:
        return 0, 1
    return multiply_luts(w_bits, in_bits), 0


def thresholds_luts(channels_per_pe: int, pe: int, n: int, acc_bits: int) -> dict[str, int]:
    comparators = pe * n * acc_bits // 2 + pe * n  # a carry-chain compare is ~b/2 LUT6
    mem = memory(channels_per_pe, pe * n * acc_bits, "distributed")
    return {"lut": comparators + mem["lut"], "bram18": mem["bram18"]}


def estimate_block(b, ram_style: str = "auto") -> dict[str, int]:
    """LUT, FF, BRAM18, DSP of one block (duck-typed on the dataflow block's fields)."""
    lut, bram, dsp = COEFFS["block_overhead_lut"], 0, 0
    if b.kind == "mvau":
        in_bits = b.in_format.bits
        lane, lane_dsp = lane_luts(b.weight_kind, in_bits, b.weight_bits, b.pow2_terms, b.pow2_shift_bits)
        sum_bits = 1 if b.weight_kind == "xnor" else in_bits + b.weight_bits
        tree = sum_bits * (2 * b.simd - 1) + b.acc_bits
        lut += COEFFS["datapath_scale"] * (b.pe * (b.simd * lane + tree))
        dsp += b.pe * b.simd * lane_dsp
        mem = memory((b.mh // b.pe) * (b.mw // b.simd), b.pe * b.simd * b.weight_bits, ram_style)
        lut += mem["lut"]
        bram += mem["bram18"]
        buf = memory(b.mw // b.simd, b.simd * in_bits)  # the input vector, reused for every PE fold
        lut += buf["lut"]
        bram += buf["bram18"]
        if b.thresholds is not None:
            t = thresholds_luts(b.mh // b.pe, b.pe, b.n_thresholds, b.acc_bits)
            lut += t["lut"]
            bram += t["bram18"]
    elif b.kind == "thresh":
        t = thresholds_luts(b.c // b.pe, b.pe, b.thresholds.shape[1], b.acc_bits)
        lut += t["lut"]
        bram += t["bram18"]
    elif b.kind == "swg":
        bits = b.in_format.bits
        frame = memory(b.h * b.w * b.c // b.simd, b.simd * bits)
        lut += 2 * frame["lut"] + b.simd * bits * 4  # ping-pong frame, an output mux per lane
        bram += 2 * frame["bram18"]
    elif b.kind == "pool":
        bits = b.in_format.bits
        line = memory(b.ow * b.c // b.pe, b.pe * bits)
        lut += line["lut"] + b.pe * bits * 2
        bram += line["bram18"]
    elif b.kind == "labelselect":
        lut += b.pe * b.in_format.bits * 3
    elif b.kind == "dwc":
        lut += (b.in_format.word_bits + b.out_format.word_bits)
    lut = int(math.ceil(lut))
    return {"lut": lut, "ff": int(math.ceil(lut * COEFFS["ff_per_lut"])), "bram18": int(bram), "dsp": int(dsp)}
