"""Measure one design for one target through the normal backends; every number comes back as a row saying
where it came from (`source`): a measurement (Yosys, nextpnr, RTL simulation, a timed run, the crossbar
simulation) or a model (the analytical estimate, the RRAM backend's formulas, a GPU roofline).

    fpga  write the RTL, simulate it (Verilator, bit-exact against the executor), synthesize it with Yosys
          (flattened totals and one row per block instance), and for ECP5 place and route it with nextpnr
          seeds 1..pnr_seeds. Each block row carries the block's kind, parameter table, fold and its
          analytical cost terms, which are the features a fitted model weighs.
    cpu   the bnncc executor and onnxruntime, one pinned thread, minimum of `repeats` runs of one image.
    gpu   torch on a CUDA device where one exists (`gpu-measured`), else a binary-GEMM roofline
          (`gpu-model`, see GPUS).
    rram  the RRAM backend's area / energy / latency formulas (`rram-model`) and, measured by the crossbar
          simulation from the mapping files, ADC conversions and driven word lines per image.

A design's *key* hashes its JSON, the target, part and settings, bnncc's version, a hash of the templates
that generate its hardware and the versions of the tools that measure it: any of them changing makes every
design new, so a calibration is never fitted on numbers another generator or tool produced.
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

import bnncc
from bnncc.calibrate import space
from bnncc.errors import BnnccError

TARGETS = ("fpga", "cpu", "gpu", "rram")
TEMPLATES = Path(bnncc.__file__).resolve().parent / "templates"
# per GPU: dense FP16 tensor throughput (ops/s), memory bandwidth (bytes/s), one kernel launch (s), from the
# vendors' data sheets; binary layers run as FP16 GEMMs of +-1 (a 1-bit GEMM has no library kernel to time)
GPUS = {"nvidia-h200": (989e12, 4.8e12, 5e-6), "nvidia-a100": (312e12, 2.0e12, 5e-6),
        "nvidia-t4": (65e12, 0.32e12, 5e-6), "nvidia-jetson-orin-nano": (20e12, 0.068e12, 10e-6)}
DEFAULT_GPU = "nvidia-h200"


@dataclass(frozen=True)
class Settings:
    """What, besides the design, decides its numbers."""

    clock_ns: float = 10.0
    pnr_seeds: int = 3  # ECP5 place and route seeds (Fmax = their median)
    simulate: bool = True  # RTL simulation: cycles per image and first-output latency
    simulator: str = "icarus"  # RTL simulator (cycles are the same in both; Icarus starts faster on small designs)
    flat: bool = True  # fpga: also the flattened synthesis (the whole design's totals); per-block rows always
    repeats: int = 20  # cpu/gpu: timed runs per design (the minimum is kept)

    def to_json(self) -> dict:
        return asdict(self)


@dataclass
class Row:
    metric: str
    value: float
    source: str
    tool: str
    block: str = ""  # "" for the whole design
    kind: str | None = None
    params: dict = field(default_factory=dict)
    block_key: str | None = None
    seed: int = 0  # nextpnr seed (0 elsewhere)


@dataclass
class Result:
    rows: list[Row]
    features: dict  # network-level proxies (MACs, BOPs, FLOPs, weight bits) and the folding
    wall_s: float
    load_avg: float


HARDWARE_TEMPLATES = ("hls", "rtl", "tcl")  # the templates that generate hardware (not the reports' pages)


@functools.cache
def generator_hash() -> str:
    """A hash of the template files that generate the hardware: the RTL/HLS libraries, tops and scripts."""
    h = hashlib.sha256()
    for path in sorted(p for d in HARDWARE_TEMPLATES for p in (TEMPLATES / d).rglob("*") if p.is_file()):
        h.update(path.relative_to(TEMPLATES).as_posix().encode() + b"\0" + path.read_bytes())
    return h.hexdigest()[:16]


@functools.cache
def tool_versions(target: str, part: str) -> dict[str, str]:
    """The measuring tools of a target, each with its version."""
    if target == "fpga":
        from bnncc.backends.fpga import synth
        from bnncc.cost.devices import device
        from bnncc.sim.rtl import verilator_version

        if shutil.which("yosys") is None:
            raise BnnccError("calibrate --target fpga needs Yosys on PATH (Debian/Ubuntu: apt-get install yosys)")
        tools = {"yosys": _first_line(["yosys", "-V"]), "verilator": verilator_version()}
        if device(part).family == "ecp5":
            tools["nextpnr"] = synth._pnr_version(synth._nextpnr())
        return tools
    if target == "cpu":
        import onnxruntime

        return {"onnxruntime": onnxruntime.__version__, "numpy": np.__version__, "cpu": cpu_name()}
    if target == "gpu":
        return {"gpu": _gpu_name() or f"{DEFAULT_GPU} (roofline model)"}
    return {"crossbar-sim": bnncc.__version__}


def _first_line(cmd: list[str]) -> str:
    out = subprocess.run(cmd, capture_output=True, text=True)
    return (out.stdout + out.stderr).strip().splitlines()[0]


def cpu_name() -> str:
    """This machine's CPU as /proc/cpuinfo names it (a fitted CPU latency holds for the CPU it was fitted on)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown cpu"


