"""The crossbar simulator against the reference executor: bit-exact when ideal, from the files alone.

Real models (qonnx-zoo TFC 1W1A and 2W2A, FINN's TFC) and a binary CNN, on 64x64, 128x128 and
256x256 crossbars with both weight encodings; one 500-image MNIST run; the no-``bnncc.ir`` import
proof; a one-conductance edit; non-ideal devices and ADCs.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bnncc import fixtures
from bnncc.backends.rram.backend import RramBackend, RramOptions
from bnncc.frontend import load
from bnncc.ir.executor import run
from bnncc.sim.crossbar import CrossbarSim, NonIdeal

ZOO = "../shared/models/qonnx-zoo-tfc"
FINN = "../shared/models/finn-tfc-w1a1"
XBARS = ("64x64", "128x128", "256x256")
ENCODINGS = ("differential", "reference")
RRAM = RramBackend()


def _args(out: Path, **kw) -> RramOptions:
    return RramOptions(out=str(out), **kw)


def _compile(graph, out: Path, **kw) -> Path:
    RRAM.compile(graph, _args(out, **kw))
    return out / "rram"


@pytest.fixture(scope="module")
def mnist() -> tuple[np.ndarray, np.ndarray]:
    from bnncc.data.mnist import load_mnist5k

    x, y = load_mnist5k(0)
    return x[:500], y[:500]


@pytest.fixture(scope="module")
def models(tmp_path_factory, mnist) -> dict[str, tuple[object, np.ndarray]]:
    """name -> (IR graph, 32 inputs in the scaling the model expects)."""
    d = tmp_path_factory.mktemp("models")
    cnn = fixtures.binary_cnn(seed=0)
    x = mnist[0][:32]
    return {
        "tfc_w1a1": (load(f"{ZOO}/TFC_1W1A.onnx"), x / 255),
        "tfc_w2a2": (load(f"{ZOO}/TFC_2W2A.onnx"), x / 255),
        "finn_tfc": (load(f"{FINN}/model.onnx"), x),
        "binary_cnn": (load(str(fixtures.save(cnn, d / "cnn.onnx"))), fixtures.random_inputs(cnn, 32, seed=1)),
    }


def _assert_exact(graph, folder: Path, x: np.ndarray) -> None:
    ref = run(graph, x, trace=True)
    got = CrossbarSim(folder).run(x, trace=True)
    integer = [i for i, n in enumerate(graph.nodes) if not (n.host and i > 0)]  # head values + every stage
    assert sorted(got.trace) == integer
    for i in integer:
        np.testing.assert_array_equal(got.trace[i], ref.trace[graph.nodes[i].output], err_msg=f"layer {i}")
    np.testing.assert_array_equal(got.hardware_out, ref.hardware_out)
    assert len(got.outputs) == len(ref.outputs)
    for a, b in zip(got.outputs, ref.outputs, strict=True):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)  # bit for bit, floats included
    np.testing.assert_array_equal(got.labels, ref.labels)


@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("xbar", XBARS)
@pytest.mark.parametrize("name", ["tfc_w1a1", "tfc_w2a2", "finn_tfc", "binary_cnn"])
def test_ideal_crossbars_are_bit_exact(models, tmp_path, name, xbar, encoding):
    graph, x = models[name]
    _assert_exact(graph, _compile(graph, tmp_path, xbar=xbar, encoding=encoding), x)


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_tfc_w1a1_500_mnist_images_exact(models, mnist, tmp_path, encoding):
    graph, _ = models["tfc_w1a1"]
    x, y = mnist
    folder = _compile(graph, tmp_path, encoding=encoding)
    _assert_exact(graph, folder, x / 255)
    acc = np.mean(CrossbarSim(folder).run(x / 255).labels == y)
    assert 0.88 < acc < 0.97  # the zoo reports 93.17 % on the MNIST test set


def test_finn_tfc_labels_from_the_files(models, tmp_path):
    graph, _ = models["finn_tfc"]
    got = CrossbarSim(_compile(graph, tmp_path)).run(np.load(f"{FINN}/input.npy"))
    assert got.labels.tolist() == [7, 2, 1, 0] == np.load(f"{FINN}/expected_output.npy").ravel().tolist()


@pytest.mark.parametrize("name", sorted(fixtures.SMALL_BUILDERS))
def test_every_small_builder_exact_with_bit_slicing(tmp_path, name):
    """int, ternary, pow2 (k=1, 2), uint8 inputs (8 planes), adder layers (thermometer), convs."""
    model = fixtures.SMALL_BUILDERS[name](0)
    graph = load(str(fixtures.save(model, tmp_path / "m.onnx")))
    x = fixtures.random_inputs(model, 24, seed=2)
    for encoding, cell_bits in (("differential", 2), ("reference", 1), ("reference", 3)):
        _assert_exact(graph, _compile(graph, tmp_path / encoding / str(cell_bits), xbar="64x64",
                                      encoding=encoding, cell_bits=cell_bits), x)


def test_simulator_never_imports_the_ir(models, tmp_path):
    graph, x = models["binary_cnn"]
    folder = _compile(graph, tmp_path)
    np.save(tmp_path / "x.npy", x)
    code = (
        "import sys, json, numpy as np\n"
        "from bnncc.sim.crossbar import CrossbarSim\n"
        f"r = CrossbarSim({str(folder)!r}).run(np.load({str(tmp_path / 'x.npy')!r}))\n"
        "np.save(sys.argv[1], r.hardware_out)\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('bnncc'))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "hw.npy")], capture_output=True, text=True,
                         check=True)
    loaded = json.loads(out.stdout)
    assert "bnncc.sim.crossbar" in loaded
    assert not [m for m in loaded if m.startswith(("bnncc.ir", "bnncc.frontend", "bnncc.backends"))], loaded
    np.testing.assert_array_equal(np.load(tmp_path / "hw.npy"), run(graph, x).hardware_out)


def _last_layer(folder: Path) -> tuple[dict, dict]:
    mapping = json.loads((folder / "mapping.json").read_text())
    stage = [s for s in mapping["stages"] if s["op"] == "matrix"][-1]
    return stage, stage["tiles"][0]


def test_one_conductance_changes_exactly_one_column(models, mnist, tmp_path):
    """Edit one cell of the last layer's G+ column in the .npy file: only that column's ADC codes change,
    by one code where its word line is on, and the accumulator moves by exactly that much."""
    graph, _ = models["tfc_w1a1"]
    x = mnist[0][:200] / 255
    folder = _compile(graph, tmp_path)
    stage, tile = _last_layer(folder)
    before = CrossbarSim(folder).run(x, trace=True)
    path = folder / tile["file"]
    g = np.load(path)
    g_on, g_off = 1 / 6e3, 1 / 900e3
    col = 2 * 3  # G+ column of logical output 3 (differential: pairs per output, one slice)
    row = int(np.flatnonzero(np.isclose(g[:, col], g_off))[0])  # an off cell: switch it on
    xbar = tile["xbar"]
    wl = before.trace[stage["index"] - 1][:, row]  # the word line's input: bipolar value of that row

    # below half an ADC step: no code moves, nothing changes
    g2 = g.copy()
    g2[row, col] += 0.4 * (g_on - g_off)
    np.save(path, g2)
    small = CrossbarSim(folder).run(x, trace=True)
    for k in before.adc_codes:
        np.testing.assert_array_equal(small.adc_codes[k], before.adc_codes[k])
    np.testing.assert_array_equal(small.hardware_out, before.hardware_out)

    # a full off -> on switch: exactly column 3 of this crossbar, +1 code where the word line is on
    g2[row, col] = g_on
    np.save(path, g2)
    after = CrossbarSim(folder).run(x, trace=True)
    for k in before.adc_codes:
        if k != xbar:
            np.testing.assert_array_equal(after.adc_codes[k], before.adc_codes[k])
    delta = after.adc_codes[xbar] - before.adc_codes[xbar]  # [M, planes, sensed]
    assert not np.delete(delta, 3, axis=2).any()
    np.testing.assert_array_equal(delta[:, 0, 3], (wl > 0).astype(np.int64))
    assert 0 < (wl > 0).sum() < len(wl)
    acc = after.hardware_out - before.hardware_out
    assert not np.delete(acc, 3, axis=1).any()
    np.testing.assert_array_equal(acc[:, 3], (wl > 0).astype(np.int64))  # popcount + 1 where the input is +1
    changed = np.flatnonzero((after.labels != before.labels) | (acc != 0).any(1))
    assert set(changed) <= set(np.flatnonzero(wl > 0))


def test_first_layer_edit_reaches_the_output_only_through_its_codes(models, mnist, tmp_path):
    """A cell of layer 1 moved a whole step: codes of one column change; downstream integers change only
    for inputs whose codes changed, and only where the column's threshold is crossed."""
    graph, _ = models["tfc_w1a1"]
    x = mnist[0][:300] / 255
    folder = _compile(graph, tmp_path)
    mapping = json.loads((folder / "mapping.json").read_text())
    stage = mapping["stages"][0]
    tile = stage["tiles"][3]
    before = CrossbarSim(folder).run(x, trace=True)
    g = np.load(folder / tile["file"])
    for col in range(0, g.shape[1], 2):  # a G+ column with an off cell on a row some inputs drive
        rows = np.flatnonzero(np.isclose(g[:, col], 1 / 900e3))
        wl = before.trace[0][:, tile["word_lines"][0] + rows] > 0
        if len(rows) and wl.any(0).any():
            row = int(rows[np.argmax(wl.sum(0))])
            break
    g[row, col] = 1 / 6e3
    np.save(folder / tile["file"], g)
    after = CrossbarSim(folder).run(x, trace=True)
    d = after.adc_codes[tile["xbar"]] - before.adc_codes[tile["xbar"]]
    hit = d[:, 0, col // 2] != 0
    assert hit.any() and not np.delete(d, col // 2, axis=2).any()
    acc = after.trace[1] - before.trace[1]
    assert set(np.flatnonzero(acc.any(1))) == set(np.flatnonzero(hit))
    j = tile["out_columns"][0] + col // 2
    assert not np.delete(acc, j, axis=1).any()
    t = np.asarray(mapping["stages"][1]["thresholds"][j])
    crossed = (before.trace[1][:, j, None] >= t).sum(1) != (after.trace[1][:, j, None] >= t).sum(1)
    out_changed = (after.trace[2] != before.trace[2]).any(1)
    np.testing.assert_array_equal(out_changed, crossed)


def test_non_ideal_devices_cost_accuracy_and_are_seeded(models, mnist, tmp_path):
    graph, _ = models["tfc_w1a1"]
    x, y = mnist[0][:300] / 255, mnist[1][:300]
    sim = CrossbarSim(_compile(graph, tmp_path))
    ideal = sim.run(x).labels
    np.testing.assert_array_equal(sim.run(x, NonIdeal(seed=5)).labels, ideal)  # sigma 0, no faults: exact
    noisy = sim.run(x, NonIdeal(sigma=0.3, seed=1)).labels
    np.testing.assert_array_equal(sim.run(x, NonIdeal(sigma=0.3, seed=1)).labels, noisy)  # one chip per seed
    assert not np.array_equal(sim.run(x, NonIdeal(sigma=0.3, seed=2)).labels, noisy)
    assert np.mean(noisy == ideal) < 1  # binary weights in G+/G- pairs tolerate sigma 0.3, but not fully
    wild = sim.run(x, NonIdeal(sigma=0.8, seed=1)).labels
    assert np.mean(wild == y) < np.mean(ideal == y) - 0.1
    faulty = sim.run(x, NonIdeal(saf=0.05, seed=1)).labels
    assert np.mean(faulty == ideal) < 0.99


def test_fewer_adc_bits_cost_accuracy(models, mnist, tmp_path):
    graph, _ = models["tfc_w1a1"]
    x, y = mnist[0][:300] / 255, mnist[1][:300]
    sim = CrossbarSim(_compile(graph, tmp_path))
    acc = {b: np.mean(sim.run(x, NonIdeal(adc_bits=b)).labels == y) for b in (None, 8, 6, 3)}
    assert acc[8] == acc[None]  # 8 bits are the derived resolution at 128 rows
    assert acc[3] < acc[None] - 0.2
    clipped = np.mean(sim.run(x, NonIdeal(adc_bits=3, adc_clip=0.25)).labels == y)
    assert clipped > acc[3]  # the same 3 bits spent on the busy middle of the window do better


def test_compile_with_too_few_adc_bits_fails_verification(models, tmp_path):
    graph, _ = models["tfc_w1a1"]
    report = RRAM.compile(graph, _args(tmp_path, adc_bits=4, sim=True))
    sim = report["verification"]["crossbar_sim"]
    assert not report["adc_exact"] and not sim["passed"] and sim["mismatches"] > 0
    assert sim["first_mismatch_layer"] == 1 and RRAM.exit_code(report) == 1
    ok = RRAM.compile(graph, _args(tmp_path, sim=True))
    assert ok["verification"]["crossbar_sim"] == {"passed": True, "vectors": 64, "mismatches": 0,
                                                  "first_mismatch_layer": None,
                                                  "compared": ok["verification"]["crossbar_sim"]["compared"]}
    assert RRAM.exit_code(ok) == 0


def test_sim_input_file_and_bad_schema(models, tmp_path):
    graph, x = models["tfc_w1a1"]
    np.save(tmp_path / "x.npy", x[:5])
    report = RRAM.compile(graph, _args(tmp_path, input=np.load(tmp_path / "x.npy")))
    assert report["verification"]["crossbar_sim"]["vectors"] == 5
    m = json.loads((tmp_path / "rram" / "mapping.json").read_text())
    m["version"] = 99
    (tmp_path / "rram" / "mapping.json").write_text(json.dumps(m))
    from bnncc.errors import BnnccError

    with pytest.raises(BnnccError, match="version 99"):
        CrossbarSim(tmp_path / "rram")
