"""`bnncc train`: TFC on MNIST-5k for one epoch in well under a minute; its ONNX passes `bnncc inspect`
and `bnncc run` equals onnxruntime on it; seeded runs are reproducible; data-set errors name the setup."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
import torch

from bnncc import cli
from bnncc.commands import train as train_cli
from bnncc.data import load_dataset
from bnncc.errors import BnnccError
from bnncc.export import onnxruntime_outputs
from bnncc.nn import zoo
from bnncc.nn.train import TrainConfig, train


def _train_main(argv: list[str]) -> int:
    """`bnncc train` through the top-level CLI."""
    return cli.main(["train", *argv])


def test_train_tfc_mnist5k_one_epoch_then_inspect_and_run(tmp_path, capsys):
    out = tmp_path / "tfc.onnx"
    t0 = time.time()
    assert _train_main(["--model", "tfc", "--dataset", "mnist5k", "--epochs", "1", "-o", str(out)]) == 0
    assert time.time() - t0 < 60
    files = train_cli.outputs_for(out)
    assert all(p.exists() for p in files.values())
    metrics = json.loads(files["metrics"].read_text())
    assert metrics["epochs"] == 1 and metrics["test_accuracy"] > 0.5 and metrics["wall_time_s"] > 0
    assert torch.load(files["checkpoint"], weights_only=False)["model"] == "tfc"
    restored = zoo.load_checkpoint(str(files["checkpoint"]))
    summary = capsys.readouterr()
    assert "test accuracy" in summary.out

    assert cli.main(["inspect", str(out)]) == 0
    assert "XnorPopcount" in capsys.readouterr().out

    _, _, x_test, _ = load_dataset("mnist5k")
    x = x_test[:200].reshape(200, 784)
    x[:5] = 0.0  # exact zeros
    np.save(tmp_path / "x.npy", x)
    assert cli.main(["run", str(out), "--input", str(tmp_path / "x.npy"), "--output", str(tmp_path / "y.npy")]) == 0
    np.testing.assert_array_equal(np.load(tmp_path / "y.npy"), onnxruntime_outputs(out, x))
    with torch.no_grad():
        np.testing.assert_array_equal(restored(torch.from_numpy(x)).numpy(), np.load(tmp_path / "y.npy"))


def test_training_is_reproducible():
    data = load_dataset("mnist5k")
    cfg = TrainConfig(epochs=1, max_train=600, threads=1)
    states = []
    for _ in range(2):
        torch.manual_seed(3)
        net = zoo.build("tfc")
        train(net, data, cfg, progress=False)
        states.append(net.state_dict())
    for k, v in states[0].items():
        assert torch.equal(v, states[1][k]), k


def test_train_cli_errors(tmp_path, capsys):
    assert cli.main(["train", "--model", "lightnn2-mlp", "--dataset", "mnist5k", "--low-memory",
                           "-o", str(tmp_path / "m.onnx")]) == 2
    assert "binary models" in capsys.readouterr().err
    assert cli.main(["train", "--model", "tfc", "--dataset", "mnist5k", "--epochs", "0",
                           "-o", str(tmp_path / "m.onnx")]) == 2


def test_missing_fashion_mnist_names_the_setup_command(tmp_path, monkeypatch):
    monkeypatch.setenv("BNNCC_FASHION_MNIST", str(tmp_path))
    with pytest.raises(BnnccError, match=r"bash scripts/setup.sh"):
        load_dataset("fashion-mnist")


def test_fashion_mnist_reads_plain_and_gzipped_idx(tmp_path, monkeypatch):
    import gzip

    images = np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28)
    header = bytes([0, 0, 8, 3]) + b"".join(d.to_bytes(4, "big") for d in (2, 28, 28))
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(header + images.tobytes())
    with gzip.open(tmp_path / "t10k-labels-idx1-ubyte.gz", "wb") as f:
        f.write(bytes([0, 0, 8, 1]) + (2).to_bytes(4, "big") + bytes([3, 9]))
    monkeypatch.setenv("BNNCC_FASHION_MNIST", str(tmp_path))
    from bnncc.data import load_fashion_mnist

    x, y = load_fashion_mnist("test")
    assert x.shape == (2, 1, 28, 28) and x.dtype == np.float32 and y.tolist() == [3, 9]
    np.testing.assert_array_equal(x[:, 0], images)
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(header + images.tobytes()[:-5])
    with pytest.raises(BnnccError, match="truncated"):
        load_fashion_mnist("test")


def test_fashion_mnist_from_the_debian_package():
    x_train, y_train, x_test, y_test = load_dataset("fashion-mnist")
    assert x_train.shape == (60000, 1, 28, 28) and x_test.shape == (10000, 1, 28, 28)
    assert np.bincount(y_test).tolist() == [1000] * 10 and x_train.max() == 255


def test_parser_names_match_the_zoo_and_do_not_import_torch():
    import subprocess
    import sys

    assert list(train_cli.ZOO_MODELS) == zoo.names()
    import argparse

    parser = train_cli.add_parser(argparse.ArgumentParser().add_subparsers())
    defaults, config = parser.parse_args(["--model", "tfc", "--dataset", "mnist5k", "-o", "m.onnx"]), TrainConfig()
    assert (defaults.flight_lambda, defaults.batch_size) == (config.flight_lambda, config.batch_size)
    code = ("import sys; from bnncc.cli import build_parsers; build_parsers(); print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_distribution_loss_training_runs_and_flag_conflicts(tmp_path, capsys):
    data = load_dataset("mnist5k")
    torch.manual_seed(0)
    net = zoo.build("tfc")
    metrics = train(net, data, TrainConfig(epochs=1, max_train=500, distribution_loss=0.05), progress=False)
    assert metrics["test_accuracy"] > 0.3 and all(m.stats is None or not m.track for m in net.modules()
                                                   if hasattr(m, "track"))
    assert cli.main(["train", "--model", "tfc", "--dataset", "mnist5k", "--low-memory", "--distribution-loss",
                           "-o", str(tmp_path / "m.onnx")]) == 2
    assert "--low-memory" in capsys.readouterr().err
    assert cli.main(["train", "--model", "lightnn2-mlp", "--dataset", "mnist5k", "--distribution-loss",
                           "-o", str(tmp_path / "m.onnx")]) == 2


def test_failed_export_leaves_no_output_behind(tmp_path, monkeypatch, capsys):
    import bnncc.export as exp

    def refuse(*args, **kwargs):
        raise BnnccError("export refused (test)")

    monkeypatch.setattr(exp, "export", refuse)
    out = tmp_path / "new_dir" / "tfc.onnx"
    argv = ["--model", "tfc", "--dataset", "mnist5k", "--epochs", "1", "--quiet", "-o", str(out)]
    assert _train_main(argv) == 2
    assert "export refused (test)" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
