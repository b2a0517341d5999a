"""`bnncc MODEL.onnx --target fpga`: fold, estimate, write the HLS project, optionally C-simulate.

Everything is written into a temporary directory next to OUT and renamed into place at the end,
so a failure leaves nothing behind.
"""

from __future__ import annotations

import json
import math
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import bnncc
from bnncc.backends import dataflow, folding, schedule
from bnncc.backends.fpga_hls import project
from bnncc.backends.fpga_rtl import project as rtl_project
from bnncc.backends.fpga_rtl import synth as rtl_synth
from bnncc.cost.devices import device as find_device
from bnncc.errors import BnnccError
from bnncc.ir.executor import run_hardware
from bnncc.ir.graph import Graph
from bnncc.sim import csim as csim_runner
from bnncc.sim import rtl as rtl_sim


@dataclass
class FpgaOptions:
    out: str = "out"
    part: str = "xc7z020clg400-1"
    clock_ns: float = 10.0
    fps: float | None = None
    folding: str | None = None
    strict_folding: bool = False
    ap_ctrl: str = "none"
    csim: bool = False
    input: np.ndarray | None = None  # float model inputs for --csim
    vectors: int = 64
    seed: int = 0
    rtl: bool = False  # also write OUT/rtl
    sim: bool = False  # simulate OUT/rtl with cocotb (implies rtl)
    simulator: str = "icarus"
    synth: bool = False  # Yosys (+ nextpnr-ecp5 for ECP5) on OUT/rtl -> report["measured"] (implies rtl)


def plan_dataflow(graph: Graph, opts: FpgaOptions) -> tuple[dataflow.Dataflow, folding.FoldingPlan, dict]:
    """The folded dataflow, the folding plan (warnings) and the estimate; exit-2 errors if it cannot fit."""
    dev = find_device(opts.part)
    if opts.clock_ns <= 0:
        raise BnnccError(f"--clock-ns {opts.clock_ns}: must be positive")
    df = dataflow.build(graph)
    plan = folding.FoldingPlan()
    if opts.folding and opts.fps:
        raise BnnccError("--folding and --fps both choose the folding: give one")
    if opts.folding:
        plan = folding.read(opts.folding, df)
        if opts.strict_folding and plan.warnings:
            raise BnnccError(f"{plan.warnings[0]} (--strict-folding)")
        df = folding.apply(df, plan)
    elif opts.fps:
        if opts.fps <= 0:
            raise BnnccError(f"--fps {opts.fps}: must be positive")
        df = folding.auto(df, math.floor(1e9 / (opts.fps * opts.clock_ns)), opts.clock_ns, opts.fps)
    else:
        plan.notes.append("no --folding or --fps: every layer is fully folded (PE = SIMD = 1)")
    est = schedule.estimate(df, dev, opts.clock_ns, plan.ram_style)
    over = schedule.fits(est, dev)
    if over:
        raise BnnccError(f"the design does not fit {dev.part}: {', '.join(over)} (estimated; fold further or "
                         "choose a larger --part)")
    return df, plan, est


def csim_vectors(graph: Graph, opts: FpgaOptions) -> np.ndarray:
    """Hardware input values: the head's codes of --input, else seeded random codes over the whole
    value range plus the all-minimum and all-maximum vectors."""
    head = graph.nodes[0]
    if opts.input is not None:
        from bnncc.ir.executor import check_input

        return head.op.execute(check_input(graph, opts.input))
    t = graph.types[head.output]
    rng = np.random.default_rng(opts.seed)
    values = t.dtype.values()
    random = rng.choice(values, size=(opts.vectors,) + t.shape)
    edges = np.stack([np.full(t.shape, values[0]), np.full(t.shape, values[-1])])
    return np.concatenate([random, edges]).astype(np.int64)


def _replaceable(out: Path) -> None:
    if out.exists() and not (out / "report.json").is_file():
        raise BnnccError(f"-o {out}: exists and is not a bnncc output directory; choose another")


def compile_fpga(graph: Graph, opts: FpgaOptions) -> tuple[dict, int]:
    df, plan, est = plan_dataflow(graph, opts)
    out = Path(opts.out)
    _replaceable(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".bnncc-", dir=out.parent))
    try:
        options = {"part": opts.part, "clock_ns": f"{opts.clock_ns:g}",
                   "ap_ctrl": "ap_ctrl_none" if opts.ap_ctrl == "none" else "ap_ctrl_hs"}
        project.write(tmp, df, graph.path, options)
        report = {
            "bnncc_version": bnncc.__version__, "model": graph.path, "target": "fpga", "part": opts.part,
            "clock_ns": opts.clock_ns, "estimate": est, "warnings": plan.warnings, "notes": plan.notes,
            "folding": {b.name: b.folding() for b in df.foldable()}, "verification": {},
        }
        _write_json(tmp / "folding.json", folding_file(df))
        _write_json(tmp / "io_format.json", io_format(graph, df))
        (tmp / "README.md").write_text(project.environment().get_template("hls/README.md.j2").render(
            version=bnncc.__version__, estimate=est, **options))
        code = 0
        values = csim_vectors(graph, opts) if opts.csim or opts.sim else None
        trace = run_hardware(graph, values) if values is not None else None
        if opts.csim:
            result = csim_runner.run(tmp / "hls", df, values, trace)
            report["verification"]["csim"] = result.to_json()
            csim_runner.clean(tmp / "hls")
            code |= 0 if result.passed else 1
        if opts.rtl or opts.sim or opts.synth:
            rtl_project.write(tmp, df, graph.path)
        if opts.sim:
            result = rtl_sim.verify(tmp / "rtl", df, values, trace[df.output_tensor], seed=opts.seed,
                                    simulator=opts.simulator)
            report["verification"]["rtl_sim"] = result
            shutil.rmtree(tmp / "rtl" / "build", ignore_errors=True)
            code |= 0 if result["passed"] else 1
        if opts.synth:  # scratch files live in a temporary directory: OUT/rtl is left as written
            report["measured"] = rtl_synth.synthesize(tmp / "rtl", find_device(opts.part), opts.clock_ns)
        _write_json(tmp / "report.json", report)
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
        return report, code
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _write_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")


def folding_file(df: dataflow.Dataflow) -> dict:
    depths = dict(zip([b.name for b in df.blocks[1:]], schedule.fifo_depths(df), strict=True))
    return {"format": "bnncc-folding", "version": 1,
            "blocks": {b.name: {**b.folding(), "kind": b.kind, "cycles": b.cycles(),
                                "in_fifo_depth": depths.get(b.name, 0)} for b in df.blocks}}


def io_format(graph: Graph, df: dataflow.Dataflow) -> dict:
    head_out = graph.types[graph.nodes[0].output]
    return {
        "version": 1,
        "lane_order": "element i of a word occupies bits [i*element_bits, (i+1)*element_bits)",
        "tensor_order": "NHWC flattened, channels fastest; one image = words_per_image consecutive words",
        "encodings": {"bipolar": "1 bit, 1 <-> +1, 0 <-> -1", "signed": "two's complement",
                      "unsigned": "binary"},
        "input": {**df.input_format.to_json(), "shape_nhwc": list(head_out.shape), "values": str(head_out.dtype)},
        "output": {**df.output_format.to_json(), "tensor": "labels" if df.blocks[-1].kind == "labelselect"
                   else "accumulators"},
    }
