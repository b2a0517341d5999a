"""Residual join (FINN's AddStreams): out = WA * a + WB * b per lane, one word of each input per cycle, PE
channels a word. The weights are the IR Add's (1 and 1 at equal scales, a shift at a power-of-two ratio);
its thresholds are the Thresh block after it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from bnncc.hw.block import Fold, Param
from bnncc.hw.blocks.pe_block import PeBlock
from bnncc.hw.enums import ENCODINGS
from bnncc.hw.stream import StreamFormat, element_format, signed_bits
from bnncc.hw.tokens import Steps
from bnncc.ir import ops
from bnncc.ir.dtypes import DataType


@dataclass(eq=False)
class AddBlock(PeBlock):
    c: int = 1
    pixels: int = 1
    wa: int = 1
    wb: int = 1
    b_dtype: DataType | None = None  # the second input's values (the first is in_dtype)

    kind: ClassVar[str] = "add"
    finn_prefixes: ClassVar[tuple[str, ...]] = ("AddStreams",)
    rtl_module: ClassVar[str] = "bnncc_add"
    in_ports: ClassVar[tuple[str, ...]] = ("in0", "in1")
    hls_template: ClassVar[str] = "hls/blocks/add.j2"
    rtl_template: ClassVar[str] = "rtl/blocks/add.v"

    @classmethod
    def lower(cls, graph, nodes, i, name):
        n = nodes[i]
        if not isinstance(n.op, ops.Add):
            return None
        a, b = (graph.types[t] for t in n.inputs)
        out = graph.types[n.output]
        block = cls(name(cls.kind), a.dtype, out.dtype, a.size, out.size, n.output, list(n.source), c=a.shape[-1],
                    pixels=int(np.prod(a.shape[:-1])), wa=n.op.wa, wb=n.op.wb, b_dtype=b.dtype)
        return block, 1

    @property
    def channels(self) -> int:
        return self.c

    def port_dtype(self, port: int) -> DataType:
        return self.in_dtype if port == 0 else self.b_dtype

    def port_format(self, port: int, f: Fold) -> StreamFormat:
        return StreamFormat.of(self.port_dtype(port), self.in_elements, f["PE"])

    def cycles(self, f: Fold):
        return self.pixels * self.c // f["PE"]

    def steps(self, f: Fold) -> Steps:
        s = np.arange(self.pixels * self.c // f["PE"])
        return Steps(need=s, produce=s, latency=self.pipeline_depth)

    def params(self, f: Fold) -> list[Param]:
        a, b, o = self.in_format(f), self.port_format(1, f), self.out_format(f)
        sum_bits = signed_bits(self.out_dtype.min, self.out_dtype.max)
        return [Param("PE", f["PE"]), Param("WORDS", self.pixels * self.c // f["PE"]),
                Param("A_BITS", a.bits), Param("A_ENC", ENCODINGS[a.encoding]),
                Param("B_BITS", b.bits), Param("B_ENC", ENCODINGS[b.encoding]),
                Param("WA", self.wa), Param("WB", self.wb), Param("SUM_BITS", sum_bits), Param("OUT_BITS", o.bits)]

    def describe(self) -> str:
        weights = "" if (self.wa, self.wb) == (1, 1) else f" ({self.wa}*a + {self.wb}*b)"
        return f"residual add of {self.c} channels{weights}"

    def terms(self, f: Fold, device, model) -> dict[str, dict[str, Any]]:
        pe = f["PE"]
        out_bits = element_format(self.out_dtype)[0]
        # a constant weight costs one adder per set bit beyond the first (shift-and-add)
        adders = max(1, bin(self.wa).count("1") + bin(self.wb).count("1") - 1)
        # no counter: the adders, the handshake and the output register (Yosys: 7 LUT, 6 FF for 4 + 4 -> 5 bits)
        return {"lut": {"adders": pe * adders * out_bits, "handshake": 2}, "ff": {"registers": pe * out_bits + 1},
                "reg": {"lanes": pe * (self.in_bits + element_format(self.b_dtype)[0] + out_bits)}}
