"""What every streaming block kind provides, and the small value types they share.

A block kind is one module in `bnncc/hw/blocks` holding one `Block` subclass: its lowering rule
from IR ops (`lower`), its legal foldings (`options`, `fold`), `cycles(fold)`, its stream widths,
its constant memories (the row layout both the HLS and the RTL writer render), one ordered
parameter table (`params`: the HLS cfg struct and the Verilog parameters both come from it), its
cost terms for a cost model (`terms`), and the names of its two templates (HLS, RTL).

A *fold* is a plain dict of one block's folding parameters (`{"PE": 4, "SIMD": 8}`): a value passed
to the block's methods, never stored in the block. Every method that takes a fold also accepts numpy
arrays as its values, so a cost model can evaluate thousands of foldings in one call.
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from bnncc.errors import BnnccError
from bnncc.hw.stream import StreamFormat, element_format
from bnncc.ir.dtypes import DataType
from bnncc.ir.graph import Graph, Node

TEMPLATES = Path(__file__).resolve().parents[1] / "templates"
Fold = dict[str, Any]


def divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


@dataclass(frozen=True)
class Param:
    """One entry of a block's parameter table: a `static const` of the HLS cfg struct and/or a
    Verilog parameter of the block's module."""

    name: str
    value: int
    ctype: str = "unsigned"
    hls: bool = True
    rtl: bool = True


@dataclass(frozen=True)
class Memory:
    """A constant memory: `rows` [R, n] integers, element k of a row at bits [k*bits, (k+1)*bits).
    The RTL ROM stores `bits` per element; the HLS array stores `hls_bits` (thresholds as whole
    64-bit words). `param` prefixes the Verilog parameters that name its file and its style; `hls` and
    `rtl` say which writers use it, where the two sides lay a table out differently."""

    name: str
    what: str
    rows: np.ndarray
    bits: int
    hls_bits: int
    param: str
    style: str = "auto"  # block RAM, LUTs ("distributed") or the synthesizer's choice
    hls: bool = True
    rtl: bool = True

    def bit_rows(self, bits: int) -> np.ndarray:
        """[R, n*bits] 0/1: every element's low `bits` bits, least significant first."""
        v = self.rows.astype(np.int64)
        if bits < 64:
            v = v & ((1 << bits) - 1)
        planes = (v.view(np.uint64)[..., None] >> np.arange(bits, dtype=np.uint64)) & np.uint64(1)
        return planes.reshape(v.shape[0], -1).astype(np.uint8)

    def logic_registers(self) -> int:
        """Flip-flops of the registered read of this memory held in logic (not block RAM), as the synthesizer
        leaves them: one per distinct output bit (a bit's values over the rows) that is not constant, because
        registers of equal inputs are merged and constant ones removed (Yosys: a 2-row ROM of any width keeps at
        most 2, one of 16 random rows all of them). Output bits are told apart by a random hash of their rows
        (two different ones collide with probability 2**-64)."""
        depth = self.rows.shape[0]
        if depth < 2:
            return 0
        packed = np.packbits(self.bit_rows(self.bits), axis=0)  # [ceil(depth / 8), bits]: 8 rows a byte
        weights = _row_weights(packed.shape[0])
        distinct = np.unique(weights @ packed.astype(np.uint64))  # the sums wrap: an exact hash
        ones = weights @ np.packbits(np.ones(depth, np.uint8)).astype(np.uint64)
        return len(distinct) - int((distinct == 0).any()) - int((distinct == ones).any())


@functools.lru_cache(maxsize=64)
def _row_weights(n: int) -> np.ndarray:
    return np.random.default_rng(n).integers(0, 2**64, n, dtype=np.uint64, endpoint=False)


_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # block -> key -> value


def cached(block: Block, key, fn: Callable[[], Any]) -> Any:
    """fn(), computed once per block and key: a value read off the block's tables (the block is unchanged)."""
    values = _CACHE.setdefault(block, {})
    if key not in values:
        values[key] = fn()
    return values[key]


def per_fold(block: Block, what: str, fn: Callable[..., int], *keys) -> np.ndarray:
    """fn(*key) for every folding of `keys` (integer arrays in a batched estimate), computed once per distinct
    key and block: for costs that read the block's tables, too slow for every folding of a search."""
    arrays = np.broadcast_arrays(*(np.asarray(k) for k in keys))
    values = [a.ravel().astype(np.int64) for a in arrays]
    code = np.zeros_like(values[0])
    for v in values:  # one integer per key (fold values are below 2**21), so that a 1-D unique finds them
        code = (code << 21) | v
    _, first, where = np.unique(code, return_index=True, return_inverse=True)
    out = np.array([cached(block, (what, *key), lambda key=key: fn(*key))
                    for key in zip(*(v[first].tolist() for v in values), strict=True)], dtype=np.int64)
    return out[where].reshape(arrays[0].shape)


