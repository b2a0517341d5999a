"""The search spaces and what a network costs: the Deepbit space (XNOR-nets of one kind, MLP or CNN, over
depth and width: `Arch`), the co-design space (MLPs with a precision per hidden layer: `Mixed`), and each
network's cost on an FPGA at its cheapest folding for the budget's FPS, predicted by a cost model."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from bnncc.errors import BnnccError

WIDTH_STEP = 16  # widths are multiples of 16, so every layer has PE / SIMD divisors to fold with


@dataclass(frozen=True, order=True)
class Arch:
    kind: str  # mlp | cnn
    depth: int
    width: int

    @property
    def name(self) -> str:
        return f"xnor-{self.kind}-d{self.depth}-w{self.width}"

    def to_json(self) -> dict:
        return {"kind": self.kind, "depth": self.depth, "width": self.width}

    def net(self, seed: int = 0):
        import torch

        from bnncc.nn.zoo import xnor_net

        torch.manual_seed(seed)
        return xnor_net(self.kind, self.depth, self.width)


@dataclass(frozen=True, order=True)
class Mixed:
    width: int
    precisions: tuple[str, ...]  # per hidden layer: binary | pow2k1 | pow2k2 (bnncc.nn.zoo.mixed_mlp)

    kind = "mixed"

    @property
    def depth(self) -> int:
        return len(self.precisions)

    @property
    def name(self) -> str:
        return f"mix-w{self.width}-" + "-".join(p.replace("pow2", "") for p in self.precisions)

    def to_json(self) -> dict:
        return {"kind": "mixed", "width": self.width, "precisions": list(self.precisions)}

    def net(self, seed: int = 0):
        import torch

        from bnncc.nn.zoo import mixed_mlp

        torch.manual_seed(seed)
        return mixed_mlp(self.width, self.precisions)


def arch_of(data: dict) -> Arch | Mixed:
    """The architecture of its JSON form (`to_json`)."""
    if data["kind"] == "mixed":
        return Mixed(int(data["width"]), tuple(data["precisions"]))
    return Arch(data["kind"], int(data["depth"]), int(data["width"]))


def parse_range(text: str, what: str, step: int = 1) -> list[int]:
    """`2..6` (inclusive, every `step`), `2,4,5` or `3`."""
    try:
        if ".." in text:
            lo, hi = (int(v) for v in text.split("..", 1))
            values = [v for v in range(lo, hi + 1) if v % step == 0]
        else:
            values = sorted({int(v) for v in text.split(",") if v.strip()})
    except ValueError:
        raise BnnccError(f"--{what} {text!r}: write LO..HI or a comma-separated list of integers") from None
    if not values or min(values) < 1:
        multiple = f" that is a multiple of {step}" if step > 1 else ""
        raise BnnccError(f"--{what} {text!r}: no positive value{multiple}")
    if any(v % step for v in values):
        raise BnnccError(f"--{what} {text!r}: every value must be a multiple of {step}")
    return values


def check_depths(kind: str, depths: list[int]) -> None:
    from bnncc.nn.zoo import XNOR_KINDS

    if kind not in XNOR_KINDS:
        raise BnnccError(f"--kind {kind!r}: choose one of {', '.join(XNOR_KINDS)}")
    bad = [d for d in depths if d not in XNOR_KINDS[kind]]
    if bad:
        allowed = XNOR_KINDS[kind]
        raise BnnccError(f"--depths: xnor-{kind} has depths {allowed.start}-{allowed.stop - 1}, not {bad[0]}")


def graph_of(arch: Arch | Mixed):
    """The IR of the architecture with untrained weights (seed 0): its cost depends on its shapes alone."""
    from bnncc.export import build_onnx
    from bnncc.frontend import load

    net = arch.net(0).eval()
    with tempfile.TemporaryDirectory(prefix="bnncc-search-") as tmp:
        path = Path(tmp) / "m.onnx"
        path.write_bytes(build_onnx(net, net.input_shape).SerializeToString(deterministic=True))
        return load(str(path))


TARGETS = ("fpga", "rram", "gpu", "cpu")
PRIMARY = {"fpga": "lut", "rram": "energy_pj", "gpu": "latency_us", "cpu": "latency_us"}  # the cost charted
# where each target's numbers come from: a model, or a measurement on this machine
SOURCES = {"fpga": "calibrated cost model (Yosys-fitted) at the cheapest folding", "rram": "rram-model",
           "gpu": "gpu-model (binary-GEMM roofline)", "cpu": "cpu-measured (bnncc executor, one pinned core)"}
# (a cpu prediction from the cost model's fitted latency says so in its own "source")


def predict(arch: Arch | Mixed, fps: float | None, part: str, clock_ns: float, model, target: str = "fpga") -> dict:
    """The architecture's size proxies and its cost on the target: fpga — at the cheapest folding for `fps`
    (fully folded without one), the model's lut, ff, bram18, dsp, fps, latency_us, cycles_per_image and the
    folding; rram (`part` a crossbar ROWSxCOLS) — the RRAM model's area_mm2, energy_pj, latency_us, fps; gpu
    (`part` a GPU of the roofline table) — the roofline's latency_us and fps; cpu — the executor's latency
    on this machine: the cost model's fitted CPU latency where it has one for this CPU, else measured
    (minimum of 5 runs of one image on one core). A design that cannot be built
    has `infeasible` (the reason) instead."""
    from bnncc.calibrate.measure import graph_proxies

    graph = graph_of(arch)
    out = {"arch": arch.to_json(), "name": arch.name, **graph_proxies(graph), "source": SOURCES[target]}
    try:
        return {**out, **_COSTS[target](graph, fps, part, clock_ns, model)}
    except BnnccError as e:
        return {**out, "infeasible": str(e)}


def _fpga(graph, fps, part, clock_ns, model) -> dict:
    from bnncc.backends.fpga.driver import FpgaOptions, plan

    est = plan(graph, FpgaOptions(part=part, fps=fps, clock_ns=clock_ns, model=model)).estimate
    return {**{k: est[k] for k in ("lut", "ff", "bram18", "dsp", "fps", "latency_us", "cycles_per_image")},
            "folding": {b["block"]: b["folding"] for b in est["blocks"] if b["folding"]}}


def _rram(graph, fps, part, clock_ns, model) -> dict:
    from bnncc.backends.rram.config import RramConfig, parse_xbar
    from bnncc.backends.rram.estimate import estimate
    from bnncc.backends.rram.mapper import map_graph

    rows, cols = parse_xbar(part)
    est = estimate(map_graph(graph, RramConfig(rows=rows, cols=cols)))
    return {"area_mm2": est["area_mm2"], "energy_pj": est["energy_pj"], "latency_us": est["latency_ns"] / 1000,
            "fps": 1e9 / est["latency_ns"]}


def _gpu(graph, fps, part, clock_ns, model) -> dict:
    from bnncc.calibrate.measure import gpu_roofline, matrix_layers

    seconds = gpu_roofline(matrix_layers(graph), part)
    return {"latency_us": seconds * 1e6, "fps": 1 / seconds}


def _cpu(graph, fps, part, clock_ns, model) -> dict:
    """The cost model's CPU latency where it has one fitted on this CPU that knows every op of the graph;
    otherwise the executor measured (minimum of 5 runs on one pinned core)."""
    import numpy as np

    from bnncc.calibrate.measure import cpu_name, pinned_seconds
    from bnncc.ir.executor import run

    fitted = model.cpu_latency(graph)
    if fitted is not None and fitted["host"] == cpu_name() and not fitted["unseen_ops"]:
        seconds = fitted["seconds"]
        return {"latency_us": seconds * 1e6, "fps": 1 / seconds,
                "source": f"cpu latency model ({fitted['host']}, cross-validated MAPE {fitted['cv_mape']:.1f} %)"}
    x = np.zeros((1, *graph.input_type.shape), dtype=np.float32)
    seconds = pinned_seconds(lambda: run(graph, x), 5)
    return {"latency_us": seconds * 1e6, "fps": 1 / seconds}


_COSTS = {"fpga": _fpga, "rram": _rram, "gpu": _gpu, "cpu": _cpu}
