"""Functional RRAM crossbar simulator that reads only the files of ``OUT/rram/``.

It knows nothing of the compiler: it never imports ``bnncc.ir`` (a test runs it in a fresh
interpreter and checks ``sys.modules``), so an ideal run that equals the reference executor shows
that the mapping files alone carry the network. Its arithmetic deliberately repeats what the mapper
and the executor compute, from the files alone: a verification wall, not a duplicate to merge.
The physics follows ``docs/rram-mapping.md``:

- word lines carry 0 or V_read: integer inputs are applied as bit planes (bipolar, unsigned,
  two's complement or thermometer code), one crossbar read per plane;
- a column current is I = V_read * sum_i b_i g_i; the sensed signal is the difference to the
  paired G- column (differential encoding) or to the tile's mid-conductance reference column;
- an ADC digitizes the sensed signal in units of ``i_unit`` inside a per-column window;
- the digital periphery shifts and adds slices, row tiles and bit planes, adds the correction
  terms, and runs thresholds, pools, windows and the label select;
- the host head and tail are ONNX files run with onnxruntime (all graph optimizations off).

Non-ideal mode perturbs the programmed conductances once per run (lognormal variation, stuck-at
faults) and can lower the ADC resolution or clip its window.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bnncc.errors import BnnccError

SCHEMA = "bnncc.rram.mapping"
VERSION = 2
BATCH = 256  # inputs per chunk: bounds the [inputs x pixels x planes x word lines] temporaries


@dataclass(frozen=True)
class NonIdeal:
    """Device and periphery non-idealities of one simulated chip.

    ``sigma``: lognormal spread of every programmed conductance, g' = g * exp(sigma * z), z ~ N(0, 1)
    (median-preserving, drawn once per chip). ``saf``: probability that a cell is stuck; a stuck cell
    is at g_on with probability ``saf_on_fraction``, else at g_off. ``adc_bits``: ADC resolution
    (None: the mapping's). ``adc_clip``: fraction of each column's exact window the ADC spans,
    centred on the window (1.0: the whole window). ``seed`` picks the chip.
    """

    sigma: float = 0.0
    saf: float = 0.0
    saf_on_fraction: float = 0.5
    adc_bits: int | None = None
    adc_clip: float = 1.0
    seed: int = 0

    def __post_init__(self) -> None:
        if not (self.sigma >= 0 and 0 <= self.saf <= 1 and 0 <= self.saf_on_fraction <= 1):
            raise BnnccError(f"non-ideal settings out of range: sigma={self.sigma}, saf={self.saf}")
        if self.adc_bits is not None and not 1 <= self.adc_bits <= 24:
            raise BnnccError(f"--adc-bits {self.adc_bits}: expected 1..24")
        if not 0 < self.adc_clip <= 1:
            raise BnnccError(f"--adc-clip {self.adc_clip}: expected a fraction in (0, 1]")

    @property
    def devices_ideal(self) -> bool:
        return self.sigma == 0 and self.saf == 0


@dataclass
class SimResult:
    outputs: list[np.ndarray]  # the model's outputs after the host tail (or the label select output)
    labels: np.ndarray  # top-1 per input
    hardware_out: np.ndarray  # the last integer tensor of the hardware
    trace: dict[int, np.ndarray] = field(default_factory=dict)  # IR node index -> integers (0: head)
    adc_codes: dict[int, np.ndarray] = field(default_factory=dict)  # crossbar id -> [M, planes, sensed]
    array_energy_pj: float = 0.0  # measured V * I * t_read over all reads, mean per input


# -- digital periphery -------------------------------------------------------------------------------


def _windows_nhwc(x: np.ndarray, k: int, s: int, pad: list[int], value: int) -> np.ndarray:
    """[N, H, W, C] -> [N, OH, OW, k, k, C] after padding with `value` (im2col order kh, kw, c)."""
    t, l, b, r = pad
    if any(pad):
        x = np.pad(x, ((0, 0), (t, b), (l, r), (0, 0)), constant_values=value)
    v = np.lib.stride_tricks.sliding_window_view(x, (k, k), axis=(1, 2))  # N OH OW C k k
    return np.moveaxis(v[:, ::s, ::s], 3, -1)


def _window(stage: dict, x: np.ndarray) -> np.ndarray:
    v = _windows_nhwc(x, stage["kernel"], stage["stride"], stage["pad"], stage["pad_value"])
    return np.ascontiguousarray(v).reshape(v.shape[:3] + (-1,))


def _maxpool(stage: dict, x: np.ndarray) -> np.ndarray:
    return _windows_nhwc(x, stage["kernel"], stage["stride"], [0, 0, 0, 0], 0).max(axis=(3, 4))


def _threshold(stage: dict, x: np.ndarray) -> np.ndarray:
    t = np.asarray(stage["thresholds"], dtype=np.int64)
    desc = np.asarray(stage["descending"], dtype=bool)
    xe = x[..., None]
    codes = np.where(desc, (xe <= t).sum(-1), (xe >= t).sum(-1)).astype(np.int64)
    out = stage["out"]
    return 2 * codes - 1 if out["coding"] == "bipolar" else codes + int(out["min"])


def _flatten(stage: dict, x: np.ndarray) -> np.ndarray:
    return x.reshape(x.shape[0], -1)


def _labelselect(stage: dict, x: np.ndarray) -> np.ndarray:
    return np.argmax(x, axis=-1)[..., None].astype(np.int64)


def _sumpool(stage: dict, x: np.ndarray) -> np.ndarray:
    return _windows_nhwc(x, stage["kernel"], stage["stride"], [0, 0, 0, 0], 0).sum(axis=(3, 4))


def _add(stage: dict, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    wa, wb = stage["weights"]
    return int(wa) * a + int(wb) * b


def _concat_channels(stage: dict, *xs: np.ndarray) -> np.ndarray:
    return np.concatenate(xs, axis=-1)


DIGITAL = {"window": _window, "maxpool": _maxpool, "threshold": _threshold, "flatten": _flatten,
           "labelselect": _labelselect, "sumpool": _sumpool, "add": _add, "concat": _concat_channels}


# -- word-line bit planes ----------------------------------------------------------------------------


def word_line_planes(v: np.ndarray, spec: dict) -> np.ndarray:
    """Integer values [M, K] -> word-line bits [P, M, rows] (uint8) for the stage's input coding."""
    coding = spec["coding"]
    if coding == "bipolar":  # v = 2b - 1
        return ((v + 1) >> 1).astype(np.uint8)[None]
    if coding in ("unsigned", "twos_complement"):  # v = sum_k scale_k b_k, plane k = bit k
        if spec.get("plane_order", "lsb_first") != "lsb_first":
            raise BnnccError(f"mapping: unknown plane order {spec['plane_order']!r}")
        bits = int(spec["bits"])
        u = v & ((1 << bits) - 1)  # two's complement of negative values, as int64 & does
        return ((u[None] >> np.arange(bits)[:, None, None]) & 1).astype(np.uint8)
    if coding == "thermometer":  # row i*T + t carries [v_i > thresholds[t]]
        thr = np.asarray(spec["thresholds"], dtype=np.int64)
        return (v[:, :, None] > thr).reshape(1, v.shape[0], -1).astype(np.uint8)
    raise BnnccError(f"mapping: unknown input coding {coding!r}")


# -- analog crossbar ------------------------------------------------------------------------------------


def _adc_settings(stage: dict, tiles: list[dict], ni: NonIdeal) -> tuple[int, int, list[np.ndarray]]:
    """(bits, step, per-tile window starts): the mapping's, or re-derived for lower bits / clipping."""
    bits = int(stage["adc"]["bits"]) if ni.adc_bits is None else int(ni.adc_bits)
    windows = [np.asarray(t["adc_window"], dtype=np.int64).reshape(-1, 2) for t in tiles]
    if ni.adc_bits is None and ni.adc_clip == 1.0:
        return bits, int(stage["adc"]["step"]), [w[:, 0] for w in windows]
    starts, need = [], 0
    for w in windows:
        lo, hi = w[:, 0].astype(np.float64), w[:, 1].astype(np.float64)
        centre, half = (lo + hi) / 2, ni.adc_clip * (hi - lo) / 2
        lo2, hi2 = np.floor(centre - half).astype(np.int64), np.ceil(centre + half).astype(np.int64)
        starts.append(lo2)
        need = max(need, int((hi2 - lo2).max(initial=0)).bit_length())
    return bits, 1 << max(0, need - bits), starts


def _single_threaded_blas():
    """The crossbar products are small (at most crossbar-height inner dimension); threaded BLAS only adds
    overhead to them, and on a loaded machine a lot (15x measured on 2 shared cores)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # optional: scikit-learn's dependency, pinned in constraints.txt
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def _perturb(g: np.ndarray, xbar: int, device: dict, ni: NonIdeal) -> np.ndarray:
    """Programmed conductances of one crossbar on this chip (seeded by chip seed and crossbar id)."""
    if ni.devices_ideal:
        return g
    rng = np.random.default_rng([ni.seed, xbar])
    out = g * np.exp(ni.sigma * rng.standard_normal(g.shape)) if ni.sigma > 0 else g.copy()
    if ni.saf > 0:
        stuck = rng.random(g.shape) < ni.saf
        on = rng.random(g.shape) < ni.saf_on_fraction
        out[stuck & on] = float(device["g_on"])
        out[stuck & ~on] = float(device["g_off"])
    return out


class CrossbarSim:
    """The mapped network: load once from ``OUT/rram``, then `run` batches of float inputs."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        path = self.folder / "mapping.json"
        if not path.is_file():
            raise BnnccError(f"{path}: no such mapping file")
        try:
            self.mapping = json.loads(path.read_text())
        except (OSError, ValueError) as e:
            raise BnnccError(f"{path}: not a readable mapping ({type(e).__name__})") from None
        if self.mapping.get("schema") != SCHEMA or self.mapping.get("version") != VERSION:
            raise BnnccError(f"{path}: schema {self.mapping.get('schema')!r} version "
                             f"{self.mapping.get('version')!r}; this simulator reads {SCHEMA!r} version {VERSION}")
        self.device = self.mapping["device"]
        self.input_shape = tuple(self.mapping["input_shape"])
        self.stages = self.mapping["stages"]
        self.conductances = {t["xbar"]: self._load_tile(t["file"]) for s in self.stages if s["op"] == "matrix"
                             for t in s["tiles"]}
        host = self.mapping["host"]
        self.head = self._session(host["head"])
        self.tail = self._session(host["tail"]) if host.get("tail") else None

    def _load_tile(self, name: str) -> np.ndarray:
        g = np.load(self.folder / name, allow_pickle=False)
        if g.dtype != np.float64 or g.ndim != 2:
            raise BnnccError(f"{self.folder / name}: expected a 2-D float64 conductance matrix")
        return g

    def _session(self, name: str):
        import onnxruntime as ort  # only here: loading the mapping does not need it

        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL  # no fusion: exact float ops
        opts.intra_op_num_threads = 1
        opts.log_severity_level = 3
        return ort.InferenceSession(str(self.folder / name), opts, providers=["CPUExecutionProvider"])

    # -- public --------------------------------------------------------------------------------------

    def check_input(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x)
        if x.ndim == len(self.input_shape):
            x = x[None]
        if tuple(x.shape[1:]) != self.input_shape:
            raise BnnccError(f"input shape {list(x.shape)} does not match the mapping's "
                             f"[N, {', '.join(map(str, self.input_shape))}]")
        return x.astype(np.float32)

    def run(self, x: np.ndarray, nonideal: NonIdeal | None = None, trace: bool = False,
            batch: int = BATCH) -> SimResult:
        """Head -> stages -> tail on a batch; `trace` keeps every stage's integers and the ADC codes."""
        ni = nonideal or NonIdeal()
        x = self.check_input(x)
        chip = {xbar: _perturb(g, xbar, self.device, ni) for xbar, g in self.conductances.items()}
        blocks = {s["index"]: _row_blocks(s, chip) for s in self.stages if s["op"] == "matrix"}
        parts: list[SimResult] = []
        with _single_threaded_blas():
            for i in range(0, max(len(x), 1), batch):
                parts.append(self._run_chunk(x[i : i + batch], blocks, ni, trace))
        return _concat(parts, len(x))

    # -- internals -------------------------------------------------------------------------------------

    def _run_chunk(self, x: np.ndarray, blocks: dict, ni: NonIdeal, trace: bool) -> SimResult:
        v = np.asarray(self.head.run(None, {self.head.get_inputs()[0].name: x})[0], dtype=np.int64)
        res = SimResult([], np.zeros(0, np.int64), v)
        if trace:
            res.trace[0] = v  # the host head's integer values (IR node 0)
        energy = 0.0
        values = {0: v}  # node index -> its integers; a stage reads the nodes its "inputs" name
        last_read = {j: k for k, stage in enumerate(self.stages) for j in stage["inputs"]}
        for k, stage in enumerate(self.stages):
            ins = [values[j] for j in stage["inputs"]]
            if stage["op"] == "matrix":
                v, e = self._matrix(stage, ins[0], blocks[stage["index"]], ni, res.adc_codes if trace else None)
                energy += e
            else:
                v = DIGITAL[stage["op"]](stage, *ins)
            values[stage["index"]] = v
            for j in stage["inputs"]:
                if last_read[j] == k:
                    del values[j]
            if trace:
                res.trace[stage["index"]] = v
        res.hardware_out = v
        if self.tail is not None:
            res.outputs = [np.asarray(o) for o in self.tail.run(None, {self.tail.get_inputs()[0].name: v})]
        else:
            res.outputs = [v]
        out = res.outputs[0]
        if self.tail is None or np.issubdtype(out.dtype, np.integer):
            res.labels = out.reshape(out.shape[0], -1)[:, 0].astype(np.int64)
        else:
            res.labels = np.argmax(out.reshape(out.shape[0], -1), axis=-1)
        res.array_energy_pj = energy * 1e12
        return res

    def _matrix(self, stage: dict, v: np.ndarray, blocks: list, ni: NonIdeal,
                codes_out: dict | None) -> tuple[np.ndarray, float]:
        """One crossbar layer: bit planes -> currents -> ADC codes -> shift-add -> corrections."""
        lead = v.shape[:-1]
        flat = v.reshape(-1, v.shape[-1])
        planes = word_line_planes(flat, stage["input"])  # [P, M, rows]
        n_planes, m, rows = planes.shape
        wl = planes.reshape(n_planes * m, rows).astype(np.float64)
        sens, rec, acc_spec = stage["sensing"], stage["recombine"], stage["accumulate"]
        v_read, t_read = float(self.device["v_read"]), float(self.device["t_read"])
        i_unit, n_slices = float(sens["i_unit"]), int(stage["weights"]["slices"])
        slice_w = np.asarray(rec["slice_weights"], dtype=np.int64)
        bits, step, starts = _adc_settings(stage, stage["tiles"], ni)
        top = (1 << bits) - 1
        z = np.zeros((n_planes * m, int(stage["out_features"])), dtype=np.int64)
        energy = 0.0
        for (r0, r1), g, members in blocks:
            # every crossbar of this row block sees the same word lines: one product for all of them
            block_current = v_read * (wl[:, r0:r1] @ g)  # [P*M, physical columns], amperes
            energy += v_read * t_read * float(block_current.sum())
            for k, c0, c1 in members:
                tile, lo = stage["tiles"][k], starts[k]
                j0, j1 = tile["out_columns"]
                current = block_current[:, c0:c1]
                if sens["reference_column"]:
                    sensed = current[:, :-1] - current[:, -1:]
                else:
                    sensed = current[:, 0::2] - current[:, 1::2]
                code = np.clip(np.floor((sensed / i_unit - lo) / step + 0.5), 0, top).astype(np.int64)
                if codes_out is not None:
                    codes_out[tile["xbar"]] = code.reshape(n_planes, m, -1).transpose(1, 0, 2)
                partial = lo + step * code  # signed partial sums in units of i_unit
                z[:, j0:j1] += (partial.reshape(len(partial), j1 - j0, n_slices) * slice_w).sum(-1)
        ones = planes.sum(-1, dtype=np.int64).reshape(n_planes * m, 1)  # active word lines per read
        y = (z + int(rec["popcount_coef"]) * ones) >> int(rec["shift"])
        coefs = np.asarray(acc_spec["plane_coefs"], dtype=np.int64)
        acc = (y.reshape(n_planes, m, -1) * coefs[:, None, None]).sum(0)
        acc += int(acc_spec["popcount_coef"]) * ones.reshape(n_planes, m).sum(0)[:, None]
        acc += np.asarray(acc_spec["bias"], dtype=np.int64)
        return acc.reshape(lead + (acc.shape[-1],)), energy


def _row_blocks(stage: dict, chip: dict) -> list[tuple[tuple[int, int], np.ndarray, list[tuple[int, int, int]]]]:
    """Crossbars of a stage grouped by word-line range, their conductances side by side:
    [((r0, r1), G [rows, all their columns], [(tile position, first column, end column)])]."""
    groups: dict[tuple[int, int], list[int]] = {}
    for k, tile in enumerate(stage["tiles"]):
        groups.setdefault(tuple(tile["word_lines"]), []).append(k)
    blocks = []
    for rows, ks in groups.items():
        mats = [chip[stage["tiles"][k]["xbar"]] for k in ks]
        edges = np.cumsum([0] + [g.shape[1] for g in mats])
        g = mats[0] if len(mats) == 1 else np.concatenate(mats, axis=1)
        blocks.append((rows, g, [(k, int(edges[i]), int(edges[i + 1])) for i, k in enumerate(ks)]))
    return blocks


def _concat(parts: list[SimResult], n: int) -> SimResult:
    """Join the chunk results (energy: mean per input)."""
    if len(parts) == 1:
        p = parts[0]
        p.array_energy_pj /= max(n, 1)
        return p
    res = SimResult([np.concatenate([p.outputs[i] for p in parts]) for i in range(len(parts[0].outputs))],
                    np.concatenate([p.labels for p in parts]), np.concatenate([p.hardware_out for p in parts]))
    for key in parts[0].trace:
        res.trace[key] = np.concatenate([p.trace[key] for p in parts])
    for key in parts[0].adc_codes:
        res.adc_codes[key] = np.concatenate([p.adc_codes[key] for p in parts])
    res.array_energy_pj = sum(p.array_energy_pj for p in parts) / max(n, 1)
    return res
