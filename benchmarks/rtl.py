"""Measured against estimated: the RTL backend's designs synthesized with open tools.

For each design, bnncc writes OUT/rtl (``FpgaBackend.compile(FpgaOptions(rtl=True, ...))``), simulates it with
cocotb + Icarus for cycles per image, and ``bnncc.backends.fpga.synth.synthesize`` measures it:

* Yosys 0.23 ``synth_xilinx`` for xc7z020clg400-1 (flattened totals, and a hierarchical run for the
  per-layer rows), beside the HLS backend's estimate (``report["estimate"]``) for the same folding;
* Yosys ``synth_ecp5`` + nextpnr-ecp5 (seed 1) place and route for an ECP5 part, for Fmax.

Designs (``--designs``, default all):

* ``tfc``: FINN's TFC-w1a1 (``../shared/models/finn-tfc-w1a1/model.onnx``) with FINN's ``folding_config.json``;
* ``sfc``: Brevitas' ``sfc_1w1a`` topology (784-256-256-256-10 binary, random weights and BatchNorm
  statistics, ``tests/brevitas_models.finn_topology``) with ``benchmarks/data/finn_sfc_w1a1_folding.json``;
* ``lfc-slow`` / ``lfc-fast``: the LFC topology (784-1024-1024-1024-10 binary, ``fixtures.lfc(0)``) at
  ``--fps 2,000`` and ``--fps 20,000``;
* ``cnv``: FINN's CNV topology (``fixtures.cnv(0)``) at ``--fps 9,150``, FINN's published CNV-w1a1 PYNQ rate;
* ``cnv-finn``: Brevitas' ``cnv_1w1a`` (random weights) with FINN's own CNV-w1a1 folding
  (``benchmarks/data/finn_cnv_w1a1_folding.json``), simulated with Verilator;
* ``shiftadd``: ``bnncc train --model shiftadd-mlp --dataset mnist5k --epochs 3`` (8-bit activations) at
  ``--fps 10,000``.

FPS at 100 MHz comes from simulated cycles: ``FpgaOptions(sim=True, vectors=4)`` (6 images under random
gaps and back-pressure for bit-exactness, then 16 back-to-back images for the interval) for the MLPs;
for the CNVs, whose simulation is slow, ``--cnv-images`` (default 4) back-to-back images, compared with the
executor, interval = the spacing of the last two results. LUTs per FPS are compared with FINN's CNV-w1a1
build at the same folding (Vivado post-synthesis: 21,135 LUT, 31,517 FF, 98 BRAM36 + 9 BRAM18, 0 DSP at
32,768 cycles per image).
ECP5 designs are placed and routed with nextpnr seeds 1 .. ``--pnr-seeds`` (default 3).

"Measured LUT" is LUTs as logic + LUTs as memory (LUTRAM/SRL), which is what the estimate counts.

    nice -n 10 .venv/bin/python benchmarks/rtl.py                     # everything (hours on 2 busy cores)
    .venv/bin/python benchmarks/rtl.py --designs tfc --no-ecp5        # a quick look (~3 min)

Results are merged into ``benchmarks/rtl.json`` by design (so designs can be run separately), and the
Markdown tables for benchmarks/RESULTS.md are printed from the whole file.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bnncc import fixtures  # noqa: E402
from bnncc.backends.fpga.driver import FpgaBackend, FpgaOptions, hardware_inputs, plan  # noqa: E402
from bnncc.backends.fpga.synth import SynthesisError, synthesize  # noqa: E402
from bnncc.cost.devices import device  # noqa: E402
from bnncc.frontend import load  # noqa: E402
from bnncc.ir.executor import run_hardware  # noqa: E402
from bnncc.sim import rtl as rtl_sim  # noqa: E402

XILINX = "xc7z020clg400-1"
ECP5 = "LFE5U-85F-8BG381C"
CLOCK_NS = 10.0
TFC_DIR = ROOT.parent / "shared" / "models" / "finn-tfc-w1a1"
DATA = ROOT / "benchmarks" / "data"
# FINN's CNV-w1a1 build with the folding of benchmarks/data/finn_cnv_w1a1_folding.json (32,768 cycles per image):
# test_zynqbuild_end2end_cnv_w1a1, Pynq-Z1 at 100 MHz, Vivado post-synthesis without the shell (Xilinx/finn PR #209)
FINN_CNV = {"lut": 21_135, "ff": 31_517, "bram18": 98 * 2 + 9, "dsp": 0, "cycles": 32_768}
DESIGNS = {
    # name: (model source, folding options, ECP5 part or None, simulator: "verify" (gaps, back-pressure,
    # then the rate) or "few" (back-to-back images only) with which simulator)
    "tfc": ("finn-tfc-w1a1", {"folding": str(TFC_DIR / "folding_config.json")}, ECP5, ("verify", "icarus")),
    "sfc": ("brevitas:sfc_1w1a", {"folding": str(DATA / "finn_sfc_w1a1_folding.json")}, ECP5, ("verify", "icarus")),
    "lfc-slow": ("lfc", {"fps": 2_000.0}, ECP5, ("verify", "icarus")),
    "lfc-fast": ("lfc", {"fps": 20_000.0}, ECP5, ("verify", "icarus")),
    "cnv": ("cnv", {"fps": 9_150.0}, ECP5, ("few", "verilator")),
    "cnv-finn": ("brevitas:cnv_1w1a", {"folding": str(DATA / "finn_cnv_w1a1_folding.json")}, ECP5,
                 ("few", "verilator")),
    "shiftadd": ("train:shiftadd-mlp", {"fps": 10_000.0}, None, ("verify", "verilator")),
}


def model_path(source: str, work: Path) -> Path:
    if source == "finn-tfc-w1a1":
        return TFC_DIR / "model.onnx"
    kind, _, name = source.partition(":")
    path = work / f"{name or kind}.onnx"
    if kind == "brevitas":
        sys.path.insert(0, str(ROOT / "tests"))
        from brevitas_models import finn_topology

        finn_topology(name, path, seed=0)
        return path
    if kind == "train":
        from bnncc.cli import main as bnncc_main

        if bnncc_main(["train", "--model", name, "--dataset", "mnist5k", "--epochs", "3", "-o", str(path)]) != 0:
            raise SystemExit(f"bnncc train --model {name} failed")
        return path
    return fixtures.save(getattr(fixtures, source)(0), path)


def simulate_few(graph, opts: FpgaOptions, rtl: Path, images: int, simulator: str) -> dict:
    """Back-to-back images without gaps (the CNV is too slow for verify's 6 + 16 images here):
    every output compared with the executor, interval = spacing of the last two results."""
    df = plan(graph, opts).design
    values = hardware_inputs(graph, FpgaOptions(vectors=max(images - 2, 1), seed=opts.seed))[:images]
    expected = run_hardware(graph, values)[df.output_tensor].reshape(len(values), -1)
    run = rtl_sim.simulate(rtl, df, values, simulator=simulator)
    fout = df.output_format
    got = [fout.unpack([o])[0] if len(o) == fout.words else None for o in run.outputs]
    mismatches = sum(1 for g, w in zip(got, expected, strict=False) if g is None or not np.array_equal(g, w))
    mismatches += abs(len(expected) - len(got))
    ends = [run.output_cycles[(i + 1) * fout.words - 1] for i in range(len(run.outputs))]
    interval = ends[-1] - ends[-2] if len(ends) >= 2 else float("inf")
    return {"passed": mismatches == 0, "vectors": len(values), "mismatches": int(mismatches),
            "cycles_per_image": float(interval), "latency_cycles": int(ends[0] - run.first_input_cycle + 1),
            "designed_interval": df.interval(), "efficiency": df.interval() / interval, "simulator": simulator,
            "method": f"{len(values)} back-to-back images, no gaps; interval = last two results"}


def run_design(name: str, args, work: Path) -> dict:
    source, fold, ecp5_part, (sim_kind, simulator) = DESIGNS[name]
    path = model_path(source, work)
    graph = load(str(path))
    sim = not args.no_sim
    opts = FpgaOptions(out=str(work / name), part=XILINX, clock_ns=CLOCK_NS, rtl=True,
                       sim=sim and sim_kind == "verify", simulator=simulator, vectors=4, **fold)
    entry: dict = {"design": name, "model": str(path.relative_to(ROOT.parent)) if path.is_relative_to(ROOT.parent)
                   else path.name, "folding_option": fold, "times_s": {}}
    t = time.perf_counter()
    report = FpgaBackend().compile(graph, opts)
    entry["times_s"]["compile_and_sim" if opts.sim else "compile"] = round(time.perf_counter() - t, 1)
    rtl = work / name / "rtl"
    entry["estimate"] = report["estimate"]
    entry["folding"] = report["folding"]
    entry["warnings"] = report["warnings"]
    if sim and sim_kind == "few":
        t = time.perf_counter()
        entry["rtl_sim"] = simulate_few(graph, opts, rtl, args.cnv_images, simulator)
        entry["times_s"]["sim"] = round(time.perf_counter() - t, 1)
    else:
        entry["rtl_sim"] = report["verification"].get("rtl_sim")
    _progress(name, "simulated", entry)
    t = time.perf_counter()
    entry["xilinx"] = synthesize(rtl, device(XILINX), CLOCK_NS, per_block=True)
    entry["times_s"]["synth_xilinx"] = round(time.perf_counter() - t, 1)
    _progress(name, "xilinx", entry)
    if ecp5_part and not args.no_ecp5:
        t = time.perf_counter()
        try:
            entry["ecp5"] = synthesize(rtl, device(ecp5_part), CLOCK_NS, per_block=False, pnr_seeds=args.pnr_seeds)
        except SynthesisError as e:  # e.g. the design does not fit the part: record why
            entry["ecp5"] = {"part": ecp5_part, "error": str(e).splitlines()[0] + " " + _fit_error(str(e))}
        entry["times_s"]["synth_pnr_ecp5"] = round(time.perf_counter() - t, 1)
        _progress(name, "ecp5", entry)
    return entry


def _fit_error(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if "ERROR" in ln or "not fit" in ln or "exceed" in ln.lower()]
    return " ".join(lines[:3])


def _progress(name: str, stage: str, entry: dict) -> None:
    print(f"[{datetime.datetime.now():%H:%M:%S}] {name}: {stage} done ({entry['times_s']})", file=sys.stderr,
          flush=True)


# ---------------------------------------------------------------------------------------------- tables

def _ratio(measured: float, estimate: float) -> str:
    return f"{measured / estimate:.2f}" if estimate else "-"


def _lut(row: dict) -> int:
    return row["lut"] + row["lutram"]


def _fold(f: dict) -> str:
    return " ".join(f"{k}={v}" for k, v in f.items()) or "-"


def summary_table(results: dict) -> list[str]:
    lines = ["| design | folding | cycles/img designed | cycles/img simulated | FPS @100 MHz | sim check | LUT est. | "
             "LUT Yosys | ratio | FF est. | FF Yosys | ratio | BRAM18 est. | BRAM18 Yosys | DSP | LUT per FPS | "
             "ECP5 part | ECP5 LUT4 | ECP5 Fmax MHz |",
             "|---|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|"]
    for name, e in results.items():
        est, x, sim = e["estimate"], e["xilinx"], e.get("rtl_sim") or {}
        cycles = sim.get("cycles_per_image")
        fps = 1e8 / cycles if cycles else None
        fold = ", ".join(f"--fps {v:,.0f}" if k == "fps" else f"FINN {Path(v).name}"
                         for k, v in e["folding_option"].items())
        check = f"{sim['mismatches']} mismatches / {sim['vectors']} img" if sim else "not run"
        ecp5 = e.get("ecp5") or {}
        fmax = _fmax(ecp5) if ecp5.get("fmax_mhz") else _short_error(ecp5.get("error", "-"))
        lines.append(
            f"| {name} | {fold} | {est['cycles_per_image']:,} | {f'{cycles:,.1f}' if cycles else '-'} | "
            f"{f'{fps:,.0f}' if fps else '-'} | {check} | {est['lut']:,} | {_lut(x):,} | "
            f"{_ratio(_lut(x), est['lut'])} | {est['ff']:,} | {x['ff']:,} | {_ratio(x['ff'], est['ff'])} | "
            f"{est['bram18']} | {x['bram18']} | {x['dsp']} | {f'{_lut(x) / fps:.3f}' if fps else '-'} | "
            f"{ecp5.get('part', '-')} | {f'{_lut(ecp5):,}' if 'lut' in ecp5 else '-'} | {fmax} |")
    f = FINN_CNV
    fps = 1e8 / f["cycles"]
    lines.append(f"| FINN CNV-w1a1 (Vivado post-synthesis) | FINN's file | {f['cycles']:,} | - | {fps:,.0f} | - | - | "
                 f"{f['lut']:,} | - | - | {f['ff']:,} | - | - | {f['bram18']} | {f['dsp']} | {f['lut'] / fps:.3f} | "
                 "- | - | - |")
    return lines


def _fmax(ecp5: dict) -> str:
    seeds = ecp5.get("fmax_mhz_by_seed") or {}
    each = " / ".join(f"{v:.1f}" for v in seeds.values()) if len(seeds) > 1 else ""
    return f"{ecp5['fmax_mhz']:.1f}" + (f" (seeds: {each})" if each else "")


GROUP_OVER = 30  # with more blocks than this, width converters and FIFOs are summed into one row each


def _short_error(text: str) -> str:
    m = re.search(r"no BELs remaining to implement cell type '(\w+)'", text)
    return f"does not fit: out of {m.group(1)}" if m else text[:80]


def timing_table(results: dict) -> list[str]:
    lines = ["| design | compile (+ sim) s | sim s | Yosys xc7z020 s (flat + hierarchical) | Yosys + nextpnr ECP5 s | "
             "total s | load avg at end |", "|---|---:|---:|---:|---:|---:|---:|"]
    for name, e in results.items():
        t = e["times_s"]
        lines.append(f"| {name} | {t.get('compile_and_sim', t.get('compile', '-'))} | {t.get('sim', '-')} | "
                     f"{t.get('synth_xilinx', '-')} | {t.get('synth_pnr_ecp5', '-')} | {t.get('total', '-')} | "
                     f"{e['loadavg_start_end'][1][0]:.1f} |")
    return lines


def layer_table(name: str, e: dict) -> list[str]:
    """Per-block estimate vs hierarchical Yosys rows (with Yosys' longest path in cells, `ltp -noff`); the
    flattened total last."""
    x = e["xilinx"]
    rows = [("| block | folding | cycles | LUT est. | LUT Yosys | ratio | FF est. | FF Yosys | ratio | "
             "BRAM18 est. | BRAM18 Yosys | DSP Yosys | longest path (cells) |"),
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    keys = ("le", "lm", "fe", "fm", "be", "bm", "dm")
    tot = dict.fromkeys(keys, 0)
    groups: dict[str, dict] = {}
    group = len(e["estimate"]["blocks"]) > GROUP_OVER

    def line(label: str, fold: str, cycles: str, v: dict, ltp: object = "") -> str:
        return (f"| {label} | {fold} | {cycles} | {v['le']:,} | {v['lm']:,} | {_ratio(v['lm'], v['le'])} | "
                f"{v['fe']:,} | {v['fm']:,} | {_ratio(v['fm'], v['fe'])} | {v['be']} | {v['bm']} | {v['dm']} | "
                f"{ltp} |")

    for r in e["estimate"]["blocks"]:
        m = x["per_block"].get(r["block"])
        if m is None:
            continue
        v = dict(zip(keys, (r["lut"], _lut(m), r["ff"], m["ff"], r["bram18"], m["bram18"], m["dsp"]), strict=True))
        for k in keys:
            tot[k] += v[k]
        if group and r["kind"] in ("dwc", "fifo"):
            g = groups.setdefault(r["kind"], {"n": 0, **dict.fromkeys(keys, 0)})
            g["n"] += 1
            for k in keys:
                g[k] += v[k]
            continue
        rows.append(line(r["block"], _fold(r["folding"]), f"{r['cycles']:,}", v, m.get("ltp", "-")))
    for kind, g in groups.items():
        label = {"dwc": "width converters", "fifo": "FIFOs"}[kind]
        rows.append(line(f"{g['n']} {label} (sum)", "-", "-", g))
    rows.append(line("sum of blocks (hierarchical)", "", "", tot))
    est = e["estimate"]
    flat = dict(zip(keys, (est["lut"], _lut(x), est["ff"], x["ff"], est["bram18"], x["bram18"], x["dsp"]),
                    strict=True))
    rows.append(line(f"total, flattened (+ I/O wrapper: {x['io']['ff']} FF)", "", "", flat))
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--designs", nargs="+", choices=list(DESIGNS), default=list(DESIGNS),
                    help="designs to run (default all)")
    ap.add_argument("--no-sim", action="store_true", help="skip the RTL simulation (no FPS column)")
    ap.add_argument("--no-ecp5", action="store_true", help="skip ECP5 synthesis and place-and-route")
    ap.add_argument("--cnv-images", type=int, default=4, help="back-to-back images simulated for CNV (default 4)")
    ap.add_argument("--pnr-seeds", type=int, default=3, help="nextpnr seeds 1..N per ECP5 design (default 3)")
    ap.add_argument("--json", default=str(ROOT / "benchmarks" / "rtl.json"), help="results file (merged by design)")
    ap.add_argument("--tables-only", action="store_true", help="print the tables of the existing --json and exit")
    args = ap.parse_args()
    out = Path(args.json)
    data = json.loads(out.read_text()) if out.exists() else {"results": {}}
    if not args.tables_only:
        load_start = os.getloadavg()
        with tempfile.TemporaryDirectory(prefix="bnncc-rtl-bench-") as tmp:
            for name in args.designs:
                t = time.perf_counter()
                entry = run_design(name, args, Path(tmp))
                entry["times_s"]["total"] = round(time.perf_counter() - t, 1)
                entry["date"] = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
                entry["command"] = " ".join(["benchmarks/rtl.py", *sys.argv[1:]])
                entry["loadavg_start_end"] = [load_start, os.getloadavg()]
                data["results"][name] = entry
                data["machine"] = {"cpus": os.cpu_count(), "platform": platform.platform(),
                                   "python": platform.python_version()}
                out.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")  # after each design
    results = {k: data["results"][k] for k in DESIGNS if k in data["results"]}
    print("\n".join(summary_table(results)))
    print("\n" + "\n".join(timing_table(results)))
    for name, e in results.items():
        print(f"\n{name} per block (xc7z020, Yosys synth_xilinx; hierarchical rows, flattened total):\n")
        print("\n".join(layer_table(name, e)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
