"""MVAU: a matrix-vector unit over pixels x (MW -> MH), PE output lanes x SIMD input lanes, its
thresholds fused. Weight kinds: xnor (bipolar inputs and weights: popcount), bipolar, ternary, int,
pow2 (k signed shifts) and adder (-|x - w|)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from bnncc.errors import BnnccError
from bnncc.hw import activation
from bnncc.hw.block import Block, Fold, Memory, Param, cached, divisors, per_fold
from bnncc.hw.enums import ENCODINGS, WEIGHT_KINDS
from bnncc.hw.requant import Requant
from bnncc.hw.stream import signed_bits
from bnncc.hw.tokens import Steps
from bnncc.ir import ops
from bnncc.ir.dtypes import DataType
from bnncc.ir.pow2 import naf, naf_digits

RAM_STYLES = ("auto", "block", "distributed")


def memory_style(style, where: str) -> str:
    """A ram_style a constant memory can have (UltraRAM has no initial contents, so it cannot hold one)."""
    if style == "ultra":
        raise BnnccError(f"{where} 'ultra': UltraRAM cannot be initialized, so it cannot hold constant weights "
                         "or thresholds; use block or distributed")
    if style not in RAM_STYLES:
        raise BnnccError(f"{where} {style!r} is not one of {', '.join(RAM_STYLES)}")
    return style


def _weight_kind(op) -> str:
    if isinstance(op, ops.XnorPopcount):
        return "xnor"
    if isinstance(op, ops.Adder):
        return "adder"
    g = op.grid.kind
    return g if g in ("bipolar", "ternary", "pow2") else "int"


def multiply_luts(w: int, a: int, lut_inputs: int) -> int:
    """FINN-R's LUTs of a W x A multiply: (2 * ceil((W + A) / K) - 1) * (W + A) for K-input LUTs."""
    return (2 * math.ceil((w + a) / lut_inputs) - 1) * (w + a)


