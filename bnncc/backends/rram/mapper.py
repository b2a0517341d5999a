"""IR graph -> crossbar mapping: tiles, encodings, bit planes, ADC windows, digital periphery.

Every matrix op becomes a weight-stationary layer: its word lines (rows) are cut into row tiles of
the crossbar height, its physical columns into column tiles of the crossbar width, one crossbar per
tile. Everything else of the hardware chain (windows, thresholds, pools, flatten, label select)
becomes a digital periphery stage. The formulas are in docs/rram-mapping.md; the simulator in
bnncc/sim/crossbar.py implements exactly what the stages written here say.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx

from bnncc.backends.rram import host
from bnncc.backends.rram.config import RramConfig
from bnncc.backends.rram.weights import CellCode, adc_windows, encode, exact_bits, tile_conductance
from bnncc.errors import BnnccError
from bnncc.ir import ops
from bnncc.ir.dtypes import DataType
from bnncc.ir.graph import Graph, Node

SCHEMA = "bnncc.rram.mapping"
VERSION = 2  # 2: every stage names its inputs; add, sumpool and concat in the periphery


@dataclass
class Tile:
    """One crossbar: a block of word lines x logical output columns of one layer."""

    xbar: int
    row_tile: int
    col_tile: int
    word_lines: tuple[int, int]  # [r0, r1) of the layer's word lines
    out_columns: tuple[int, int]  # [j0, j1) of the layer's outputs
    conductance: np.ndarray  # siemens [r1 - r0, physical columns used]
    window: np.ndarray  # int64 [sensed columns, 2]: ADC window [lo, hi] in units of i_unit

    @property
    def file(self) -> str:
        return f"tiles/xbar{self.xbar:04d}.npy"


@dataclass
class MatrixStage:
    """A matrix op mapped onto crossbars, with the digital formulas that rebuild its accumulators."""

    index: int
    kind: str  # xnor | matmul | adder
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    in_features: int
    out_features: int
    input: dict  # word-line coding of the integer inputs
    code: CellCode
    plane_coefs: list[int]
    popcount_coef: int
    bias: np.ndarray  # int64 [out_features]
    i_unit: float
    tiles: list[Tile] = field(default_factory=list)
    derived_bits: int = 1
    adc_bits: int = 1
    inputs: list[int] = field(default_factory=list)  # the IR nodes whose outputs it reads (0: the host head)

    @property
    def word_lines(self) -> int:
        return int(self.tiles[-1].word_lines[1]) if self.tiles else 0

    @property
    def planes(self) -> int:
        return len(self.plane_coefs)

    @property
    def pixels(self) -> int:
        return int(np.prod(self.in_shape[:-1], dtype=np.int64))

    @property
    def step(self) -> int:
        return 1 << max(0, self.derived_bits - self.adc_bits)

    @property
    def macs(self) -> int:
        return self.in_features * self.out_features * self.pixels

    def to_json(self) -> dict:
        c = self.code
        return {
            "index": self.index, "op": "matrix", "kind": self.kind, "inputs": self.inputs,
            "in_shape": list(self.in_shape), "out_shape": list(self.out_shape),
            "in_features": self.in_features, "out_features": self.out_features, "word_lines": self.word_lines,
            "input": self.input,
            "weights": {"cell_bits": int(np.log2(c.levels_max + 1)), "slices": c.slices, "alpha": c.alpha,
                        "beta": c.beta},
            "sensing": {"columns_per_slice": c.columns_per_slice,
                        "reference_column": c.encoding == "reference", "i_unit": self.i_unit},
            "adc": {"bits": self.adc_bits, "derived_bits": self.derived_bits, "step": self.step,
                    "exact": self.adc_bits >= self.derived_bits},
            "recombine": {"slice_weights": c.slice_weights, "popcount_coef": c.popcount_coef, "shift": c.shift},
            "accumulate": {"plane_coefs": self.plane_coefs, "popcount_coef": self.popcount_coef,
                           "bias": self.bias.tolist()},
            "tiles": [{"xbar": t.xbar, "file": t.file, "row_tile": t.row_tile, "col_tile": t.col_tile,
                       "word_lines": list(t.word_lines), "out_columns": list(t.out_columns),
                       "physical_columns": int(t.conductance.shape[1]), "adc_window": t.window.tolist()}
                      for t in self.tiles],
        }


@dataclass
class Mapping:
    config: RramConfig
    input_shape: tuple[int, ...]
    stages: list  # MatrixStage | dict (digital periphery)
    head: onnx.ModelProto
    tail: onnx.ModelProto | None
    model_sha256: str

    @property
    def matrices(self) -> list[MatrixStage]:
        return [s for s in self.stages if isinstance(s, MatrixStage)]

    @property
    def tiles(self) -> list[Tile]:
        return [t for s in self.matrices for t in s.tiles]

    def to_json(self) -> dict:
        cfg = self.config
        return {
            "schema": SCHEMA, "version": VERSION, "model_sha256": self.model_sha256,
            "input_shape": list(self.input_shape),
            "crossbar": {"rows": cfg.rows, "cols": cfg.cols},
            "encoding": cfg.encoding,
            "device": {"g_on": cfg.g_on, "g_off": cfg.g_off, "cell_bits": cfg.cell_bits, "v_read": cfg.v_read,
                       "t_read": cfg.t_read, "unit": "siemens"},
            "host": {"head": "host_head.onnx", "tail": "host_tail.onnx" if self.tail is not None else None},
            "stages": [s.to_json() if isinstance(s, MatrixStage) else s for s in self.stages],
        }


# -- word-line codings ---------------------------------------------------------------------------------


def input_coding(dtype: DataType, where: str) -> tuple[dict, list[int]]:
    """How integer inputs become 0/V_read word-line planes, and each plane's value scale.

    bipolar v = 2b - 1 (one plane, scale 2, offset -1 handled by the caller); unsigned v = sum 2^k b_k;
    signed v in two's complement, the top plane weighing -2^(B-1).
    """
    if dtype.is_bipolar:
        return {"coding": "bipolar", "bits": 1}, [2]
    if dtype.is_float:
        raise BnnccError(f"{where}: float input; the crossbar needs integer inputs")
    if dtype.min >= 0:
        bits = max(1, int(dtype.max).bit_length())
        return {"coding": "unsigned", "bits": bits, "plane_order": "lsb_first"}, [1 << k for k in range(bits)]
    bits = max((-int(dtype.min) - 1).bit_length(), max(int(dtype.max), 0).bit_length()) + 1
    scales = [1 << k for k in range(bits - 1)] + [-(1 << (bits - 1))]
    return {"coding": "twos_complement", "bits": bits, "plane_order": "lsb_first"}, scales


# -- the mapper ------------------------------------------------------------------------------------------


def digital_stage(i: int, n: Node, g: Graph, where: str) -> dict:
    """A non-matrix hardware op as a periphery stage of mapping.json (windows, thresholds, pools, joins ...)."""
    op, t_in, t_out = n.op, g.types[n.inputs[0]], g.types[n.outputs[0]]
    base = {"index": i, "in_shape": list(t_in.shape), "out_shape": list(t_out.shape)}
    if isinstance(op, ops.SlidingWindow):
        return base | {"op": "window", "kernel": op.kernel, "stride": op.stride, "pad": [int(p) for p in op.pad],
                       "pad_value": int(op.pad_value)}
    if isinstance(op, ops.MultiThreshold):
        out = {"coding": "bipolar"} if op.dtype.is_bipolar else {"coding": "int", "min": int(op.dtype.min)}
        return base | {"op": "threshold", "thresholds": op.thresholds.astype(np.int64).tolist(),
                       "descending": [bool(d) for d in op.descending], "out": out}
    if isinstance(op, ops.MaxPool):
        return base | {"op": "maxpool", "kernel": op.kernel, "stride": op.stride}
    if isinstance(op, ops.SumPool):
        return base | {"op": "sumpool", "kernel": op.kernel, "stride": op.stride}
    if isinstance(op, ops.Add):
        return base | {"op": "add", "weights": [int(op.wa), int(op.wb)]}
    if isinstance(op, ops.Concat):
        return base | {"op": "concat"}
    if isinstance(op, ops.Flatten):
        return base | {"op": "flatten"}
    if isinstance(op, ops.LabelSelect):
        return base | {"op": "labelselect"}
    raise BnnccError(f"{where}: not supported by the RRAM backend")


class _Mapper:
    def __init__(self, graph: Graph, cfg: RramConfig) -> None:
        self.graph, self.cfg = graph, cfg
        self.next_xbar = 0

    def where(self, i: int, n: Node) -> str:
        return f"layer {i} ({type(n.op).__name__})"

    def run(self) -> Mapping:
        g = self.graph
        if not g.nodes or not isinstance(g.nodes[0].op, ops.HostHead):
            raise BnnccError(f"{g.path}: the graph has no host head")
        head = host.head_model(g.nodes[0].op, g.input_type.shape)
        tail, stages = None, []
        producer = {g.nodes[0].outputs[0]: 0}  # IR tensor -> the node index that writes it
        read: set[int] = set()  # node indices some stage reads
        for i, n in enumerate(g.nodes[1:], start=1):
            inputs = [producer[t] for t in n.inputs]
            read.update(inputs)
            if isinstance(n.op, ops.HostTail):
                if i != len(g.nodes) - 1 or inputs != [i - 1]:
                    raise BnnccError(f"{self.where(i, n)}: the host tail must be the last node and read the one "
                                     "before it")
                tail = host.tail_model(n.op, g.types[n.input].shape)
                continue
            if isinstance(n.op, ops.XnorPopcount | ops.MatMul | ops.Adder):
                stages.append(self.matrix(i, n))
                stages[-1].inputs = inputs
            else:
                stages.append(digital_stage(i, n, g, self.where(i, n)) | {"inputs": inputs})
            producer[n.outputs[0]] = i
        if set(producer.values()) - read - {max(producer.values())}:  # only the last stage's result is the output
            raise BnnccError(f"{g.path}: hardware results that reach neither the output nor another layer")
        if not any(isinstance(s, MatrixStage) for s in stages):
            raise BnnccError(f"{g.path}: no matrix layer to map onto crossbars")
        return Mapping(self.cfg, tuple(g.input_type.shape), stages, head, tail, _sha256(g.path))

    def matrix(self, i: int, n: Node) -> MatrixStage:
        """Encode the weights, choose the word-line coding and the digital correction terms."""
        op, where = n.op, self.where(i, n)
        t_in, t_out = self.graph.types[n.input], self.graph.types[n.output]
        if isinstance(op, ops.XnorPopcount):
            if not t_in.dtype.is_bipolar:
                raise BnnccError(f"{where}: XNOR layer on non-bipolar input {t_in.dtype}")
            w = 2 * op.weights.astype(np.int64) - 1
            # acc = popcount(XNOR) = (dot + MW) / 2 with dot = 2Y - colsum  ->  Y + #(w = -1)
            spec, coefs, p, bias, kind = {"coding": "bipolar", "bits": 1}, [1], 0, (w < 0).sum(0), "xnor"
        elif isinstance(op, ops.MatMul):
            w = op.weights.astype(np.int64)
            spec, coefs = input_coding(t_in.dtype, where)
            bias = -w.sum(0) if spec["coding"] == "bipolar" else np.zeros(w.shape[1], np.int64)  # v = 2b - 1
            p, kind = 0, "matmul"
        else:
            w, thresholds = self.thermometer(op, t_in.dtype, where)
            spec, kind = {"coding": "thermometer", "thresholds": thresholds}, "adder"
            # -sum|x - w| = -(sum a + sum c - 2 sum a c) over thermometer bits a (inputs), c (weights)
            coefs, p, bias = [2], -1, -w.sum(0)
        code = encode(w, self.cfg)
        i_unit = self.cfg.v_read * self.cfg.g_step / (1 if code.encoding == "differential" else 2)
        stage = MatrixStage(i, kind, tuple(t_in.shape), tuple(t_out.shape), int(op.weights.shape[0]),
                            int(w.shape[1]), spec, code, coefs, p, np.asarray(bias, np.int64), i_unit)
        self.cut_tiles(stage, w.shape[0], where)
        stage.derived_bits = max(exact_bits(t.window) for t in stage.tiles)
        stage.adc_bits = self.cfg.adc_bits or stage.derived_bits
        return stage

    def thermometer(self, op: ops.Adder, dtype: DataType, where: str) -> tuple[np.ndarray, list[int]]:
        """Adder weights as thermometer bits c[i*T + t, j] = [w_ij > thr_t] over the shared value range
        lo..hi (thr = lo..hi-1), since |x - w| = sum_t ([x > thr_t] XOR [w > thr_t]) for integers."""
        w = op.weights.astype(np.int64)
        lo, hi = min(int(dtype.min), int(w.min())), max(int(dtype.max), int(w.max()))
        if hi <= lo:
            raise BnnccError(f"{where}: adder layer on a constant input range")
        thr = np.arange(lo, hi)
        c = (w[:, None, :] > thr[None, :, None]).astype(np.int64)  # [MW, T, MH]
        return c.reshape(-1, w.shape[1]), thr.tolist()

    def cut_tiles(self, stage: MatrixStage, rows: int, where: str) -> None:
        """Row tiles of the crossbar height x column tiles holding whole (column, slice) groups."""
        cfg, code = self.cfg, stage.code
        per_col = code.slices * code.columns_per_slice
        usable = cfg.cols - (1 if code.encoding == "reference" else 0)
        cap = usable // per_col
        if cap < 1:
            raise BnnccError(f"{where}: --xbar {cfg.xbar} is too narrow: one output column needs {per_col} "
                             f"physical columns ({code.slices} slices, {cfg.encoding} encoding)"
                             + (" plus the reference column" if code.encoding == "reference" else ""))
        for rt, r0 in enumerate(range(0, rows, cfg.rows)):
            r1 = min(r0 + cfg.rows, rows)
            for ct, j0 in enumerate(range(0, stage.out_features, cap)):
                j1 = min(j0 + cap, stage.out_features)
                rs, cs = slice(r0, r1), slice(j0, j1)
                stage.tiles.append(Tile(self.next_xbar, rt, ct, (r0, r1), (j0, j1),
                                        tile_conductance(code, rs, cs, cfg), adc_windows(code, rs, cs)))
                self.next_xbar += 1


def _sha256(path: str) -> str:
    """Digest of the model file: ties the mapping to its source without writing any of its names."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest() if os.path.isfile(path) else ""


def map_graph(graph: Graph, cfg: RramConfig) -> Mapping:
    """The whole network on crossbars of `cfg`; a BnnccError names the file and the layer that cannot be
    mapped."""
    try:
        return _Mapper(graph, cfg).run()
    except BnnccError as e:
        message = str(e)
        raise BnnccError(message if message.startswith(graph.path) else f"{graph.path}: {message}") from None
