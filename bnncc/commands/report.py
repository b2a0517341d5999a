"""`bnncc report DIR [--json]`: the Vitis/Vivado results of a built HLS project as one normalized record."""

from __future__ import annotations

import argparse
import json


def run(args: argparse.Namespace) -> int:
    """The table for people, --json for the cost store; errors propagate as BnnccError (exit 2)."""
    from bnncc.cost.vendor import format_report, read_reports

    record = read_reports(args.directory)
    print(json.dumps(record, sort_keys=True) if args.json else format_report(record))
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser("report", help="read the Vitis/Vivado results of a built HLS project into one record")
    p.add_argument("directory", help="a built project (OUT, OUT/hls, a *_prj folder, or a folder of report files)")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.set_defaults(fn=run)
    return p
