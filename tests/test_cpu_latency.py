"""The CPU latency model: the work features of an IR graph, the relative-error fit recovering a known law,
and the whole loop on this machine (`bnncc calibrate --target cpu`, `--fit`, a prediction, an op the fit
never saw named as such)."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np
import pytest
from test_calibrate import calibrate

from bnncc.calibrate import fit as fitting
from bnncc.calibrate import space
from bnncc.calibrate.store import Store
from bnncc.cli import main
from bnncc.cost import latency
from bnncc.cost.calibrated import CalibratedModel


def test_features_count_the_work_of_each_op() -> None:
    graph, _ = space.dataflow_of(space.SMALL[0])  # 32 -> 16 -> 10, bipolar: two XNOR layers, one threshold
    f = latency.features(graph)
    assert f["XnorPopcount.calls"] == 2 and f["MultiThreshold.calls"] == 1
    assert f["GEMM.macs"] == f["GEMM.weights"] == 32 * 16 + 16 * 10  # one image: every weight once
    assert f["MultiThreshold.compares"] == 16  # 16 channels, one threshold each
    cnn, _ = space.dataflow_of(space.SMALL[5])  # 8x8x1, a 3x3 conv of 4 channels: 6x6 pixels
    g = latency.features(cnn)
    assert g["SlidingWindow.out"] == 6 * 6 * 9 and g["GEMM.macs"] == 6 * 6 * 9 * 4 + 3 * 3 * 4 * 10
    assert g["GEMM.weights"] == 9 * 4 + 36 * 10  # the conv's weights once, however many pixels


def test_the_fit_recovers_a_known_latency_law() -> None:
    """seconds = 20 µs + 3 µs a call + 1 ns a MAC, over four decades: the relative-error fit finds the law
    (an absolute fit would let the large networks decide the constant)."""
    rng = np.random.default_rng(0)
    samples = []
    for _ in range(40):
        f = {"MatMul.calls": float(rng.integers(1, 8)), "GEMM.macs": float(10 ** rng.uniform(2, 7))}
        samples.append({"features": f, "seconds": {"latency_s": 20e-6 + 3e-6 * f["MatMul.calls"]
                                                   + 1e-9 * f["GEMM.macs"]}})
    entry = fitting._latency_entry(samples, "latency_s")
    coef = dict(zip(entry["features"], entry["coef"], strict=True))
    assert coef["const"] == pytest.approx(20e-6, rel=1e-3) and coef["MatMul.calls"] == pytest.approx(3e-6, rel=1e-3)
    assert coef["GEMM.macs"] == pytest.approx(1e-9, rel=1e-3)
    assert entry["cv_mape"] < 0.01 and entry["cv_within_10"] == 1.0


def test_calibrate_cpu_then_fit_predicts_this_machine(tmp_path: Path) -> None:
    mlps = [{**d, "seed": d["seed"] + k, "name": f"{d['name']}-{k}"} for k in range(2) for d in space.SMALL[:5]]
    sweep = tmp_path / "mlps.json"
    sweep.write_text(json.dumps({"format": "bnncc-sweep", "version": 1, "designs": mlps}))
    store, model_file = tmp_path / "cpu.sqlite", tmp_path / "model.json"
    rc, out = calibrate("--target", "cpu", "--sweep", str(sweep), "--store", str(store), "--repeats", "5")
    assert rc == 0 and out["measured"] == 10  # MLPs only: no convolution in the fit
    rc, out = calibrate("--store", str(store), "--fit", str(model_file))  # a cpu-only store fits a cpu-only model
    assert rc == 0 and set(out["fit"]["cpu"]["runtimes"]) == {"executor", "onnxruntime"}
    model = CalibratedModel.load(model_file)
    with Store(str(store), create=False) as s:
        samples = fitting.cpu_samples(s)
    for sample in samples:  # the training designs: the fit's own error, bounded loosely (timing noise on CI)
        graph, _ = space.dataflow_of(next(d for d in mlps if space.label(d) == sample["name"]))
        got = model.cpu_latency(graph)
        assert got["unseen_ops"] == [] and got["host"] == sample["host"]
        assert 0.5 < got["seconds"] / sample["seconds"]["latency_s"] < 2.0
    cnn, _ = space.dataflow_of(space.SMALL[5])
    assert {"SlidingWindow", "MaxPool", "Flatten"} <= set(model.cpu_latency(cnn)["unseen_ops"])
    assert model.cpu_latency(cnn, "no such runtime") is None
    out = io.StringIO()  # the charts of a store with no FPGA rows: the CPU panel, the others say they are empty
    with redirect_stdout(out):
        assert main(["charts", "--store", str(store), "-o", str(tmp_path / "charts"), "--json"]) == 0
    assert [r["metric"] for r in json.loads(out.getvalue())["table"]] == ["CPU latency (µs, executor)"]


def test_a_qonnx_model_is_timed_in_the_executor_alone(tmp_path: Path) -> None:
    """Brevitas' QONNX export holds Quant nodes onnxruntime cannot run: the executor's row, no onnxruntime row
    (it failed the whole design before)."""
    sweep = tmp_path / "tfc.json"
    sweep.write_text(json.dumps({"format": "bnncc-sweep", "version": 1,
                                 "designs": [{"family": "finn", "topology": "tfc_1w1a", "seed": 1}]}))
    store = tmp_path / "q.sqlite"
    rc, out = calibrate("--target", "cpu", "--sweep", str(sweep), "--store", str(store), "--repeats", "3")
    assert rc == 0 and out["measured"] == 1 and not out["failed"]
    with Store(str(store), create=False) as s:
        assert {r["metric"] for r in s.rows()} == {"latency_s"}



def test_larger_generate_bounds_add_larger_networks() -> None:
    large = space.generate(5, 60, max_width=1024, max_side=32, max_channels=128)
    assert max(max(d["sizes"]) for d in large if "sizes" in d) > 256
    assert max(d["in_shape"][1] for d in large if "in_shape" in d) > 16
    assert max(max(d["channels"]) for d in large if "channels" in d) > 32
