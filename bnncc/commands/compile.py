"""`bnncc MODEL.onnx --target fpga|rram [options]`: compile a model for a target through its backend
(bnncc.backends.contract) and print the summary, or report.json with --json."""

from __future__ import annotations

import argparse
import json
import sys

from bnncc.commands.common import (
    Parser,
    add_input_codes,
    at_least_one,
    checked_input,
    cost_model,
    load,
    positive,
    read_npy,
)
from bnncc.errors import BnnccError


def add_mapping_options(parser: argparse.ArgumentParser, adc_bits: bool = True) -> None:
    """The crossbar technology options (compile --target rram and rram-sweep)."""
    from bnncc.backends.rram.config import ENCODINGS, G_OFF, G_ON

    g = parser.add_argument_group("RRAM crossbar")
    g.add_argument("--xbar", default="128x128", help="crossbar size ROWSxCOLS (default 128x128)")
    g.add_argument("--encoding", default="differential", choices=ENCODINGS,
                   help="signed weights as G+/G- column pairs, or one cell per digit plus a mid-conductance "
                        "reference column (default differential)")
    g.add_argument("--cell-bits", type=int, default=1, help="bits per RRAM cell; wider weights are bit-sliced "
                   "(default 1)")
    if adc_bits:
        g.add_argument("--adc-bits", type=int, default=None,
                       help="ADC resolution (default: derived per layer so the crossbars are exact)")
    g.add_argument("--g-on", type=positive, default=G_ON, help=f"on conductance in siemens (default {G_ON:.6g})")
    g.add_argument("--g-off", type=positive, default=G_OFF, help=f"off conductance in siemens (default {G_OFF:.6g})")


def rram_options(args: argparse.Namespace, x=None):
    from bnncc.backends.rram.backend import RramOptions

    return RramOptions(out=args.out, xbar=args.xbar, encoding=args.encoding, cell_bits=args.cell_bits,
                       adc_bits=getattr(args, "adc_bits", None), g_on=args.g_on, g_off=args.g_off,
                       sim=getattr(args, "sim", False), input=x)


def fpga_options(args: argparse.Namespace, x=None):
    from bnncc.backends.fpga.driver import FpgaOptions

    return FpgaOptions(out=args.out, part=args.part, clock_ns=args.clock_ns, fps=args.fps, folding=args.folding,
                       strict_folding=args.strict_folding, ap_ctrl=args.ap_ctrl, csim=args.csim, input=x,
                       rtl=args.rtl, sim=args.sim, simulator=args.simulator, synth=args.synth,
                       pnr_seeds=args.pnr_seeds, model=cost_model(args.cost_model))


FPGA_ONLY = ("--part", "--clock-ns", "--fps", "--folding", "--strict-folding", "--ap-ctrl", "--csim", "--rtl",
             "--synth", "--pnr-seeds", "--simulator", "--cost-model")
RRAM_ONLY = ("--xbar", "--encoding", "--cell-bits", "--adc-bits", "--g-on", "--g-off")


def check_options(args: argparse.Namespace) -> None:
    """An option that would have no effect is an error, not silently ignored."""
    given = getattr(args, "given", set())
    other = RRAM_ONLY if args.target == "fpga" else FPGA_ONLY
    unused = [o for o in other if o in given]
    if unused:
        raise BnnccError(f"{', '.join(unused)}: not an option of --target {args.target}")
    if args.target == "fpga":
        for option, needed, needs in (("--input", args.csim or args.sim, "--csim or --sim"),
                                      ("--simulator", args.sim, "--sim"),
                                      ("--strict-folding", args.folding, "--folding"),
                                      ("--pnr-seeds", args.synth, "--synth")):
            if option in given and not needed:
                raise BnnccError(f"{option} has no effect without {needs}")


