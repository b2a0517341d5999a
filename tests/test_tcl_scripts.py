"""The vendor scripts of a generated project, run without the vendor tools: `build_prj.tcl` and
`vivado_synth.tcl` are sourced by a plain `tclsh` after a prelude that defines stand-ins for the
Vitis HLS / Vivado commands. Each stand-in records its call, so the tests see the calls, their order,
the part and clock the compiler was given, the files named (which must exist in the generated tree),
and which steps the switches turn on. The stand-ins can also drop the vendor's result files where the
tools put them, so the chain script -> reports -> `bnncc report` is tested too."""

from __future__ import annotations

import itertools
import shutil
import subprocess
from pathlib import Path

import pytest
from test_reports import REAL_HLS, REAL_VIVADO, TIMING, UTIL, XML

from bnncc import fixtures
from bnncc.backends.fpga.driver import FpgaBackend, FpgaOptions
from bnncc.cost.vendor import read_reports
from bnncc.frontend import load

TCLSH = shutil.which("tclsh")
SEP = "\x1f"  # between a call's words in the log: cflags contain spaces

PRELUDE = r"""
# Stand-ins for the Vitis HLS and Vivado Tcl commands. Each call appends one line to $env(CALL_LOG):
# the command and its arguments joined by \x1f. With FAKE_CSYNTH / FAKE_UTIL / FAKE_TIMING set, the
# stand-ins also write those files where the real tools write their reports.
set ::log [open $::env(CALL_LOG) a]
proc record {name args} {
    puts $::log [join [linsert $args 0 $name] \x1f]
    flush $::log
}
proc positional {arglist valued} {
    # the first argument that is neither an option nor the value of one of the options in $valued
    set skip 0
    foreach a $arglist {
        if {$skip} { set skip 0; continue }
        if {[lsearch -exact $valued $a] >= 0} { set skip 1; continue }
        if {[string index $a 0] ne "-"} { return $a }
    }
    return ""
}
proc fake {var dst} {
    if {[info exists ::env($var)]} {
        file mkdir [file dirname $dst]
        file copy -force $::env($var) $dst
    }
}
foreach cmd {add_files csim_design cosim_design export_design synth_design opt_design read_xdc} {
    proc $cmd args "record $cmd {*}\$args"
}
proc open_project args { record open_project {*}$args; set ::prj [positional $args {}] }
proc set_top args { record set_top {*}$args; set ::top [lindex $args 0] }
proc open_solution args { record open_solution {*}$args; set ::sol [positional $args {-flow_target -flow}] }
proc set_part args { record set_part {*}$args }
proc create_clock args { record create_clock {*}$args }
proc csynth_design args {
    record csynth_design {*}$args
    fake FAKE_CSYNTH $::prj/$::sol/syn/report/${::top}_csynth.xml
    if {[info exists ::env(FAKE_CSYNTH)]} { file mkdir $::prj/$::sol/syn/verilog }
}
proc get_ports args { record get_ports {*}$args; return "port:[join $args ,]" }
proc report_utilization args {
    record report_utilization {*}$args
    fake FAKE_UTIL [lindex $args [expr {[lsearch -exact $args -file] + 1}]]
}
proc report_timing_summary args {
    record report_timing_summary {*}$args
    fake FAKE_TIMING [lindex $args [expr {[lsearch -exact $args -file] + 1}]]
}
rename exit __real_exit
proc exit {{code 0}} { record exit $code; close $::log; __real_exit $code }
proc unknown args { puts stderr "no stand-in for: $args"; __real_exit 3 }

# tclsh prelude.tcl SCRIPT ARGS...: the script sees ARGS as its argv, as with vitis_hls -tclargs.
set script [lindex $argv 0]
set argv [lrange $argv 1 end]
set argc [llength $argv]
source $script
"""

STEPS = ["csim_design", "csynth_design", "cosim_design", "export_design"]
SWITCHES = ["csim", "synth", "cosim", "export"]
PROJECTS = {"zu3eg": ("xczu3eg-sbva484-1-e", 5.0, "5"), "z7020": ("xc7z020clg400-1", 3.333, "3.333")}


@pytest.fixture(scope="module")
def projects(tmp_path_factory) -> dict[str, Path]:
    """Two projects from the real compiler, differing in part and clock; their hls/ folders."""
    assert TCLSH, "tclsh not found: install the Debian package tcl"
    tmp = tmp_path_factory.mktemp("tcl")
    fixtures.save(fixtures.binary_mlp(seed=0), str(tmp / "m.onnx"))
    graph = load(str(tmp / "m.onnx"))
    out = {}
    for name, (part, clock_ns, _) in PROJECTS.items():
        report = FpgaBackend().compile(graph, FpgaOptions(out=str(tmp / name), part=part, clock_ns=clock_ns))
        code = FpgaBackend().exit_code(report)
        assert code == 0
        out[name] = tmp / name / "hls"
    (tmp / "prelude.tcl").write_text(PRELUDE)
    return out


