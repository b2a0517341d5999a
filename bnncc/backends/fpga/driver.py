"""`bnncc MODEL.onnx --target fpga`: fold, estimate, write the HLS project (and the RTL), verify them
against the executor (C simulation, RTL simulation) and measure them (Yosys, nextpnr).

Everything is written into a temporary directory next to OUT and renamed into place at the end,
so a failure leaves nothing behind.
"""

from __future__ import annotations

import json
import math
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import bnncc
from bnncc.backends.contract import Backend
from bnncc.backends.fpga import hls, rtl, synth
from bnncc.backends.output import staged
from bnncc.backends.templates import environment
from bnncc.cost import records
from bnncc.cost.calibrated import default_model
from bnncc.cost.devices import DEFAULT_PART
from bnncc.cost.devices import device as find_device
from bnncc.cost.model import CostModel
from bnncc.errors import BnnccError
from bnncc.hw import dataflow, folding
from bnncc.hw.design import Design, estimate, fits, realize
from bnncc.ir.executor import check_input, hardware_output, run_hardware
from bnncc.ir.graph import Graph
from bnncc.sim import csim as csim_runner
from bnncc.sim import rtl as rtl_sim


@dataclass
class FpgaOptions:
    out: str = "out"
    part: str = DEFAULT_PART
    clock_ns: float = 10.0
    fps: float | None = None
    folding: str | None = None
    strict_folding: bool = False
    ap_ctrl: str = "none"
    csim: bool = False
    input: np.ndarray | None = None  # float model inputs for --csim / --sim
    vectors: int = 64
    seed: int = 0
    rtl: bool = False  # also write OUT/rtl
    sim: bool = False  # simulate OUT/rtl with cocotb (implies rtl)
    simulator: str = "icarus"
    synth: bool = False  # Yosys (+ nextpnr-ecp5 for ECP5) on OUT/rtl -> report["measured"] (implies rtl)
    pnr_seeds: int = 1  # ECP5: place and route with seeds 1 .. pnr_seeds, Fmax their median
    synth_flat: bool = True  # also the flattened synthesis (False: totals are the per-block sums; not for ECP5)
    model: CostModel = field(default_factory=default_model)  # the shipped calibration, else the analytical model


@dataclass
class Plan:
    """The folded design, what reading the folding reported, and the estimate."""

    design: Design
    warnings: list[str]
    notes: list[str]
    estimate: dict


def plan(graph: Graph, opts: FpgaOptions) -> Plan:
    """The folded design and its estimate; exit-2 errors if it cannot fit."""
    dev = find_device(opts.part)
    if opts.clock_ns <= 0:
        raise BnnccError(f"--clock-ns {opts.clock_ns}: must be positive")
    df = dataflow.build(graph)
    warnings: list[str] = []
    notes: list[str] = []
    if opts.folding and opts.fps:
        raise BnnccError("--folding and --fps both choose the folding: give one")
    if opts.folding:
        given = folding.read(opts.folding, df)
        if opts.strict_folding and given.warnings:
            raise BnnccError(f"{given.warnings[0]} (--strict-folding)")
        chosen = folding.fill(df, given.entries, opts.clock_ns, dev, opts.model)
        warnings, notes = given.warnings, given.notes
    elif opts.fps:
        if opts.fps <= 0:
            raise BnnccError(f"--fps {opts.fps}: must be positive")
        chosen = folding.optimize(df, math.floor(1e9 / (opts.fps * opts.clock_ns)), opts.clock_ns, opts.fps, dev,
                                  opts.model)
    else:
        chosen = folding.complete(df)
        notes.append("no --folding or --fps: every layer is fully folded (PE = SIMD = 1)")
    design = realize(df, chosen)
    est = estimate(design, dev, opts.model, opts.clock_ns)
    beyond = {b["block"]: b["beyond_calibration"] for b in est["blocks"] if "beyond_calibration" in b}
    if beyond:
        notes.append("the cost model extrapolates beyond its calibration here, the estimate may be far off: "
                     + "; ".join(f"{block} ({', '.join(terms[:2])}{', ...' if len(terms) > 2 else ''})"
                                 for block, terms in beyond.items()))
    over = fits(est, dev)
    if over:
        raise BnnccError(f"the design does not fit {dev.part}: {', '.join(over)} (estimated; fold further or "
                         "choose a larger --part)")
    return Plan(design, warnings, notes, est)


