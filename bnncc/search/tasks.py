"""What a search runs in its workers (a process pool or Ray tasks): train an architecture, or compile, verify
and measure a trained network. Each returns its failure as {"error": ...} rather than raising it, so one bad
trial is reported and the search goes on; only the driver writes the store."""

from __future__ import annotations

import time
from pathlib import Path

from bnncc.errors import printable
from bnncc.search.arch import arch_of


def _failure(e: BaseException) -> dict:
    return {"error": f"{type(e).__name__}: {printable(str(e))[:400]}"}


def train_trial(arch: dict, dataset: str, epochs: int, seed: int, threads: int, max_train: int | None,
                folder: str) -> dict:
    """Train the architecture with bnncc.nn and export it (bit-exact against onnxruntime) to folder/model.onnx."""
    start = time.perf_counter()
    try:
        from bnncc.data import load_dataset
        from bnncc.export import export
        from bnncc.nn.train import TrainConfig, train

        net = arch_of(arch).net(seed)
        data = load_dataset(dataset, seed=seed)
        metrics = train(net, data, TrainConfig(epochs=epochs, seed=seed, threads=threads, max_train=max_train),
                        progress=False)
        export(net, data[2][:256].reshape(-1, *net.input_shape), Path(folder) / "model.onnx")
    except Exception as e:  # noqa: BLE001 - reported as the trial's result
        return _failure(e)
    return {"accuracy": metrics["test_accuracy"], "epochs": metrics["epochs"], "train_images": metrics["train_images"],
            "test_images": metrics["test_images"], "train_s": round(time.perf_counter() - start, 1)}


def measure_trial(target: str, onnx: str, part: str, fps: float | None, clock_ns: float, folder: str, dataset: str,
                  seed: int, images: int, simulator: str, model=None) -> dict:
    """Build and check the trained network on the target (see _fpga, _rram, _gpu, _cpu): "measured" holds
    only what was measured, "modelled" what a model gives; "verified" what was checked bit-exactly."""
    start = time.perf_counter()
    try:
        from bnncc.data import load_dataset
        from bnncc.frontend import load

        graph = load(onnx)
        x = load_dataset(dataset, seed=seed)[2][:images]
        x = x.reshape(len(x), *graph.input_type.shape)
        result = _BUILD[target](graph, x, part, fps, clock_ns, folder, simulator, model)
    except Exception as e:  # noqa: BLE001
        return _failure(e)
    return {**result, "measure_s": round(time.perf_counter() - start, 1)}


def _fpga(graph, x, part, fps, clock_ns, folder, simulator, model) -> dict:
    """Compile the network at its cheapest folding for `fps` under the search's cost model (the folding it
    predicted), C-simulate and RTL-simulate it on `images` test
    images (both bit-exact against the executor, else the trial fails), synthesize it with Yosys; the
    measured LUT (logic + LUTRAM; flattened totals, and `lut_blocks` the sum of the per-block synthesis), FF (less
    the measurement wrapper's), BRAM18, DSP, cycles per image, FPS and first-output latency, beside the estimate
    the compile made."""
    from bnncc.backends.fpga.driver import FpgaBackend, FpgaOptions

    opts = FpgaOptions(out=folder, part=part, fps=fps, clock_ns=clock_ns, csim=True, sim=True, synth=True,
                       input=x, simulator=simulator, **({"model": model} if model is not None else {}))
    report = FpgaBackend().compile(graph, opts)
    ver = report["verification"]
    if not (ver["csim"]["passed"] and ver["rtl_sim"]["passed"]):
        return {"error": f"verification failed: csim {ver['csim']}, RTL simulation {ver['rtl_sim']}"}
    m, sim, est = report["measured"], ver["rtl_sim"], report["estimate"]
    cycles = sim["cycles_per_image"]
    # the per-block (hierarchical) synthesis is what the cost model is fitted on; the flattened totals are the
    # design's, and Yosys maps the same RTL a few per cent apart the two ways
    blocks = m.get("per_block", {}).values()
    return {"measured": {"lut": m["lut"] + m["lutram"], "lut_blocks": sum(b["lut"] + b["lutram"] for b in blocks),
                         "ff": m["ff"] - m["io"]["ff"], "bram18": m["bram18"],
                         "dsp": m["dsp"], "cycles_per_image": cycles, "fps": 1e9 / (cycles * clock_ns),
                         "latency_us": sim["latency_cycles"] * clock_ns / 1000, "tool": m["tool"],
                         "simulator": sim["simulator"]},
            "predicted": {k: est[k] for k in ("lut", "ff", "bram18", "dsp", "cycles_per_image", "fps", "latency_us")},
            "verified": {"csim_vectors": ver["csim"]["vectors"], "rtl_sim_vectors": sim["vectors"],
                         "rtl_sim_efficiency": sim["efficiency"]}, "project": folder}


def _rram(graph, x, part, fps, clock_ns, folder, simulator, model) -> dict:
    """Map the network onto crossbars of `part` and run the crossbar simulation on the images (bit-exact
    against the executor, else the trial fails); area, energy and latency are the RRAM model's."""
    from bnncc.backends.rram.backend import RramBackend, RramOptions

    report = RramBackend().compile(graph, RramOptions(out=folder, xbar=part, sim=True, input=x))
    sim = report["verification"]["crossbar_sim"]
    if not sim["passed"]:
        return {"error": f"verification failed: crossbar simulation {sim}"}
    est = report["estimate"]
    return {"measured": {}, "modelled": {"area_mm2": est["area_mm2"], "energy_pj": est["energy_pj"],
                                         "latency_us": est["latency_ns"] / 1000, "fps": 1e9 / est["latency_ns"],
                                         "source": "rram-model"},
            "verified": {"crossbar_sim_vectors": sim.get("vectors", len(x))}, "project": folder}


def _gpu(graph, x, part, fps, clock_ns, folder, simulator, model) -> dict:
    """No GPU to run on here: the roofline model of the trained graph (the export checked it against
    onnxruntime bit-exactly)."""
    from bnncc.calibrate.measure import gpu_roofline, matrix_layers

    seconds = gpu_roofline(matrix_layers(graph), part)
    return {"measured": {}, "modelled": {"latency_us": seconds * 1e6, "fps": 1 / seconds, "source": "gpu-model"},
            "verified": {}}


def _cpu(graph, x, part, fps, clock_ns, folder, simulator, model) -> dict:
    """The bnncc executor's latency of one image on one pinned core (minimum of 20 runs), measured."""
    from bnncc.calibrate.measure import pinned_seconds
    from bnncc.ir.executor import run

    seconds = pinned_seconds(lambda: run(graph, x[:1]), 20)
    return {"measured": {"latency_us": seconds * 1e6, "fps": 1 / seconds, "source": "cpu-measured"},
            "verified": {}}


_BUILD = {"fpga": _fpga, "rram": _rram, "gpu": _gpu, "cpu": _cpu}
