"""Input codes: a model that reads its raw float input (Brevitas' ResNet-18 has no input quantizer) may
declare that input to be integer codes times a scale (8-bit pixels / 255). A Quant node with that grid goes
in front of every reader of the input; on inputs that lie on the grid it changes no value, and it makes the
first layer an integer layer that runs in hardware instead of in the host head."""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from bnncc.errors import BnnccError
from bnncc.ir.float_ops import FloatNode
from bnncc.ir.graph import FloatGraph


@dataclass(frozen=True)
class InputCodes:
    """The declared input grid: `bits`-bit codes (signed or not) times `scale`."""

    bits: int
    signed: bool
    scale: float

    @classmethod
    def parse(cls, dtype: str, scale: str | None) -> InputCodes:
        m = re.fullmatch(r"(u?)int([1-8])", dtype.strip())
        if not m:
            raise BnnccError(f"--input-codes {dtype!r}: expected uint1..uint8 or int2..int8")
        signed = not m.group(1)
        bits = int(m.group(2))
        if signed and bits < 2:
            raise BnnccError("--input-codes int1: a signed code needs at least 2 bits")
        try:
            value = float(Fraction(scale.strip())) if scale is not None else 1.0
        except (ValueError, ZeroDivisionError):
            raise BnnccError(f"--input-scale {scale!r}: expected a number or a fraction such as 1/255") from None
        if not (np.isfinite(value) and value > 0):
            raise BnnccError(f"--input-scale {scale!r}: must be above zero")
        return cls(bits, signed, value)

    def grid(self) -> np.ndarray:
        lo, hi = (-(1 << (self.bits - 1)), (1 << (self.bits - 1)) - 1) if self.signed else (0, (1 << self.bits) - 1)
        return (np.arange(lo, hi + 1, dtype=np.float32) * np.float32(self.scale)).astype(np.float32)

    def off_grid(self, x: np.ndarray) -> int:
        """How many elements of `x` are not a code times the scale (to float32 rounding, as k / 255 is) or lie
        outside the codes' range."""
        grid = self.grid()
        codes = np.asarray(x, np.float64) / self.scale
        near = np.abs(codes - np.round(codes)) <= 1e-3
        inside = (x >= grid[0] - 1e-3 * self.scale) & (x <= grid[-1] + 1e-3 * self.scale)
        return int(np.count_nonzero(~(near & inside)))


def apply(fg: FloatGraph, codes: InputCodes) -> FloatGraph:
    name = _fresh(fg, f"{fg.input}#codes")
    consts = {f"{name}#{k}": np.asarray(v, np.float32) for k, v in
              (("scale", codes.scale), ("zeropt", 0.0), ("bits", codes.bits))}
    fg.consts.update(consts)
    for n in fg.nodes:
        n.inputs = [name if i == fg.input else i for i in n.inputs]
    fg.outputs = [name if o == fg.input else o for o in fg.outputs]
    quant = FloatNode("Quant", [fg.input, *consts], [name], {"signed": int(codes.signed), "narrow": 0,
                                                             "rounding_mode": "ROUND"}, name)
    fg.nodes.insert(0, quant)
    return fg


def _fresh(fg: FloatGraph, base: str) -> str:
    taken = {t for n in fg.nodes for t in (*n.inputs, *n.outputs)} | set(fg.consts)
    name, k = base, 0
    while name in taken:
        k += 1
        name = f"{base}{k}"
    return name