def hardware_inputs(graph: Graph, opts: FpgaOptions) -> np.ndarray:
    """Hardware input values: the head's codes of --input, else seeded random codes over the whole
    value range plus the all-minimum and all-maximum vectors."""
    head = graph.head
    if opts.input is not None:
        return head.op.execute(check_input(graph, opts.input))
    t = graph.types[head.output]
    rng = np.random.default_rng(opts.seed)
    values = t.dtype.values()
    random = rng.choice(values, size=(opts.vectors,) + t.shape)
    edges = np.stack([np.full(t.shape, values[0]), np.full(t.shape, values[-1])])
    return np.concatenate([random, edges]).astype(np.int64)


def _write_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")


def folding_file(design: Design) -> dict:
    depths: dict[str, list[int]] = {}
    for e, f in zip(design.edges, design.fifos, strict=True):
        depths.setdefault(design.stages[e.dst].name, []).append(f.block.depth)
    blocks = {}
    for s in design.stages:
        into = depths.get(s.name, [0])
        blocks[s.name] = {**s.shown_fold(), "kind": s.block.kind, "cycles": s.cycles(), "in_fifo_depth": into[0],
                          **({"in_fifo_depths": into} if len(into) > 1 else {})}
    return {"format": "bnncc-folding", "version": 1, "blocks": blocks}


def io_format(graph: Graph, design: Design) -> dict:
    head_out = graph.types[graph.head.output]
    return {
        "version": 1,
        "lane_order": "element i of a word occupies bits [i*element_bits, (i+1)*element_bits)",
        "tensor_order": "NHWC flattened, channels fastest; one image = words_per_image consecutive words",
        "encodings": {"bipolar": "1 bit, 1 <-> +1, 0 <-> -1", "signed": "two's complement",
                      "unsigned": "binary"},
        "input": {**design.input_format.to_json(), "shape_nhwc": list(head_out.shape), "values": str(head_out.dtype)},
        "output": {**design.output_format.to_json(), "tensor": "labels" if design.stages[-1].block.kind == "labelselect"
                   else "accumulators"},
    }


def measurements(report: dict, design: Design) -> list[records.Measurement]:
    """The report's measured numbers as records (per block where Yosys gave per-instance rows), each
    instance with its kind and parameter table, as calibration reads them."""
    blocks = {s.name: (s.block.kind, {p.name: p.value for p in s.block.params(s.fold)})
              for s in design.stages + design.fifos}
    out = records.from_synthesis(report["measured"], blocks) if "measured" in report else []
    if "rtl_sim" in report["verification"]:
        out += records.from_rtl_sim(report["verification"]["rtl_sim"], report["part"])
    return out


