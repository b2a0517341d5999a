"""`bnncc calibrate`: measure a sweep of designs into the cost store, ingest vendor reports, fit cost models.

    bnncc calibrate --target fpga --part xc7z020clg400-1 --sweep small --store cost.sqlite
    bnncc calibrate --ingest build/hls_prj --store cost.sqlite
    bnncc calibrate --store cost.sqlite --fit model.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

from bnncc.commands.common import at_least_one, positive
from bnncc.errors import BnnccError, quote

DEFAULT_PARTS = {"fpga": "xc7z020clg400-1", "rram": "128x128", "cpu": "host", "gpu": "nvidia-h200"}


def check_part(target: str, part: str) -> str:
    """The part, checked for the target (fpga: a known FPGA part; rram: a crossbar ROWSxCOLS; cpu: host;
    gpu: a GPU of the roofline table)."""
    from bnncc.backends.rram.config import parse_xbar
    from bnncc.calibrate.measure import GPUS
    from bnncc.cost.devices import device

    if target == "fpga":
        device(part)
    elif target == "rram":
        parse_xbar(part)
    elif target == "cpu" and part != "host":
        raise BnnccError(f"--part {quote(part)}: the cpu target measures this machine: give --part host")
    elif target == "gpu" and part not in GPUS:
        raise BnnccError(f"--part {quote(part)}: unknown GPU; known: {', '.join(GPUS)}")
    return part


def sweep_designs(sweep: str) -> list[dict]:
    from bnncc.calibrate import space

    if sweep in ("small", "default"):
        return space.builtin(sweep)
    designs = space.read_sweep(sweep)
    for spec in designs:  # an explicit folding is checked against its network before anything is measured
        if "blocks" in spec["folding"]:
            space.folding_entries(spec, space.dataflow_of(spec)[1])
    return designs


def ingest(directory: str, store_path: str) -> dict:
    """The vendor reports under `directory` as one design of rows (source vitis / vivado), per module where
    the tree holds per-module csynth.xml files."""
    from bnncc.backends.names import comment_safe
    from bnncc.calibrate.measure import Row
    from bnncc.calibrate.store import Store, add_rows
    from bnncc.cost import records
    from bnncc.cost.vendor import read_csynth_xml, read_reports

    record = read_reports(directory)
    rows = [Row(m.metric, m.value, m.source, m.tool) for m in records.from_vendor(record)]
    top = record["source"]["csynth_xml"]
    modules = sorted(p for p in Path(directory).rglob("*_csynth.xml") if str(p) != top
                     and not any(part.startswith(".") for part in p.parts))
    for path in modules:
        module = read_csynth_xml(path)
        name = comment_safe(module.get("top") or path.stem.removesuffix("_csynth"))
        tool = f"Vitis/Vivado HLS {module.get('hls_version') or ''}".strip()
        rows += [Row(r, v, "vitis", tool, block=name) for r, v in module["hls"].items()]
    digest = hashlib.sha256()
    for path in sorted(p for p in record["source"].values() if p) + [str(p) for p in modules]:
        digest.update(Path(path).read_bytes())
    key = "ingest-" + digest.hexdigest()[:18]
    spec = {"ingested": str(Path(directory).resolve()), "top": record.get("top")}
    with Store(store_path) as store:
        run_id = store.start_run(f"bnncc calibrate --ingest {directory}", "fpga", record["part"])
        written = add_rows(store, key, comment_safe(record.get("top") or "project"), "fpga", record["part"], spec,
                           rows, run_id, {"hls": record.get("hls_version") or "unknown"})
        store.finish_run(run_id, "done")
    return {"ingested": directory, "part": record["part"], "modules": len(modules), "rows": written,
            "already_in_store": written == 0}


def run(args: argparse.Namespace) -> int:
    from bnncc.calibrate import fit as fitting
    from bnncc.calibrate import runner
    from bnncc.calibrate.measure import Settings
    from bnncc.calibrate.store import Store

    if args.ingest:
        if {"--target", "--sweep", "--part"} & args.given:
            raise BnnccError("--ingest reads vendor reports: it takes no --target, --part or --sweep")
        out = ingest(args.ingest, args.store)
    elif args.target is None and args.fit is None:
        raise BnnccError("give --target (measure a sweep), --ingest DIR or --fit MODEL.json")
    else:
        out = {}
    if args.target is not None:
        part = check_part(args.target, args.part or DEFAULT_PARTS[args.target])
        designs = sweep_designs(args.sweep)
        Store(args.store).close()  # a store that is not ours is refused before anything is measured
        settings = Settings(clock_ns=args.clock_ns, pnr_seeds=args.pnr_seeds, simulate=not args.no_sim,
                            flat=not args.no_flat, repeats=args.repeats)
        summary = runner.run(designs, args.target, part, args.store, settings, jobs=args.jobs, ray=args.ray,
                             command="bnncc calibrate " + " ".join(sys.argv[1:]), progress=not args.json)
        out = {"target": args.target, "part": part, "store": args.store, **summary.to_json()}
    if args.fit is not None:
        with Store(args.store, create=False) as store:
            model = fitting.fit(store)
        fitting.save(model, args.fit)
        out["fit"] = {"file": args.fit, **fitting.summary(model)}
    if args.json:
        print(json.dumps(out, sort_keys=True))
    else:
        if "measured" in out:
            print(f"calibrate: {out['measured']} design(s) measured ({out['rows']} rows), {out['already_in_store']} "
                  f"already in {args.store}, {len(out['skipped'])} skipped (cannot be built for the part), "
                  f"{len(out['failed'])} failed", file=sys.stderr)
        if "ingested" in out:
            print(f"calibrate: ingested {out['rows']} rows from {args.ingest} ({out['modules']} module reports)"
                  + (" (already in the store)" if out["already_in_store"] else ""), file=sys.stderr)
        if "fit" in out:
            print(fitting.format_summary(out["fit"]), file=sys.stderr)
    return 1 if out.get("failed") else 0


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "calibrate", help="measure a design sweep into the cost store; ingest vendor reports; fit cost models",
        description="Measure a sweep of designs through the normal backends (fpga: Yosys per block, nextpnr Fmax "
                    "for ECP5, Verilator cycles and latency; cpu: executor and onnxruntime latency; gpu: torch "
                    "latency or a roofline model; rram: the RRAM model and crossbar-simulation activity) into an "
                    "SQLite cost store. Resumable: a design already in the store is not measured again.",
        epilog="Exit codes: 0 ok (designs that cannot be built for the part, e.g. too big, are skipped and "
               "listed), 1 a design failed to measure (a tool error or a simulation mismatch: not stored, the next "
               "run retries it), 2 bad input (nothing written), 130 interrupted (what was measured is kept).")
    p.add_argument("--target", choices=("fpga", "rram", "cpu", "gpu"), help="what to measure")
    p.add_argument("--part", help="fpga: an FPGA part (default xc7z020clg400-1; LFE5U-* adds nextpnr Fmax); rram: "
                                  "a crossbar ROWSxCOLS (default 128x128); cpu: host; gpu: a GPU of the roofline "
                                  "table (default nvidia-h200)")
    p.add_argument("--sweep", default="small",
                   help="small (6 tiny designs, about a minute: CI), default (those and up to 74 random networks "
                        "of at most 40k weights: hours of Yosys on 2 cores), or a sweep file (docs/cost-store.md)")
    p.add_argument("--store", default="cost.sqlite", help="the cost store (SQLite path or sqlite:///PATH)")
    p.add_argument("--jobs", type=at_least_one, default=1, help="local worker processes (default 1)")
    p.add_argument("--ray", metavar="auto|ADDRESS", help="measure on a Ray cluster instead (auto: the running one)")
    p.add_argument("--clock-ns", type=positive, default=10.0, help="fpga clock period (default 10)")
    p.add_argument("--pnr-seeds", type=at_least_one, default=3, help="ECP5: nextpnr seeds, Fmax their median")
    p.add_argument("--no-sim", action="store_true", help="fpga: skip RTL simulation (no cycle/latency rows)")
    p.add_argument("--no-flat", action="store_true",
                   help="fpga (Xilinx): skip the flattened synthesis; whole-design totals are the per-block sums "
                        "(about half the synthesis time; the per-block rows the fit uses are the same)")
    p.add_argument("--repeats", type=at_least_one, default=20, help="cpu/gpu: timed runs (the minimum is kept)")
    p.add_argument("--ingest", metavar="DIR", help="add the Vitis/Vivado reports under DIR to the store")
    p.add_argument("--fit", metavar="MODEL.json", help="fit cost models from the store and write them here")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.set_defaults(fn=run)
    return p