@dataclass(eq=False)
class Block:
    """One streaming process of the dataflow. Subclasses are the block kinds."""

    name: str  # the folding key: mvau0, swg0, pool0, thresh0, labelselect0, dwc0
    in_dtype: DataType
    out_dtype: DataType
    in_elements: int
    out_elements: int
    tensor: str  # the IR tensor this block's output equals (for traces)
    source: list[str] = field(default_factory=list)  # ONNX node names (comments only)

    kind: ClassVar[str] = "block"
    fold_keys: ClassVar[tuple[str, ...]] = ()  # the folding parameters, in the order reports show them
    finn_prefixes: ClassVar[tuple[str, ...]] = ()  # regexes of FINN node names of this kind (folding_config.json)
    rtl_module: ClassVar[str] = ""
    in_ports: ClassVar[tuple[str, ...]] = ("in",)  # the RTL module's stream ports, by input / output port
    out_ports: ClassVar[tuple[str, ...]] = ("out",)
    pipeline_depth: ClassVar[int] = 1  # registers an input word passes on its way to an output word
    template_root: ClassVar[Path] = TEMPLATES  # holds hls/blocks/<kind>.j2 and rtl/blocks/<kind>.v
    hls_template: ClassVar[str | None] = None
    rtl_template: ClassVar[str | None] = None

    # -- lowering ----------------------------------------------------------------------------------
    @classmethod
    def lower(cls, graph: Graph, nodes: list[Node], i: int, name: Callable[[str], str]) -> tuple[Block, int] | None:
        """The block for hardware node `nodes[i]` and how many nodes it covers, or None if the kind
        does not lower it. `name(kind)` hands out the next block name of a kind."""
        return None

    @classmethod
    def from_node(cls, graph: Graph, node: Node, name: Callable[[str], str], **fields: Any) -> Block:
        """The block of this kind computing `node`: its input and output types, tensor and ONNX sources."""
        t_in, t_out = graph.types[node.input], graph.types[node.output]
        return cls(name(cls.kind), t_in.dtype, t_out.dtype, t_in.size, t_out.size, node.output, list(node.source),
                   **fields)

    # -- folding -----------------------------------------------------------------------------------
    def options(self) -> list[Fold]:
        """Legal foldings, in a fixed order."""
        return [{}]

    def fold(self, given: Mapping[str, Any]) -> Fold:
        """A checked fold from a folding file's entry (missing keys default to 1)."""
        return {}

    def _divides(self, key: str, given: Mapping[str, Any], total: int, what: str) -> int:
        value = given.get(key, 1)
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1 or total % value:
            raise BnnccError(f"folding of {self.name}: {key}={value!r} must be a positive integer dividing "
                             f"{what}={total}")
        return int(value)

    def in_lanes(self, f: Fold):
        raise NotImplementedError

    def out_lanes(self, f: Fold):
        raise NotImplementedError

    def cycles(self, f: Fold):
        raise NotImplementedError

    @property
    def in_bits(self) -> int:
        """Bits of one input element."""
        return element_format(self.in_dtype)[0]

    @property
    def out_bits(self) -> int:
        return element_format(self.out_dtype)[0]

    def in_format(self, f: Fold) -> StreamFormat:
        return StreamFormat.of(self.in_dtype, self.in_elements, int(self.in_lanes(f)))

    def out_format(self, f: Fold) -> StreamFormat:
        return StreamFormat.of(self.out_dtype, self.out_elements, int(self.out_lanes(f)))

    def port_format(self, port: int, f: Fold) -> StreamFormat:
        """The stream format of input `port` (blocks with one input have only port 0)."""
        return self.in_format(f)

    def port_dtype(self, port: int) -> DataType:
        """The values input `port` carries."""
        return self.in_dtype

    # -- what the writers read -----------------------------------------------------------------------
    def params(self, f: Fold) -> list[Param]:
        return []

    def memories(self, f: Fold) -> list[Memory]:
        return []

    def summary(self, f: Fold) -> str:
        """One line for comments and tables: what the block computes, its folding, its cycles."""
        fold = ", ".join(f"{k}={f[k]}" for k in self.fold_keys)
        return f"{self.describe()}{', ' + fold if fold else ''}; {self.cycles(f)} cycles/image"

    def describe(self) -> str:
        return self.kind

    def steps(self, f: Fold):
        """One image as the token model's step sequence (`bnncc.hw.tokens.Steps`, or `Banked` for a block
        with frame banks): which input word each cycle needs and pops, which output word it produces."""
        raise NotImplementedError(f"block kind {self.kind!r} has no token model")

    # -- cost ----------------------------------------------------------------------------------------
    @property
    def cost_class(self) -> str:
        """The group a fitted cost model keeps its own coefficients for: the kind, or a finer class where
        one kind's variants cost differently per term (an MVAU's weight kinds)."""
        return self.kind

    def cost(self, f: Fold, device, model) -> dict[str, Any]:
        """LUT, FF, BRAM18, DSP of the block at fold `f` on `device` under cost model `model`."""
        return model.block_cost(self.cost_class, self.terms(f, device, model), device)

    def terms(self, f: Fold, device, model) -> dict[str, dict[str, Any]]:
        """The cost formula's terms per resource ({"lut": {term: value}, "bram18": ..., "dsp": ...}),
        from the block's structure, its fold and the model's memory mapping; a cost model weighs them.
        "reg" lists the block's register bits by role and "shape" other structure (mux widths): the analytical
        model ignores both (it derives FF from LUT), a fitted model weighs them."""
        raise NotImplementedError
