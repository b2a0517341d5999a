"""`--synth`: Yosys (and nextpnr-ecp5 for ECP5) on the generated RTL gives sane measured numbers, leaves
no scratch files in OUT, and a model with hostile names synthesizes with none of them in the RTL.

A tiny binary MLP keeps each test within a few tens of seconds; the real designs are in benchmarks/rtl.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bnncc import fixtures
from bnncc.backends.fpga import synth
from bnncc.backends.fpga.driver import FpgaBackend, FpgaOptions
from bnncc.cost.devices import device
from bnncc.errors import BnnccError
from bnncc.frontend import load

XILINX, ECP5 = "xc7z020clg400-1", "LFE5U-25F-6BG381C"
# what a compile leaves in OUT/rtl: the written sources and memory files, no synthesis scratch
RTL_SUFFIXES = {".v", ".mem"}


def _compile(tmp_path: Path, model, part: str, name: str = "tiny.onnx", **options) -> tuple[dict, Path]:
    path = fixtures.save(model, tmp_path / name)
    out = tmp_path / "out"
    report = FpgaBackend().compile(load(str(path)), FpgaOptions(out=str(out), part=part, synth=True, **options))
    assert FpgaBackend().exit_code(report) == 0
    assert json.loads((out / "report.json").read_text())["measured"] == report["measured"]
    files = sorted(p.name for p in (out / "rtl").iterdir())
    assert {Path(f).suffix for f in files} <= RTL_SUFFIXES, files
    assert synth.WRAPPER + ".v" not in files
    return report, out


def _tiny():
    return fixtures.binary_mlp(sizes=(16, 8, 4), seed=0)


def _check_counts(m: dict, est: dict) -> None:
    assert m["lut"] > 0 and m["ff"] > 0 and m["carry"] > 0
    assert m["dsp"] == 0  # XNOR-popcount needs no multipliers
    # every estimate row (blocks and FIFOs) has a measured row of the same name
    assert set(m["per_block"]) == {r["block"] for r in est["blocks"]}
    for name, row in m["per_block"].items():
        assert row["lut"] + row["lutram"] > 0, name
        # cells on the longest register-to-register path: the 5-stage MVAU keeps it short (a path running
        # on through flip-flops, as `ltp -noff` alone gives with vendor cells, is far longer)
        assert 1 <= row["ltp"] <= 12, (name, row["ltp"])
    # the wrapper registers every port: at least as many FFs as port bits
    assert m["ff"] >= m["io"]["ff"] > 0


def test_synth_xilinx(tmp_path):
    report, _ = _compile(tmp_path, _tiny(), XILINX)
    m = report["measured"]
    _check_counts(m, report["estimate"])
    assert m["tool"].startswith("Yosys") and m["part"] == XILINX
    assert m["fmax_mhz"] is None  # no open place-and-route for Xilinx
    assert m["io"]["style"] == "registered"
    rows = {(r["block"], r["metric"]): r for r in report["records"]}
    assert rows[(None, "lut")]["value"] == m["lut"] and rows[(None, "lut")]["source"] == "yosys"
    mvau = rows[("mvau0", "lut")]
    assert mvau["kind"] == "mvau" and mvau["value"] == m["per_block"]["mvau0"]["lut"] and mvau["params"]["MW"] == 16
    assert rows[("fifo_mvau1", "ff")]["kind"] == "fifo" and all(r["tool"] == m["tool"] for r in report["records"])


def test_synth_ecp5_fmax(tmp_path):
    report, _ = _compile(tmp_path, _tiny(), ECP5, pnr_seeds=3)
    m = report["measured"]
    _check_counts(m, report["estimate"])
    assert 10 < m["fmax_mhz"] < 1000
    by_seed = m["fmax_mhz_by_seed"]
    assert list(by_seed) == ["1", "2", "3"] and m["fmax_mhz"] == sorted(by_seed.values())[1]
    assert m["target_mhz"] == 100.0
    assert m["pnr_utilization"]["TRELLIS_FF"] == m["ff"]
    assert "nextpnr" in m["pnr_tool"]
    assert m["critical_path"]["from"].startswith(("dut.", "s_axis", "m_axis", "rst")) and m["critical_path"]["ns"] > 0


def test_hostile_names_synthesize_and_stay_in_comments(tmp_path):
    model = fixtures.with_hostile_names(_tiny(), rename_input=True)
    report, out = _compile(tmp_path, model, ECP5, name="h\"'$[{fn:.onnx")
    assert report["measured"]["lut"] > 0 and report["measured"]["fmax_mhz"] > 0
    distinctive = ['"\'$[{', "../", "*/", "fn:", "}]"]
    for f in (out / "rtl").iterdir():
        text = f.read_text()
        assert fixtures._HOSTILE not in text, f.name
        for n, line in enumerate(text.splitlines(), 1):
            code = line.split("//", 1)[0]
            for s in distinctive:
                assert s not in code, f"{f.name}:{n}: {line!r}"


def test_wrapper_serializes_wide_ports():
    ports = [("input", "clk", 1), ("input", "rst", 1), ("input", "s_axis_tdata", 400), ("input", "s_axis_tvalid", 1),
             ("output", "s_axis_tready", 1), ("output", "m_axis_tdata", 40), ("output", "m_axis_tvalid", 1),
             ("input", "m_axis_tready", 1)]
    text, io = synth.wrapper_verilog(ports)
    assert io["style"].startswith("registered, data serialized")
    assert io["pins"] <= synth.PAD_BUDGET and io["ff"] == 445
    assert "input wire [7:0] s_axis_tdata" in text and "output wire [7:0] m_axis_tdata" in text
    narrow, io = synth.wrapper_verilog([p if p[1] != "s_axis_tdata" else ("input", p[1], 16) for p in ports])
    assert io["style"] == "registered" and "input wire [15:0] s_axis_tdata" in narrow


def test_ecp5_device_flags_and_missing_rtl(tmp_path):
    assert synth.ecp5_args("LFE5U-85F-8BG381C") == ["--85k", "--package", "CABGA381", "--speed", "8"]
    assert synth.ecp5_args("LFE5U-25F-6BG381C") == ["--25k", "--package", "CABGA381", "--speed", "6"]
    with pytest.raises(BnnccError, match="missing"):
        synth.synthesize(tmp_path, device(XILINX), 10.0)
