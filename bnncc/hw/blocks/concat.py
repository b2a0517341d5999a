"""Channel concatenation (FINN's StreamingConcat): per pixel, the first input's channels and then the
second's, PE channels a word; it reads its inputs in turn, so its token model names the port of every
word it reads (`Steps.ports`)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from bnncc.errors import BnnccError
from bnncc.hw.block import Block, Fold, Param, divisors
from bnncc.hw.stream import StreamFormat
from bnncc.hw.tokens import Steps
from bnncc.ir import ops


@dataclass(eq=False)
class ConcatBlock(Block):
    c_a: int = 1
    c_b: int = 1
    pixels: int = 1

    kind: ClassVar[str] = "concat"
    fold_keys: ClassVar[tuple[str, ...]] = ("PE",)
    finn_prefixes: ClassVar[tuple[str, ...]] = ("StreamingConcat",)
    rtl_module: ClassVar[str] = "bnncc_concat"
    in_ports: ClassVar[tuple[str, ...]] = ("in0", "in1")
    hls_template: ClassVar[str] = "hls/blocks/concat.j2"
    rtl_template: ClassVar[str] = "rtl/blocks/concat.v"

    @classmethod
    def lower(cls, graph, nodes, i, name):
        n = nodes[i]
        if not isinstance(n.op, ops.Concat):
            return None
        if len(n.inputs) != 2:
            raise BnnccError(f"{graph.path}: node {n.describe()}: the FPGA concat joins two streams, not "
                             f"{len(n.inputs)} (nest them)")
        a, b = (graph.types[t] for t in n.inputs)
        out = graph.types[n.output]
        block = cls(name(cls.kind), a.dtype, out.dtype, out.size, out.size, n.output, list(n.source),
                    c_a=a.shape[-1], c_b=b.shape[-1], pixels=int(np.prod(a.shape[:-1])))
        return block, 1

    def options(self) -> list[Fold]:
        return [{"PE": p} for p in divisors(math.gcd(self.c_a, self.c_b))]

    def fold(self, given: Mapping[str, Any]) -> Fold:
        return {"PE": self._divides("PE", given, math.gcd(self.c_a, self.c_b), "the channels both inputs share")}

    def in_lanes(self, f: Fold):
        return f["PE"]

    def out_lanes(self, f: Fold):
        return f["PE"]

    def port_format(self, port: int, f: Fold) -> StreamFormat:
        return StreamFormat.of(self.in_dtype, self.pixels * (self.c_a if port == 0 else self.c_b), f["PE"])

    def cycles(self, f: Fold):
        return self.pixels * (self.c_a + self.c_b) // f["PE"]

    def steps(self, f: Fold) -> Steps:
        a, b = self.c_a // f["PE"], self.c_b // f["PE"]
        s = np.arange(self.pixels * (a + b))
        return Steps(need=s, produce=s, ports=np.tile(np.repeat([0, 1], [a, b]), self.pixels))

    def params(self, f: Fold) -> list[Param]:
        pe = f["PE"]
        return [Param("PE", pe), Param("BITS", self.in_bits), Param("PIXELS", self.pixels),
                Param("A_WORDS", self.c_a // pe), Param("B_WORDS", self.c_b // pe)]

    def describe(self) -> str:
        return f"concat of {self.c_a} + {self.c_b} channels"

    def terms(self, f: Fold, device, model) -> dict[str, dict[str, Any]]:
        # the input mux, a position counter and the handshake (Yosys: 14 LUT, 8 FF at 4 bits, 2 + 2 words)
        lanes = f["PE"] * self.in_bits
        counter = math.ceil(math.log2((self.c_a + self.c_b) // f["PE"] + 1))
        return {"lut": {"mux": lanes, "position": 2 * counter, "handshake": 2},
                "ff": {"registers": lanes + counter + 1}, "reg": {"lanes": lanes}}
