"""The vendor's results of a built HLS project (`bnncc report DIR`, `bnncc calibrate --ingest`) as one
normalized record.

The cost store and charts compare our estimates with what Vitis/Vivado measured, so the measured
numbers must come out of the vendor files in one shape, whatever tool version wrote them:

- HLS synthesis: ``<top>_csynth.xml`` (preferred: structured) or ``<top>_csynth.rpt`` (its text
  twin, for trees where only the .rpt was kept). Vivado HLS tags DSPs ``DSP48E``, Vitis HLS ``DSP``.
- Vivado synthesis: ``vivado_synth.rpt`` (``report_utilization``, written by our and hls4ml's
  vivado_synth.tcl) and, if present, ``vivado_timing.rpt`` (``report_timing_summary``).

Two mistakes of hls4ml 1.3.0's reader (``hls4ml/report/vivado_report.py``) are deliberately not
repeated: its printer fills the worst-case latency from ``BestLatency`` (so best == worst always
shows), and it stores Vivado's "Block RAM Tile" count, which is in 36 Kb tiles, as BRAM_18K.
Here BRAM18 = 2 x RAMB36 + RAMB18.

A missing, truncated or unrecognizable file is a `BnnccError` naming the file (exit 2 in the CLI).
"""

from __future__ import annotations

import math
import os
import re
import xml.etree.ElementTree as ET
from pathlib import Path

from bnncc.errors import BnnccError

RESOURCES = ("lut", "ff", "bram18", "dsp", "uram")
DEFAULT_TOP = "bnncc_top"
# csynth resource names -> ours. DSP48E is Vivado HLS, DSP is Vitis HLS; the E1/E2 spellings are
# accepted in case a version names the primitive.
_HLS_RESOURCE = {"BRAM_18K": "bram18", "DSP48E": "dsp", "DSP": "dsp", "DSP48E1": "dsp", "DSP48E2": "dsp",
                 "FF": "ff", "LUT": "lut", "URAM": "uram"}
_UNDEFINED = {"undef", "?", "-"}  # HLS prints these when a latency depends on data (variable loop bounds)


# ---------------------------------------------------------------------------------------------
# finding the files


def _walk(root: Path) -> list[Path]:
    """Every file under root, sorted, skipping hidden folders (Vitis' .autopilot holds thousands of
    intermediate files and no final report)."""
    found = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found += [Path(folder) / f for f in sorted(files)]
    return found


def _tops(files: list[Path]) -> set[str]:
    """Top-function names: from the project files (vivado_hls.app / hls.app, `top="..."`) and ours."""
    tops = {DEFAULT_TOP}
    for f in files:
        if f.name in ("vivado_hls.app", "hls.app"):
            try:
                tops.update(re.findall(r'\btop="([^"]+)"', f.read_text(errors="replace")))
            except OSError:
                pass  # only a hint for choosing among reports; the reports themselves are checked
    return tops


def _pick_hls(root: Path, files: list[Path], ext: str, tops: set[str]) -> Path | None:
    """The top function's csynth report. A solution's syn/report also holds one report per
    sub-module (`<module>_csynth.xml`), so the top's is chosen by name, never by chance."""
    cands = [f for f in files if f.name.endswith(f"csynth.{ext}")]
    if not cands:
        return None
    picked = [f for f in cands if f.name in {f"{t}_csynth.{ext}" for t in tops}]
    picked = picked or [f for f in cands if f.name == f"csynth.{ext}"]
    picked = picked or (cands if len(cands) == 1 else [])
    if not picked:
        names = ", ".join(str(f.relative_to(root)) for f in cands[:4]) + (", ..." if len(cands) > 4 else "")
        raise BnnccError(f"{root}: cannot tell the top function's csynth.{ext} among {names} "
                         "(no vivado_hls.app/hls.app naming the top)")
    if len(picked) > 1:
        names = ", ".join(str(f.relative_to(root)) for f in picked)
        raise BnnccError(f"{root}: several csynth.{ext} reports ({names}): give the directory of one solution")
    return picked[0]


def _pick_one(root: Path, cands: list[Path], what: str) -> Path | None:
    """The shallowest candidate; two at the same depth are ambiguous (two runs in one tree)."""
    if not cands:
        return None
    depth = min(len(f.parts) for f in cands)
    best = [f for f in cands if len(f.parts) == depth]
    if len(best) > 1:
        raise BnnccError(f"{root}: several {what} reports ({', '.join(str(f.relative_to(root)) for f in best)}): "
                         "give the directory of one run")
    return best[0]


# ---------------------------------------------------------------------------------------------
# small parsers


def _read_text(path: Path) -> str:
    """The file's text; an unreadable file is the user's problem, so a BnnccError naming it."""
    try:
        return path.read_text(errors="replace")
    except OSError as e:
        raise BnnccError(f"{path}: cannot read: {e.strerror or type(e).__name__}") from None


