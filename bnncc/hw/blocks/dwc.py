"""Data-width converter, inserted wherever a producer's word (its PE lanes) differs from its
consumer's (SIMD lanes): IN lanes in, OUT lanes out, G = gcd(IN, OUT) lanes moved per cycle. Its
structure comes from the folding of its neighbours, so it has no folding of its own."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from bnncc.hw.block import Block, Fold, Param
from bnncc.hw.tokens import Steps


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

    def steps(self, f: Fold) -> Steps:
        """G lanes a cycle: an input word is needed at its first group and popped at its last; an output
        word is produced when its last group is filled."""
        g = math.gcd(self.lanes_in, self.lanes_out)
        pos = np.arange(self.in_elements // g) * g
        word_in, word_out = pos // self.lanes_in, pos // self.lanes_out
        return Steps(need=np.where(pos % self.lanes_in == 0, word_in, -1),
                     pop=np.where(pos % self.lanes_in == self.lanes_in - g, word_in, -1),
                     produce=np.where(pos % self.lanes_out == self.lanes_out - g, word_out, -1))

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
        lanes_in, lanes_out = np.asarray(lanes_in), np.asarray(lanes_out)
        # fit-only features: the output assembly (acc, out) and the two variable part-selects, which Yosys
        # builds as shifters over every value the position registers can hold
        shift_in = lanes_in * bits * np.ceil(np.log2(lanes_in + 1))
        shift_out = lanes_out * bits * np.ceil(np.log2(lanes_out + 1))
        return {"lut": {"control": 1, "registers": (lanes_in + lanes_out) * bits},
                "reg": {"assembly": 2 * lanes_out * bits, "positions": np.ceil(np.log2(lanes_in + 1))
                        + np.ceil(np.log2(lanes_out + 1))},
                "shape": {"shift_in": shift_in, "shift_out": shift_out}}


def dwc_cycles(elements: int, lanes_in, lanes_out):
    """Cycles per image of a width converter (gcd lanes move per cycle); arrays of lanes allowed."""
    return elements // np.gcd(lanes_in, lanes_out)
