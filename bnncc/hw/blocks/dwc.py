"""Data-width converter, inserted wherever a producer's word (its PE lanes) differs from its
consumer's (SIMD lanes): IN lanes in, OUT lanes out, G = gcd(IN, OUT) lanes moved per cycle. Its
structure comes from the folding of its neighbours, so it has no folding of its own."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from bnncc.hw.block import Block, Fold, Param


@dataclass(eq=False)
class Dwc(Block):
    lanes_in: int = 1
    lanes_out: int = 1

    kind: ClassVar[str] = "dwc"
    rtl_module: ClassVar[str] = "bnncc_dwc"
    hls_template: ClassVar[str] = "hls/blocks/dwc.j2"
    rtl_template: ClassVar[str] = "rtl/blocks/dwc.v"

    def in_lanes(self, f: Fold):
        return self.lanes_in

    def out_lanes(self, f: Fold):
        return self.lanes_out

    def cycles(self, f: Fold):
        return dwc_cycles(self.in_elements, self.lanes_in, self.lanes_out)

    def params(self, f: Fold) -> list[Param]:
        return [Param("IN", self.lanes_in), Param("OUT", self.lanes_out), Param("BITS", self.in_bits),
                Param("ELEMENTS", self.in_elements, rtl=False), Param("G", math.gcd(self.lanes_in, self.lanes_out))]

    def describe(self) -> str:
        return f"{self.lanes_in} -> {self.lanes_out} lanes"

    def terms(self, f: Fold, device, model) -> dict[str, dict[str, Any]]:
        return self.terms_of(self.lanes_in, self.lanes_out, self.in_bits)

    @staticmethod
    def terms_of(lanes_in, lanes_out, bits: int) -> dict[str, dict[str, Any]]:
        """The cost terms of a converter between these lanes (arrays allowed): its word registers."""
        return {"lut": {"control": 1, "registers": (lanes_in + lanes_out) * bits}}


def dwc_cycles(elements: int, lanes_in, lanes_out):
    """Cycles per image of a width converter (gcd lanes move per cycle); arrays of lanes allowed."""
    return elements // np.gcd(lanes_in, lanes_out)