def _gpu_name() -> str | None:
    try:
        import torch
    except ImportError:
        return None
    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else None


def design_key(spec: dict, target: str, part: str, settings: Settings) -> str:
    what = {"design": spec, "target": target, "part": part, "settings": settings.to_json(),
            "bnncc": bnncc.__version__, "generator": generator_hash(), "tools": tool_versions(target, part)}
    return hashlib.sha256(space.canonical(what).encode()).hexdigest()[:24]


def block_key(block, fold: dict, part: str, target: str) -> str:
    """A block's own key: its kind, parameter table, fold, memory contents, the generator and the tools (the
    held-out check compares these, so a held-out network shares no block with the training designs)."""
    h = hashlib.sha256()
    h.update(space.canonical({"kind": block.kind, "params": {p.name: p.value for p in block.params(fold)},
                              "fold": _plain(fold), "part": part, "generator": generator_hash(),
                              "tools": tool_versions(target, part)}).encode())
    for m in block.memories(fold):
        h.update(np.ascontiguousarray(m.rows, dtype=np.int64).tobytes())
    return h.hexdigest()[:24]


def _plain(value):
    """JSON-ready copy (numpy scalars to Python numbers)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def flat_terms(terms: dict[str, dict]) -> dict[str, float]:
    """{"lut": {"datapath": 5}} -> {"lut.datapath": 5.0}: a block's cost terms as fit features."""
    return {f"{r}.{t}": float(np.asarray(v)) for r, group in terms.items() for t, v in group.items()}


def graph_proxies(graph) -> dict:
    """The size proxies a hardware estimate is compared with: MACs, BOPs (MACs x weight bits x activation
    bits), FLOPs as Bi-Real Net counts them (BOPs / 64 + the float ops of the host tail), weight bits, and
    the number of layers with MACs."""
    macs = bops = weight_bits = layers = 0
    for n in graph.nodes:
        d = n.op.describe(graph.types[n.inputs[0]], graph.types[n.outputs[0]])
        m = d.get("macs", 0)
        layers += "macs" in d
        macs += m
        bops += m * d.get("weight_bits", 0) * d.get("in_bits", 0)
        weight_bits += d.get("weight_mem_bits", 0)
    host_flops = sum(int(np.prod(graph.types[n.outputs[0]].shape)) for n in graph.nodes if n.host)
    return {"layers": layers, "macs": int(macs), "bops": int(bops), "flops": bops / 64 + host_flops,
            "weight_bits": int(weight_bits)}


def network_features(graph, spec: dict) -> dict:
    """The design's family and weight kind, and its size proxies (graph_proxies)."""
    return {"family": spec["family"], "weight": space.FAMILIES[spec["family"]].weight, **graph_proxies(graph)}


def measure(spec: dict, target: str, part: str, settings: Settings) -> Result:
    """Build the design for `target` and measure it (a BnnccError if the design cannot be built)."""
    start = time.perf_counter()
    graph, df = space.dataflow_of(spec)
    features = network_features(graph, spec)
    rows = {"fpga": _fpga, "cpu": _cpu, "gpu": _gpu, "rram": _rram}[target](spec, graph, df, part, settings,
                                                                            features)
    return Result(rows, features, time.perf_counter() - start, os.getloadavg()[0])


# -- fpga ------------------------------------------------------------------------------------------