def _run(hls: Path, script: str, *argv: str, env: dict | None = None) -> tuple[int, str, list[list[str]]]:
    """Source `script` in hls/ (where the project README says to run it) under the stand-ins."""
    log = hls.parent / "calls.log"
    log.unlink(missing_ok=True)
    log.touch()
    res = subprocess.run([TCLSH, str(hls.parents[1] / "prelude.tcl"), script, *argv], cwd=hls, capture_output=True,
                         text=True, timeout=30, env={"CALL_LOG": str(log), "PATH": "/usr/bin:/bin", **(env or {})})
    assert "no stand-in" not in res.stderr, res.stderr
    return res.returncode, res.stdout, [line.split(SEP) for line in log.read_text().splitlines()]


def _setup(part: str, clock: str, hls: Path) -> list[list[str]]:
    cflags = f"-std=c++14 -I{hls.resolve() / 'firmware'}"  # absolute: Vitis compiles from solution1/csim/build
    return [["open_project", "-reset", "bnncc_prj"], ["set_top", "bnncc_top"],
            ["add_files", "firmware/bnncc_top.cpp", "-cflags", cflags],
            ["add_files", "-tb", "tb/testbench.cpp", "-cflags", cflags], ["add_files", "-tb", "tb/tb_data"],
            ["open_solution", "-reset", "solution1", "-flow_target", "vivado"], ["set_part", part],
            ["create_clock", "-period", clock, "-name", "default"]]


# --- build_prj.tcl -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", PROJECTS)
def test_build_defaults_csim_and_synth_with_the_compilers_part_and_clock(projects, name):
    part, _, clock = PROJECTS[name]
    code, out, calls = _run(projects[name], "build_prj.tcl")
    assert code == 0 and out == ""
    assert calls == _setup(part, clock, projects[name]) + [["csim_design"], ["csynth_design"], ["exit", "0"]]


def test_build_all_steps_in_order(projects):
    code, _, calls = _run(projects["zu3eg"], "build_prj.tcl", "csim=1", "synth=1", "cosim=1", "export=1")
    assert code == 0
    assert calls == _setup("xczu3eg-sbva484-1-e", "5", projects["zu3eg"]) + [
        ["csim_design"], ["csynth_design"], ["cosim_design", "-trace_level", "none"],
        ["export_design", "-format", "ip_catalog"], ["exit", "0"]]


@pytest.mark.parametrize("bits", list(itertools.product("01", repeat=4)))
def test_build_switches_turn_steps_on_and_off(projects, bits):
    argv = [f"{s}={b}" for s, b in zip(SWITCHES, bits, strict=True)]
    code, _, calls = _run(projects["zu3eg"], "build_prj.tcl", *argv)
    assert code == 0
    assert calls[:8] == _setup("xczu3eg-sbva484-1-e", "5", projects["zu3eg"]) and calls[-1] == ["exit", "0"]
    assert [c[0] for c in calls[8:-1]] == [step for step, b in zip(STEPS, bits, strict=True) if b == "1"]


@pytest.mark.parametrize("argv,steps", [(["cosim=1"], STEPS[:3]), (["csim=0"], STEPS[1:2]),
                                        (["export=1", "synth=0"], ["csim_design", "export_design"]),
                                        (["csim=0", "csim=1"], STEPS[:2])])
def test_build_unnamed_switches_keep_their_defaults(projects, argv, steps):
    code, _, calls = _run(projects["zu3eg"], "build_prj.tcl", *argv)
    assert code == 0 and [c[0] for c in calls if c[0] in STEPS] == steps


@pytest.mark.parametrize("argv", [["csim=2"], ["bogus"], ["synth"], ["CSIM=1"], ["csim=1", "cosim=yes"],
                                  ["synth=1 cosim=1"]])
def test_build_bad_argument_exits_2_before_any_tool_call(projects, argv):
    code, out, calls = _run(projects["zu3eg"], "build_prj.tcl", *argv)
    bad = next(a for a in argv if a not in ("csim=1",))
    assert code == 2
    assert out.strip() == f"build_prj.tcl: unknown argument {bad} (use csim=, synth=, cosim=, export= with 0 or 1)"
    assert calls == [["exit", "2"]]


