"""A block kind defined outside the package, to show (and test) that adding one touches nothing else:
`Negate`, an IR op (bipolar -x), and `Invert`, the block that lowers it (every bit of the stream
flipped), with its two templates in ./templates. Register it with bnncc.hw.registry.register."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from bnncc.hw.block import Fold, Param
from bnncc.hw.blocks.pe_block import PeBlock
from bnncc.ir.graph import TensorType


@dataclass
class Negate:
    """IR op: -x of a bipolar tensor (on bits: NOT)."""

    host = False

    def infer(self, t: TensorType) -> TensorType:
        assert t.dtype.is_bipolar
        return t

    def execute(self, x: np.ndarray) -> np.ndarray:
        return -x

    def describe(self, t_in: TensorType, t_out: TensorType) -> dict:
        return {"kind": "negate"}

    def __str__(self) -> str:
        return "Negate"


@dataclass(eq=False)
class Invert(PeBlock):
    c: int = 0

    kind: ClassVar[str] = "invert"
    rtl_module: ClassVar[str] = "bnncc_invert"
    template_root: ClassVar[Path] = Path(__file__).resolve().parent / "templates"
    hls_template: ClassVar[str] = "hls/blocks/invert.j2"
    rtl_template: ClassVar[str] = "rtl/blocks/invert.v"

    @classmethod
    def lower(cls, graph, nodes, i, name):
        n = nodes[i]
        if not isinstance(n.op, Negate):
            return None
        return cls.from_node(graph, n, name, c=graph.types[n.input].shape[-1]), 1

    @property
    def channels(self) -> int:
        return self.c

    def cycles(self, f: Fold):
        return self.in_elements // f["PE"]

    def params(self, f: Fold) -> list[Param]:
        return [Param("PE", f["PE"]), Param("BITS", self.in_bits), Param("WORDS", self.in_elements // f["PE"])]

    def describe(self) -> str:
        return f"bit inversion of {self.c} channels"

    def terms(self, f: Fold, device, model) -> dict[str, dict[str, Any]]:
        return {"lut": {"control": 1, "inverters": f["PE"] * self.in_bits}}