def _int(path: Path, what: str, text: str | None, undefined_ok: bool = False) -> int | None:
    """A count as the tools print it. Latencies may be undefined (data-dependent loops): None
    then, so a chart never mistakes "unknown" for a number."""
    value = (text or "").strip()
    if undefined_ok and value.lower() in _UNDEFINED:
        return None
    if not re.fullmatch(r"\d+", value):
        raise BnnccError(f"{path}: {what} is {value!r}, not a whole count")
    return int(value)


def _float(path: Path, what: str, text: str | None) -> float:
    """A period or slack in ns (the .rpt prints a unit, the .xml does not); finite or an error."""
    value = re.sub(r"\s*ns$", "", (text or "").strip())
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not math.isfinite(number):
        raise BnnccError(f"{path}: {what} is {value!r}, not a number")
    return number


def _cells(line: str) -> list[str]:
    """The cells of an ASCII table row `| a | b |`."""
    return [c.strip() for c in line.strip().strip("|").split("|")]


def _check_latency(path: Path, record: dict) -> dict:
    """Best above worst means a file edited or parsed wrongly (hls4ml's best/worst mix-up is the
    kind of bug this catches): refuse rather than store it."""
    for kind in ("latency", "interval"):
        best, worst = record[f"{kind}_best_cycles"], record[f"{kind}_worst_cycles"]
        if best is not None and worst is not None and best > worst:
            raise BnnccError(f"{path}: best-case {kind} {best} exceeds the worst case {worst}")
    return record


# ---------------------------------------------------------------------------------------------
# csynth.xml / csynth.rpt


def read_csynth_xml(path: Path) -> dict:
    """Clock, latency, interval, resources and part from a Vivado/Vitis HLS csynth.xml."""
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as e:
        raise BnnccError(f"{path}: not well-formed XML ({e}); truncated or not a csynth.xml?") from None
    except OSError as e:
        raise BnnccError(f"{path}: cannot read: {e.strerror or type(e).__name__}") from None
    if root.tag != "profile":
        raise BnnccError(f"{path}: root element <{root.tag}>, not a csynth report's <profile>")

    def text(where: str) -> str:
        node = root.find(where)
        if node is None or node.text is None:
            raise BnnccError(f"{path}: no <{where}> element")
        return node.text

    lat = "PerformanceEstimates/SummaryOfOverallLatency/"
    record = {
        "part": text("UserAssignments/Part").strip(),
        "top": text("UserAssignments/TopModelName").strip(),
        "hls_version": (root.findtext("ReportVersion/Version") or "").strip() or None,
        "clock_target_ns": _float(path, "TargetClockPeriod", text("UserAssignments/TargetClockPeriod")),
        "clock_estimate_ns": _float(path, "EstimatedClockPeriod",
                                    text("PerformanceEstimates/SummaryOfTimingAnalysis/EstimatedClockPeriod")),
        "latency_best_cycles": _int(path, "Best-caseLatency", text(lat + "Best-caseLatency"), True),
        "latency_worst_cycles": _int(path, "Worst-caseLatency", text(lat + "Worst-caseLatency"), True),
        "interval_best_cycles": _int(path, "Interval-min", text(lat + "Interval-min"), True),
        "interval_worst_cycles": _int(path, "Interval-max", text(lat + "Interval-max"), True),
    }
    resources = root.find("AreaEstimates/Resources")
    if resources is None:
        raise BnnccError(f"{path}: no <AreaEstimates/Resources> element")
    hls = {_HLS_RESOURCE[c.tag]: _int(path, c.tag, c.text) for c in resources if c.tag in _HLS_RESOURCE}
    hls.setdefault("uram", 0)  # Vivado HLS before UltraScale+ support has no URAM tag
    missing = [k for k in RESOURCES if k not in hls]
    if missing:
        raise BnnccError(f"{path}: <AreaEstimates/Resources> lacks {', '.join(missing)} "
                         f"(has {', '.join(c.tag for c in resources)})")
    record["hls"] = {k: hls[k] for k in RESOURCES}
    return _check_latency(path, record)


