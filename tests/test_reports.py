"""Vendor report ingestion (`bnncc report`): the real Vivado HLS 2020.1 / Vivado reports in
../shared/reports give exactly the numbers printed in them, and edited copies cover what those files
do not show: best != worst latency (hls4ml 1.3.0 prints the best case as the worst), Vitis-style `DSP`
tags, UltraScale utilization rows, timing summaries, project layouts, and broken files."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import pytest

from bnncc.cli import main
from bnncc.commands.report import add_parser as add_report_parser
from bnncc.cost.vendor import format_report, read_reports
from bnncc.errors import BnnccError

REAL = Path(__file__).resolve().parents[2] / "shared" / "reports" / "vivado-2020.1-xc7z020"
XML, RPT, UTIL = REAL / "myproject_csynth.xml", REAL / "myproject_csynth.rpt", REAL / "vivado_synth.rpt"

# The numbers as they stand in the real files (csynth.xml/.rpt and vivado_synth.rpt).
REAL_HLS = {"part": "xc7z020-clg400-1", "top": "myproject", "hls_version": "2020.1", "clock_target_ns": 5.0,
            "clock_estimate_ns": 4.049, "latency_best_cycles": 10, "latency_worst_cycles": 10,
            "interval_best_cycles": 8, "interval_worst_cycles": 8,
            "hls": {"lut": 2532, "ff": 7969, "bram18": 0, "dsp": 73, "uram": 0}}
REAL_VIVADO = {"lut": 1526, "ff": 2428, "bram18": 0, "dsp": 66, "uram": 0}

# A Vivado 2020.1 `report_timing_summary` in its layout (no real one ships with the shared reports).
TIMING = """\
Copyright 1986-2020 Xilinx, Inc. All Rights Reserved.
| Command      : report_timing_summary -file vivado_timing.rpt
| Design       : bnncc_top

------------------------------------------------------------------------------------------------
| Design Timing Summary
| ---------------------
------------------------------------------------------------------------------------------------

    WNS(ns)      TNS(ns)  TNS Failing Endpoints  TNS Total Endpoints      WHS(ns)      THS(ns)  THS Failing \
Endpoints  THS Total Endpoints     WPWS(ns)     TPWS(ns)  TPWS Failing Endpoints  TPWS Total Endpoints
    -------      -------  ---------------------  -------------------      -------      -------  ---------------\
------  -------------------     --------     --------  ----------------------  --------------------
{wns:>11}       {tns:>6}                      3                 5123        0.104        0.000                 \
     0                 5123        2.020        0.000                       0                  2611


------------------------------------------------------------------------------------------------
| Clock Summary
| -------------
------------------------------------------------------------------------------------------------

Clock   Waveform(ns)       Period(ns)      Frequency(MHz)
-----   ------------       ----------      --------------
ap_clk  {{0.000 2.500}}      5.000           200.000


------------------------------------------------------------------------------------------------
| Intra Clock Table
| -----------------
------------------------------------------------------------------------------------------------

Clock             WNS(ns)      TNS(ns)  TNS Failing Endpoints  TNS Total Endpoints      WHS(ns)      THS(ns)
-----             -------      -------  ---------------------  -------------------      -------      -------
ap_clk              9.999        0.000                      0                 5123        0.104        0.000
"""


def _copy(dst: Path, src: Path, edit=None) -> Path:
    """A copy of a real report, optionally edited, written by the test."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    text = src.read_text()
    if edit:
        new = edit(text)
        assert new != text, "the edit did not change the file"
        text = new
    dst.write_text(text)
    return dst


def _sub(pattern: str, repl: str, count: int = 0):
    def edit(text: str) -> str:
        new, n = re.subn(pattern, repl, text, count=count)
        assert n, f"{pattern!r} not found"
        return new
    return edit


def _without_source(record: dict) -> dict:
    return {k: v for k, v in record.items() if k != "source"}


def _error(directory: Path) -> str:
    with pytest.raises(BnnccError) as e:
        read_reports(str(directory))
    msg = str(e.value)
    assert "\n" not in msg
    return msg


# --- the real reports ------------------------------------------------------------------------------------


def test_real_reports_give_the_numbers_in_the_files():
    rec = read_reports(str(REAL))
    assert rec == {**REAL_HLS, "vivado": REAL_VIVADO, "timing": None, "source": {
        "csynth_xml": str(XML), "csynth_rpt": None, "vivado_utilization": str(UTIL), "vivado_timing": None}}
    json.dumps(rec)  # one JSON-able record


