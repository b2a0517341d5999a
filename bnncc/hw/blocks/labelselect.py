"""Label select: the index of the largest of the classes (ties to the lowest), PE values per input
word, one index out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from bnncc.hw.block import Fold, Param
from bnncc.hw.blocks.pe_block import PeBlock
from bnncc.hw.enums import ENCODINGS
from bnncc.hw.tokens import Steps
from bnncc.ir import ops


@dataclass(eq=False)
class LabelSelect(PeBlock):
    classes: int = 0

    kind: ClassVar[str] = "labelselect"
    finn_prefixes: ClassVar[tuple[str, ...]] = ("LabelSelect",)
    rtl_module: ClassVar[str] = "bnncc_labelselect"
    hls_template: ClassVar[str] = "hls/blocks/labelselect.j2"
    rtl_template: ClassVar[str] = "rtl/blocks/labelselect.v"

    @classmethod
    def lower(cls, graph, nodes, i, name):
        n = nodes[i]
        if not isinstance(n.op, ops.LabelSelect):
            return None
        return cls.from_node(graph, n, name, classes=graph.types[n.input].shape[-1]), 1

    @property
    def channels(self) -> int:
        return self.classes

    def out_lanes(self, f: Fold):
        return 1

    def cycles(self, f: Fold):
        return self.classes // f["PE"]

    def steps(self, f: Fold) -> Steps:
        n = self.classes // f["PE"]
        return Steps(need=np.arange(n), produce=np.where(np.arange(n) == n - 1, 0, -1))

    def params(self, f: Fold) -> list[Param]:
        i, o = self.in_format(f), self.out_format(f)
        return [Param("BITS", i.bits), Param("ENC", ENCODINGS[i.encoding]), Param("CLASSES", self.classes),
                Param("PE", f["PE"]), Param("OUT_BITS", o.bits)]

    def describe(self) -> str:
        return f"top-1 of {self.classes}"

    def terms(self, f: Fold, device, model) -> dict[str, dict[str, Any]]:
        return {"lut": {"control": 1, "compare": f["PE"] * self.in_bits * 3}, "reg": {"lanes": f["PE"] * self.in_bits}}
