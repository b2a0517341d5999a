"""Yosys cell counts as resources: the one parser of `stat -json` cell tables, used by `--synth` and by
calibration. Units follow what vendors report: LUTRAM in LUTs of the family (LUT6 / LUT4, "LUT as
memory"), BRAM in 18 Kb blocks (a RAMB36 is two, an ECP5 DP16KD one)."""

from __future__ import annotations

CELLS: dict[str, tuple[str, int]] = {
    **{f"LUT{k}": ("lut", 1) for k in range(1, 7)}, "INV": ("lut", 1),  # Vivado maps INV to a LUT1
    "FDRE": ("ff", 1), "FDSE": ("ff", 1), "FDCE": ("ff", 1), "FDPE": ("ff", 1), "TRELLIS_FF": ("ff", 1),
    "RAMB18E1": ("bram18", 1), "RAMB18E2": ("bram18", 1), "RAMB36E1": ("bram18", 2), "RAMB36E2": ("bram18", 2),
    "DP16KD": ("bram18", 1), "PDPW16KD": ("bram18", 1),
    "RAM32X1S": ("lutram", 1), "RAM64X1S": ("lutram", 1), "RAM128X1S": ("lutram", 2), "RAM256X1S": ("lutram", 4),
    "RAM32X1D": ("lutram", 2), "RAM64X1D": ("lutram", 2), "RAM128X1D": ("lutram", 4), "RAM256X1D": ("lutram", 8),
    "RAM32M": ("lutram", 4), "RAM64M": ("lutram", 4), "RAM32M16": ("lutram", 8), "RAM64M8": ("lutram", 8),
    "SRL16E": ("lutram", 1), "SRLC16E": ("lutram", 1), "SRLC32E": ("lutram", 1),
    "TRELLIS_DPR16X4": ("lutram", 4),
    "DSP48E1": ("dsp", 1), "DSP48E2": ("dsp", 1), "MULT18X18D": ("dsp", 1),
    "CARRY4": ("carry", 1), "CARRY8": ("carry", 1), "CCU2C": ("carry", 1),
}
RESOURCES = ("lut", "ff", "bram18", "lutram", "dsp", "carry")


def count(cells: dict[str, int]) -> dict[str, int]:
    """Resource totals of a {cell type: count} table (see CELLS for the units)."""
    total = dict.fromkeys(RESOURCES, 0)
    for cell, n in cells.items():
        if cell in CELLS:
            resource, units = CELLS[cell]
            total[resource] += units * n
    return total