def read_csynth_rpt(path: Path) -> dict:
    """The same record from the text report: the clock summary (`Clock | Target | Estimated`), the
    overall latency summary (first table after `+ Latency:`) and the utilization `Total` row."""
    lines = _read_text(path).splitlines()
    record: dict = {"top": None, "hls_version": None}
    for key, pattern in (("part", r"^\*\s*Target device:\s*(\S+)"), ("top", r"^== Vi\w+ HLS Report for '([^']+)'"),
                         ("hls_version", r"^\*\s*Version:\s*(\S+)")):
        m = next((m for m in (re.match(pattern, x.strip()) for x in lines) if m), None)
        if m:
            record[key] = m.group(1)
    if "part" not in record:
        raise BnnccError(f"{path}: no '* Target device:' line; not a csynth.rpt?")

    def after(start: int, test) -> tuple[int, list[str]]:
        for i in range(start, len(lines)):
            if lines[i].strip().startswith("|") and test(_cells(lines[i])):
                return i, _cells(lines[i])
        return -1, []

    i, _ = after(0, lambda c: len(c) >= 3 and c[:3] == ["Clock", "Target", "Estimated"])
    _, row = after(i + 1, lambda c: len(c) >= 3 and c[1].endswith("ns")) if i >= 0 else (-1, [])
    if not row:
        raise BnnccError(f"{path}: no clock summary table (Clock | Target | Estimated)")
    record["clock_target_ns"] = _float(path, "target clock", row[1])
    record["clock_estimate_ns"] = _float(path, "estimated clock", row[2])

    start = next((k for k, x in enumerate(lines) if x.strip().startswith("+ Latency")), -1)
    number = re.compile(r"^(\d+|\?|undef)$")
    _, row = after(start, lambda c: len(c) >= 6 and bool(number.match(c[0]))) if start >= 0 else (-1, [])
    if not row:
        raise BnnccError(f"{path}: no overall latency summary after '+ Latency:'")
    for j, key in ((0, "latency_best_cycles"), (1, "latency_worst_cycles"), (4, "interval_best_cycles"),
                   (5, "interval_worst_cycles")):
        record[key] = _int(path, key, row[j], True)

    start = next((k for k, x in enumerate(lines) if "Utilization Estimates" in x), -1)
    h, header = after(start, lambda c: "BRAM_18K" in c and "Name" in c) if start >= 0 else (-1, [])
    _, total = after(h + 1, lambda c: c[0] == "Total") if h >= 0 else (-1, [])
    if not total or len(total) != len(header):
        raise BnnccError(f"{path}: no utilization summary (Name | BRAM_18K | ... and a Total row)")
    hls = {_HLS_RESOURCE[name]: _int(path, name, value) for name, value in zip(header, total, strict=True)
           if name in _HLS_RESOURCE}
    hls.setdefault("uram", 0)
    missing = [k for k in RESOURCES if k not in hls]
    if missing:
        raise BnnccError(f"{path}: utilization summary lacks {', '.join(missing)} (columns {', '.join(header)})")
    record["hls"] = {k: hls[k] for k in RESOURCES}
    return _check_latency(path, record)


# ---------------------------------------------------------------------------------------------
# Vivado


def read_vivado_utilization(path: Path) -> dict:
    """LUT, FF, BRAM18, DSP, URAM from `report_utilization` (flat, 7-series `Slice ...` or
    UltraScale `CLB ...` names). The first row of each name wins: later tables (Primitives) reuse names."""
    rows: dict[str, str] = {}
    for line in _read_text(path).splitlines():
        if line.startswith("|"):
            cells = _cells(line)
            if len(cells) >= 2:
                rows.setdefault(cells[0].rstrip("*").strip(), cells[1])

    def first(*names: str, required: bool = True) -> float | None:
        for n in names:
            if n in rows:
                return _float(path, f"'{n}' used", rows[n])
        if required:
            raise BnnccError(f"{path}: no {' / '.join(repr(n) for n in names)} row; not report_utilization output?")
        return None

    lut = first("Slice LUTs", "CLB LUTs")
    ff = first("Register as Flip Flop", "Slice Registers", "CLB Registers")
    dsp = first("DSPs")
    ramb36 = first("RAMB36/FIFO", required=False)
    ramb18 = first("RAMB18", required=False)
    if ramb36 is None or ramb18 is None:  # only the tile count: a tile is 36 Kb = two BRAM18
        bram18 = 2 * first("Block RAM Tile")
    else:
        bram18 = 2 * ramb36 + ramb18
    uram = first("URAM", required=False) or 0  # 7-series parts have no URAM row
    values = {"lut": lut, "ff": ff, "bram18": bram18, "dsp": dsp, "uram": uram}
    for k, v in values.items():
        if v != int(v) or v < 0:
            raise BnnccError(f"{path}: {k} count {v} is not a whole number")
    return {k: int(values[k]) for k in RESOURCES}


