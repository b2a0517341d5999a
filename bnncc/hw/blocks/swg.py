"""Sliding-window generator: an NHWC frame in, windows in (kh, kw, c) order out, SIMD channels per
word both ways (SIMD | C, as FINN's), so frame memory is read one word per cycle."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from bnncc.hw.block import Block, Fold, Param, divisors
from bnncc.hw.tokens import Banked, Steps
from bnncc.ir import ops


@dataclass(eq=False)
class Swg(Block):
    h: int = 0
    w: int = 0
    c: int = 0
    k: int = 1
    stride: int = 1
    pad: tuple[int, int, int, int] = (0, 0, 0, 0)
    pad_value: int = 0
    oh: int = 0
    ow: int = 0

    kind: ClassVar[str] = "swg"
    fold_keys: ClassVar[tuple[str, ...]] = ("SIMD",)
    finn_prefixes: ClassVar[tuple[str, ...]] = (r"ConvolutionInputGenerator\w*?",)
    rtl_module: ClassVar[str] = "bnncc_swg"
    hls_template: ClassVar[str] = "hls/blocks/swg.j2"
    rtl_template: ClassVar[str] = "rtl/blocks/swg.v"

    @classmethod
    def lower(cls, graph, nodes, i, name):
        n = nodes[i]
        if not isinstance(n.op, ops.SlidingWindow):
            return None
        (h, w, c), (oh, ow, _) = graph.types[n.input].shape, graph.types[n.output].shape
        return cls.from_node(graph, n, name, h=h, w=w, c=c, k=n.op.kernel, stride=n.op.stride, pad=n.op.pad,
                             pad_value=n.op.pad_value, oh=oh, ow=ow), 1

    def options(self) -> list[Fold]:
        return [{"SIMD": s} for s in divisors(self.c)]

    def fold(self, given: Mapping[str, Any]) -> Fold:
        return {"SIMD": self._divides("SIMD", given, self.c, "the input channels C")}

    def in_lanes(self, f: Fold):
        return f["SIMD"]

    def out_lanes(self, f: Fold):
        return f["SIMD"]

    def cycles(self, f: Fold):
        # store and emit work on two frame buffers at once (ping-pong)
        return max(self.h * self.w, self.oh * self.ow * self.k * self.k) * self.c // f["SIMD"]

    def steps(self, f: Fold) -> Banked:
        """A writer storing one word a cycle into a frame bank, a reader emitting one window word a cycle
        from the other once its frame is complete (ping-pong)."""
        cf = self.c // f["SIMD"]
        writes, reads = self.h * self.w * cf, self.oh * self.ow * self.k * self.k * cf
        return Banked(writer=Steps(need=np.arange(writes), produce=np.full(writes, -1)),
                      reader=Steps(need=np.full(reads, -1), produce=np.arange(reads)), banks=2)

    def params(self, f: Fold) -> list[Param]:
        i = self.in_format(f)
        return [Param("BITS", i.bits), Param("H", self.h), Param("W", self.w), Param("C", self.c), Param("K", self.k),
                Param("STRIDE", self.stride), Param("OH", self.oh), Param("OW", self.ow),
                Param("IN_LANES", f["SIMD"], rtl=False), Param("SIMD", f["SIMD"]),
                Param("PAD_CODE", int(i.encode(self.pad_value))), Param("PAD_T", self.pad[0], ctype="int"),
                Param("PAD_L", self.pad[1], ctype="int")]

    def describe(self) -> str:
        return f"{self.k}x{self.k} windows, stride {self.stride}, {self.h}x{self.w}x{self.c} -> {self.oh}x{self.ow}"

    def terms(self, f: Fold, device, model) -> dict[str, dict[str, Any]]:
        simd = f["SIMD"]
        frame = model.memory(self.h * self.w * self.c // simd, simd * self.in_bits, "auto", device)
        # a ping-pong frame, an output mux per lane
        return {"lut": {"control": 1, "frames": 2 * frame["lut"], "muxes": simd * self.in_bits * 4},
                "bram18": {"frames": 2 * frame["bram18"]}, "reg": {"lanes": simd * self.in_bits}}