class FpgaBackend(Backend):
    target = "fpga"
    Options = FpgaOptions

    def compile(self, graph: Graph, opts: FpgaOptions) -> dict:
        p = plan(graph, opts)
        design = p.design
        with staged(Path(opts.out)) as tmp:
            options = {"part": opts.part, "clock_ns": f"{opts.clock_ns:g}",
                       "ap_ctrl": "ap_ctrl_none" if opts.ap_ctrl == "none" else "ap_ctrl_hs"}
            hls.write(tmp, design, graph.path, options)
            report = {
                "bnncc_version": bnncc.__version__, "model": graph.path, "target": "fpga", "part": opts.part,
                "clock_ns": opts.clock_ns, "estimate": p.estimate, "warnings": p.warnings, "notes": p.notes,
                "folding": {s.name: s.shown_fold() for s in design.folded()}, "verification": {},
            }
            _write_json(tmp / "folding.json", folding_file(design))
            _write_json(tmp / "io_format.json", io_format(graph, design))
            (tmp / "README.md").write_text(environment().get_template("hls/README.md.j2").render(
                version=bnncc.__version__, estimate=p.estimate, **options))
            values = hardware_inputs(graph, opts) if opts.csim or opts.sim else None
            trace = run_hardware(graph, values) if values is not None else None
            if opts.csim:
                result = csim_runner.run(tmp / "hls", design, values, trace)
                report["verification"]["csim"] = result.to_json()
                csim_runner.clean(tmp / "hls")
            if opts.rtl or opts.sim or opts.synth:
                rtl.write(tmp, design, graph.path)
            if opts.sim:
                result = rtl_sim.verify(tmp / "rtl", design, values, trace[hardware_output(graph)], seed=opts.seed,
                                        simulator=opts.simulator)
                report["verification"]["rtl_sim"] = result
                shutil.rmtree(tmp / "rtl" / "build", ignore_errors=True)
            if opts.synth:  # scratch files live in a temporary directory: OUT/rtl is left as written
                report["measured"] = synth.synthesize(tmp / "rtl", find_device(opts.part), opts.clock_ns,
                                                       pnr_seeds=opts.pnr_seeds, flat=opts.synth_flat)
            if opts.synth or opts.sim:
                report["records"] = [r.to_json() for r in measurements(report, design)]
            _write_json(tmp / "report.json", report)
        return report

    def summary(self, report: dict) -> str:
        est = report["estimate"]
        lines = [f"{'block':<14}{'folding':<22}{'cycles':>10}{'LUT':>9}{'FF':>9}{'BRAM18':>8}{'DSP':>6}"]
        for r in est["blocks"]:
            fold = " ".join(f"{k}={v}" for k, v in r["folding"].items())
            lines.append(f"{r['block']:<14}{fold:<22}{r['cycles']:>10,}{r['lut']:>9,}{r['ff']:>9,}{r['bram18']:>8}"
                         f"{r['dsp']:>6}")
        lines.append(f"{'total':<36}{est['cycles_per_image']:>10,}{est['lut']:>9,}{est['ff']:>9,}{est['bram18']:>8}"
                     f"{est['dsp']:>6}")
        util = ", ".join(f"{k.upper()} {v:.1%}" for k, v in est["utilization"].items())
        lines.append(f"{report['part']} at {report['clock_ns']:g} ns: {est['fps']:,.0f} FPS, latency "
                     f"{est['latency_us']:,.2f} us; {util} (estimated by the {est['cost_model']['name']} cost model)")
        csim = report["verification"].get("csim")
        if csim:
            verdict = "passed" if csim["passed"] else f"FAILED at {csim.get('first_differing_layer', '?')}"
            lines.append(f"csim: {verdict}: {csim['vectors']} vectors, {csim['mismatches']} mismatches")
        sim = report["verification"].get("rtl_sim")
        if sim:
            lines.append(f"rtl sim: {'passed' if sim['passed'] else 'FAILED'}: {sim['vectors']} vectors, "
                         f"{sim['mismatches']} mismatches; {sim['cycles_per_image']:,.1f} cycles/image measured vs "
                         f"{sim['designed_interval']:,} designed (efficiency {sim['efficiency']:.3f})")
        m = report.get("measured")
        if m:
            fmax = f"Fmax {m['fmax_mhz']:.1f} MHz (nextpnr)" if m.get("fmax_mhz") else \
                "no Fmax (no open P&R for the part)"
            lines.append(f"measured ({m['tool']}, {m['part']}): {m['lut']:,} LUT + {m['lutram']:,} LUTRAM, "
                         f"{m['ff']:,} FF, {m['bram18']} BRAM18, {m['dsp']} DSP, {m['carry']} carry; {fmax}")
        return "\n".join(lines)
