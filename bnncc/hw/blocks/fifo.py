"""A FIFO on the stream into a block: WIDTH-bit words, DEPTH deep. The schedule sets the depth; the
HLS writer declares it as the stream's depth, the RTL writer instantiates this module."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from bnncc.hw.block import Block, Fold, Param


@dataclass(eq=False)
class Fifo(Block):
    width: int = 1
    depth: int = 2
    words: int = 1  # words of one image on this stream

    kind: ClassVar[str] = "fifo"
    rtl_module: ClassVar[str] = "bnncc_fifo"
    rtl_template: ClassVar[str] = "rtl/blocks/fifo.v"

    def cycles(self, f: Fold):
        return 0

    def params(self, f: Fold) -> list[Param]:
        return [Param("WIDTH", self.width), Param("DEPTH", self.depth)]

    def describe(self) -> str:
        return f"{self.depth} x {self.width}-bit words"

    def terms(self, f: Fold, device, model) -> dict[str, dict[str, Any]]:
        return fifo_terms(self.depth, self.width, device, model)


def fifo_terms(depth, width, device, model) -> dict[str, dict[str, Any]]:
    """A FIFO's memory, its pointers and its output register; arrays of depths and widths allowed."""
    mem = model.memory(depth, width, "auto", device)
    address = np.ceil(np.log2(np.maximum(depth, 2)))
    in_ffs = ((np.asarray(depth) <= 2) & (np.asarray(width) <= 12)) | (np.asarray(depth) * width <= 4)
    return {"lut": {"memory": mem["lut"], "pointers": 20}, "bram18": {"memory": mem["bram18"]},
            "ff": {"registers": 2 * width + 20},
            # fit-only features. Yosys (synth_xilinx) keeps a 2-deep FIFO of at most 12-bit words, or one of at
            # most 4 bits, in flip-flops and maps any other to LUTRAM (measured on the calibration sweep)
            "reg": {"words": np.where(in_ffs, depth * width, 0), "width": width, "pointers": 3 * address + 1},
            "shape": {"read_mux": np.where(in_ffs, width * address, 0), "lutram_width": np.where(in_ffs, 0, width)}}
