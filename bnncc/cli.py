"""The `bnncc` command.

    bnncc inspect MODEL.onnx [--json]
    bnncc run MODEL.onnx --input X.npy [--output Y.npy] [--json]
    bnncc MODEL.onnx --target fpga|rram [options]      (compile; backends arrive with their issues)

Exit codes: 0 ok, 1 verification failed, 2 bad input or usage.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile

import numpy as np

from bnncc.backends.fpga_hls.reports import add_report_parser
from bnncc.backends.rram.cli import add_compile_options as add_rram_options
from bnncc.backends.rram.cli import add_sweep_parser
from bnncc.errors import BnnccError
from bnncc.nn.cli import add_train_parser

SUBCOMMANDS = ("inspect", "run", "report", "rram-sweep", "train")


def _load(path: str):
    from bnncc.frontend import load

    return load(path)


def layer_table(graph) -> list[dict]:
    rows = []
    for i, n in enumerate(graph.nodes):
        t_in, t_out = graph.types[n.input], graph.types[n.output]
        d = n.op.describe(t_in, t_out)
        rows.append({
            "index": i, "side": "host" if n.host else "hw", "op": type(n.op).__name__, "kind": d.get("kind"),
            "in": str(t_in), "out": str(t_out),
            "in_bits": t_in.dtype.bits, "weight": d.get("weight", ""), "weight_bits": d.get("weight_bits", 0),
            "out_bits": t_out.dtype.bits, "params": d.get("params", 0), "macs": d.get("macs", 0),
            "binary_ops": d.get("binary_ops", 0),
            "weight_mem_bits": d.get("weight_mem_bits", 0) + d.get("threshold_mem_bits", 0),
        })
    return rows


def _print_table(rows: list[dict]) -> None:
    cols = [("#", "index"), ("side", "side"), ("op", "op"), ("input", "in"), ("output", "out"),
            ("weights", "weight"), ("params", "params"), ("MACs", "macs"), ("binary ops", "binary_ops"),
            ("mem bits", "weight_mem_bits")]
    cells = [[str(r[k]) for _, k in cols] for r in rows]
    total = ["", "", "total", "", "", ""] + [str(sum(r[k] for r in rows)) for _, k in cols[6:]]
    widths = [max(len(h), *(len(c[i]) for c in cells + [total])) for i, (h, _) in enumerate(cols)]

    def line(c: list[str]) -> str:  # text columns left-aligned, numbers right-aligned
        return "  ".join(x.ljust(w) if i < 6 else x.rjust(w) for i, (x, w) in enumerate(zip(c, widths, strict=True)))

    print(line([h for h, _ in cols]))
    print(line(["-" * w for w in widths]))
    for c in cells + [total]:
        print(line(c))


def cmd_inspect(args) -> int:
    graph = _load(args.model)
    rows = layer_table(graph)
    if args.json:
        print(json.dumps({"model": args.model, "layers": rows, "ir": str(graph)}))
    else:
        print(graph)
        print()
        _print_table(rows)
    return 0


def _read_input(path: str) -> np.ndarray:
    if not os.path.isfile(path):
        raise BnnccError(f"{path}: no such input file")
    try:
        return np.load(path, allow_pickle=False)
    except Exception as e:
        raise BnnccError(f"{path}: not a readable .npy array: {type(e).__name__}") from None


def _write_atomic(path: str, array: np.ndarray) -> None:
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(suffix=".npy", dir=folder)
    os.close(fd)
    try:
        np.save(tmp, array)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def cmd_run(args) -> int:
    from bnncc.ir.executor import run

    graph = _load(args.model)
    x = _read_input(args.input)
    result = run(graph, x)
    out = result.outputs[0]
    if args.output:
        _write_atomic(args.output, out)
    if args.json:
        print(json.dumps({"labels": result.labels.tolist(), "outputs": out.tolist()}))
    else:
        for i, label in enumerate(result.labels.tolist()):
            print(f"{i}\t{label}")
    return 0


def cmd_compile(args) -> int:
    if args.target == "rram":
        from bnncc.backends.rram.cli import compile_rram, exit_code, summary

        report = compile_rram(_load(args.model), args)
        if args.json:
            print(json.dumps(report, sort_keys=True))
        else:
            print(summary(report), file=sys.stderr)
        return exit_code(report)
    from bnncc.backends.fpga_hls.compile import FpgaOptions, compile_fpga

    graph = _load(args.model)
    opts = FpgaOptions(out=args.out, part=args.part, clock_ns=args.clock_ns, fps=args.fps, folding=args.folding,
                       strict_folding=args.strict_folding, ap_ctrl=args.ap_ctrl, csim=args.csim,
                       input=_read_input(args.input) if args.input else None, rtl=args.rtl, sim=args.sim,
                       simulator=args.simulator, synth=args.synth)
    report, code = compile_fpga(graph, opts)
    for w in report["warnings"]:
        print(f"bnncc: warning: {' '.join(w.split())}", file=sys.stderr)
    for note in report["notes"]:
        print(f"bnncc: note: {note}", file=sys.stderr)
    if args.json:
        print(json.dumps(report, sort_keys=True))
    else:
        _print_estimate(report)
    return code


def _print_estimate(report: dict) -> None:
    est = report["estimate"]
    print(f"{'block':<14}{'folding':<22}{'cycles':>10}{'LUT':>9}{'FF':>9}{'BRAM18':>8}{'DSP':>6}", file=sys.stderr)
    for r in est["blocks"]:
        fold = " ".join(f"{k}={v}" for k, v in r["folding"].items())
        print(f"{r['block']:<14}{fold:<22}{r['cycles']:>10,}{r['lut']:>9,}{r['ff']:>9,}{r['bram18']:>8}{r['dsp']:>6}",
              file=sys.stderr)
    print(f"{'total':<36}{est['cycles_per_image']:>10,}{est['lut']:>9,}{est['ff']:>9,}{est['bram18']:>8}"
          f"{est['dsp']:>6}", file=sys.stderr)
    util = ", ".join(f"{k.upper()} {v:.1%}" for k, v in est["utilization"].items())
    print(f"{report['part']} at {report['clock_ns']:g} ns: {est['fps']:,.0f} FPS, latency {est['latency_us']:,.2f} us; "
          f"{util}", file=sys.stderr)
    csim = report["verification"].get("csim")
    if csim:
        verdict = "passed" if csim["passed"] else f"FAILED at {csim.get('first_differing_layer', '?')}"
        print(f"csim: {verdict}: {csim['vectors']} vectors, {csim['mismatches']} mismatches", file=sys.stderr)
    sim = report["verification"].get("rtl_sim")
    if sim:
        print(f"rtl sim: {'passed' if sim['passed'] else 'FAILED'}: {sim['vectors']} vectors, {sim['mismatches']} "
              f"mismatches; {sim['cycles_per_image']:,.1f} cycles/image measured vs {sim['designed_interval']:,} "
              f"designed (efficiency {sim['efficiency']:.3f})", file=sys.stderr)
    m = report.get("measured")
    if m:
        fmax = f"Fmax {m['fmax_mhz']:.1f} MHz (nextpnr)" if m.get("fmax_mhz") else "no Fmax (no open P&R for the part)"
        print(f"measured ({m['tool']}, {m['part']}): {m['lut']:,} LUT + {m['lutram']:,} LUTRAM, {m['ff']:,} FF, "
              f"{m['bram18']} BRAM18, {m['dsp']} DSP, {m['carry']} carry; {fmax}", file=sys.stderr)


def build_parsers() -> tuple[argparse.ArgumentParser, argparse.ArgumentParser]:
    sub = argparse.ArgumentParser(
        prog="bnncc", description="bnncc: binary / power-of-two / ShiftAdd nets from ONNX to verified hardware.",
        epilog="Compile: bnncc MODEL.onnx --target fpga|rram [-o OUT] [options]; "
               "see bnncc MODEL.onnx --target fpga --help. Exit codes: 0 ok, 1 verification failed, 2 bad input.")
    cmds = sub.add_subparsers(dest="command", required=True)
    p = cmds.add_parser("inspect", help="print the IR and a per-layer table")
    p.add_argument("model", help="ONNX, QONNX or FINN-ONNX file")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.set_defaults(fn=cmd_inspect)
    p = cmds.add_parser("run", help="run the host head, the reference executor and the host tail on a batch")
    p.add_argument("model", help="ONNX, QONNX or FINN-ONNX file")
    p.add_argument("--input", required=True, help=".npy batch [N, ...] in the model's input layout")
    p.add_argument("--output", help="write the model's first output to this .npy")
    p.add_argument("--json", action="store_true", help='print {"labels": [...], "outputs": [...]} on stdout')
    p.set_defaults(fn=cmd_run)
    add_report_parser(cmds)
    add_sweep_parser(cmds)
    add_train_parser(cmds)
    comp = argparse.ArgumentParser(prog="bnncc", description="Compile MODEL.onnx for a target. Subcommands: "
                                   + ", ".join(SUBCOMMANDS) + " (bnncc SUBCOMMAND --help).")
    comp.add_argument("model", help="ONNX, QONNX or FINN-ONNX file")
    comp.add_argument("--target", choices=["fpga", "rram"], required=True,
                      help="fpga: Vitis HLS project (OUT/hls); rram: crossbar mapping files (OUT/rram)")
    comp.add_argument("-o", "--out", default="out", help="output directory (replaced if it is a bnncc output)")
    comp.add_argument("--json", action="store_true", help="print report.json on stdout")
    fpga = comp.add_argument_group("fpga")
    fpga.add_argument("--part", default="xc7z020clg400-1", help="FPGA part (see bnncc/cost/devices.py)")
    fpga.add_argument("--clock-ns", type=float, default=10.0, help="clock period in ns (default 10)")
    fpga.add_argument("--fps", type=float, help="choose the folding with the fewest LUTs reaching this many images/s")
    fpga.add_argument("--folding", help="folding file: bnncc's folding.json or FINN's folding_config.json")
    fpga.add_argument("--strict-folding", action="store_true", help="unknown folding keys are errors, not warnings")
    fpga.add_argument("--ap-ctrl", choices=["none", "hs"], default="none", help="block-level control protocol")
    fpga.add_argument("--csim", action="store_true", help="C-simulate with g++ and compare with the executor")
    fpga.add_argument("--rtl", action="store_true", help="also write Verilog (OUT/rtl) for open flows")
    fpga.add_argument("--synth", action="store_true",
                      help="synthesize OUT/rtl with Yosys (ECP5 parts: also nextpnr-ecp5 for Fmax) and record the "
                           "measured LUT/FF/BRAM/DSP under 'measured' in report.json (implies --rtl)")
    fpga.add_argument("--simulator", choices=["icarus", "verilator"], default="icarus",
                      help="RTL simulator for --sim (default icarus)")
    fpga.add_argument("--input", help=".npy float inputs for --csim / --sim (default: 64 seeded random inputs)")
    add_rram_options(comp)
    comp.set_defaults(fn=cmd_compile)
    return sub, comp


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    sub, comp = build_parsers()
    if not argv or argv[0] in ("-h", "--help"):
        sub.print_help()
        return 0 if argv else 2
    args = (sub if argv[0] in SUBCOMMANDS else comp).parse_args(argv)
    try:
        return args.fn(args)
    except BnnccError as e:
        print(f"bnncc: error: {' '.join(str(e).split())}", file=sys.stderr)
        return 2
    except Exception as e:  # a model we could not classify: still one line, still exit 2
        if os.environ.get("BNNCC_DEBUG"):
            raise
        print(f"bnncc: error: {getattr(args, 'model', '')}: {type(e).__name__}: {' '.join(str(e).split())} "
              "(set BNNCC_DEBUG=1 for a traceback)", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
