"""The RRAM command-line hooks as bnncc/cli.py wires them: compile options, compile, and rram-sweep."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest

from bnncc import fixtures
from bnncc.backends.rram.backend import RramBackend
from bnncc.cli import build_parsers, main
from bnncc.commands.compile import rram_options
from bnncc.commands.rram_sweep import load_inputs, parse_bits, parse_floats
from bnncc.errors import BnnccError
from bnncc.frontend import load

TFC = "../shared/models/qonnx-zoo-tfc/TFC_1W1A.onnx"
RRAM = RramBackend()


def _parsers() -> tuple[argparse.ArgumentParser, argparse.ArgumentParser]:
    """The subcommand parser and the compile parser of bnncc/cli.py."""
    return build_parsers()


def test_compile_through_the_parser(tmp_path):
    _, comp = _parsers()
    args = comp.parse_args([TFC, "--target", "rram", "-o", str(tmp_path), "--sim", "--xbar", "64x64",
                            "--encoding", "reference", "--cell-bits", "2", "--json"])
    report = RRAM.compile(load(args.model), rram_options(args))
    json.dumps(report)  # what --json prints
    assert report["crossbar"] == "64x64" and report["encoding"] == "reference" and report["cell_bits"] == 2
    assert report["verification"]["crossbar_sim"]["passed"] and RRAM.exit_code(report) == 0
    assert report["out"] == str(tmp_path / "rram")
    on_disk = json.loads((tmp_path / "rram" / "report.json").read_text())
    assert on_disk == {k: v for k, v in report.items() if k != "out"}


def test_input_option_feeds_the_crossbar_simulation(tmp_path, capsys):
    np.save(tmp_path / "x.npy", np.zeros((3, 1, 28, 28), np.float32))
    assert main([TFC, "--target", "rram", "-o", str(tmp_path), "--input", str(tmp_path / "x.npy"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["verification"]["crossbar_sim"]["vectors"] == 3


def test_compile_defaults(tmp_path):
    _, comp = _parsers()
    args = comp.parse_args([TFC, "--target", "rram", "-o", str(tmp_path)])
    assert (args.xbar, args.encoding, args.cell_bits, args.adc_bits, args.sim, args.input) == \
        ("128x128", "differential", 1, None, False, None)
    report = RRAM.compile(load(args.model), rram_options(args))
    assert "verification" not in report and RRAM.exit_code(report) == 0
    text = RRAM.summary(report)
    assert "10 crossbars 128x128" in text and "TOPS/W" in text and "crossbar sim" not in text
    bad = RRAM.compile(load(args.model), rram_options(comp.parse_args([TFC, "--target", "rram", "-o", str(tmp_path),
                                                                     "--sim", "--adc-bits", "5"])))
    assert "FAILED (first differing layer 1)" in RRAM.summary(bad) and "below the exact" in RRAM.summary(bad)


def test_sweep_writes_table_plot_and_costs_accuracy(tmp_path, capsys):
    sub, _ = _parsers()
    args = sub.parse_args(["rram-sweep", TFC, "--dataset", "mnist5k", "--input-div", "255", "--limit", "150",
                           "--sigma", "0,0.8", "--saf", "0,0.05", "--adc-bits", "exact,3", "-o", str(tmp_path),
                           "--json"])
    assert args.fn(args) == 0
    out, err = capsys.readouterr()
    result = json.loads(out)
    assert "rram-sweep" in err  # tqdm progress on stderr
    folder = tmp_path / "rram-sweep"
    assert (folder / "sweep.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (folder / "rram" / "mapping.json").is_file() and "| ADC bits |" in (folder / "sweep.md").read_text()
    assert result["ideal_sim_matches_executor"] and result["inputs"] == 150
    rows = {(r["adc_bits"], r["saf"], r["sigma"]): r for r in result["rows"]}
    assert len(rows) == 8
    exact = rows[("exact", 0.0, 0.0)]
    assert exact["accuracy"] == result["executor_accuracy"] and exact["agreement"] == 1.0
    assert rows[(3, 0.0, 0.0)]["accuracy"] < exact["accuracy"] - 0.2  # a 3-bit ADC visibly costs accuracy
    assert rows[("exact", 0.0, 0.8)]["accuracy"] < exact["accuracy"]
    assert json.loads((folder / "sweep.json").read_text())["rows"] == result["rows"]


def test_sweep_on_random_inputs_reports_agreement(tmp_path, capsys):
    sub, _ = _parsers()
    model = tmp_path / "m.onnx"
    fixtures.save(fixtures.binary_mlp(seed=0), model)
    args = sub.parse_args(["rram-sweep", str(model), "--dataset", "random", "--limit", "64", "--sigma", "0,1.0",
                           "--saf", "0", "--trials", "2", "-o", str(tmp_path)])
    assert args.fn(args) == 0
    text = capsys.readouterr().out
    assert "agreement with the ideal executor" in text
    rows = json.loads((tmp_path / "rram-sweep" / "sweep.json").read_text())["rows"]
    assert rows[0]["accuracy"] == rows[0]["agreement"] == 1.0 and rows[0]["trials"] == 1
    assert rows[1]["trials"] == 2 and rows[1]["accuracy"] == rows[1]["agreement"] < 1.0


def test_sweep_option_errors():
    with pytest.raises(BnnccError, match="--sigma 'a,b'"):
        parse_floats("a,b", "--sigma")
    with pytest.raises(BnnccError, match="--saf '-1'"):
        parse_floats("-1", "--saf")
    with pytest.raises(BnnccError, match="--adc-bits '0'"):
        parse_bits("0")
    assert parse_bits("exact, 4,3") == [None, 4, 3]
    with pytest.raises(BnnccError, match="--dataset digits: images of shape \\[1, 8, 8\\] do not fit"):
        load_inputs("digits", 10, 0, (1, 28, 28))
    x, y = load_inputs("digits", 10, 0, (64,), divide=16)
    assert x.shape == (10, 64) and x.max() <= 1 and y.shape == (10,)


def test_sweep_fashion_mnist_loader():
    x, y = load_inputs("fashion-mnist", 20, 0, (1, 28, 28))
    assert x.shape == (20, 1, 28, 28) and x.max() <= 255 and set(np.unique(y)) <= set(range(10))
