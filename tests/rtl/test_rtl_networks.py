"""Whole networks through `bnncc MODEL --target fpga --sim`: the RTL is bit-exact with the executor
under random input gaps and output back-pressure, and runs at the designed initiation interval."""

from __future__ import annotations

import numpy as np
import pytest
from brevitas_models import binary_cnn as brevitas_cnn

from bnncc import fixtures
from bnncc.backends.fpga.driver import FpgaBackend, FpgaOptions
from bnncc.data.mnist import load_mnist5k
from bnncc.frontend import load

FINN = "../shared/models/finn-tfc-w1a1"
ZOO = "../shared/models/qonnx-zoo-tfc"


def _sim(path: str, tmp_path, **kw) -> dict:
    kw.setdefault("part", "xcu250-figd2104-2L-e")
    report = FpgaBackend().compile(load(path), FpgaOptions(out=str(tmp_path / "out"), sim=True, **kw))
    code = FpgaBackend().exit_code(report)
    sim = report["verification"]["rtl_sim"]
    assert code == 0 and sim["passed"] and sim["mismatches"] == 0, sim
    assert sim["efficiency"] >= 0.95 and sim["cycles_per_image"] <= sim["designed_interval"] / 0.95, sim
    assert sim["designed_interval"] == report["estimate"]["cycles_per_image"]
    return report


def test_finn_tfc_with_finn_folding(tmp_path):
    report = _sim(f"{FINN}/model.onnx", tmp_path, folding=f"{FINN}/folding_config.json",
                  input=np.load(f"{FINN}/input.npy"))
    assert report["verification"]["rtl_sim"]["cycles_per_image"] == 640
    expected = (tmp_path / "out" / "rtl").exists() and report["verification"]["rtl_sim"]["vectors"] == 4
    assert expected


def test_qonnx_zoo_1w1a_on_200_mnist_images(tmp_path):
    x, _ = load_mnist5k(seed=0)
    pick = np.random.default_rng(9).choice(len(x), 200, replace=False)
    report = _sim(f"{ZOO}/TFC_1W1A.onnx", tmp_path, input=x[pick] / 255.0, fps=5_000_000)
    assert report["verification"]["rtl_sim"]["vectors"] == 200


@pytest.mark.parametrize("name", ["brevitas_cnn", "w2a2", "pow2", "shiftadd", "shiftadd_cnn"])
def test_networks(tmp_path, name):
    if name == "brevitas_cnn":
        path = str(tmp_path / "cnn.onnx")
        brevitas_cnn(path, seed=2)
        kw = {"fps": 50_000}
    elif name == "w2a2":
        path, kw = f"{ZOO}/TFC_2W2A.onnx", {"fps": 500_000}
    elif name == "shiftadd_cnn":  # sliding windows feeding an adder
        path = str(fixtures.save(fixtures.shiftadd_cnn(seed=3), tmp_path / "shiftadd_cnn.onnx"))
        kw = {"fps": 100_000}
    else:
        model = fixtures.pow2_mlp(k=2, seed=3) if name == "pow2" else fixtures.shiftadd_mlp(seed=3)
        path = str(tmp_path / f"{name}.onnx")
        fixtures.save(model, path)
        kw = {"fps": 2_000_000}
    _sim(path, tmp_path, vectors=24, **kw)


def test_hostile_names_simulate_and_stay_out_of_the_rtl(tmp_path):
    path = str(tmp_path / "h.onnx")
    fixtures.save(fixtures.with_hostile_names(fixtures.binary_cnn(seed=4), rename_input=True), path)
    _sim(path, tmp_path, vectors=8, fps=100_000)
    for f in (tmp_path / "out" / "rtl").iterdir():
        text = f.read_text()
        for token in ("'$[{", "../*/", "fn:", "n0:"):
            assert token not in text, (f.name, token)
