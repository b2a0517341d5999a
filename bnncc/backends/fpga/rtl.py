"""Write OUT/rtl: the Verilog library (the registered block kinds' modules), a top that instantiates
one module per stage with a FIFO on every stream between them, and the ROM contents as $readmemh
files named by block."""

from __future__ import annotations

from pathlib import Path

import numpy as np

import bnncc
from bnncc.backends.fpga.hls import stream_format
from bnncc.backends.names import comment_safe
from bnncc.backends.templates import environment, source
from bnncc.hw.block import Memory
from bnncc.hw.design import Design, Stage
from bnncc.hw.enums import ENCODINGS, WEIGHT_KINDS
from bnncc.hw.registry import kinds

LIBRARY = "bnncc_lib.v"
PRIMITIVES = "rtl/rom.v"  # what several block kinds instantiate


def hex_rows(bits: np.ndarray) -> list[str]:
    """[rows, n] 0/1 (bit j = 2**j) -> one hex number per row, as $readmemh reads them."""
    digits = max(1, -(-bits.shape[1] // 4))
    padded = np.zeros((bits.shape[0], digits * 4), dtype=np.uint8)
    padded[:, : bits.shape[1]] = bits
    nibbles = padded.reshape(bits.shape[0], digits, 4) @ np.array([1, 2, 4, 8])
    return ["".join("0123456789abcdef"[n] for n in row[::-1]) for row in nibbles]


def memory_file(stage: Stage, memory: Memory) -> str:
    return f"{stage.name}_{memory.name}.mem"


def instance(stage: Stage) -> tuple[list[tuple[str, object]], dict[str, list[str]]]:
    """(Verilog parameters, memory files) of one stage: the block's table, then one file per ROM."""
    params: list[tuple[str, object]] = [(p.name, p.value) for p in stage.block.params(stage.fold) if p.rtl]
    files = {}
    for m in (m for m in stage.block.memories(stage.fold) if m.rtl):
        name = memory_file(stage, m)
        params += [(f"{m.param}_FILE", f'"{name}"'), (f"{m.param}_STYLE", f'"{m.style}"')]
        files[name] = hex_rows(m.bit_rows(m.bits))
    return params, files


def write(root: Path, design: Design, model: str) -> None:
    """Write OUT/rtl under `root`."""
    env = environment()
    rtl = root / "rtl"
    rtl.mkdir(parents=True)
    modules = [source(env, PRIMITIVES)] + [source(env, k.rtl_template) for k in kinds() if k.rtl_template]
    (rtl / LIBRARY).write_text(env.get_template("rtl/bnncc_lib.v.j2").render(
        modules=modules, encodings=ENCODINGS.items(), weight_kinds=WEIGHT_KINDS.items()))
    blocks, fifos = [], []
    for s in design.stages:
        params, files = instance(s)
        for name, lines in files.items():
            (rtl / name).write_text("\n".join(lines) + "\n")
        ins = [(port, s.block.port_format(k, s.fold).word_bits) for k, port in enumerate(s.block.in_ports)]
        blocks.append({"name": s.name, "module": s.block.rtl_module, "params": params,
                       "summary": s.block.summary(s.fold), "comment": comment_safe(", ".join(s.block.source)),
                       "ports": ins + [(port, s.out_format.word_bits) for port in s.block.out_ports]})
    for e, fifo in zip(design.edges, design.fifos, strict=True):
        src, dst = design.stages[e.src], design.stages[e.dst]
        fifos.append({"src": f"{src.name}_{src.block.out_ports[e.src_port]}", "dst_block": dst.name,
                      "dst": f"{dst.name}_{dst.block.in_ports[e.dst_port]}", "module": fifo.block.rtl_module,
                      "name": fifo.name, "params": [(p.name, p.value) for p in fifo.block.params(fifo.fold) if p.rtl],
                      "words": fifo.block.words})
    first, last = design.stages[0], design.stages[-1]
    text = env.get_template("rtl/bnncc_top.v.j2").render(
        version=bnncc.__version__, model=comment_safe(model), blocks=blocks, fifos=fifos, interval=design.interval(),
        source=f"{first.name}_{first.block.in_ports[0]}", sink=f"{last.name}_{last.block.out_ports[0]}",
        inp=stream_format(design.input_format), out=stream_format(design.output_format))
    (rtl / "bnncc_top.v").write_text(text)
