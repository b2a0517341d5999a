"""FPGA parts bnncc targets, with their resource capacities (from the vendors' product tables)."""

from __future__ import annotations

from dataclasses import dataclass

from bnncc.errors import BnnccError


@dataclass(frozen=True)
class Device:
    part: str
    family: str  # vendor tool family: "zynq" | "zynquplus" | "virtexuplus" | "ecp5"
    lut: int
    ff: int
    bram18: int  # 18 Kb block RAMs (Xilinx: 2 per BRAM36; Lattice: EBR blocks)
    dsp: int
    uram: int = 0
    lut_inputs: int = 6  # inputs of one LUT (Xilinx LUT6, Lattice LUT4): the unit LUT counts are in
    # aspect ratios (depth, width) of one 18 Kb block RAM: Xilinx RAMB18 (simple dual port), Lattice
    # ECP5 EBR (DP16KD, PDPW16KD for 512 x 36) offer the same six
    bram_shapes: tuple[tuple[int, int], ...] = ((16384, 1), (8192, 2), (4096, 4), (2048, 9), (1024, 18), (512, 36))

    @property
    def lutram_depth(self) -> int:
        """Words of one bit that one LUT holds as distributed RAM (64 in a LUT6, 16 in a LUT4)."""
        return 1 << self.lut_inputs

    @property
    def vendor(self) -> str:
        return "lattice" if self.family == "ecp5" else "xilinx"

    def capacity(self) -> dict[str, int]:
        return {"lut": self.lut, "ff": self.ff, "bram18": self.bram18, "dsp": self.dsp, "uram": self.uram}


DEVICES: dict[str, Device] = {d.part: d for d in [
    # Zynq-7020 (PYNQ-Z1/Z2): 53,200 LUT, 106,400 FF, 140 BRAM36, 220 DSP48E1
    Device("xc7z020clg400-1", "zynq", 53_200, 106_400, 280, 220),
    # Zynq UltraScale+ ZU3EG (Ultra96): 70,560 LUT, 141,120 FF, 216 BRAM36, 360 DSP48E2
    Device("xczu3eg-sbva484-1-e", "zynquplus", 70_560, 141_120, 432, 360),
    # Zynq UltraScale+ ZU7EV (ZCU104): 230,400 LUT, 460,800 FF, 312 BRAM36, 1,728 DSP, 96 URAM
    Device("xczu7ev-ffvc1156-2-e", "zynquplus", 230_400, 460_800, 624, 1_728, 96),
    # Alveo U250: 1,728,000 LUT, 3,456,000 FF, 2,688 BRAM36, 12,288 DSP, 1,280 URAM
    Device("xcu250-figd2104-2L-e", "virtexuplus", 1_728_000, 3_456_000, 5_376, 12_288, 1_280),
    # Lattice ECP5-85F (open flow: yosys + nextpnr): 83,640 LUT4, 208 EBR (18 Kb), 156 18x18 multipliers
    Device("LFE5U-85F-8BG381C", "ecp5", 83_640, 83_640, 208, 156, lut_inputs=4),
    Device("LFE5U-25F-6BG381C", "ecp5", 24_288, 24_288, 56, 28, lut_inputs=4),
]}

DEFAULT_PART = "xc7z020clg400-1"


def device(part: str) -> Device:
    if part not in DEVICES:
        raise BnnccError(f"--part {part}: unknown part; known: {', '.join(DEVICES)}")
    return DEVICES[part]