def _fpga(spec, graph, df, part, settings, features) -> list[Row]:
    from bnncc.backends.fpga.driver import FpgaBackend, measurements, plan
    from bnncc.cost.devices import device
    from bnncc.cost.model import ANALYTICAL

    dev = device(part)
    with tempfile.TemporaryDirectory(prefix="bnncc-calibrate-") as tmp:
        opts = space.fpga_options(spec, df, Path(tmp), out=str(Path(tmp) / "out"), part=part,
                                  clock_ns=settings.clock_ns, rtl=True, sim=settings.simulate, synth=True,
                                  pnr_seeds=settings.pnr_seeds if dev.family == "ecp5" else 1,
                                  synth_flat=settings.flat, vectors=2, simulator=settings.simulator)
        design = plan(graph, opts).design
        report = FpgaBackend().compile(graph, opts)
    sim = report["verification"].get("rtl_sim")
    if sim is not None and not sim["passed"]:
        raise RuntimeError(f"RTL simulation of {space.label(spec)} differs from the executor: {sim}")
    stages = {s.name: s for s in design.stages + design.fifos}
    rows: list[Row] = []
    for m in measurements(report, design):
        row = Row(m.metric, float(m.value), m.source, m.tool, m.block or "", m.kind,
                  seed=int(m.params.get("seed", 0)) if m.block is None else 0)
        if m.block in stages:
            s = stages[m.block]
            row.params = {"cost_class": s.block.cost_class, "params": m.params, "fold": _plain(s.fold),
                          "terms": flat_terms(s.block.terms(s.fold, dev, ANALYTICAL))}
            row.block_key = block_key(s.block, s.fold, part, "fpga")
        if not m.block and m.source == "yosys":
            row.params = {"totals": report["measured"]["totals"]}
        if m.source == "nextpnr":
            row.params = {k: v for k, v in m.params.items() if k != "seed"}  # the critical path, for the first seed
        rows.append(row)
    measured = report["measured"]
    rows.append(Row("io_ff", measured["io"]["ff"], "yosys", measured["tool"]))
    est = report["estimate"]
    tool = f"bnncc {bnncc.__version__} {ANALYTICAL.name} v{ANALYTICAL.version}"
    for b in est["blocks"]:
        s = stages[b["block"]]
        rows += [Row(r, b[r], "estimate", tool, b["block"], b["kind"], block_key=block_key(s.block, s.fold, part,
                                                                                         "fpga"))
                 for r in ("lut", "ff", "bram18", "dsp")]
    rows += [Row(r, est[r], "estimate", tool) for r in ("lut", "ff", "bram18", "dsp", "cycles_per_image",
                                                        "latency_cycles")]
    lanes = [int(s.fold.get("PE", 1)) * int(s.fold.get("SIMD", 1)) for s in design.stages]
    features.update({"blocks": len(design.stages), "max_lanes": max(lanes),
                     "cycles_per_image_estimate": int(est["cycles_per_image"]),
                     "folding": {s.name: _plain(s.shown_fold()) for s in design.stages}})
    return rows


# -- cpu -------------------------------------------------------------------------------------------


def pinned_seconds(fn, repeats: int) -> float:
    """Minimum wall time of `repeats` calls of `fn` on one core with one BLAS thread."""
    from threadpoolctl import threadpool_limits

    before = os.sched_getaffinity(0)
    try:
        os.sched_setaffinity(0, {min(before)})
        with threadpool_limits(1):
            fn()  # warm-up
            best = float("inf")
            for _ in range(repeats):
                t = time.perf_counter()
                fn()
                best = min(best, time.perf_counter() - t)
    finally:
        os.sched_setaffinity(0, before)
    return best


def _cpu(spec, graph, df, part, settings, features) -> list[Row]:
    """The executor's latency, and onnxruntime's where the file is plain ONNX (QONNX's Quant and FINN's
    MultiThreshold are custom ops onnxruntime cannot run: then no onnxruntime row)."""
    import onnxruntime as ort

    from bnncc import fixtures
    from bnncc.ir.executor import run

    model = space.model(spec)
    try:
        x = fixtures.random_inputs(model, 1, seed=0)
    except ValueError:  # no dialect input quantizer (a Brevitas export): any input of the shape times the same
        dims = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim[1:]]
        x = np.random.default_rng(0).standard_normal((1, *dims)).astype(np.float32)
    tools = tool_versions("cpu", part)
    load = {"load_avg": round(os.getloadavg()[0], 2)}
    rows = [Row("latency_s", pinned_seconds(lambda: run(graph, x), settings.repeats), "cpu-measured",
                f"bnncc {bnncc.__version__} executor, numpy {tools['numpy']}, {tools['cpu']}", params=load)]
    local = {(f.domain, f.name) for f in model.functions}
    if all(n.domain in ("", "ai.onnx") or (n.domain, n.op_type) in local for n in model.graph.node):
        so = ort.SessionOptions()
        so.intra_op_num_threads = so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.log_severity_level = 3
        session = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        rows.append(Row("latency_ort_s", pinned_seconds(lambda: session.run(None, {name: x}), settings.repeats),
                        "cpu-measured", f"onnxruntime {tools['onnxruntime']}, {tools['cpu']}", params=load))
    return rows


