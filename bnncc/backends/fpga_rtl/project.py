"""Write OUT/rtl: the Verilog library, a top that instantiates one module per dataflow block with
FIFOs between them, and the ROM contents as $readmemh files named by block."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np

import bnncc
from bnncc.backends import dataflow as D
from bnncc.backends.fpga_hls.project import ENCODING, KIND, TEMPLATES, _fmt, _out_min, _summary, environment
from bnncc.backends.names import comment_safe
from bnncc.backends.schedule import fifo_depths
from bnncc.errors import BnnccError

LIBRARY = "bnncc_lib.v"


def hex_rows(bits: np.ndarray) -> list[str]:
    """[rows, n] 0/1 (bit j = 2**j) -> one hex number per row, as $readmemh reads them."""
    digits = max(1, -(-bits.shape[1] // 4))
    padded = np.zeros((bits.shape[0], digits * 4), dtype=np.uint8)
    padded[:, : bits.shape[1]] = bits
    nibbles = padded.reshape(bits.shape[0], digits, 4) @ np.array([1, 2, 4, 8])
    return ["".join("0123456789abcdef"[n] for n in row[::-1]) for row in nibbles]


def _bits(values: np.ndarray, width: int) -> np.ndarray:
    """Integers [..., n] -> their low `width` bits, element k at bits [k*width, (k+1)*width)."""
    v = values.astype(np.int64) & ((1 << width) - 1)
    return ((v[..., None] >> np.arange(width)) & 1).reshape(v.shape[:-1] + (-1,)).astype(np.uint8)


def weight_mem(b: D.Mvau) -> list[str]:
    nf, sf = b.mh // b.pe, b.mw // b.simd
    codes = b.weight_codes().reshape(sf, b.simd, nf, b.pe).transpose(2, 0, 3, 1).reshape(nf * sf, b.pe * b.simd)
    return hex_rows(_bits(codes, b.weight_bits))


def threshold_mem(thresholds: np.ndarray | None, channels: int, pe: int, acc_bits: int) -> list[str]:
    t = np.zeros((channels, 1), dtype=np.int64) if thresholds is None or thresholds.shape[1] == 0 else thresholds
    return hex_rows(_bits(t.reshape(channels // pe, -1), acc_bits))


def direction_mem(descending: np.ndarray | None, channels: int, pe: int) -> list[str]:
    d = np.zeros(channels, dtype=np.int64) if descending is None else descending.astype(np.int64)
    return hex_rows(_bits(d.reshape(channels // pe, pe), 1))


def _params(b: D.Block) -> tuple[str, list[tuple[str, object]], dict[str, list[str]]]:
    """(module, parameters, memory files) of a block."""
    i, o = b.in_format, b.out_format
    if isinstance(b, D.Mvau):
        mems = {f"{b.name}_w.mem": weight_mem(b),
                f"{b.name}_t.mem": threshold_mem(b.thresholds, b.mh, b.pe, b.acc_bits),
                f"{b.name}_d.mem": direction_mem(b.descending, b.mh, b.pe)}
        return "mvau", [
            ("MW", b.mw), ("MH", b.mh), ("SIMD", b.simd), ("PE", b.pe), ("PIXELS", b.pixels), ("IN_BITS", i.bits),
            ("IN_ENC", ENCODING[i.encoding]), ("KIND", KIND[b.weight_kind]), ("W_BITS", b.weight_bits),
            ("ACC_BITS", b.acc_bits), ("N_THR", b.n_thresholds), ("OUT_BITS", o.bits),
            ("OUT_ENC", ENCODING[o.encoding]), ("POW2_TERMS", max(b.pow2_terms, 1)),
            ("POW2_SHIFT_BITS", max(b.pow2_shift_bits, 1)), ("OUT_MIN", _out_min(b)), ("W_FILE", f'"{b.name}_w.mem"'),
            ("T_FILE", f'"{b.name}_t.mem"'), ("D_FILE", f'"{b.name}_d.mem"')], mems
    if isinstance(b, D.Thresh):
        mems = {f"{b.name}_t.mem": threshold_mem(b.thresholds, b.c, b.pe, b.acc_bits),
                f"{b.name}_d.mem": direction_mem(b.descending, b.c, b.pe)}
        return "thresh", [
            ("C", b.c), ("PE", b.pe), ("PIXELS", b.pixels), ("IN_BITS", i.bits), ("IN_ENC", ENCODING[i.encoding]),
            ("ACC_BITS", b.acc_bits), ("N_THR", b.thresholds.shape[1]), ("OUT_BITS", o.bits),
            ("OUT_ENC", ENCODING[o.encoding]), ("OUT_MIN", _out_min(b)), ("T_FILE", f'"{b.name}_t.mem"'),
            ("D_FILE", f'"{b.name}_d.mem"')], mems
    if isinstance(b, D.Swg):
        return "swg", [("BITS", i.bits), ("H", b.h), ("W", b.w), ("C", b.c), ("K", b.k), ("STRIDE", b.stride),
                       ("OH", b.oh), ("OW", b.ow), ("SIMD", b.simd), ("PAD_CODE", int(i.encode(b.pad_value))),
                       ("PAD_T", b.pad[0]), ("PAD_L", b.pad[1])], {}
    if isinstance(b, D.Pool):
        return "maxpool", [("BITS", i.bits), ("ENC", ENCODING[i.encoding]), ("H", b.h), ("W", b.w), ("C", b.c),
                           ("K", b.k), ("OH", b.oh), ("OW", b.ow), ("PE", b.pe)], {}
    if isinstance(b, D.LabelSelect):
        return "labelselect", [("BITS", i.bits), ("ENC", ENCODING[i.encoding]), ("CLASSES", b.classes), ("PE", b.pe),
                               ("OUT_BITS", o.bits)], {}
    return "dwc", [("IN", b.lanes_in), ("OUT", b.lanes_out), ("BITS", i.bits),
                   ("G", math.gcd(b.lanes_in, b.lanes_out))], {}


def write(root: Path, df: D.Dataflow, model: str) -> None:
    """Write OUT/rtl under `root`."""
    for b in df.blocks:
        if isinstance(b, D.Pool) and b.k != b.stride:
            raise BnnccError(f"{b.name}: the RTL max-pool needs kernel = stride (got {b.k}, {b.stride})")
    rtl = root / "rtl"
    rtl.mkdir(parents=True)
    shutil.copyfile(TEMPLATES / "rtl" / LIBRARY, rtl / LIBRARY)
    blocks, fifos = [], []
    for b in df.blocks:
        module, params, mems = _params(b)
        for name, lines in mems.items():
            (rtl / name).write_text("\n".join(lines) + "\n")
        blocks.append({"name": b.name, "module": module, "params": params, "summary": _summary(b),
                       "comment": comment_safe(", ".join(b.source)), "in_bits": b.in_format.word_bits,
                       "out_bits": b.out_format.word_bits})
    for prev, b, depth in zip(df.blocks[:-1], df.blocks[1:], fifo_depths(df), strict=True):
        fifos.append({"src": prev.name, "dst": b.name, "width": b.in_format.word_bits, "depth": depth,
                      "words": b.in_format.words})
    text = environment().get_template("rtl/bnncc_top.v.j2").render(
        version=bnncc.__version__, model=comment_safe(model), blocks=blocks, fifos=fifos, interval=df.interval(),
        inp=_fmt(df.input_format), out=_fmt(df.output_format))
    (rtl / "bnncc_top.v").write_text(text)
