"""Write the Vitis HLS project of a design: firmware (top, per-block cfg structs and constant headers,
the layer library assembled from the block kinds' templates), testbench, TCL scripts. Python computes
the values; the templates in bnncc/templates hold the text."""

from __future__ import annotations

from pathlib import Path

import numpy as np

import bnncc
from bnncc.backends.names import comment_safe
from bnncc.backends.templates import environment
from bnncc.errors import BnnccError
from bnncc.hw.block import TEMPLATES, Memory
from bnncc.hw.design import Design, Stage
from bnncc.hw.enums import ENCODINGS, WEIGHT_KINDS
from bnncc.hw.registry import kinds
from bnncc.hw.stream import StreamFormat
from bnncc.ir.bits import pack_bits

STATIC = ["hls/bnncc_trace.h"]
RENDERED = [("hls/bnncc_top.h.j2", "firmware/bnncc_top.h"), ("hls/bnncc_top.cpp.j2", "firmware/bnncc_top.cpp"),
            ("hls/params.h.j2", "firmware/params.h"), ("tcl/build_prj.tcl.j2", "build_prj.tcl"),
            ("tcl/vivado_synth.tcl.j2", "vivado_synth.tcl")]
MAX_WORD_BITS = 32768
HLS_STORAGE = {"block": "bram", "distributed": "lutram"}  # a memory's style as BIND_STORAGE's impl


def stream_format(f: StreamFormat) -> dict:
    return {"lanes": f.lanes, "bits": f.bits, "enc": ENCODINGS[f.encoding], "words": f.words,
            "word_bits": f.word_bits}


def words(memory: Memory) -> np.ndarray:
    """The memory's rows as 64-bit words, as the HLS array stores them (at least one word a row)."""
    bits = memory.bit_rows(memory.hls_bits)
    if bits.shape[1] == 0:
        bits = np.zeros((bits.shape[0], 1), dtype=np.uint8)
    return pack_bits(bits)


def c_rows(rows: np.ndarray) -> list[str]:
    """C initializers of the rows, shortest hex (fully folded layers have one word per weight)."""
    return [", ".join(f"0x{w:x}ULL" for w in row) for row in rows.tolist()]


def array_name(stage: Stage, memory: Memory) -> str:
    return f"{memory.name}_{stage.name}"


def stream_names(design: Design) -> tuple[list[list[str]], list[list[str]]]:
    """Per stage, the streams it reads (by input port) and writes (by output port): `in` into the first
    stage, `out` from the last, `s<k + 1>` for edge k (a chain: s1, s2, ... in stream order)."""
    srcs: list[list[str]] = [[] for _ in design.stages]
    dsts: list[list[str]] = [[] for _ in design.stages]
    for k, e in enumerate(design.edges):
        srcs[e.dst].append(f"s{k + 1}")
    for k, e in sorted(enumerate(design.edges), key=lambda ke: (ke[1].src, ke[1].src_port)):
        dsts[e.src].append(f"s{k + 1}")
    srcs[0].insert(0, "in")
    dsts[-1].append("out")
    return srcs, dsts


def write(root: Path, design: Design, model: str, options: dict) -> None:
    """Write OUT/hls under `root` (a fresh directory)."""
    env = environment()
    hls = root / "hls"
    (hls / "firmware" / "params").mkdir(parents=True)
    (hls / "tb" / "tb_data").mkdir(parents=True)
    for rel in STATIC:
        (hls / "firmware" / Path(rel).name).write_bytes((TEMPLATES / rel).read_bytes())
    (hls / "tb" / "testbench.cpp").write_bytes((TEMPLATES / "hls" / "testbench.cpp").read_bytes())
    version = bnncc.__version__
    stages = design.stages
    srcs, dsts = stream_names(design)
    streams = [{"name": f"s{k + 1}", "word_bits": f.block.width, "depth": f.block.depth}
               for k, f in enumerate(design.fifos)]
    blocks = []
    for i, s in enumerate(stages):
        includes, arrays, partitioned, storage = [], [], [], []
        for m in (m for m in s.block.memories(s.fold) if m.hls):
            rows = words(m)
            array = array_name(s, m)
            text = env.get_template("hls/memory.h.j2").render(
                version=version, what=m.what, block=s.name, name=array, shape=list(rows.shape), data=c_rows(rows))
            (hls / "firmware" / "params" / f"{array}.h").write_text(text)
            includes.append(f"params/{array}.h")
            arrays.append(array)
            partitioned += [(array, d) for d in range(2, rows.ndim + 1)]
            if m.style in HLS_STORAGE:
                storage.append((array, HLS_STORAGE[m.style]))
        ctx = {"name": s.name, "kind": s.block.kind, "summary": s.block.summary(s.fold),
               "comment": comment_safe(", ".join(s.block.source)), "src": srcs[i][0], "dst": dsts[i][0],
               "srcs": srcs[i], "dsts": dsts[i],
               "config": [(p.ctype, p.name, p.value) for p in s.block.params(s.fold) if p.hls],
               "includes": includes, "arrays": arrays, "partitioned": partitioned, "storage": storage,
               "trace": i < len(stages) - 1,
               "out": stream_format(s.out_format), "fold": s.fold}
        ctx["call"] = env.get_template(s.block.hls_template).module.call(ctx)
        blocks.append(ctx)
    widest = max(max(s.in_format.word_bits, s.out_format.word_bits) for s in stages)
    if widest > MAX_WORD_BITS:
        raise BnnccError(f"a stream word of {widest} bits exceeds ap_int's {MAX_WORD_BITS}: fold further")
    libraries = [env.get_template(k.hls_template).module.library() for k in kinds() if k.hls_template]
    (hls / "firmware" / "bnncc_layers.h").write_text(
        env.get_template("hls/bnncc_layers.h.j2").render(libraries=libraries, encodings=ENCODINGS.items(),
                                                         weight_kinds=WEIGHT_KINDS.items()))
    context = {"version": version, "model": comment_safe(model), "blocks": blocks, "streams": streams,
               "max_word_bits": widest, "ap_int_max_w": max(1024, -(-widest // 1024) * 1024),
               "interval": design.interval(), "inp": stream_format(design.input_format),
               "out": stream_format(design.output_format), **options}
    for name, target in RENDERED:
        (hls / target).write_text(env.get_template(name).render(**context))
