"""Foldings are values and a design is what a folding implies: realizing or optimizing changes no block,
width converters appear exactly where lanes differ, and the batched estimate a search uses equals the
one-folding estimate a compile reports, folding by folding."""

from __future__ import annotations

import copy

import numpy as np

from bnncc import fixtures
from bnncc.cost.devices import device
from bnncc.cost.model import ANALYTICAL
from bnncc.frontend import load
from bnncc.hw import dataflow, folding
from bnncc.hw.design import estimate, estimate_batch, realize

DEV = device("xc7z020clg400-1")


def _dataflow(tmp_path):
    return dataflow.build(load(str(fixtures.save(fixtures.binary_cnn(seed=1, input_bits=8), tmp_path / "m.onnx"))))


def test_batched_estimate_equals_the_compile_estimate(tmp_path):
    df = _dataflow(tmp_path)
    rng = np.random.default_rng(0)
    n = 60
    picks = {b.name: [b.options()[i] for i in rng.integers(len(b.options()), size=n)] for b in df.blocks}
    batch = {name: {k: np.array([o[k] for o in opts]) for k in opts[0]} for name, opts in picks.items()}
    got = estimate_batch(df, batch, DEV, ANALYTICAL)
    converters = 0
    for i in range(n):
        design = realize(df, {name: opts[i] for name, opts in picks.items()})
        converters += sum(s.block.kind == "dwc" for s in design.stages)
        est = estimate(design, DEV, ANALYTICAL, 10.0)
        assert [int(got[k][i]) for k in ("lut", "ff", "bram18", "dsp", "cycles_per_image")] == \
            [est[k] for k in ("lut", "ff", "bram18", "dsp", "cycles_per_image")], i
    assert converters > n  # the random foldings do insert width converters, so they are costed too


def test_a_folding_is_a_value(tmp_path):
    df = _dataflow(tmp_path)
    before = copy.deepcopy([vars(b) for b in df.blocks])
    chosen = folding.optimize(df, 2000, 10.0, 50000, DEV, ANALYTICAL)
    design = realize(df, chosen)
    assert set(chosen) == {b.name for b in df.blocks} and max(s.cycles() for s in design.stages) <= 2000
    after = [vars(b) for b in df.blocks]
    assert all(str(x) == str(y) for x, y in zip(before, after, strict=True))  # no block was changed
    lanes = [(s.in_format.lanes, s.out_format.lanes) for s in design.stages]
    for (_, out_l), (in_l, _) in zip(lanes, lanes[1:], strict=False):
        assert out_l == in_l  # a converter sits exactly where a producer's lanes differ from its consumer's
    assert all(f.block.depth >= 2 for f in design.fifos) and len(design.fifos) == len(design.stages) - 1
