"""Deepbit on the cost charts against MACs- and BOPs-based selection: for each budget on xc7z020, the search's
candidates (the widest XNOR-MLP per depth the calibrated model says meets the budget), the networks a MACs-
and a BOPs-based selection pick under the same LUT budget, all trained the same way on Fashion-MNIST and, with
``--measure winners`` (default here: each selection's choice, its most accurate pick) or ``all``, compiled,
C- and RTL-simulated bit-exactly and synthesized with Yosys.

Reports per budget and method: the network, test accuracy, predicted and measured LUT (and the prediction's
error), measured FPS, and whether the measured design meets the budget; then per method how often its
choices break the budget and how accurate they are against the search's winner.

    .venv/bin/python benchmarks/search.py [--budgets B1 B2 ...] [--depths 2..4] [--widths 16..256]
        [--epochs 3] [--jobs 2] [--out /tmp/bnncc-search-bench] [--json benchmarks/search.json]

The searches are resumable (each budget's folder is a search's own): rerun the same command to go on.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bnncc.cost.calibrated import default_model  # noqa: E402
from bnncc.search import budget as budgets  # noqa: E402
from bnncc.search import deepbit  # noqa: E402
from bnncc.search.arch import WIDTH_STEP, parse_range  # noqa: E402

BUDGETS = ("lut<=1500,fps>=10000", "lut<=3000,fps>=50000", "lut<=6000,fps>=50000")


def run(args) -> dict:
    out = {"budgets": [], "command": " ".join(sys.argv), "started": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    for i, text in enumerate(args.budgets):
        opts = deepbit.Options(budget=budgets.parse(text), model=default_model(), part=args.part,
                               depths=parse_range(args.depths, "depths"),
                               widths=parse_range(args.widths, "widths", WIDTH_STEP), dataset=args.dataset,
                               epochs=args.epochs, jobs=args.jobs, measure=args.measure, images=args.images,
                               simulator="verilator")
        print(f"== budget {text}", file=sys.stderr)
        result = deepbit.run(opts, Path(args.out) / f"budget-{i}", progress=True)
        out["budgets"].append({"budget": text, "folder": str(Path(args.out) / f"budget-{i}"),
                               "winner": result["winner"] and result["winner"]["name"],
                               "picks": result["picks"], "depths": result["depths"], "wall_s": result["wall_s"]})
    return out


def lut_blocks(pick: dict, folder: str) -> int | None:
    """The sum of the per-block synthesis' LUTs (logic + LUTRAM): the cost model's ground truth. Trials measured
    before the search recorded it are read from their project's report (in the search's folder)."""
    m = pick["measured"]
    if "lut_blocks" in m:
        return m["lut_blocks"]
    report = Path(folder) / pick["project"] / "report.json"
    if not report.is_file():
        return None
    blocks = json.loads(report.read_text())["measured"].get("per_block", {}).values()
    return sum(b["lut"] + b["lutram"] for b in blocks) or None


def error(pred, measured) -> str:
    return f"{100 * (pred - measured) / measured:+.1f} %" if pred and measured else "-"


def mean_abs_error(pairs: list[tuple]) -> str:
    errs = [abs(p - m) / m for p, m in pairs if p and m]
    return f"{100 * sum(errs) / len(errs):.1f} %" if errs else "-"


def table(out: dict) -> list[str]:
    lines = ["| budget | picked by | network | MACs | accuracy | LUT predicted | LUT measured (flat) | error | LUT "
             "measured (per block) | error | FPS measured | measured meets budget |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for b in out["budgets"]:
        for p in b["picks"]:
            m = p.get("measured")
            pred = p["predicted"]["lut"]
            blocks = lut_blocks(p, b["folder"]) if m else None
            star = " (chosen)" if p["chosen"] else ""
            fps = f"{m['fps']:,.0f}" if m else "-"
            meets = ("yes" if not p["violations"] else "no: " + "; ".join(p["violations"])) if m else "-"
            lines.append(f"| `{b['budget']}` | {p['method']} | {p['name']}{star} | {p['macs']:,} | "
                         f"{100 * p['accuracy']:.2f} % | {pred or '-'} | {m['lut'] if m else '-'} | "
                         f"{error(pred, m and m['lut'])} | {blocks or '-'} | {error(pred, blocks)} | {fps} | {meets} |")
    return lines


def summary(out: dict) -> list[str]:
    """Per selection method, over the budgets: how often the network it chose breaks the budget when measured,
    how far the calibrated prediction of that network's LUTs was from Yosys, its accuracy against the winner."""
    lines = ["", "| selection | budgets | its choice breaks the budget (measured) | LUT prediction error of its "
             "choice, flat (mean abs.) | per block (mean abs.) | accuracy vs the search's winner (mean) |",
             "|---|---:|---:|---:|---:|---:|"]
    for method in deepbit.METHODS:
        rows = []
        for b in out["budgets"]:
            choice = next((p for p in b["picks"] if p["method"] == method and p["chosen"]), None)
            win = next((p for p in b["picks"] if p["method"] == "calibrated" and p["chosen"]), None)
            if choice and "measured" in choice:
                rows.append((choice, win, b["folder"]))
        if not rows:
            lines.append(f"| {method} | 0 | - | - | - | - |")
            continue
        broken = sum(bool(c["violations"]) for c, _, _ in rows)
        errs = [mean_abs_error([(c["predicted"]["lut"], measured(c, f)) for c, _, f in rows])
                for measured in (lambda c, _: c["measured"]["lut"], lut_blocks)]
        gaps = [c["accuracy"] - w["accuracy"] for c, w, _ in rows if w]
        gap = f"{100 * sum(gaps) / len(gaps):+.2f} pt" if gaps else "-"
        lines.append(f"| {method} | {len(rows)} | {broken} of {len(rows)} | {errs[0]} | {errs[1]} | {gap} |")
    return lines


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--budgets", nargs="+", default=list(BUDGETS))
    ap.add_argument("--part", default="xc7z020clg400-1")
    ap.add_argument("--dataset", default="fashion-mnist")
    ap.add_argument("--depths", default="2..4")
    ap.add_argument("--widths", default="16..256")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--images", type=int, default=8)
    ap.add_argument("--measure", default="winners", choices=("winner", "winners", "all", "none"))
    ap.add_argument("--out", default="/tmp/bnncc-search-bench")
    ap.add_argument("--json", default=str(ROOT / "benchmarks" / "search.json"))
    args = ap.parse_args()
    out = run(args)
    Path(args.json).write_text(json.dumps(out, indent=1, sort_keys=True) + "\n")
    print("\n".join(table(out) + summary(out)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
