"""`bnncc search deepbit`: choose the network for a hardware budget on the cost charts, train the candidates,
build, verify and measure the winner (bnncc/search/deepbit.py)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from bnncc.commands.common import at_least_one, cost_model, positive
from bnncc.errors import BnnccError

TARGETS = ("fpga", "rram", "cpu", "gpu")


def run_deepbit(args: argparse.Namespace) -> int:
    from bnncc.commands.calibrate import DEFAULT_PARTS, check_part
    from bnncc.data import DATASETS
    from bnncc.search import budget, deepbit
    from bnncc.search.arch import PRIMARY, WIDTH_STEP, check_depths, parse_range

    if args.dataset not in DATASETS:
        raise BnnccError(f"--dataset {args.dataset!r}: choose one of {', '.join(DATASETS)}")
    part = check_part(args.target, args.part or DEFAULT_PARTS[args.target])
    depths = parse_range(args.depths, "depths")
    check_depths(args.kind, depths)
    if args.accuracy_target is not None and not 0 < args.accuracy_target <= 1:
        raise BnnccError(f"--accuracy-target {args.accuracy_target}: give a fraction in (0, 1], e.g. 0.85")
    limits = budget.parse(args.budget)
    allowed = {"fpga": {"lut", "ff", "bram18", "dsp", "fps", "latency_us"},
               "rram": {"area_mm2", "energy_pj", "latency_us", "fps"}}.get(args.target, {"latency_us", "fps"})
    wrong = [m for m, _ in limits.limits if m not in allowed]
    if wrong:
        raise BnnccError(f"--budget: {wrong[0]} is not a cost of --target {args.target}; it has "
                         f"{', '.join(sorted(allowed))}")
    opts = deepbit.Options(
        budget=limits, model=cost_model(args.cost_model), part=part, kind=args.kind, target=args.target,
        depths=depths, widths=parse_range(args.widths, "widths", WIDTH_STEP), dataset=args.dataset,
        epochs=args.epochs, seed=args.seed, accuracy_target=args.accuracy_target, clock_ns=args.clock_ns,
        max_train=args.max_train, threads=args.threads, jobs=args.jobs, ray=args.ray, measure=args.measure,
        images=args.images, simulator=args.simulator)
    result = deepbit.run(opts, Path(args.out), progress=not args.json)
    w = result["winner"]
    failed = [p for p in result["picks"] if "verification failed" in p.get("error", "")]
    if args.json:
        print(json.dumps({"out": args.out, "winner": w, "picks": result["picks"], "depths": result["depths"],
                          "wall_s": result["wall_s"]}, sort_keys=True))
    else:
        cost = PRIMARY[args.target]
        for p in result["picks"]:
            acc = f"{100 * p['accuracy']:.2f} %" if "accuracy" in p else "-"
            pred = p["predicted"].get(cost)
            got = {**p.get("modelled", {}), **p.get("measured", {})}
            built = f"built: {got[cost]:,.6g} {cost}, {got['fps']:,.0f} FPS" if cost in got else ""
            print(f"  {p['method']:<11}{p['name']:<22}accuracy {acc:>8}  predicted "
                  f"{f'{pred:,.6g}' if pred is not None else '-':>10} {cost}  {built}", file=sys.stderr)
        if w and "measured" in w and "lut" in w["measured"]:
            how = (f"measured {w['measured']['lut']:,} LUT and {w['measured']['fps']:,.0f} FPS, C and RTL simulation "
                   "bit-exact")
        elif w and "verified" in w:
            how = "built: " + ", ".join(f"{k} {v:,.6g}" for k, v in {**w.get("modelled", {}), **w["measured"]}.items()
                                        if not isinstance(v, str))
        else:
            how = "not built (--measure none)"
        if w:
            print(f"search: {w['name']}: {100 * w['accuracy']:.2f} % on {args.dataset}; {how}; wrote {args.out}",
                  file=sys.stderr)
        else:
            print("search: no candidate met the budget when built (see search.json)", file=sys.stderr)
    return 1 if failed or w is None else 0


def run_codesign(args: argparse.Namespace) -> int:
    from bnncc.cost.devices import device
    from bnncc.data import DATASETS
    from bnncc.search import budget, codesign
    from bnncc.search.arch import WIDTH_STEP, parse_range

    if args.dataset not in DATASETS:
        raise BnnccError(f"--dataset {args.dataset!r}: choose one of {', '.join(DATASETS)}")
    device(args.part)
    depths = parse_range(args.depths, "depths")
    if max(depths) > 4:
        raise BnnccError(f"--depths {args.depths}: the co-design space goes to depth 4")
    opts = codesign.Options(
        budget=budget.parse(args.budget), model=cost_model(args.cost_model), part=args.part, depths=depths,
        widths=parse_range(args.widths, "widths", WIDTH_STEP), dataset=args.dataset, proxy_epochs=args.proxy_epochs,
        evaluations=args.evaluations, sampler=args.sampler, seed=args.seed, clock_ns=args.clock_ns,
        max_train=args.max_train, threads=args.threads, jobs=args.jobs, ray=args.ray)
    codesign.make_sampler(opts.sampler, opts.seed, opts.evaluations)  # an unknown sampler before any work
    result = codesign.run(opts, Path(args.out), progress=not args.json)
    if args.json:
        print(json.dumps({"out": args.out, "pareto": result["pareto"], "hypervolume": result["hypervolume"][-1],
                          "evaluations": len(result["trials"]), "wall_s": result["wall_s"]}, sort_keys=True))
    else:
        for p in result["pareto"]:
            print(f"  {100 * (1 - p['error']):6.2f} %  {p['lut']:>8,.0f} LUT  {', '.join(p['networks'])}",
                  file=sys.stderr)
        print(f"search: codesign: {len(result['trials'])} evaluations, hypervolume {result['hypervolume'][-1]:.4f}; "
              f"wrote {args.out}", file=sys.stderr)
    return 0


def shared_options(p: argparse.ArgumentParser) -> None:
    """The options every search takes: training, cost model, where trials run, the output folder."""
    p.add_argument("--max-train", type=at_least_one, help="train on the first N shuffled training images only")
    p.add_argument("--clock-ns", type=positive, default=10.0, help="clock period (default 10)")
    p.add_argument("--cost-model", help="a fitted model file, or analytical (default: the shipped calibration)")
    p.add_argument("--seed", type=int, default=0, help="seed of the weights, the shuffling and a sampler (default 0)")
    p.add_argument("--threads", type=at_least_one, default=1, help="torch threads per training (default 1)")
    p.add_argument("--jobs", type=at_least_one, default=1, help="trials run at once in local workers (default 1)")
    p.add_argument("--ray", metavar="auto|ADDRESS", help="run the trials as Ray tasks on this cluster instead")
    p.add_argument("-o", "--out", required=True, help="the search's folder (an existing one is resumed)")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser("search", help="hardware-aware architecture search (deepbit, codesign)",
                              description="Hardware-aware architecture search on the cost charts.")
    kinds = p.add_subparsers(dest="search", required=True, metavar="deepbit|codesign")
    c = kinds.add_parser(
        "codesign", help="multi-objective search of MLPs with a precision per layer (GP, NSGA-II or random)",
        description="Co-design: search MLPs with a precision per hidden layer (binary, LightNN k=1, k=2) for "
                    "accuracy (few-epoch proxy trainings) and LUTs (the calibrated model at the cheapest folding "
                    "for the budget's FPS; the other limits are constraints) with Optuna's GP sampler, NSGA-II or "
                    "random search. Writes OUT/search.json (every evaluation and the Pareto front), "
                    "search.sqlite and optuna.sqlite (resumable), pareto.png, hypervolume.png, index.html.",
        epilog="Exit codes: 0 ok, 2 bad input or an impossible budget, 130 interrupted (rerun to resume).")
    c.add_argument("--part", default="xc7z020clg400-1", help="FPGA part (default xc7z020clg400-1)")
    c.add_argument("--budget", required=True, help='limits as for deepbit, e.g. "fps>=10000,lut<=20000"')
    c.add_argument("--dataset", default="mnist5k", help="mnist5k (default) or fashion-mnist")
    c.add_argument("--depths", default="1..3", help="depths, LO..HI or a list, at most 4 (default 1..3)")
    c.add_argument("--widths", default="16,32,64,128", help="widths, multiples of 16 (default 16,32,64,128)")
    c.add_argument("--evaluations", type=at_least_one, default=16, help="trials to evaluate (default 16)")
    c.add_argument("--sampler", default="gp", help="gp (default), nsga2 or random")
    c.add_argument("--proxy-epochs", type=at_least_one, default=1, help="epochs of each proxy training (1)")
    shared_options(c)
    c.set_defaults(fn=run_codesign)
    d = kinds.add_parser(
        "deepbit", help="the widest XNOR-net per depth within a hardware budget, trained; the most accurate wins",
        description="Deepbit on the cost charts: cost every XNOR-net of the space (depths x widths, multiples of "
                    "16) with the calibrated model at its cheapest folding for the budget's FPS, take the widest "
                    "network per depth that meets the budget, train each with bnncc.nn, and compile, C-simulate, "
                    "RTL-simulate (bit-exact against the executor) and synthesize the most accurate; beside it, "
                    "the networks a MACs- and a BOPs-based selection would pick. Writes OUT/search.json, "
                    "search.sqlite (resumable), chart.png, pareto.png, index.html and OUT/winner (ONNX and the "
                    "verified project).",
        epilog="Exit codes: 0 ok, 1 a measured design failed verification or no candidate met the budget when "
               "measured, 2 bad input or an impossible budget (the cheapest design's cost is printed; nothing is "
               "written), 130 interrupted (finished trials are kept: run the same command to resume).")
    d.add_argument("--target", choices=TARGETS, default="fpga",
                   help="fpga (calibrated model; the winner synthesized), rram (the RRAM model; the winner "
                        "crossbar-simulated), gpu (roofline model), cpu (executor latency measured here)")
    d.add_argument("--part", help="fpga: an FPGA part (default xc7z020clg400-1); rram: a crossbar ROWSxCOLS "
                                  "(default 128x128); gpu: a GPU of the roofline table (default nvidia-h200); "
                                  "cpu: host")
    d.add_argument("--budget", required=True,
                   help='limits, comma-separated (k and M suffixes): fpga lut<=N, ff<=N, bram18<=N, dsp<=N; rram '
                        'area_mm2<=N, energy_pj<=N; every target fps>=N, latency_us<=N; e.g. '
                        '"lut<=20000,fps>=10000"')
    d.add_argument("--dataset", default="fashion-mnist", help="fashion-mnist (default) or mnist5k")
    d.add_argument("--kind", default="mlp", choices=("mlp", "cnn"),
                   help="mlp: 784 -> depth x width -> 10; cnn: depth 3x3 convolutions of width channels, 2x2 "
                        "max pooling after the 2nd and 4th, one FC to 10 (default mlp)")
    d.add_argument("--depths", default="2..6", help="depths to search, LO..HI or a list (default 2..6)")
    d.add_argument("--widths", default="16..512", help="widths, multiples of 16: LO..HI or a list (default 16..512)")
    d.add_argument("--epochs", type=at_least_one, default=5, help="training epochs per candidate (default 5)")
    d.add_argument("--accuracy-target", type=float,
                   help="pick the cheapest candidate reaching this test accuracy (a fraction) instead of the most "
                        "accurate")
    d.add_argument("--measure", choices=("winner", "winners", "all", "none"), default="winner",
                   help="what to build, verify and synthesize: the winner (default), the winner and the network "
                        "the MACs- and the BOPs-based selection choose (their most accurate pick), every pick, or "
                        "nothing (estimates only)")
    d.add_argument("--images", type=at_least_one, default=8, help="test images C and RTL simulation check (8)")
    d.add_argument("--simulator", choices=("verilator", "icarus"), default="verilator",
                   help="RTL simulator (default verilator)")
    shared_options(d)
    d.set_defaults(fn=run_deepbit)
    return p