# -- gpu -------------------------------------------------------------------------------------------


def matrix_layers(graph) -> list[tuple[int, int, int]]:
    """(MW, MH, pixels) of every matrix layer."""
    out = []
    for n in graph.nodes:
        d = n.op.describe(graph.types[n.inputs[0]], graph.types[n.outputs[0]])
        if "macs" in d:
            out.append((d["MW"], d["MH"], d["pixels"]))
    return out


def gpu_roofline(layers: list[tuple[int, int, int]], gpu: str = DEFAULT_GPU, batch: int = 1) -> float:
    """Seconds per batch: per layer the larger of its FP16 GEMM time at peak and its weight and activation
    traffic at full bandwidth, plus one kernel launch."""
    ops_s, bytes_s, launch = GPUS[gpu]
    total = 0.0
    for mw, mh, pixels in layers:
        m = batch * pixels
        total += max(2 * m * mw * mh / ops_s, 2 * (mw * mh + m * (mw + mh)) / bytes_s) + launch
    return total


def _gpu(spec, graph, df, part, settings, features) -> list[Row]:
    layers = matrix_layers(graph)
    name = _gpu_name()
    if name is None:
        return [Row("latency_s", gpu_roofline(layers), "gpu-model", f"binary-GEMM roofline of {DEFAULT_GPU}",
                    params={"gpu": DEFAULT_GPU, "batch": 1})]
    import torch

    mats = [torch.randint(0, 2, (mw, mh), device="cuda", dtype=torch.float16) * 2 - 1 for mw, mh, _ in layers]
    xs = [torch.ones((p, mw), device="cuda", dtype=torch.float16) for mw, _, p in layers]

    def forward() -> None:
        for x, w in zip(xs, mats, strict=True):
            torch.sign(x @ w)
        torch.cuda.synchronize()

    best = float("inf")
    forward()
    for _ in range(settings.repeats):
        t = time.perf_counter()
        forward()
        best = min(best, time.perf_counter() - t)
    return [Row("latency_s", best, "gpu-measured", f"torch {torch.__version__} on {name}",
                params={"gpu": name, "batch": 1})]


# -- rram ------------------------------------------------------------------------------------------


def _rram(spec, graph, df, part, settings, features) -> list[Row]:
    from bnncc.backends.rram.backend import RramBackend, RramOptions, random_inputs
    from bnncc.sim.crossbar import CrossbarSim, word_line_planes

    with tempfile.TemporaryDirectory(prefix="bnncc-calibrate-") as tmp:
        opts = RramOptions(out=tmp, xbar=part, sim=True)
        report = RramBackend().compile(graph, opts)
        if not report["verification"]["crossbar_sim"]["passed"]:
            raise RuntimeError(f"crossbar simulation of {space.label(spec)} differs from the executor")
        sim = CrossbarSim(Path(tmp) / "rram")
        x = random_inputs(tuple(graph.input_type.shape), n=8)
        result = sim.run(x, trace=True)
    conversions = sum(int(np.asarray(c).size) for c in result.adc_codes.values()) / len(x)
    driven, before = 0.0, 0  # word lines driven per image: the 1 bits of every crossbar layer's input planes
    for stage in sim.stages:
        if stage["op"] == "matrix":
            v = np.asarray(result.trace[before])
            driven += float(word_line_planes(v.reshape(-1, v.shape[-1]), stage["input"]).sum())
        before = stage["index"]
    est = report["estimate"]
    model = f"bnncc {bnncc.__version__} RRAM estimate"
    return [Row("area_mm2", est["area_mm2"], "rram-model", model), Row("energy_pj", est["energy_pj"], "rram-model",
                                                                         model),
            Row("latency_ns", est["latency_ns"], "rram-model", model),
            Row("adc_conversions", conversions, "crossbar-sim", f"bnncc {bnncc.__version__} crossbar simulation"),
            Row("driven_word_lines", driven / len(x), "crossbar-sim", f"bnncc {bnncc.__version__} crossbar simulation"),
            Row("array_energy_pj", result.array_energy_pj, "crossbar-sim",
                f"bnncc {bnncc.__version__} crossbar simulation (V x I x t_read of the programmed conductances)")]