def test_real_reports_as_measurement_records():
    from bnncc.cost.records import from_vendor

    rows = {(r.source, r.metric): r for r in from_vendor(read_reports(str(REAL)))}
    assert rows[("vivado", "lut")].value == 1526 and rows[("vitis", "dsp")].value == REAL_HLS["hls"]["dsp"]
    assert rows[("vitis", "lut")].tool == "Vitis/Vivado HLS 2020.1" and all(r.measured for r in rows.values())


def test_rpt_alone_gives_the_same_record_as_the_xml(tmp_path):
    _copy(tmp_path / "myproject_csynth.rpt", RPT)
    rec = read_reports(str(tmp_path))
    assert rec["source"]["csynth_rpt"] == str(tmp_path / "myproject_csynth.rpt") and rec["source"]["csynth_xml"] is None
    assert _without_source(rec) == {**REAL_HLS, "vivado": None, "timing": None}


def test_xml_is_preferred_over_rpt(tmp_path):
    _copy(tmp_path / "myproject_csynth.xml", XML)
    _copy(tmp_path / "myproject_csynth.rpt", RPT, _sub(r"\|ap_clk  \| 5\.00 ns", "|ap_clk  | 9.00 ns"))
    rec = read_reports(str(tmp_path))
    assert rec["source"]["csynth_xml"].endswith("myproject_csynth.xml") and rec["source"]["csynth_rpt"] is None
    assert rec["clock_target_ns"] == 5.0


# --- edited copies: best != worst, Vitis tags ---------------------------------------------------------------


def _best_worst_xml(text: str) -> str:
    for tag, value in (("Best-caseLatency", 7), ("Worst-caseLatency", 13), ("Interval-min", 5), ("Interval-max", 9)):
        text = _sub(f"<{tag}>[^<]*</{tag}>", f"<{tag}>{value}</{tag}>", 1)(text)
    return text


def test_xml_best_differs_from_worst(tmp_path):
    _copy(tmp_path / "myproject_csynth.xml", XML, _best_worst_xml)
    rec = read_reports(str(tmp_path))
    assert (rec["latency_best_cycles"], rec["latency_worst_cycles"]) == (7, 13)
    assert (rec["interval_best_cycles"], rec["interval_worst_cycles"]) == (5, 9)
    text = format_report(rec)  # hls4ml 1.3.0's printer would show "worst 7" here
    assert "best 7, worst 13" in text and "best 5, worst 9" in text


def test_rpt_best_differs_from_worst(tmp_path):
    row = r"\|       10\|       10\| 50\.000 ns \| 50\.000 ns \|    8\|    8\| dataflow \|"
    _copy(tmp_path / "myproject_csynth.rpt", RPT,
          _sub(row, "|        7|       13| 35.000 ns | 65.000 ns |    5|    9| dataflow |", 1))
    rec = read_reports(str(tmp_path))
    assert [rec[f"{k}_{c}_cycles"] for k in ("latency", "interval") for c in ("best", "worst")] == [7, 13, 5, 9]


def test_vitis_style_dsp_tags(tmp_path):
    def vitis(text: str) -> str:
        text = _sub("<DSP48E>", "<DSP>")(_sub("</DSP48E>", "</DSP>")(text))
        return _sub("<Version>2020.1</Version>", "<Version>2022.2</Version>")(text)

    _copy(tmp_path / "xml" / "myproject_csynth.xml", XML, vitis)
    _copy(tmp_path / "rpt" / "myproject_csynth.rpt", RPT, _sub(r"\| DSP48E\|", "|    DSP|"))
    for sub in ("xml", "rpt"):
        rec = read_reports(str(tmp_path / sub))
        assert rec["hls"] == REAL_HLS["hls"], sub
    assert "DSP48E" not in (tmp_path / "xml" / "myproject_csynth.xml").read_text()
    assert read_reports(str(tmp_path / "xml"))["hls_version"] == "2022.2"


def test_undefined_latency_is_none_not_an_error(tmp_path):
    _copy(tmp_path / "myproject_csynth.xml", XML, _sub("<Worst-caseLatency>10<", "<Worst-caseLatency>undef<"))
    rec = read_reports(str(tmp_path))
    assert rec["latency_best_cycles"] == 10 and rec["latency_worst_cycles"] is None
    assert "worst ?" in format_report(rec)


# --- Vivado utilization and timing ---------------------------------------------------------------------------


