"""`bnncc run MODEL.onnx --input X.npy [--output Y.npy] [--json]`: host head, reference executor and host
tail on a batch of any size."""

from __future__ import annotations

import argparse
import json

from bnncc.commands.common import add_input_codes, checked_input, load, read_npy, write_npy_atomic


def run(args: argparse.Namespace) -> int:
    from bnncc.ir.executor import run as execute

    graph = load(args.model, args)
    x = checked_input(graph, read_npy(args.input), args.input, args)
    result = execute(graph, x)
    out = result.outputs[0]
    if args.output:
        write_npy_atomic(args.output, out)
    if args.json:
        print(json.dumps({"labels": result.labels.tolist(), "outputs": out.tolist()}))
    else:
        for i, label in enumerate(result.labels.tolist()):
            print(f"{i}\t{label}")
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser("run", help="run the host head, the reference executor and the host tail on a batch")
    p.add_argument("model", help="ONNX, QONNX or FINN-ONNX file")
    p.add_argument("--input", required=True, help=".npy batch [N, ...] in the model's input layout")
    p.add_argument("--output", help="write the model's first output to this .npy")
    p.add_argument("--json", action="store_true", help='print {"labels": [...], "outputs": [...]} on stdout')
    add_input_codes(p)
    p.set_defaults(fn=run)
    return p
