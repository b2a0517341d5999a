"""Write the Vitis HLS project of a folded dataflow: firmware (top, per-block configuration and
constant headers, the layer library), testbench, TCL scripts. Python computes the values; the
templates in bnncc/templates hold the text."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import jinja2

import bnncc
from bnncc.backends import dataflow as D
from bnncc.backends.fpga_hls import memory
from bnncc.backends.io_format import StreamFormat
from bnncc.backends.names import comment_safe
from bnncc.backends.schedule import fifo_depths
from bnncc.errors import BnnccError

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
STATIC = ["hls/bnncc_layers.h", "hls/bnncc_trace.h"]
RENDERED = [("hls/bnncc_top.h.j2", "firmware/bnncc_top.h"), ("hls/bnncc_top.cpp.j2", "firmware/bnncc_top.cpp"),
            ("hls/params.h.j2", "firmware/params.h"), ("tcl/build_prj.tcl.j2", "build_prj.tcl"),
            ("tcl/vivado_synth.tcl.j2", "vivado_synth.tcl")]
MAX_WORD_BITS = 32768
ENCODING = {"bipolar": 0, "signed": 1, "unsigned": 2}
KIND = {"xnor": 0, "bipolar": 1, "ternary": 2, "int": 3, "pow2": 4, "adder": 5}


def environment() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), undefined=jinja2.StrictUndefined,
                              keep_trailing_newline=True, autoescape=False)


def _fmt(f: StreamFormat) -> dict:
    return {"lanes": f.lanes, "bits": f.bits, "enc": ENCODING[f.encoding], "words": f.words,
            "word_bits": f.word_bits}


def _summary(b: D.Block) -> str:
    fold = ", ".join(f"{k}={v}" for k, v in b.folding().items())
    if isinstance(b, D.Mvau):
        what = f"{b.weight_kind} matrix {b.mw}x{b.mh} over {b.pixels} pixel(s)"
        what += f", {b.n_thresholds} threshold(s)/channel" if b.thresholds is not None else ", accumulators out"
    elif isinstance(b, D.Swg):
        what = f"{b.k}x{b.k} windows, stride {b.stride}, {b.h}x{b.w}x{b.c} -> {b.oh}x{b.ow}"
    elif isinstance(b, D.Pool):
        what = f"max-pool {b.k}x{b.k}, {b.h}x{b.w}x{b.c} -> {b.oh}x{b.ow}"
    elif isinstance(b, D.Thresh):
        what = f"{b.thresholds.shape[1]} threshold(s) on {b.c} channels"
    elif isinstance(b, D.LabelSelect):
        what = f"top-1 of {b.classes}"
    else:
        what = f"{b.in_lanes} -> {b.out_lanes} lanes"
    return f"{what}{', ' + fold if fold else ''}; {b.cycles()} cycles/image"


def _config(b: D.Block) -> list[tuple[str, str, int]]:
    """(C type, name, value) constants of the block's cfg struct."""
    i, o = b.in_format, b.out_format
    u = []
    if isinstance(b, D.Mvau):
        n_thr = b.n_thresholds
        u = [("MW", b.mw), ("MH", b.mh), ("SIMD", b.simd), ("PE", b.pe), ("NF", b.mh // b.pe),
             ("SF", b.mw // b.simd), ("PIXELS", b.pixels), ("IN_BITS", i.bits), ("IN_ENC", ENCODING[i.encoding]),
             ("KIND", KIND[b.weight_kind]), ("W_BITS", b.weight_bits),
             ("W_WORDS", math.ceil(b.pe * b.simd * b.weight_bits / 64)), ("ACC_BITS", b.acc_bits),
             ("N_THR", n_thr), ("N_THR_SLOTS", max(n_thr, 1)), ("T_WORDS", b.pe * max(n_thr, 1)),
             ("D_WORDS", math.ceil(b.pe / 64)), ("OUT_BITS", o.bits), ("OUT_ENC", ENCODING[o.encoding]),
             ("POW2_TERMS", max(b.pow2_terms, 1)), ("POW2_SHIFT_BITS", max(b.pow2_shift_bits, 1))]
        return [("unsigned", k, v) for k, v in u] + [("int", "OUT_MIN", _out_min(b))]
    if isinstance(b, D.Thresh):
        n_thr = b.thresholds.shape[1]
        u = [("PE", b.pe), ("NF", b.c // b.pe), ("PIXELS", b.pixels), ("IN_BITS", i.bits),
             ("IN_ENC", ENCODING[i.encoding]), ("ACC_BITS", b.acc_bits), ("N_THR", n_thr), ("N_THR_SLOTS", n_thr),
             ("T_WORDS", b.pe * n_thr), ("D_WORDS", math.ceil(b.pe / 64)), ("OUT_BITS", o.bits),
             ("OUT_ENC", ENCODING[o.encoding])]
        return [("unsigned", k, v) for k, v in u] + [("int", "OUT_MIN", _out_min(b))]
    if isinstance(b, D.Swg):
        u = [("BITS", i.bits), ("H", b.h), ("W", b.w), ("C", b.c), ("K", b.k), ("STRIDE", b.stride), ("OH", b.oh),
             ("OW", b.ow), ("IN_LANES", b.simd), ("SIMD", b.simd), ("PAD_CODE", int(i.encode(b.pad_value)))]
        return [("unsigned", k, v) for k, v in u] + [("int", "PAD_T", b.pad[0]), ("int", "PAD_L", b.pad[1])]
    if isinstance(b, D.Pool):
        u = [("BITS", i.bits), ("ENC", ENCODING[i.encoding]), ("H", b.h), ("W", b.w), ("C", b.c), ("K", b.k),
             ("OH", b.oh), ("OW", b.ow), ("PE", b.pe)]
    elif isinstance(b, D.LabelSelect):
        u = [("BITS", i.bits), ("ENC", ENCODING[i.encoding]), ("CLASSES", b.classes), ("PE", b.pe),
             ("OUT_BITS", o.bits)]
    elif isinstance(b, D.Dwc):
        u = [("IN", b.lanes_in), ("OUT", b.lanes_out), ("BITS", i.bits), ("ELEMENTS", b.in_elements),
             ("G", math.gcd(b.lanes_in, b.lanes_out))]
    return [("unsigned", k, v) for k, v in u]


def _out_min(b) -> int:
    return 0 if b.out_dtype.is_bipolar else int(b.out_dtype.min)


def _memories(b: D.Block) -> list[tuple[str, str, object]]:
    """(array name, what, rows of 64-bit words) of a block's constant memories."""
    if isinstance(b, D.Mvau):
        return [(f"w_{b.name}", "weights", memory.weight_rows(b.weight_codes(), b.pe, b.simd, b.weight_bits)),
                (f"t_{b.name}", "thresholds", memory.threshold_rows(b.thresholds, b.mh, b.pe)),
                (f"d_{b.name}", "threshold directions", memory.direction_rows(b.descending, b.mh, b.pe))]
    if isinstance(b, D.Thresh):
        return [(f"t_{b.name}", "thresholds", memory.threshold_rows(b.thresholds, b.c, b.pe)),
                (f"d_{b.name}", "threshold directions", memory.direction_rows(b.descending, b.c, b.pe))]
    return []


def write(root: Path, df: D.Dataflow, model: str, options: dict) -> None:
    """Write OUT/hls under `root` (a fresh directory)."""
    env = environment()
    hls = root / "hls"
    (hls / "firmware" / "params").mkdir(parents=True)
    (hls / "tb" / "tb_data").mkdir(parents=True)
    for rel in STATIC:
        shutil.copyfile(TEMPLATES / rel, hls / "firmware" / Path(rel).name)
    shutil.copyfile(TEMPLATES / "hls" / "testbench.cpp", hls / "tb" / "testbench.cpp")
    version = bnncc.__version__
    names = ["in"] + [f"s{i}" for i in range(1, len(df.blocks))] + ["out"]
    streams = [{"name": n, "word_bits": b.in_format.word_bits, "depth": d}
               for n, b, d in zip(names[1:-1], df.blocks[1:], fifo_depths(df), strict=True)]
    blocks = []
    for i, b in enumerate(df.blocks):
        includes = []
        for array, what, rows in _memories(b):
            text = env.get_template("hls/memory.h.j2").render(
                version=version, what=what, block=b.name, name=array, shape=list(rows.shape),
                data=memory.c_rows(rows))
            (hls / "firmware" / "params" / f"{array}.h").write_text(text)
            includes.append(f"params/{array}.h")
        blocks.append({
            "name": b.name, "kind": b.kind, "summary": _summary(b), "comment": comment_safe(", ".join(b.source)),
            "src": names[i], "dst": names[i + 1], "config": _config(b), "includes": includes,
            "partitioned": [(a, d) for a, _, rows in _memories(b) for d in range(2, rows.ndim + 1)],
            "trace": i < len(df.blocks) - 1,
            "out": _fmt(b.out_format), "partition": getattr(b, "simd", 1),
        })
    widest = max(max(b.in_format.word_bits, b.out_format.word_bits) for b in df.blocks)
    if widest > MAX_WORD_BITS:
        raise BnnccError(f"a stream word of {widest} bits exceeds ap_int's {MAX_WORD_BITS}: fold further")
    context = {"version": version, "model": comment_safe(model), "blocks": blocks, "streams": streams,
               "max_word_bits": widest, "ap_int_max_w": max(1024, -(-widest // 1024) * 1024),
               "interval": df.interval(), "inp": _fmt(df.input_format), "out": _fmt(df.output_format), **options}
    for name, target in RENDERED:
        (hls / target).write_text(env.get_template(name).render(**context))
