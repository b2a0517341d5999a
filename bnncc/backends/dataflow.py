"""IR graph -> streaming dataflow blocks with folding and a schedule, shared by the HLS and RTL
backends.

A block is one streaming process: an MVAU (matrix op, optionally with its thresholds fused), a
sliding-window generator, a max-pool, a standalone threshold, a label select, or a data-width
converter inserted where a producer's word (PE lanes) differs from its consumer's (SIMD lanes).
Each block knows its legal foldings and its cycles per image; the slowest block sets the initiation
interval.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from bnncc.backends.io_format import StreamFormat, signed_bits
from bnncc.errors import BnnccError
from bnncc.ir import ops
from bnncc.ir.dtypes import DataType
from bnncc.ir.graph import Graph
from bnncc.ir.passes.weight_grid import naf


def divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


@dataclass
class Block:
    name: str  # folding key: mvau0, swg0, pool0, thresh0, labelselect0, dwc0
    in_dtype: DataType
    out_dtype: DataType
    in_elements: int
    out_elements: int
    tensor: str  # the IR tensor this block's output equals (for traces)
    source: list[str] = field(default_factory=list)  # ONNX node names (comments only)

    kind = "block"

    @property
    def in_lanes(self) -> int:
        raise NotImplementedError

    @property
    def out_lanes(self) -> int:
        raise NotImplementedError

    def cycles(self) -> int:
        raise NotImplementedError

    def options(self) -> list[dict]:
        """Legal foldings, each a dict of this block's folding parameters."""
        return [{}]

    def set_folding(self, f: dict) -> None:
        pass

    def folding(self) -> dict:
        return {}

    @property
    def in_format(self) -> StreamFormat:
        return StreamFormat.of(self.in_dtype, self.in_elements, self.in_lanes)

    @property
    def out_format(self) -> StreamFormat:
        return StreamFormat.of(self.out_dtype, self.out_elements, self.out_lanes)


WEIGHT_KINDS = ("xnor", "bipolar", "ternary", "pow2", "int", "adder")


