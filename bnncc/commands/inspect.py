"""`bnncc inspect MODEL.onnx [--json]`: the IR and a per-layer table (bits, parameters, MACs, memory)."""

from __future__ import annotations

import argparse
import json

from bnncc.commands.common import add_input_codes, load


def layer_table(graph) -> list[dict]:
    rows = []
    for i, n in enumerate(graph.nodes):
        t_in, t_out = graph.types[n.inputs[0]], graph.types[n.outputs[0]]
        d = n.op.describe(t_in, t_out)
        rows.append({
            "index": i, "side": "host" if n.host else "hw", "op": type(n.op).__name__, "kind": d.get("kind"),
            "in": str(t_in), "out": str(t_out),
            "in_bits": t_in.dtype.bits, "weight": d.get("weight", ""), "weight_bits": d.get("weight_bits", 0),
            "out_bits": t_out.dtype.bits, "params": d.get("params", 0), "macs": d.get("macs", 0),
            "binary_ops": d.get("binary_ops", 0),
            "weight_mem_bits": d.get("weight_mem_bits", 0) + d.get("threshold_mem_bits", 0),
            "float32_ties": d.get("float32_ties", 0),
        })
    return rows


def print_table(rows: list[dict]) -> None:
    cols = [("#", "index"), ("side", "side"), ("op", "op"), ("input", "in"), ("output", "out"),
            ("weights", "weight"), ("params", "params"), ("MACs", "macs"), ("binary ops", "binary_ops"),
            ("mem bits", "weight_mem_bits"), ("f32 ties", "float32_ties")]
    cells = [[str(r[k]) for _, k in cols] for r in rows]
    total = ["", "", "total", "", "", ""] + [str(sum(r[k] for r in rows)) for _, k in cols[6:]]
    widths = [max(len(h), *(len(c[i]) for c in cells + [total])) for i, (h, _) in enumerate(cols)]

    def line(c: list[str]) -> str:  # text columns left-aligned, numbers right-aligned
        return "  ".join(x.ljust(w) if i < 6 else x.rjust(w) for i, (x, w) in enumerate(zip(c, widths, strict=True)))

    print(line([h for h, _ in cols]))
    print(line(["-" * w for w in widths]))
    for c in cells + [total]:
        print(line(c))
    ties = sum(r["float32_ties"] for r in rows)
    if ties:
        print(f"{ties} threshold(s) sit on a float32 tie: the model's float32 ops put the accumulator one float32 "
              "step from a rounding point, so a float runtime (qonnx, onnxruntime) may give the neighbouring code "
              "there, depending on how it orders its sums; bnncc follows the model's ops on the exact accumulator.")


def run(args: argparse.Namespace) -> int:
    graph = load(args.model, args)
    rows = layer_table(graph)
    if args.json:
        print(json.dumps({"model": args.model, "layers": rows, "ir": str(graph)}))
    else:
        print(graph)
        print()
        print_table(rows)
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser("inspect", help="print the IR and a per-layer table")
    p.add_argument("model", help="ONNX, QONNX or FINN-ONNX file")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    add_input_codes(p)
    p.set_defaults(fn=run)
    return p