def read_vivado_timing(path: Path) -> dict:
    """Slack from `report_timing_summary` (the Design Timing Summary line) and the first clock's
    period; achieved_period_ns = period - WNS, the post-synthesis counterpart of the HLS estimate."""
    lines = _read_text(path).splitlines()
    start = next((k for k, x in enumerate(lines) if "Design Timing Summary" in x), 0)  # intra-clock tables repeat WNS
    i = next((k for k in range(start, len(lines)) if "WNS(ns)" in lines[k] and "TNS(ns)" in lines[k]), -1)
    values = lines[i + 2].split() if 0 <= i < len(lines) - 2 else []
    if len(values) < 6:
        raise BnnccError(f"{path}: no Design Timing Summary (WNS(ns) TNS(ns) ...); not report_timing_summary output?")

    def slack(text: str) -> float | None:
        return None if text == "NA" else _float(path, "slack", text)

    timing = {"wns_ns": slack(values[0]), "tns_ns": slack(values[1]), "whs_ns": slack(values[4]),
              "ths_ns": slack(values[5]), "clock": None, "clock_period_ns": None, "achieved_period_ns": None}
    start = next((k for k, x in enumerate(lines) if "Clock Summary" in x), len(lines))
    for x in lines[start:]:
        m = re.match(r"^\s*(\S+)\s+\{[^}]*\}\s+([0-9.]+)\s+([0-9.]+)", x)
        if m:
            timing["clock"] = m.group(1)
            timing["clock_period_ns"] = float(m.group(2))
            break
    if timing["clock_period_ns"] is not None and timing["wns_ns"] is not None:
        timing["achieved_period_ns"] = round(timing["clock_period_ns"] - timing["wns_ns"], 6)
    return timing


# ---------------------------------------------------------------------------------------------
# the record


def read_reports(directory: str) -> dict:
    """Find the reports anywhere under `directory` and merge them into one record:
    source, part, top, hls_version, clock_target_ns, clock_estimate_ns, latency_{best,worst}_cycles,
    interval_{best,worst}_cycles, hls {lut, ff, bram18, dsp, uram}, vivado {...} or None,
    timing {...} or None. Latencies the tool could not bound are None."""
    root = Path(directory)
    if not root.is_dir():
        raise BnnccError(f"{directory}: no such directory")
    files = _walk(root)
    tops = _tops(files)
    xml = _pick_hls(root, files, "xml", tops)
    rpt = None if xml else _pick_hls(root, files, "rpt", tops)
    if xml is None and rpt is None:
        raise BnnccError(f"{directory}: no csynth.xml or csynth.rpt under it (run build_prj.tcl with synth=1 first)")
    util = _pick_one(root, [f for f in files if f.name == "vivado_synth.rpt"], "vivado_synth.rpt") or _pick_one(
        root, [f for f in files if f.name.endswith("_utilization_synth.rpt")], "utilization")
    timing = _pick_one(root, [f for f in files if f.name == "vivado_timing.rpt"], "vivado_timing.rpt") or _pick_one(
        root, [f for f in files if "timing_summary" in f.name and f.suffix == ".rpt"], "timing summary")

    hls = read_csynth_xml(xml) if xml else read_csynth_rpt(rpt)
    return {
        "source": {"csynth_xml": str(xml) if xml else None, "csynth_rpt": str(rpt) if rpt else None,
                   "vivado_utilization": str(util) if util else None,
                   "vivado_timing": str(timing) if timing else None},
        **hls,
        "vivado": read_vivado_utilization(util) if util else None,
        "timing": read_vivado_timing(timing) if timing else None,
    }


def format_report(record: dict) -> str:
    """The record as a short human table: HLS estimate beside Vivado's synthesized numbers."""

    def show(v: object) -> str:
        return "?" if v is None else f"{v:,}" if isinstance(v, int) else f"{v:g}" if isinstance(v, float) else str(v)

    out = [f"{k:<19}{v}" for k, v in record["source"].items() if v]
    version = f" (HLS {record['hls_version']})" if record.get("hls_version") else ""
    out.append(f"{'part':<19}{record['part']}{version}")
    clock = f"target {show(record['clock_target_ns'])} ns, HLS estimate {show(record['clock_estimate_ns'])} ns"
    t = record.get("timing")
    if t and t["achieved_period_ns"] is not None:
        clock += f", Vivado {show(t['achieved_period_ns'])} ns (WNS {show(t['wns_ns'])} ns)"
    out.append(f"{'clock':<19}{clock}")
    out.append(f"{'latency (cycles)':<19}best {show(record['latency_best_cycles'])}, "
               f"worst {show(record['latency_worst_cycles'])}")
    out.append(f"{'interval (cycles)':<19}best {show(record['interval_best_cycles'])}, "
               f"worst {show(record['interval_worst_cycles'])}")
    vivado = record.get("vivado")
    out.append(f"{'resource':<10}{'HLS':>10}{'Vivado' if vivado else '':>10}")
    for k in RESOURCES:
        out.append(f"{k.upper():<10}{show(record['hls'][k]):>10}{show(vivado[k]) if vivado else '':>10}")
    return "\n".join(out)
