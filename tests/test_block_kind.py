"""Adding a block kind is one module and its two templates: a kind defined in tests/blocks (an IR op, its
block, an HLS and an RTL template), registered here, compiles, C-simulates and RTL-simulates bit-exactly
with no file of the package edited (docs/architecture.md walks through it)."""

from __future__ import annotations

import numpy as np
import pytest
from blocks.invert import Invert, Negate
from ir_graphs import layer_graph, random_thresholds

from bnncc.backends.fpga import hls, rtl
from bnncc.cost.devices import device
from bnncc.cost.model import ANALYTICAL
from bnncc.hw import dataflow, registry
from bnncc.hw.design import estimate, realize
from bnncc.ir import ops
from bnncc.ir.dtypes import BIPOLAR
from bnncc.ir.executor import run_hardware
from bnncc.ir.graph import TensorType
from bnncc.sim import csim
from bnncc.sim import rtl as rtl_sim

OPTIONS = {"part": "xc7z020clg400-1", "clock_ns": "10", "ap_ctrl": "ap_ctrl_none"}


@pytest.fixture
def invert_kind():
    registry.register(Invert)
    yield Invert
    registry.unregister(Invert.kind)


def _graph(seed: int):
    rng = np.random.default_rng(seed)
    w1, w2 = rng.integers(0, 2, (16, 8)).astype(np.uint8), rng.integers(0, 2, (8, 4)).astype(np.uint8)
    layers = [ops.XnorPopcount(w1), random_thresholds(rng, 0, 16, 8, BIPOLAR), Negate(), ops.XnorPopcount(w2)]
    return layer_graph(TensorType((16,), BIPOLAR), layers), rng


def test_a_new_kind_compiles_and_simulates_exactly(tmp_path, invert_kind):
    graph, rng = _graph(3)
    df = dataflow.build(graph)
    assert [b.kind for b in df.blocks] == ["mvau", "invert", "mvau"]
    folding = {b.name: b.fold({"PE": 4} if b.kind == "invert" else {"PE": 2, "SIMD": 4}) for b in df.blocks}
    design = realize(df, folding)
    est = estimate(design, device("xc7z020clg400-1"), ANALYTICAL, 10.0)
    assert {r["block"]: r["lut"] for r in est["blocks"]}["invert0"] == 120 + 4
    values = rng.choice(BIPOLAR.values(), size=(12, 16))
    trace = run_hardware(graph, values)
    hls.write(tmp_path, design, "kind-test", OPTIONS)
    assert "void invert(" in (tmp_path / "hls" / "firmware" / "bnncc_layers.h").read_text()
    result = csim.run(tmp_path / "hls", design, values, trace)
    assert result.passed and result.vectors == 12, result
    rtl.write(tmp_path, design, "kind-test")
    assert "module bnncc_invert" in (tmp_path / "rtl" / "bnncc_lib.v").read_text()
    sim = rtl_sim.verify(tmp_path / "rtl", design, values, trace[design.output_tensor], seed=1, images_for_rate=8)
    assert sim["passed"] and sim["mismatches"] == 0 and sim["efficiency"] >= 0.95, sim


def test_without_registration_the_op_has_no_block(tmp_path):
    from bnncc.errors import BnnccError

    graph, _ = _graph(4)
    with pytest.raises(BnnccError, match=r"node Negate has no FPGA block"):
        dataflow.build(graph)
