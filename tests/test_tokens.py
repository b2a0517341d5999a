"""The token-level model of the dataflow: with unlimited FIFOs it reproduces the designed interval, the
depths it sizes keep that interval (one word less on a deep FIFO loses it), a design that cannot make
progress is reported as deadlocked, and the writers use the sized depths."""

from __future__ import annotations

import re

import numpy as np

from bnncc import fixtures
from bnncc.cost.devices import device
from bnncc.cost.model import ANALYTICAL
from bnncc.frontend import load
from bnncc.hw import dataflow, folding, tokens
from bnncc.hw.design import realize

DEV = device("xc7z020clg400-1")


def _model(design) -> tokens.Model:
    return tokens.Model([s.block.steps(s.fold) for s in design.stages], [s.in_format.words for s in design.stages],
                        [s.out_format.words for s in design.stages])


def test_sized_fifos_keep_the_interval_and_are_the_smallest(tmp_path):
    df = dataflow.build(load(str(fixtures.save(fixtures.binary_cnn(seed=2, input_bits=8), tmp_path / "m.onnx"))))
    chosen = folding.optimize(df, 1200, 10.0, 1e5, DEV, ANALYTICAL)
    image = realize(df, chosen, fifo_depths="image")
    sized = realize(df, chosen)
    model = _model(image)
    free = model.solve([f.block.depth for f in image.fifos])
    assert free.settled and free.interval == image.interval()  # the model agrees with the schedule
    depths = [f.block.depth for f in sized.fifos]
    assert all(2 <= d <= f.block.depth for d, f in zip(depths, image.fifos, strict=True))
    assert sum(depths) < sum(f.block.depth for f in image.fifos) / 4
    assert model.solve(depths).interval == image.interval()
    for i, d in enumerate(depths):
        if d > 2:  # a deeper FIFO is deep for a reason: one word less loses the interval
            fewer = model.solve(depths[:i] + [d - 1] + depths[i + 1:])
            assert not fewer.settled or fewer.interval > image.interval(), i


def test_a_deadlock_never_settles():
    producer = tokens.Steps(need=np.arange(4), produce=np.arange(4))
    # the consumer needs word 3 before it pops word 0: with 2 slots the producer can never send word 3
    consumer = tokens.Steps(need=np.array([3, -1, -1, -1]), pop=np.arange(4), produce=np.arange(4))
    model = tokens.Model([producer, consumer], [4, 4], [4, 4], images=2)
    assert model.solve([4]).settled and not model.solve([2]).settled


def test_the_writers_use_the_sized_depths(tmp_path):
    from bnncc.backends.fpga.driver import FpgaBackend, FpgaOptions

    path = fixtures.save(fixtures.binary_cnn(seed=2, input_bits=8), tmp_path / "m.onnx")
    report = FpgaBackend().compile(load(str(path)), FpgaOptions(out=str(tmp_path / "o"), fps=1e5, rtl=True))
    top = (tmp_path / "o" / "rtl" / "bnncc_top.v").read_text()
    fifo_rows = {r["block"]: r for r in report["estimate"]["blocks"] if r["kind"] == "fifo"}
    depths = [int(x) for x in re.findall(r"\.DEPTH\((\d+)\)", top)]
    assert len(depths) == len(fifo_rows) and min(depths) == 2
    hls = (tmp_path / "o" / "hls" / "firmware" / "bnncc_top.cpp").read_text()
    assert [int(x) for x in re.findall(r"STREAM variable=s\d+ depth=(\d+)", hls)] == depths
