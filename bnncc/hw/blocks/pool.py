"""Pooling K x K with stride K, NHWC, PE channel lanes in and out: a running maximum (max-pool) or sum
(average pool, whose division the thresholds after it hold) per output column of the current row."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from bnncc.errors import BnnccError
from bnncc.hw.block import Fold, Param
from bnncc.hw.blocks.pe_block import PeBlock
from bnncc.hw.enums import ENCODINGS
from bnncc.hw.tokens import Steps
from bnncc.ir import ops


@dataclass(eq=False)
class Pool(PeBlock):
    h: int = 0
    w: int = 0
    c: int = 0
    k: int = 2
    stride: int = 2
    oh: int = 0
    ow: int = 0
    sum: bool = False

    kind: ClassVar[str] = "pool"
    finn_prefixes: ClassVar[tuple[str, ...]] = ("StreamingMaxPool", "Pool")
    rtl_module: ClassVar[str] = "bnncc_pool"
    hls_template: ClassVar[str] = "hls/blocks/pool.j2"
    rtl_template: ClassVar[str] = "rtl/blocks/pool.v"

    @classmethod
    def lower(cls, graph, nodes, i, name):
        n = nodes[i]
        if not isinstance(n.op, ops.MaxPool | ops.SumPool):
            return None
        if n.op.kernel != n.op.stride:
            raise BnnccError(f"{graph.path}: node {n.describe()}: the streaming pool needs kernel = stride "
                             f"(got {n.op.kernel}, {n.op.stride})")
        (h, w, c), (oh, ow, _) = graph.types[n.input].shape, graph.types[n.output].shape
        return cls.from_node(graph, n, name, h=h, w=w, c=c, k=n.op.kernel, stride=n.op.stride, oh=oh, ow=ow,
                             sum=isinstance(n.op, ops.SumPool)), 1

    @property
    def channels(self) -> int:
        return self.c

    def cycles(self, f: Fold):
        return self.h * self.w * self.c // f["PE"]

    def steps(self, f: Fold) -> Steps:
        """One input word a cycle (y, x, channel fold); an output word at the last word of each window."""
        cf = self.c // f["PE"]
        y, x, c = np.unravel_index(np.arange(self.h * self.w * cf), (self.h, self.w, cf))
        last = (y < self.oh * self.k) & (x < self.ow * self.k) & (y % self.k == self.k - 1) & (x % self.k == self.k - 1)
        out = ((y // self.k) * self.ow + x // self.k) * cf + c
        return Steps(need=np.arange(len(y)), produce=np.where(last, out, -1))

    def params(self, f: Fold) -> list[Param]:
        i, o = self.in_format(f), self.out_format(f)
        return [Param("BITS", i.bits), Param("ENC", ENCODINGS[i.encoding]), Param("H", self.h), Param("W", self.w),
                Param("C", self.c), Param("K", self.k), Param("OH", self.oh), Param("OW", self.ow),
                Param("PE", f["PE"]), Param("SUM", int(self.sum)), Param("OUT_BITS", o.bits),
                Param("OUT_ENC", ENCODINGS[o.encoding])]

    def describe(self) -> str:
        what = "sum" if self.sum else "max"
        return f"{what}-pool {self.k}x{self.k}, {self.h}x{self.w}x{self.c} -> {self.oh}x{self.ow}"

    def terms(self, f: Fold, device, model) -> dict[str, dict[str, Any]]:
        pe = f["PE"]
        line = model.memory(self.ow * self.c // pe, pe * self.out_bits, "auto", device)
        return {"lut": {"control": 1, "line_buffer": line["lut"], "compare": pe * self.out_bits * 2},
                "bram18": {"line_buffer": line["bram18"]}, "reg": {"lanes": pe * self.out_bits}}
