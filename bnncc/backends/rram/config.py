"""The crossbar options of the RRAM backend, checked once so the mapper can trust them."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from bnncc.errors import BnnccError

ENCODINGS = ("differential", "reference")
# Device defaults: DNN+NeuroSim V1.3 (Param.cpp): Ron = 6 kOhm, Roff = 150 * Ron, V_read = 0.5 V,
# read pulse 10 ns. See docs/rram-mapping.md, "Estimate constants".
G_ON = 1.0 / 6e3
G_OFF = 1.0 / 900e3
V_READ = 0.5
T_READ = 10e-9
MAX_XBAR = 4096


@dataclass(frozen=True)
class RramConfig:
    """One crossbar technology: array size, weight encoding, cell precision, ADC, device conductances."""

    rows: int = 128
    cols: int = 128
    encoding: str = "differential"
    cell_bits: int = 1
    adc_bits: int | None = None  # None: the smallest resolution that keeps every layer exact
    g_on: float = G_ON
    g_off: float = G_OFF
    v_read: float = V_READ
    t_read: float = T_READ

    def __post_init__(self) -> None:
        if not (1 <= self.rows <= MAX_XBAR and 2 <= self.cols <= MAX_XBAR):
            raise BnnccError(f"--xbar {self.rows}x{self.cols}: rows must be 1..{MAX_XBAR} and columns 2..{MAX_XBAR}")
        if self.encoding not in ENCODINGS:
            raise BnnccError(f"--encoding {self.encoding}: expected one of {', '.join(ENCODINGS)}")
        if not 1 <= self.cell_bits <= 8:
            raise BnnccError(f"--cell-bits {self.cell_bits}: expected 1..8")
        if self.adc_bits is not None and not 1 <= self.adc_bits <= 24:
            raise BnnccError(f"--adc-bits {self.adc_bits}: expected 1..24")
        for name, g in (("--g-on", self.g_on), ("--g-off", self.g_off)):
            if not (math.isfinite(g) and 0 < g < 1):
                raise BnnccError(f"{name} {g}: expected a conductance in siemens, 0 < g < 1")
        if self.g_on <= self.g_off:
            raise BnnccError(f"--g-on {self.g_on} must be larger than --g-off {self.g_off}")

    @property
    def levels(self) -> int:
        """Conductance levels of one cell: 2**cell_bits, equally spaced from g_off to g_on."""
        return 1 << self.cell_bits

    @property
    def g_step(self) -> float:
        """Conductance of one digit of a cell (siemens)."""
        return (self.g_on - self.g_off) / (self.levels - 1)

    @property
    def xbar(self) -> str:
        return f"{self.rows}x{self.cols}"


def parse_xbar(text: str) -> tuple[int, int]:
    """``"128x128"`` -> (128, 128); a bad string is a one-line error naming the option."""
    m = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", text or "")
    if not m:
        raise BnnccError(f"--xbar {text!r}: expected ROWSxCOLS, e.g. 128x128")
    return int(m.group(1)), int(m.group(2))