@dataclass(eq=False)
class Mvau(Block):
    mw: int = 0
    mh: int = 0
    pixels: int = 1
    weight_kind: str = "int"
    weights: np.ndarray | None = None  # values [MW, MH] (xnor: bits 0/1)
    acc_dtype: DataType | None = None
    thresholds: np.ndarray | None = None  # [MH, L-1]
    descending: np.ndarray | None = None  # [MH]
    pow2_terms: int = 0
    pow2_shift_bits: int = 0
    requant: Requant | None = None  # the thresholds as a requantization, where that is exact

    kind: ClassVar[str] = "mvau"
    fold_keys: ClassVar[tuple[str, ...]] = ("PE", "SIMD")
    finn_prefixes: ClassVar[tuple[str, ...]] = ("MVAU", "MatrixVectorActivation")
    rtl_module: ClassVar[str] = "bnncc_mvau"
    pipeline_depth: ClassVar[int] = 5  # read, register, group sums, accumulate, compare
    hls_template: ClassVar[str] = "hls/blocks/mvau.j2"
    rtl_template: ClassVar[str] = "rtl/blocks/mvau.v"

    @classmethod
    def lower(cls, graph, nodes, i, name):
        n = nodes[i]
        if not isinstance(n.op, ops.XnorPopcount | ops.MatMul | ops.Adder):
            return None
        t_in, t_out = graph.types[n.input], graph.types[n.output]
        w = n.op.weights.astype(np.int64)
        kind = _weight_kind(n.op)
        fields: dict[str, Any] = {}
        if kind == "pow2":
            terms, top = naf(w)
            fields = {"pow2_terms": max(1, int(terms.max())), "pow2_shift_bits": max(1, int(top.max()).bit_length())}
        out_dtype, tensor, source, covered = t_out.dtype, n.output, list(n.source), 1
        nxt = nodes[i + 1] if i + 1 < len(nodes) else None
        readers = sum(n.output in m.inputs for m in nodes)
        if nxt is not None and isinstance(nxt.op, ops.MultiThreshold) and nxt.inputs == [n.output] and readers == 1:
            fields.update(thresholds=nxt.op.thresholds, descending=nxt.op.descending)
            out_dtype, tensor, source, covered = graph.types[nxt.output].dtype, nxt.output, source + nxt.source, 2
        if "thresholds" in fields:
            fields["requant"] = activation.requantization(fields["thresholds"], fields["descending"], t_out.dtype)
        block = cls(name(cls.kind), t_in.dtype, out_dtype, t_in.size, t_out.size, tensor, source, mw=w.shape[0],
                    mh=w.shape[1], pixels=int(np.prod(t_in.shape[:-1])), weight_kind=kind, weights=w,
                    acc_dtype=t_out.dtype, **fields)
        return block, covered

    # -- folding -----------------------------------------------------------------------------------
    def options(self) -> list[Fold]:
        return [{"PE": p, "SIMD": s, **a} for p in divisors(self.mh) for s in divisors(self.mw)
                for a in activation.variants(self.requant)]

    def fold(self, given: Mapping[str, Any]) -> Fold:
        f = {"PE": self._divides("PE", given, self.mh, "MH"), "SIMD": self._divides("SIMD", given, self.mw, "MW")}
        for key in ("ram_style", "ram_style_thresholds"):
            if key in given:
                f[key] = memory_style(given[key], f"folding of {self.name}: {key}")
        return activation.choose(self.name, given, f, self.requant, self.n_thresholds)

    def in_lanes(self, f: Fold):
        return f["SIMD"]

    def out_lanes(self, f: Fold):
        return f["PE"]

    def cycles(self, f: Fold):
        return self.pixels * (self.mh // f["PE"]) * (self.mw // f["SIMD"])

    def steps(self, f: Fold) -> Steps:
        """Folds in order (pixel, nf, sf): the input word of (pixel, sf) during the first output fold, an
        output word at the last input fold of each output fold, pipeline_depth registers later."""
        nf, sf = self.mh // f["PE"], self.mw // f["SIMD"]
        p, n, s = np.unravel_index(np.arange(self.pixels * nf * sf), (self.pixels, nf, sf))
        return Steps(need=np.where(n == 0, p * sf + s, -1), produce=np.where(s == sf - 1, p * nf + n, -1),
                     latency=self.pipeline_depth)

    # -- structure ---------------------------------------------------------------------------------
    @property
    def weight_bits(self) -> int:
        if self.weight_kind in ("xnor", "bipolar"):
            return 1
        if self.weight_kind == "pow2":
            return self.pow2_terms * (2 + self.pow2_shift_bits)
        return signed_bits(self.weights.min(), self.weights.max())  # the unit computes with signed weights

    @property
    def acc_bits(self) -> int:
        lo, hi = self.acc_dtype.min, self.acc_dtype.max
        if self.thresholds is not None:  # thresholds may sit one past the reachable range
            lo, hi = min(lo, int(self.thresholds.min())), max(hi, int(self.thresholds.max()))
        return signed_bits(lo, hi)

    @property
    def n_thresholds(self) -> int:
        return 0 if self.thresholds is None else self.thresholds.shape[1]

    def weight_codes(self) -> np.ndarray:
        """Per weight, the bits the unit stores (unsigned, `weight_bits` wide)."""
        w = self.weights.astype(np.int64)
        if self.weight_kind in ("xnor", "bipolar"):
            return (w > 0).astype(np.int64) if self.weight_kind == "bipolar" else w
        if self.weight_kind != "pow2":
            return w & ((1 << self.weight_bits) - 1)
        # k terms of (2-bit sign code: 0 none, 1 plus, 2 minus; shift) from the non-adjacent form
        codes, slot, sign = np.zeros_like(w), np.zeros_like(w), np.sign(w)
        term_bits = 2 + self.pow2_shift_bits
        for pos, digit in naf_digits(w):
            used = digit != 0
            s = np.where(digit * sign > 0, 1, 2)
            codes |= np.where(used, (s | (pos << 2)) << (slot * term_bits), 0)
            slot += used
        return codes

    def memories(self, f: Fold) -> list[Memory]:
        pe, simd = f["PE"], f["SIMD"]
        nf, sf = self.mh // pe, self.mw // simd
        # row nf*SF + sf holds the PE x SIMD codes of that fold, code (p, s) at element p*SIMD + s
        tiles = self.weight_codes().reshape(sf, simd, nf, pe).transpose(2, 0, 3, 1).reshape(nf * sf, pe * simd)
        return [Memory("w", "weights", tiles, self.weight_bits, self.weight_bits, "W", f.get("ram_style", "auto")),
                *activation.memories(self.thresholds, self.descending, self.requant, f, self.mh, self.acc_bits,
                                     f.get("ram_style_thresholds", "distributed"))]

    def params(self, f: Fold) -> list[Param]:
        i, o = self.in_format(f), self.out_format(f)
        pe, simd, n_thr = f["PE"], f["SIMD"], self.n_thresholds
        return [
            Param("MW", self.mw), Param("MH", self.mh), Param("SIMD", simd), Param("PE", pe),
            Param("NF", self.mh // pe, rtl=False), Param("SF", self.mw // simd, rtl=False),
            Param("PIXELS", self.pixels), Param("IN_BITS", i.bits), Param("IN_ENC", ENCODINGS[i.encoding]),
            Param("KIND", WEIGHT_KINDS[self.weight_kind]), Param("W_BITS", self.weight_bits),
            Param("W_WORDS", math.ceil(pe * simd * self.weight_bits / 64), rtl=False),
            Param("ACC_BITS", self.acc_bits), Param("N_THR", n_thr),
            *activation.params(self.requant, f, n_thr, self.acc_bits),
            Param("OUT_BITS", o.bits), Param("OUT_ENC", ENCODINGS[o.encoding]),
            Param("POW2_TERMS", max(self.pow2_terms, 1)), Param("POW2_SHIFT_BITS", max(self.pow2_shift_bits, 1)),
            Param("OUT_MIN", activation.out_min(self.out_dtype), ctype="int")]

    def describe(self) -> str:
        what = f"{self.weight_kind} matrix {self.mw}x{self.mh} over {self.pixels} pixel(s)"
        return what + (f", {self.n_thresholds} threshold(s)/channel" if self.thresholds is not None
                       else ", accumulators out")

    # -- cost --------------------------------------------------------------------------------------
    @property
    def cost_class(self) -> str:
        return f"mvau-{self.weight_kind}"

    def lane(self, in_bits: int, device, model) -> tuple[int, int]:
        """(LUTs, DSPs) of one PE x SIMD lane: the product (or |x - w|) of one input and one weight.
        An XNOR lane is costed, as FINN-R does, as a 2-bit multiply."""
        k, w_bits = device.lut_inputs, self.weight_bits
        if self.weight_kind == "xnor":
            return multiply_luts(1, 1, k), 0
        if self.weight_kind in ("bipolar", "ternary"):
            return in_bits + 1, 0  # a conditional negate / zero
        if self.weight_kind == "pow2":
            shift = 1 << self.pow2_shift_bits
            shifter = (in_bits + shift) * math.ceil(shift / 4)
            return self.pow2_terms * (shifter + in_bits + shift), 0
        if self.weight_kind == "adder":
            return 2 * (in_bits + 1), 0
        if model.multiplier_on_dsp(w_bits * in_bits, device):
            return 0, 1
        return multiply_luts(w_bits, in_bits, k), 0

    def weight_registers(self, pe: int, simd: int) -> int:
        """Memory.logic_registers of the weight ROM at PE x SIMD, from the bit planes of the codes: output bit
        (p, s, b) holds bit b of weights [s::SIMD, p::PE]. Up to 64 rows each output bit is one exact number;
        deeper, the bits that are not constant are counted, two of them alike being that unlikely."""
        nf, sf = self.mh // pe, self.mw // simd
        if nf * sf < 2:
            return 0
        planes = self._weight_planes().reshape(-1, sf, simd, nf, pe)
        if nf * sf > 64:
            ones = planes.sum(axis=(1, 3), dtype=np.int32)
            return int(((ones > 0) & (ones < nf * sf)).sum())
        rows = planes.transpose(0, 2, 4, 1, 3).reshape(-1, sf * nf).astype(np.uint64)  # row order: the ROM's
        distinct = np.unique(rows @ (np.uint64(1) << np.arange(sf * nf, dtype=np.uint64)))
        return int(len(distinct) - (distinct == 0).any() - (distinct == (1 << sf * nf) - 1).any())

    def _weight_planes(self) -> np.ndarray:
        """[weight_bits, MW, MH] booleans: the codes' bits, least significant first (computed once)."""
        bit = np.arange(self.weight_bits)[:, None, None]
        return cached(self, "planes", lambda: (self.weight_codes()[None] >> bit) & 1 > 0)

    def terms(self, f: Fold, device, model) -> dict[str, dict[str, Any]]:
        pe, simd = f["PE"], f["SIMD"]
        in_bits = self.in_bits
        lane, lane_dsp = self.lane(in_bits, device, model)
        sum_bits = 1 if self.weight_kind == "xnor" else in_bits + self.weight_bits
        tree = sum_bits * (2 * simd - 1) + self.acc_bits
        weights = model.memory((self.mh // pe) * (self.mw // simd), pe * simd * self.weight_bits,
                               f.get("ram_style", "auto"), device)
        # the input vector, reused for every PE fold
        buffer = model.memory(self.mw // simd, simd * in_bits, "auto", device)
        lut = {"control": 1, "lanes": pe * simd * lane, "adder_tree": pe * tree, "weight_memory": weights["lut"],
               "input_buffer": buffer["lut"]}
        bram = {"weight_memory": weights["bram18"], "input_buffer": buffer["bram18"]}
        dsp = {"lanes": pe * simd * lane_dsp}
        if self.thresholds is not None:
            t = activation.terms(self.requant, f, self.mh // pe, self.n_thresholds, self.acc_bits, device, model,
                                 f.get("ram_style_thresholds", "distributed"))
            lut["activation"], bram["activation"], dsp["activation"] = t["lut"], t["bram18"], t["dsp"]
        nf, sf = self.mh // pe, self.mw // simd
        # registers, for a fitted model's FF count (the analytical model derives FF from LUT): the input word
        # twice, the weight row's read (in block RAM the read register is the RAM's own) and its copy, the
        # activation rows' read, per PE the group sums (popcounts of up to 16 for XNOR), accumulator and
        # result, the output word and the fold counters
        rom_weights = per_fold(self, "weights", self.weight_registers, pe, simd)
        rom_activation = per_fold(self, "activation", lambda p, r: activation.registers(
            self.thresholds, self.descending, self.requant, p, r, self.mh, self.acc_bits), pe, f.get("requant", False))
        group = np.minimum(simd, 16)
        group_bits = np.ceil(np.log2(group + 1)) + 1 if self.weight_kind == "xnor" else self.acc_bits
        weights_in_bram = np.asarray(weights["bram18"]) > 0
        activation_in_bram = np.asarray(bram.get("activation", 0)) > 0
        reg = {"inputs": simd * in_bits, "weights": np.where(weights_in_bram, 1, 2) * rom_weights,
               "activation": np.where(activation_in_bram, 0, rom_activation),
               "partials": pe * -(-simd // group) * group_bits, "accumulators": pe * self.acc_bits,
               "outputs": pe * self.out_bits, "counters": np.ceil(np.log2(nf * sf * self.pixels + 1))}
        # fit-only structure: comparator bits of a threshold activation, product and adder-tree input bits
        thresholding = ~np.asarray(f.get("requant", False)) if self.thresholds is not None else False
        shape = {"compare_bits": np.where(thresholding, pe * self.n_thresholds * self.acc_bits, 0),
                 "product_bits": pe * simd * in_bits * self.weight_bits, "tree_bits": pe * simd * sum_bits,
                 # a ROM in logic: a LUT6 per 64 rows of each output bit it keeps
                 "weight_rom": np.where(weights_in_bram, 0, rom_weights * np.ceil(nf * sf / 64)),
                 "activation_rom": np.where(activation_in_bram, 0, rom_activation * np.ceil(nf / 64))}
        return {"lut": lut, "bram18": bram, "dsp": dsp, "reg": reg, "shape": shape}
