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
        design = realize(df, {name: opts[i] for name, opts in picks.items()}, fifo_depths="minimal")
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


def _independent(df, max_cycles: int) -> dict:
    """What costing blocks one by one picks: each block's cheapest fast-enough folding, nothing between."""
    out = {}
    for b in df.blocks:
        fast = [o for o in b.options() if b.cycles(o) <= max_cycles]
        costs = [b.cost(o, DEV, ANALYTICAL) for o in fast]
        j = min(range(len(fast)), key=lambda i: (costs[i]["lut"], costs[i]["bram18"], costs[i]["dsp"],
                                                 sum(fast[i].values())))
        out[b.name] = b.fold(fast[j])
    return out


def test_the_optimizer_counts_width_converters_and_fifos(tmp_path):
    paths = {"cnn": fixtures.save(fixtures.binary_cnn(seed=4, input_bits=8), tmp_path / "cnn.onnx"),
             "tfc": "../shared/models/qonnx-zoo-tfc/TFC_2W2A.onnx"}
    for name, max_cycles in (("cnn", 1000), ("tfc", 5000)):
        df = dataflow.build(load(str(paths[name])))
        chosen = estimate(realize(df, folding.optimize(df, max_cycles, 10.0, 1e5, DEV, ANALYTICAL)), DEV,
                          ANALYTICAL, 10.0)
        alone = estimate(realize(df, _independent(df, max_cycles)), DEV, ANALYTICAL, 10.0)
        assert chosen["cycles_per_image"] <= max_cycles and (chosen["lut"], chosen["bram18"]) <= \
            (alone["lut"], alone["bram18"]), name
        if name == "cnn":  # block by block, it inserts two converters the whole-design choice avoids
            assert chosen["lut"] < alone["lut"] - 200
            assert sum(r["kind"] == "dwc" for r in chosen["blocks"]) < sum(r["kind"] == "dwc" for r in alone["blocks"])


def test_a_finn_folding_file_sets_the_blocks_it_leaves_out(tmp_path):
    """FINN's CNV-w1a1 folding names MVAUs and sliding windows only: the max-pools and width converters get
    the cheapest folding that keeps the interval the MVAUs set (512 x 64 cycles for fc0 and fc1)."""
    df = dataflow.build(load(str(fixtures.save(fixtures.cnv(seed=0), tmp_path / "cnv.onnx"))))
    given = folding.read("benchmarks/data/finn_cnv_w1a1_folding.json", df)
    assert not given.warnings
    design = realize(df, folding.fill(df, given.entries, 10.0, DEV, ANALYTICAL))
    assert design.interval() == 32_768
    pools = [s for s in design.stages if s.block.kind == "pool"]
    assert [s.fold for s in pools] == [{"PE": 32}, {"PE": 16}]  # their MVAUs' lanes: no width converter
    assert all(s.cycles() <= 32_768 for s in design.stages)
    assert design.folding["mvau0"] == {"PE": 16, "SIMD": 3, "ram_style": "auto"}
    typo = folding.fill(df, {k: v for k, v in given.entries.items() if k != "mvau8"}, 10.0, DEV, ANALYTICAL)
    assert typo["mvau8"] == {"PE": 1, "SIMD": 1}  # an MVAU the file misses keeps FINN's default
