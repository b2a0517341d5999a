"""cocotb test bench of a generated bnncc_top (run by bnncc.sim.rtl through cocotb's runner).

Reads the vectors named by $BNNCC_RTL_VECTORS (JSON: input words per image as hex, expected output
words per image as hex, options), drives the input stream with optional random gaps, takes the output
with optional random back-pressure, and writes what came out and when to $BNNCC_RTL_RESULT. Every
cycle: inputs change after the falling edge, handshakes are read in the read-only phase before the
rising edge on which they happen.
"""

from __future__ import annotations

import json
import os
import random

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge


@cocotb.test()
async def stream_images(dut) -> None:
    with open(os.environ["BNNCC_RTL_VECTORS"]) as f:
        spec = json.load(f)
    rng = random.Random(spec["seed"])
    words = [int(w, 16) for image in spec["input"] for w in image]
    per_image = spec["output_words"]
    want = len(spec["input"]) * per_image
    gap, stall = spec["input_gap_probability"], spec["backpressure_probability"]
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    dut.rst.value = 1
    dut.s_axis_tvalid.value = 0
    dut.s_axis_tdata.value = 0
    dut.m_axis_tready.value = 0
    for _ in range(4):
        await RisingEdge(dut.clk)
    dut.rst.value = 0
    sent, got, cycle = 0, [], 0
    in_cycles, out_cycles = [], []
    limit = spec["max_cycles"]
    while len(got) < want and cycle < limit:
        await FallingEdge(dut.clk)
        offer = sent < len(words) and rng.random() >= gap
        dut.s_axis_tvalid.value = int(offer)
        dut.s_axis_tdata.value = words[sent] if offer else 0
        dut.m_axis_tready.value = int(rng.random() >= stall)
        await ReadOnly()
        if offer and dut.s_axis_tready.value == 1:
            sent += 1
            in_cycles.append(cycle)
        if dut.m_axis_tvalid.value == 1 and dut.m_axis_tready.value == 1:
            got.append(format(int(dut.m_axis_tdata.value), "x"))
            out_cycles.append(cycle)
        cycle += 1
    result = {"output": [got[i:i + per_image] for i in range(0, len(got), per_image)], "cycles": cycle,
              "sent": sent, "first_input_cycle": in_cycles[:1], "output_cycles": out_cycles}
    with open(os.environ["BNNCC_RTL_RESULT"], "w") as f:
        json.dump(result, f)