def run(args: argparse.Namespace) -> int:
    from bnncc.backends.contract import backend

    check_options(args)
    target = backend(args.target)
    x = read_npy(args.input) if args.input else None
    graph = load(args.model, args)
    if x is not None:
        x = checked_input(graph, x, args.input, args)
    options = fpga_options(args, x) if args.target == "fpga" else rram_options(args, x)
    report = target.compile(graph, options)
    for w in report.get("warnings", []):
        print(f"bnncc: warning: {' '.join(w.split())}", file=sys.stderr)
    for note in report.get("notes", []):
        print(f"bnncc: note: {note}", file=sys.stderr)
    if args.json:
        print(json.dumps(report, sort_keys=True))
    else:
        print(target.summary(report), file=sys.stderr)
    return target.exit_code(report)


def parser(subcommands: tuple[str, ...]) -> argparse.ArgumentParser:
    from bnncc.backends.contract import TARGETS
    from bnncc.cost.devices import DEFAULT_PART, DEVICES

    comp = Parser(prog="bnncc", allow_abbrev=False,
                                   description="Compile MODEL.onnx for a target. Subcommands: "
                                   + ", ".join(subcommands) + " (bnncc SUBCOMMAND --help).")
    comp.add_argument("model", help="ONNX, QONNX or FINN-ONNX file")
    comp.add_argument("--target", choices=TARGETS, required=True,
                      help="fpga: Vitis HLS project (OUT/hls); rram: crossbar mapping files (OUT/rram)")
    comp.add_argument("-o", "--out", default="out", help="output directory (replaced if it is a bnncc output)")
    comp.add_argument("--json", action="store_true", help="print report.json on stdout")
    fpga = comp.add_argument_group("fpga")
    fpga.add_argument("--part", default=DEFAULT_PART, metavar="PART",
                      help=f"FPGA part: {', '.join(DEVICES)} (default {DEFAULT_PART})")
    fpga.add_argument("--clock-ns", type=positive, default=10.0, help="clock period in ns (default 10)")
    fpga.add_argument("--fps", type=positive,
                      help="choose the folding with the fewest LUTs reaching this many images/s")
    fpga.add_argument("--folding", help="folding file: bnncc's folding.json or FINN's folding_config.json")
    fpga.add_argument("--strict-folding", action="store_true", help="unknown folding keys are errors, not warnings")
    fpga.add_argument("--ap-ctrl", choices=["none", "hs"], default="none", help="block-level control protocol")
    fpga.add_argument("--csim", action="store_true", help="C-simulate with g++ and compare with the executor")
    fpga.add_argument("--rtl", action="store_true", help="also write Verilog (OUT/rtl) for open flows")
    fpga.add_argument("--synth", action="store_true",
                      help="synthesize OUT/rtl with Yosys (ECP5 parts: also nextpnr-ecp5 for Fmax) and record the "
                           "measured LUT/FF/BRAM/DSP under 'measured' in report.json (implies --rtl)")
    fpga.add_argument("--pnr-seeds", type=at_least_one, default=1, metavar="N",
                      help="ECP5 --synth: place and route with seeds 1..N and report the median Fmax (default 1)")
    fpga.add_argument("--cost-model", metavar="FILE|analytical",
                      help="the cost model that estimates and chooses --fps foldings: a calibrated model file "
                           "(bnncc calibrate --fit), or analytical (FINN-R style, uncalibrated); default: the "
                           "shipped calibration (bnncc/cost/calibrated.json)")
    fpga.add_argument("--simulator", choices=["icarus", "verilator"], default="icarus",
                      help="RTL simulator for --sim (default icarus)")
    comp.add_argument("--input", help=".npy float inputs for --csim / --sim (rram: implies --sim; default: 64 seeded "
                      "random inputs)")
    add_mapping_options(comp)
    comp.add_argument("--sim", action="store_true",
                      help="simulate the output against the reference executor, exit 1 on a mismatch: fpga, the "
                           "RTL with cocotb (implies --rtl); rram, the ideal crossbar simulation")
    add_input_codes(comp)
    comp.set_defaults(fn=run)
    return comp