def test_build_files_named_exist_and_cover_the_sources(projects):
    hls = projects["zu3eg"]
    _, _, calls = _run(hls, "build_prj.tcl", "csim=1", "synth=1", "cosim=1", "export=1")
    design, tb = [], []
    for c in (c for c in calls if c[0] == "add_files"):
        args = c[1:]
        flags = args[args.index("-cflags") + 1] if "-cflags" in args else ""
        paths = [a for i, a in enumerate(args) if not a.startswith("-") and (i == 0 or args[i - 1] != "-cflags")]
        assert paths, c
        for p in paths:
            assert (hls / p).exists(), f"{c}: {p} is not in the generated tree"
        for inc in (f[2:] for f in flags.split() if f.startswith("-I")):
            assert (hls / inc).is_dir(), f"{c}: include folder {inc} missing"
        (tb if "-tb" in args else design).extend(paths)
    assert sorted(design) == sorted(str(p.relative_to(hls)) for p in (hls / "firmware").rglob("*.cpp"))
    assert sorted(p for p in tb if p.endswith(".cpp")) == sorted(str(p.relative_to(hls))
                                                                 for p in (hls / "tb").rglob("*.cpp"))
    assert (hls / "tb" / "tb_data").is_dir() and "tb/tb_data" in tb


# --- vivado_synth.tcl --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", PROJECTS)
def test_vivado_synth_calls(projects, name):
    part, _, clock = PROJECTS[name]
    code, out, calls = _run(projects[name], "vivado_synth.tcl")
    assert code == 0 and out == ""
    assert calls == [["add_files", "bnncc_prj/solution1/syn/verilog"],
                     ["read_xdc", "-mode", "out_of_context", "bnncc_clock.xdc"],
                     ["synth_design", "-top", "bnncc_top", "-part", part, "-mode", "out_of_context"],
                     ["report_utilization", "-file", "vivado_synth.rpt"],
                     ["report_timing_summary", "-file", "vivado_timing.rpt"], ["exit", "0"]]
    # the clock constraint is read before synthesis
    xdc = (projects[name] / "bnncc_clock.xdc").read_text()
    assert xdc.strip() == f"create_clock -period {clock} -name ap_clk [get_ports ap_clk]"


def test_vivado_synth_agrees_with_build_prj(projects):
    """Vivado reads the Verilog where Vitis HLS writes it (<project>/<solution>/syn/verilog), for the
    same top, part and clock."""
    hls = projects["z7020"]
    _, _, build = _run(hls, "build_prj.tcl")
    _, _, synth = _run(hls, "vivado_synth.tcl")
    first = {c[0]: c for c in reversed(build)}
    vivado = {c[0]: c for c in reversed(synth)}
    project, solution = first["open_project"][-1], first["open_solution"][2]
    assert vivado["add_files"][1] == f"{project}/{solution}/syn/verilog"
    synth_args = vivado["synth_design"]
    assert synth_args[synth_args.index("-top") + 1] == first["set_top"][1]
    assert synth_args[synth_args.index("-part") + 1] == first["set_part"][1]
    xdc = (hls / "bnncc_clock.xdc").read_text().split()
    assert xdc[xdc.index("-period") + 1] == first["create_clock"][2] == "3.333"


# --- the whole chain, with the stand-ins writing the vendor's reports ----------------------------------------


def test_flow_reports_land_where_bnncc_report_reads_them(projects, tmp_path):
    hls = tmp_path / "out" / "hls"
    shutil.copytree(projects["zu3eg"].parent, hls.parent)
    (tmp_path / "prelude.tcl").write_text(PRELUDE)
    (tmp_path / "timing.rpt").write_text(TIMING.format(wns="0.812", tns="0.000"))
    env = {"FAKE_CSYNTH": str(XML), "FAKE_UTIL": str(UTIL), "FAKE_TIMING": str(tmp_path / "timing.rpt")}
    assert _run(hls, "build_prj.tcl", "csim=0", "synth=1", env=env)[0] == 0
    assert (hls / "bnncc_prj" / "solution1" / "syn" / "verilog").is_dir()
    assert _run(hls, "vivado_synth.tcl", env=env)[0] == 0
    rec = read_reports(str(tmp_path / "out"))
    assert rec["source"] == {
        "csynth_xml": str(hls / "bnncc_prj" / "solution1" / "syn" / "report" / "bnncc_top_csynth.xml"),
        "csynth_rpt": None, "vivado_utilization": str(hls / "vivado_synth.rpt"),
        "vivado_timing": str(hls / "vivado_timing.rpt")}
    assert rec["hls"] == REAL_HLS["hls"] and rec["vivado"] == REAL_VIVADO
    assert rec["timing"]["achieved_period_ns"] == 4.188