def _ultrascale(text: str) -> str:
    """The 7-series report turned into UltraScale+ naming with block RAM and URAM in use."""
    text = _sub(r"\| Slice LUTs\*  ", "| CLB LUTs*    ")(text)
    text = _sub(r"\| Slice Registers  ", "| CLB Registers    ")(text)
    text = _sub(r"\| Block RAM Tile \|    0 \|", "| Block RAM Tile |  5.5 |")(text)
    text = _sub(r"\|   RAMB36/FIFO\* \|    0 \|", "|   RAMB36/FIFO* |    3 |")(text)
    text = _sub(r"\|   RAMB18       \|    0 \|", "|   RAMB18       |    5 |")(text)
    return _sub(r"(\|   RAMB18       \|.*\n)", r"\1| URAM           |    2 |     0 |        48 |  4.17 |\n", 1)(text)


def test_vivado_bram_counted_in_bram18_and_ultrascale_names(tmp_path):
    _copy(tmp_path / "myproject_csynth.xml", XML)
    _copy(tmp_path / "vivado_synth.rpt", UTIL, _ultrascale)
    rec = read_reports(str(tmp_path))
    # 2 x 3 RAMB36 + 5 RAMB18 = 11 BRAM18 (the 5.5 "Block RAM Tile" count is in 36 Kb tiles)
    assert rec["vivado"] == {"lut": 1526, "ff": 2428, "bram18": 11, "dsp": 66, "uram": 2}


def test_vivado_tile_count_only(tmp_path):
    _copy(tmp_path / "myproject_csynth.xml", XML)
    tiles = _sub(r"\| Block RAM Tile \|    0 \|", "| Block RAM Tile |  2.5 |")
    _copy(tmp_path / "vivado_synth.rpt", UTIL, lambda t: _sub(r"\|   RAMB(36/FIFO\*|18      ) \|.*\n", "")(tiles(t)))
    assert read_reports(str(tmp_path))["vivado"]["bram18"] == 5


@pytest.mark.parametrize("wns,tns,achieved", [("0.812", "0.000", 4.188), ("-0.300", "-1.200", 5.3)])
def test_timing_summary(tmp_path, wns, tns, achieved):
    _copy(tmp_path / "myproject_csynth.xml", XML)
    (tmp_path / "vivado_timing.rpt").write_text(TIMING.format(wns=wns, tns=tns))
    rec = read_reports(str(tmp_path))
    assert rec["source"]["vivado_timing"] == str(tmp_path / "vivado_timing.rpt")
    assert rec["timing"] == {"wns_ns": float(wns), "tns_ns": float(tns), "whs_ns": 0.104, "ths_ns": 0.0,
                             "clock": "ap_clk", "clock_period_ns": 5.0, "achieved_period_ns": achieved}
    assert f"Vivado {achieved:g} ns" in format_report(rec)


# --- layouts ----------------------------------------------------------------------------------------------------


def test_hls4ml_layout_picks_the_top_not_a_submodule(tmp_path):
    report = tmp_path / "myproject_prj" / "solution1" / "syn" / "report"
    _copy(tmp_path / "myproject_prj" / "vivado_hls.app", REAL / "vivado_hls.app")
    _copy(report / "myproject_csynth.xml", XML)
    _copy(report / "dense_array_config2_s_csynth.xml", XML, _sub("<LUT>2532</LUT>", "<LUT>2134</LUT>"))
    _copy(tmp_path / "vivado_synth.rpt", UTIL)
    rec = read_reports(str(tmp_path))
    assert rec["source"]["csynth_xml"] == str(report / "myproject_csynth.xml")
    assert _without_source(rec) == {**REAL_HLS, "vivado": REAL_VIVADO, "timing": None}


def test_bnncc_layout_found_by_top_name(tmp_path):
    report = tmp_path / "hls" / "bnncc_prj" / "solution1" / "syn" / "report"
    _copy(report / "bnncc_top_csynth.xml", XML, _best_worst_xml)
    _copy(report / "mvau0_csynth.xml", XML)  # a sub-module's report beside it
    _copy(tmp_path / "hls" / "bnncc_prj" / "solution1" / ".autopilot" / "db" / "x_csynth.xml", XML)  # hidden: skipped
    _copy(tmp_path / "hls" / "vivado_synth.rpt", UTIL)
    rec = read_reports(str(tmp_path))
    assert rec["source"]["csynth_xml"] == str(report / "bnncc_top_csynth.xml")
    assert rec["source"]["vivado_utilization"] == str(tmp_path / "hls" / "vivado_synth.rpt")
    assert rec["latency_worst_cycles"] == 13


