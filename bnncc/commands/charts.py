"""`bnncc charts --store cost.sqlite -o DIR`: the cost charts (PNGs) and one self-contained HTML page."""

from __future__ import annotations

import argparse
import json
import sys


def run(args: argparse.Namespace) -> int:
    from bnncc.calibrate import charts

    result = charts.write(args.store, args.out, args.cost_model)
    if args.json:
        print(json.dumps(result, sort_keys=True))
    else:
        print(f"charts: wrote {', '.join(result['files'])} to {args.out}", file=sys.stderr)
        for row in result["table"]:
            print(f"  {row['metric']:<32}{row['estimate']:<26}MAPE {row['mape']:6.1f} %  within ±10 %: "
                  f"{row['within_10']:.0%} (n={row['n']})", file=sys.stderr)
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "charts", help="cost charts (Deepbit): cost vs width and depth per target, predicted vs measured, coverage",
        description="Write the cost charts of a cost store as PNGs and one self-contained HTML page (images "
                    "embedded, no external URL): cost against width and depth per target, the estimates against "
                    "the store's measurements with MAPE, the sweep's coverage and the tools that measured.",
        epilog="Exit codes: 0 ok, 2 bad input (the output folder is left as it was).")
    p.add_argument("--store", default="cost.sqlite", help="the cost store (default cost.sqlite)")
    p.add_argument("-o", "--out", default="charts", help="output folder (default charts)")
    p.add_argument("--cost-model", help="the calibrated model to chart (default: fitted on the store)")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.set_defaults(fn=run)
    return p
