"""Measured results as one record type, whatever produced them: Yosys synthesis (flattened totals and
one row per instance of a hierarchical run), nextpnr's Fmax, RTL-simulation cycles, Vitis/Vivado
reports. Calibration fits cost models from these records and never needs the flow that made them.

A record says where its number came from (`source`) and with which tool (`tool`, with its version);
a modelled number (an estimate) is never a measurement: `MEASURED_SOURCES` lists the measuring ones.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

MEASURED_SOURCES = ("yosys", "nextpnr", "rtlsim", "vitis", "vivado", "crossbar-sim", "cpu-measured", "gpu-measured")
MODEL_SOURCES = ("estimate", "rram-model", "gpu-model")


@dataclass(frozen=True)
class Measurement:
    source: str  # one of MEASURED_SOURCES or MODEL_SOURCES
    tool: str  # the tool and its version, e.g. "Yosys 0.23 (git sha1 ...)"
    part: str
    metric: str  # lut, ff, bram18, dsp, lutram, carry, fmax_mhz, cycles_per_image, latency_cycles, ...
    value: float
    block: str | None = None  # the instance (block name, fifo_<block>); None for the whole design
    kind: str | None = None  # its block kind
    params: dict = field(default_factory=dict)  # the block's parameter table, for fitting

    def __post_init__(self) -> None:
        if self.source not in MEASURED_SOURCES + MODEL_SOURCES:
            raise ValueError(f"unknown source {self.source!r}")

    @property
    def measured(self) -> bool:
        return self.source in MEASURED_SOURCES

    def to_json(self) -> dict:
        return asdict(self)


def from_synthesis(result: dict, blocks: dict[str, tuple[str, dict]] | None = None) -> list[Measurement]:
    """Records of a `--synth` result (bnncc.backends.fpga.synth.synthesize): the flattened totals, one row
    per instance where the hierarchical run gave them (`blocks`: instance -> (kind, parameter table)),
    and nextpnr's Fmax."""
    blocks = blocks or {}
    resources = ("lut", "ff", "bram18", "lutram", "dsp", "carry")
    out = [Measurement("yosys", result["tool"], result["part"], r, result[r]) for r in resources]
    for name, row in result.get("per_block", {}).items():
        kind, params = blocks.get(name, (None, {}))
        out += [Measurement("yosys", result["tool"], result["part"], r, row[r], name, kind, params) for r in resources]
        if row.get("ltp") is not None:
            out.append(Measurement("yosys", result["tool"], result["part"], "ltp_cells", row["ltp"], name, kind,
                                   params))
    for i, (seed, fmax) in enumerate(result.get("fmax_mhz_by_seed", {}).items()):
        # the first seed's slowest path (start and end cell, ns) says which block bounds the clock
        path = {"critical_path": result["critical_path"]} if i == 0 and result.get("critical_path") else {}
        out.append(Measurement("nextpnr", result["pnr_tool"], result["part"], "fmax_mhz", fmax,
                               params={"seed": int(seed), **path}))
    return out


def from_rtl_sim(result: dict, part: str) -> list[Measurement]:
    """Records of a `--sim` result: measured cycles per image and first-output latency."""
    tool = result.get("simulator", "rtl simulator")
    return [Measurement("rtlsim", tool, part, "cycles_per_image", result["cycles_per_image"]),
            Measurement("rtlsim", tool, part, "latency_cycles", result["latency_cycles"])]


def from_vendor(record: dict) -> list[Measurement]:
    """Records of a Vitis/Vivado report record (bnncc.cost.vendor.read_reports)."""
    tool = f"Vitis/Vivado HLS {record['hls_version']}" if record.get("hls_version") else "Vitis/Vivado HLS"
    out = [Measurement("vitis", tool, record["part"], r, v) for r, v in record["hls"].items()]
    for key in ("latency_worst_cycles", "interval_worst_cycles"):
        if record.get(key) is not None:
            out.append(Measurement("vitis", tool, record["part"], key, record[key]))
    if record.get("vivado"):
        out += [Measurement("vivado", "Vivado", record["part"], r, v) for r, v in record["vivado"].items()]
    timing = record.get("timing") or {}
    if timing.get("achieved_period_ns"):
        out.append(Measurement("vivado", "Vivado", record["part"], "fmax_mhz",
                               round(1000.0 / timing["achieved_period_ns"], 3)))
    return out
