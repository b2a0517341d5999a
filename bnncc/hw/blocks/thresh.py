"""Standalone thresholds (where a pool sits between a matrix and its thresholds): PE accumulators
per word in, PE codes out."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from bnncc.hw import activation
from bnncc.hw.block import Fold, Memory, Param, per_fold
from bnncc.hw.blocks.pe_block import PeBlock
from bnncc.hw.enums import ENCODINGS
from bnncc.hw.stream import signed_bits
from bnncc.hw.tokens import Steps
from bnncc.ir import ops


@dataclass(eq=False)
class Thresh(PeBlock):
    c: int = 0
    pixels: int = 1
    thresholds: np.ndarray | None = None
    descending: np.ndarray | None = None

    kind: ClassVar[str] = "thresh"
    finn_prefixes: ClassVar[tuple[str, ...]] = ("Thresholding",)
    rtl_module: ClassVar[str] = "bnncc_thresh"
    pipeline_depth: ClassVar[int] = 2  # the word with its threshold row, then the compare
    hls_template: ClassVar[str] = "hls/blocks/thresh.j2"
    rtl_template: ClassVar[str] = "rtl/blocks/thresh.v"

    @classmethod
    def lower(cls, graph, nodes, i, name):
        n = nodes[i]
        if not isinstance(n.op, ops.MultiThreshold):
            return None
        shape = graph.types[n.input].shape
        return cls.from_node(graph, n, name, c=shape[-1], pixels=int(np.prod(shape[:-1])), thresholds=n.op.thresholds,
                             descending=n.op.descending), 1

    @property
    def channels(self) -> int:
        return self.c

    @property
    def acc_bits(self) -> int:
        return signed_bits(min(self.in_dtype.min, int(self.thresholds.min())),
                           max(self.in_dtype.max, int(self.thresholds.max())))

    def cycles(self, f: Fold):
        return self.pixels * self.c // f["PE"]

    def steps(self, f: Fold) -> Steps:
        s = np.arange(self.pixels * self.c // f["PE"])
        return Steps(need=s, produce=s, latency=self.pipeline_depth)

    def memories(self, f: Fold) -> list[Memory]:
        return activation.memories(self.thresholds, self.descending, None, f, self.c, self.acc_bits)

    def params(self, f: Fold) -> list[Param]:
        i, o = self.in_format(f), self.out_format(f)
        pe, n_thr = f["PE"], self.thresholds.shape[1]
        return [Param("C", self.c, hls=False), Param("PE", pe), Param("NF", self.c // pe, rtl=False),
                Param("PIXELS", self.pixels), Param("IN_BITS", i.bits), Param("IN_ENC", ENCODINGS[i.encoding]),
                Param("ACC_BITS", self.acc_bits), Param("N_THR", n_thr), Param("N_THR_SLOTS", n_thr, rtl=False),
                Param("T_WORDS", pe * n_thr, rtl=False), Param("D_WORDS", math.ceil(pe / 64), rtl=False),
                Param("OUT_BITS", o.bits), Param("OUT_ENC", ENCODINGS[o.encoding]),
                Param("OUT_MIN", activation.out_min(self.out_dtype), ctype="int")]

    def describe(self) -> str:
        return f"{self.thresholds.shape[1]} threshold(s) on {self.c} channels"

    def terms(self, f: Fold, device, model) -> dict[str, dict[str, Any]]:
        pe = f["PE"]
        t = activation.terms(None, f, self.c // pe, self.thresholds.shape[1], self.acc_bits, device, model)
        rom = per_fold(self, "activation", lambda p: activation.registers(  # in block RAM: the RAM's own register
            self.thresholds, self.descending, None, p, False, self.c, self.acc_bits), pe)
        return {"lut": {"control": 1, "thresholds": t["lut"]}, "bram18": {"thresholds": t["bram18"]},
                "reg": {"lanes": pe * (self.in_bits + self.out_bits),
                        "thresholds": np.where(np.asarray(t["bram18"]) > 0, 0, rom)}}
