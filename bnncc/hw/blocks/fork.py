"""Stream fork (FINN's DuplicateStreams): every word of the input to both outputs, in the same cycle; it
waits while either output is full. The dataflow puts one wherever a tensor has several readers (a tree of
them for more than two), so every other block has one output."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from bnncc.hw.block import Fold, Param
from bnncc.hw.blocks.pe_block import PeBlock
from bnncc.hw.tokens import Steps


@dataclass(eq=False)
class Fork(PeBlock):
    c: int = 1
    pixels: int = 1

    kind: ClassVar[str] = "fork"
    outputs: ClassVar[int] = 2
    out_ports: ClassVar[tuple[str, ...]] = ("out0", "out1")
    finn_prefixes: ClassVar[tuple[str, ...]] = ("DuplicateStreams",)
    rtl_module: ClassVar[str] = "bnncc_fork"
    hls_template: ClassVar[str] = "hls/blocks/fork.j2"
    rtl_template: ClassVar[str] = "rtl/blocks/fork.v"

    @property
    def channels(self) -> int:
        return self.c

    def cycles(self, f: Fold):
        return self.pixels * self.c // f["PE"]

    def steps(self, f: Fold) -> Steps:
        s = np.arange(self.pixels * self.c // f["PE"])
        return Steps(need=s, produce=s)

    def params(self, f: Fold) -> list[Param]:
        return [Param("PE", f["PE"]), Param("BITS", self.in_bits), Param("WORDS", self.pixels * self.c // f["PE"])]

    def describe(self) -> str:
        return f"fork of {self.c} channels to {self.outputs} streams"

    def terms(self, f: Fold, device, model) -> dict[str, dict[str, Any]]:
        # no counter: a word register and one valid bit per output (Yosys, xc7z020: 5 LUT, 6 FF at 4 bits)
        word = f["PE"] * self.in_bits
        return {"lut": {"handshake": 2 * self.outputs}, "ff": {"registers": word + self.outputs},
                "reg": {"lanes": word}}