@dataclass
class Mvau(Block):
    """Matrix-vector unit: pixels x (MW -> MH), PE output lanes, SIMD input lanes, thresholds fused."""

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
    pe: int = 1
    simd: int = 1
    kind = "mvau"

    @property
    def in_lanes(self) -> int:
        return self.simd

    @property
    def out_lanes(self) -> int:
        return self.pe

    def cycles(self) -> int:
        return self.pixels * (self.mh // self.pe) * (self.mw // self.simd)

    def options(self) -> list[dict]:
        return [{"PE": p, "SIMD": s} for p in divisors(self.mh) for s in divisors(self.mw)]

    def set_folding(self, f: dict) -> None:
        pe, simd = int(f.get("PE", 1)), int(f.get("SIMD", 1))
        if self.mh % pe or self.mw % simd or pe < 1 or simd < 1:
            raise BnnccError(f"folding of {self.name}: PE={pe} must divide MH={self.mh} and SIMD={simd} must "
                             f"divide MW={self.mw}")
        self.pe, self.simd = pe, simd

    def folding(self) -> dict:
        return {"PE": self.pe, "SIMD": self.simd}

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
        codes = np.zeros_like(w)
        n, sign = np.abs(w), np.sign(w)
        term_bits = 2 + self.pow2_shift_bits
        slot = np.zeros_like(w)
        pos = 0
        while np.any(n):
            odd = (n & 1) == 1
            digit = np.where(odd, 2 - (n & 3), 0)
            s = np.where(digit * sign > 0, 1, 2)
            codes |= np.where(odd, (s | (pos << 2)) << (slot * term_bits), 0)
            slot += odd
            n = (n - digit) >> 1
            pos += 1
        return codes


@dataclass
class Swg(Block):
    """Sliding-window generator: NHWC frame in, windows (kh, kw, c) out, SIMD channels per word both
    ways (SIMD | C, as FINN's), so frame memory is read one word per cycle."""

    h: int = 0
    w: int = 0
    c: int = 0
    k: int = 1
    stride: int = 1
    pad: tuple[int, int, int, int] = (0, 0, 0, 0)
    pad_value: int = 0
    oh: int = 0
    ow: int = 0
    simd: int = 1
    kind = "swg"

    @property
    def in_lanes(self) -> int:
        return self.simd

    @property
    def out_lanes(self) -> int:
        return self.simd

    def cycles(self) -> int:
        # store and emit work on two frame buffers at once (ping-pong)
        return max(self.h * self.w, self.oh * self.ow * self.k * self.k) * self.c // self.simd

    def options(self) -> list[dict]:
        return [{"SIMD": s} for s in divisors(self.c)]

    def set_folding(self, f: dict) -> None:
        simd = int(f.get("SIMD", 1))
        if self.c % simd:
            raise BnnccError(f"folding of {self.name}: SIMD={simd} must divide the {self.c} input channels")
        self.simd = simd

    def folding(self) -> dict:
        return {"SIMD": self.simd}


@dataclass
class PeBlock(Block):
    """A block folded by PE lanes over its channels (pool, thresholds, label select)."""

    pe: int = 1

    @property
    def channels(self) -> int:
        raise NotImplementedError

    @property
    def in_lanes(self) -> int:
        return self.pe

    @property
    def out_lanes(self) -> int:
        return self.pe

    def options(self) -> list[dict]:
        return [{"PE": p} for p in divisors(self.channels)]

    def set_folding(self, f: dict) -> None:
        pe = int(f.get("PE", 1))
        if self.channels % pe:
            raise BnnccError(f"folding of {self.name}: PE={pe} must divide its {self.channels} channels")
        self.pe = pe

    def folding(self) -> dict:
        return {"PE": self.pe}


@dataclass
class Pool(PeBlock):
    """Max-pool k x k, stride s, NHWC, PE channel lanes in and out."""

    h: int = 0
    w: int = 0
    c: int = 0
    k: int = 2
    stride: int = 2
    oh: int = 0
    ow: int = 0
    kind = "pool"

    @property
    def channels(self) -> int:
        return self.c

    def cycles(self) -> int:
        return self.h * self.w * self.c // self.pe


@dataclass
class Thresh(PeBlock):
    """Standalone thresholds (where a pool sits between the matrix and its thresholds)."""

    c: int = 0
    pixels: int = 1
    thresholds: np.ndarray | None = None
    descending: np.ndarray | None = None
    kind = "thresh"

    @property
    def channels(self) -> int:
        return self.c

    @property
    def acc_bits(self) -> int:
        return signed_bits(min(self.in_dtype.min, int(self.thresholds.min())),
                           max(self.in_dtype.max, int(self.thresholds.max())))

    def cycles(self) -> int:
        return self.pixels * self.c // self.pe


@dataclass
class LabelSelect(PeBlock):
    """Top-1 over the classes, PE values per input word, one index out."""

    classes: int = 0
    kind = "labelselect"

    @property
    def channels(self) -> int:
        return self.classes

    @property
    def out_lanes(self) -> int:
        return 1

    def cycles(self) -> int:
        return self.classes // self.pe


@dataclass
class Dwc(Block):
    """Data-width converter between a producer's PE lanes and a consumer's SIMD lanes."""

    lanes_in: int = 1
    lanes_out: int = 1
    kind = "dwc"

    @property
    def in_lanes(self) -> int:
        return self.lanes_in

    @property
    def out_lanes(self) -> int:
        return self.lanes_out

    def cycles(self) -> int:
        return self.in_elements // math.gcd(self.lanes_in, self.lanes_out)  # gcd lanes move per cycle


@dataclass
class Dataflow:
    blocks: list[Block]
    input_format: StreamFormat
    output_format: StreamFormat
    output_tensor: str

    def foldable(self) -> list[Block]:
        return [b for b in self.blocks if b.kind != "dwc"]

    def by_name(self) -> dict[str, Block]:
        return {b.name: b for b in self.blocks}

    def interval(self) -> int:
        return max(b.cycles() for b in self.blocks)


def _pixels(shape: tuple[int, ...]) -> int:
    return int(np.prod(shape[:-1]))


def _weight_kind(op, in_dtype: DataType) -> str:
    if isinstance(op, ops.XnorPopcount):
        return "xnor"
    if isinstance(op, ops.Adder):
        return "adder"
    g = op.grid.kind
    return "ternary" if g == "ternary" else g if g in ("bipolar", "pow2") else "int"


def build(graph: Graph) -> Dataflow:
    """Blocks for the graph's hardware part, unfolded (PE = SIMD = 1), with width converters."""
    nodes = graph.nodes
    hw = [i for i, n in enumerate(nodes) if not n.host]
    if not hw:
        raise BnnccError(f"{graph.path}: the model has no integer layers to put in hardware")
    blocks: list[Block] = []
    count: dict[str, int] = {}

    def name(kind: str) -> str:
        count[kind] = count.get(kind, 0) + 1
        return f"{kind}{count[kind] - 1}"

    i = hw[0]
    while i <= hw[-1]:
        n = nodes[i]
        t_in, t_out = graph.types[n.input], graph.types[n.output]
        src = list(n.source)
        if isinstance(n.op, ops.Flatten):
            i += 1
            continue
        if isinstance(n.op, ops.XnorPopcount | ops.MatMul | ops.Adder):
            w = n.op.weights.astype(np.int64)
            kind = _weight_kind(n.op, t_in.dtype)
            mvau = Mvau(name("mvau"), t_in.dtype, t_out.dtype, t_in.size, t_out.size, n.output, src,
                        mw=w.shape[0], mh=w.shape[1], pixels=_pixels(t_in.shape), weight_kind=kind, weights=w,
                        acc_dtype=t_out.dtype)
            if kind == "pow2":
                terms, top = naf(w)
                mvau.pow2_terms = max(1, int(terms.max()))
                mvau.pow2_shift_bits = max(1, int(top.max()).bit_length())
            nxt = nodes[i + 1] if i + 1 <= hw[-1] else None
            if nxt is not None and isinstance(nxt.op, ops.MultiThreshold):
                mvau.thresholds, mvau.descending = nxt.op.thresholds, nxt.op.descending
                mvau.out_dtype, mvau.tensor = graph.types[nxt.output].dtype, nxt.output
                mvau.source += nxt.source
                i += 1
            blocks.append(mvau)
        elif isinstance(n.op, ops.SlidingWindow):
            h, w, c = t_in.shape
            oh, ow, _ = t_out.shape
            blocks.append(Swg(name("swg"), t_in.dtype, t_out.dtype, t_in.size, t_out.size, n.output, src, h=h, w=w,
                              c=c, k=n.op.kernel, stride=n.op.stride, pad=n.op.pad, pad_value=n.op.pad_value,
                              oh=oh, ow=ow))
        elif isinstance(n.op, ops.MaxPool):
            h, w, c = t_in.shape
            oh, ow, _ = t_out.shape
            blocks.append(Pool(name("pool"), t_in.dtype, t_out.dtype, t_in.size, t_out.size, n.output, src, h=h,
                               w=w, c=c, k=n.op.kernel, stride=n.op.stride, oh=oh, ow=ow))
        elif isinstance(n.op, ops.MultiThreshold):
            blocks.append(Thresh(name("thresh"), t_in.dtype, t_out.dtype, t_in.size, t_out.size, n.output, src,
                                 c=t_in.shape[-1], pixels=_pixels(t_in.shape), thresholds=n.op.thresholds,
                                 descending=n.op.descending))
        elif isinstance(n.op, ops.LabelSelect):
            blocks.append(LabelSelect(name("labelselect"), t_in.dtype, t_out.dtype, t_in.size, 1, n.output, src,
                                      classes=t_in.shape[-1]))
        else:
            raise BnnccError(f"{graph.path}: {type(n.op).__name__} has no FPGA block")
        i += 1
    first = nodes[hw[0]]
    last = nodes[hw[-1]]
    df = Dataflow(blocks, StreamFormat.of(graph.types[first.input].dtype, 1, 1), blocks[-1].out_format, last.output)
    return relink(df)


def relink(df: Dataflow) -> Dataflow:
    """(Re)insert width converters for the current folding and refresh the stream formats."""
    core = [b for b in df.blocks if b.kind != "dwc"]
    linked: list[Block] = [core[0]]
    n_dwc = 0
    for prev, cur in zip(core, core[1:], strict=False):
        if prev.out_lanes != cur.in_lanes:
            linked.append(Dwc(f"dwc{n_dwc}", prev.out_dtype, prev.out_dtype, prev.out_elements, prev.out_elements,
                              prev.tensor, lanes_in=prev.out_lanes, lanes_out=cur.in_lanes))
            n_dwc += 1
        linked.append(cur)
    df.blocks = linked
    df.input_format = StreamFormat.of(core[0].in_dtype, core[0].in_elements, core[0].in_lanes)
    df.output_format = linked[-1].out_format
    return df