def test_two_solutions_are_ambiguous(tmp_path):
    for sol in ("solution1", "solution2"):
        _copy(tmp_path / "bnncc_prj" / sol / "syn" / "report" / "bnncc_top_csynth.xml", XML)
    msg = _error(tmp_path)
    assert "several csynth.xml" in msg and "solution1" in msg and "solution2" in msg
    assert read_reports(str(tmp_path / "bnncc_prj" / "solution2"))["hls"] == REAL_HLS["hls"]


def test_unnamed_submodule_reports_are_not_guessed(tmp_path):
    _copy(tmp_path / "a_csynth.xml", XML)
    _copy(tmp_path / "b_csynth.xml", XML)
    assert "cannot tell the top function's csynth.xml" in _error(tmp_path)


# --- broken input: one line naming the file --------------------------------------------------------------------


def test_truncated_xml(tmp_path):
    text = XML.read_text()
    (tmp_path / "myproject_csynth.xml").write_text(text[: len(text) // 3])
    msg = _error(tmp_path)
    assert str(tmp_path / "myproject_csynth.xml") in msg and "not well-formed XML" in msg


def test_xml_missing_element(tmp_path):
    _copy(tmp_path / "myproject_csynth.xml", XML, _sub(r"<EstimatedClockPeriod>.*</EstimatedClockPeriod>\n", ""))
    msg = _error(tmp_path)
    assert "myproject_csynth.xml" in msg and "EstimatedClockPeriod" in msg


def test_xml_best_after_worst_is_rejected(tmp_path):
    _copy(tmp_path / "myproject_csynth.xml", XML, _sub("<Best-caseLatency>10<", "<Best-caseLatency>12<"))
    assert "best-case latency 12 exceeds the worst case 10" in _error(tmp_path)


def test_xml_non_numeric_resource(tmp_path):
    _copy(tmp_path / "myproject_csynth.xml", XML, _sub("<FF>7969</FF>", "<FF>lots</FF>"))
    msg = _error(tmp_path)
    assert "myproject_csynth.xml: FF is 'lots', not a whole count" in msg


def test_rpt_truncated(tmp_path):
    text = RPT.read_text()
    (tmp_path / "myproject_csynth.rpt").write_text(text[: text.index("== Utilization Estimates")])
    msg = _error(tmp_path)
    assert "myproject_csynth.rpt" in msg and "utilization summary" in msg


def test_vivado_report_that_is_not_report_utilization(tmp_path):
    _copy(tmp_path / "myproject_csynth.xml", XML)
    text = UTIL.read_text()
    (tmp_path / "vivado_synth.rpt").write_text(text[: text.index("| Slice LUTs")])  # cut before the LUT row
    msg = _error(tmp_path)
    assert str(tmp_path / "vivado_synth.rpt") in msg and "Slice LUTs" in msg


def test_timing_report_without_summary(tmp_path):
    _copy(tmp_path / "myproject_csynth.xml", XML)
    (tmp_path / "vivado_timing.rpt").write_text("Timing Summary Report\n")
    assert "vivado_timing.rpt: no Design Timing Summary" in _error(tmp_path)


def test_missing_and_empty_directories(tmp_path):
    assert "no such directory" in _error(tmp_path / "nope")
    _copy(tmp_path / "vivado_synth.rpt", UTIL)
    assert "no csynth.xml or csynth.rpt" in _error(tmp_path)


# --- the command ------------------------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bnncc")
    add_report_parser(parser.add_subparsers(dest="command", required=True))
    return parser


def test_report_parser_json_and_table(capsys):
    args = _parser().parse_args(["report", str(REAL), "--json"])
    assert args.fn(args) == 0
    assert json.loads(capsys.readouterr().out) == read_reports(str(REAL))
    args = _parser().parse_args(["report", str(REAL)])
    assert args.fn(args) == 0
    out = capsys.readouterr().out
    assert re.search(r"^LUT\s+2,532\s+1,526$", out, re.M) and re.search(r"^DSP\s+73\s+66$", out, re.M)
    assert "target 5 ns, HLS estimate 4.049 ns" in out and "best 10, worst 10" in out


def test_cli_report_exit_codes(capsys, tmp_path):
    """Through bnncc.cli.main: needs `report` wired into the CLI."""
    assert main(["report", str(REAL), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["vivado"] == REAL_VIVADO
    (tmp_path / "myproject_csynth.xml").write_text("<profile><UserAssign")
    assert main(["report", str(tmp_path)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and "myproject_csynth.xml" in err and err.startswith("bnncc: error:")

