"""The dataflow schedule and the estimate both FPGA backends report.

Cycles per image come from each block's folding; the slowest block sets the initiation interval
(II) and the sum of the blocks' cycles bounds the latency of one image. Every stream between two
blocks holds one whole image of words (at least 2), so a producer never waits for a consumer that
is busy with its other folds: the bottleneck never stalls and the design runs at its II.
"""

from __future__ import annotations

from bnncc.backends.dataflow import Dataflow
from bnncc.cost.devices import Device
from bnncc.cost.estimates import estimate_block, memory

RESOURCES = ("lut", "ff", "bram18", "dsp")


def fifo_depths(df: Dataflow) -> list[int]:
    """Depth of the stream into each block after the first (the design's own streams)."""
    return [max(2, b.in_format.words) for b in df.blocks[1:]]


def estimate(df: Dataflow, device: Device, clock_ns: float, ram_style: dict[str, str] | None = None) -> dict:
    ram_style = ram_style or {}
    rows = []
    for b in df.blocks:
        e = estimate_block(b, ram_style.get(b.name, "auto"))
        rows.append({"block": b.name, "kind": b.kind, "folding": b.folding(), "cycles": b.cycles(), **e})
    for depth, b in zip(fifo_depths(df), df.blocks[1:], strict=True):
        fifo = memory(depth, b.in_format.word_bits)
        rows.append({"block": f"fifo_{b.name}", "kind": "fifo", "folding": {}, "cycles": 0,
                     "lut": fifo["lut"] + 20, "ff": 2 * b.in_format.word_bits + 20, "bram18": fifo["bram18"], "dsp": 0})
    interval = df.interval()
    latency = sum(b.cycles() for b in df.blocks) + 4 * len(df.blocks)  # + a few pipeline stages per block
    total = {r: sum(row[r] for row in rows) for r in RESOURCES}
    capacity = device.capacity()
    return {
        "part": device.part, "clock_ns": clock_ns,
        "cycles_per_image": interval, "latency_cycles": latency,
        "fps": 1e9 / (interval * clock_ns), "latency_us": latency * clock_ns / 1000,
        "bottleneck": max(df.blocks, key=lambda b: b.cycles()).name,
        **total,
        "utilization": {r: total[r] / capacity[r] if capacity[r] else 0.0 for r in RESOURCES},
        "blocks": rows,
    }


def fits(est: dict, device: Device) -> list[str]:
    """The resources the estimate exceeds on the device, as readable strings."""
    cap = device.capacity()
    return [f"{r.upper()} {est[r]:,} > {cap[r]:,}" for r in RESOURCES if est[r] > cap[r]]
