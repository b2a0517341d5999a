"""A folding's ram_style reaches both writers: Vitis HLS gets BIND_STORAGE (bram / lutram), the RTL ROMs
their STYLE (Yosys: rom_style "block" or a LUT ROM); UltraRAM, which cannot hold constants, is refused."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from bnncc import fixtures
from bnncc.backends.fpga import hls
from bnncc.backends.fpga import rtl as rtl_writer
from bnncc.backends.fpga.synth import synthesize
from bnncc.cli import main
from bnncc.cost.devices import device
from bnncc.cost.yosys import count
from bnncc.errors import BnnccError
from bnncc.frontend import load
from bnncc.hw import dataflow
from bnncc.hw.block import Memory
from bnncc.hw.design import realize

OPTIONS = {"part": "xc7z020clg400-1", "clock_ns": "10", "ap_ctrl": "ap_ctrl_none"}


def _design(tmp_path, style: str):
    path = fixtures.save(fixtures.binary_mlp(sizes=(64, 32, 10), seed=2), tmp_path / "m.onnx")
    df = dataflow.build(load(str(path)))
    folding = {b.name: b.fold({"PE": 1, "SIMD": 8, "ram_style": style} if b.name == "mvau0" else {}) for b in df.blocks}
    return realize(df, folding)


@pytest.mark.parametrize("style,impl", [("block", "bram"), ("distributed", "lutram")])
def test_hls_binds_the_weight_rom(tmp_path, style, impl):
    design = _design(tmp_path, style)
    hls.write(tmp_path, design, "ram-style", OPTIONS)
    top = (tmp_path / "hls" / "firmware" / "bnncc_top.cpp").read_text()
    assert f"#pragma HLS BIND_STORAGE variable=w_mvau0 type=rom_1p impl={impl}" in top
    assert "BIND_STORAGE variable=w_mvau1" not in top  # "auto" leaves the choice to the tool


def test_rtl_rom_style_decides_block_ram_or_luts(tmp_path):
    measured = {}
    for style in ("block", "distributed"):
        out = tmp_path / style
        rtl_writer.write(out, _design(tmp_path, style), "ram-style")
        assert f'.W_STYLE("{style}")' in (out / "rtl" / "bnncc_top.v").read_text()
        measured[style] = synthesize(out / "rtl", device("xc7z020clg400-1"), 10.0, per_block=True)["per_block"]
    assert measured["block"]["mvau0"]["bram18"] >= 1 and measured["distributed"]["mvau0"]["bram18"] == 0
    assert measured["distributed"]["mvau0"]["lut"] > measured["block"]["mvau0"]["lut"]


@pytest.mark.parametrize("depth", [2, 3, 5, 12])
def test_a_rom_in_logic_keeps_a_register_per_distinct_output_bit(tmp_path, depth):
    """Memory.logic_registers, the fitted FF model's count of a ROM's read register, is what Yosys leaves: random
    4-bit elements, two of them copies of others and one constant, so equal and constant bits are removed."""
    rows = np.random.default_rng(depth).integers(0, 16, (depth, 9))
    rows[:, 6], rows[:, 7], rows[:, 8] = rows[:, 0], rows[:, 1], 5
    memory = Memory("t", "test", rows, 4, 4, "T", "distributed")
    rom = Path(__file__).resolve().parent.parent / "bnncc" / "templates" / "rtl" / "rom.v"
    shutil.copyfile(rom, tmp_path / "rom.v")
    (tmp_path / "t.mem").write_text("\n".join(rtl_writer.hex_rows(memory.bit_rows(4))) + "\n")
    (tmp_path / "top.v").write_text(
        f"module top(input clk, input en, input [{(depth - 1).bit_length() - 1}:0] a, output [35:0] d);\n"
        f'  bnncc_rom #(.WIDTH(36), .DEPTH({depth}), .FILE("t.mem"), .STYLE("distributed")) r(clk, en, a, d);\n'
        "endmodule\n")
    subprocess.run(["yosys", "-q", "-p", "read_verilog -defer rom.v top.v; hierarchy -top top; "
                    "synth_xilinx -top top -flatten; tee -q -o stat.json stat -json"], cwd=tmp_path, check=True)
    cells = json.loads((tmp_path / "stat.json").read_text())["design"]["num_cells_by_type"]
    assert count(cells)["ff"] == memory.logic_registers() < 36 - 9


@pytest.mark.parametrize("builder", [fixtures.binary_mlp, fixtures.int_mlp, fixtures.pow2_mlp])
def test_weight_registers_count_the_weight_rom(tmp_path, builder):
    """Mvau.weight_registers, read off the codes' bit planes without building the ROM, equals the ROM's own
    Memory.logic_registers at every folding, shallow ROMs (exact) and deep ones alike."""
    graph = load(str(fixtures.save(builder(seed=3), tmp_path / "m.onnx")))
    for mvau in (b for b in dataflow.build(graph).blocks if b.kind == "mvau"):
        for f in mvau.options():
            assert mvau.weight_registers(f["PE"], f["SIMD"]) == mvau.memories(f)[0].logic_registers(), (mvau.name, f)


def test_ultra_ram_is_refused(tmp_path):
    path = fixtures.save(fixtures.binary_mlp(sizes=(64, 32, 10), seed=2), tmp_path / "m.onnx")
    (mvau, *_) = dataflow.build(load(str(path))).blocks
    with pytest.raises(BnnccError, match="UltraRAM cannot be initialized"):
        mvau.fold({"PE": 1, "ram_style": "ultra"})
    folding = tmp_path / "f.json"
    folding.write_text(json.dumps({"MVAU_hls_0": {"PE": 1, "SIMD": 1, "ram_style": "ultra"}}))
    assert main([str(path), "--target", "fpga", "-o", str(tmp_path / "o"), "--folding", str(folding)]) == 2
    assert not (tmp_path / "o").exists()


def test_pnr_seeds_needs_synth(tmp_path, capsys):
    path = fixtures.save(fixtures.binary_mlp(sizes=(16, 8, 4), seed=0), tmp_path / "m.onnx")
    assert main([str(path), "--target", "fpga", "-o", str(tmp_path / "o"), "--pnr-seeds", "3"]) == 2
    assert "--pnr-seeds" in capsys.readouterr().err and not (tmp_path / "o").exists()
    with pytest.raises(SystemExit) as e:
        main([str(path), "--target", "fpga", "-o", str(tmp_path / "o"), "--synth", "--pnr-seeds", "0"])
    assert e.value.code == 2 and "is not 1 or more" in capsys.readouterr().err
