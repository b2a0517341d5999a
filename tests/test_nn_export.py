"""torch (eval) ⇄ onnxruntime ⇄ bnncc executor for every zoo model, random weights, with exact-zero
pre-activations, and a CNN with an adder convolution; `bnncc inspect` accepts every export; export refuses
what the dialect cannot say."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch
from torch import nn

from bnncc import cli
from bnncc.errors import BnnccError
from bnncc.export import export, is_exact, onnxruntime_outputs
from bnncc.frontend import load
from bnncc.ir import ops
from bnncc.ir.executor import run
from bnncc.nn import layers as L
from bnncc.nn import zoo
from bnncc.nn.net import QuantNet, leaves

torch.set_num_threads(1)

# The full-width CNV is the same code as "cnv" at twice the width: export it, skip the slow parity.
MODELS = [n for n in zoo.names() if n != "cnv-finn"]


def _inputs(model: QuantNet, n: int, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 256, (n, *model.input_shape), generator=gen).float()
    x[::5] = 0.0  # all-zero images: every first-layer accumulator is exactly 0
    x[1::5, ..., ::3] = 0.0
    return x


def _calibrated(name: str, seed: int = 0) -> tuple[QuantNet, torch.Tensor]:
    torch.manual_seed(seed)
    return _calibrate(zoo.build(name), seed)


def _calibrate(model: QuantNet, seed: int) -> tuple[QuantNet, torch.Tensor]:
    """The model with BatchNorms holding the statistics of a batch, and where one channel of every
    BN before a bipolar activation has beta = 0 and mean = an observed accumulator value, so the
    pre-activation is exactly 0 for some inputs (x >= 0 must give +1 everywhere)."""
    x = _inputs(model, 64, seed)
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(x)
    chain = list(leaves(model.layers))
    accs: dict[int, torch.Tensor] = {}
    model.eval()
    handles = [m.register_forward_hook(lambda m, i, o: accs.__setitem__(id(m), i[0].detach()))
               for m in chain if isinstance(m, L.BatchNorm)]
    with torch.no_grad():
        model(x)
    for h in handles:
        h.remove()
    with torch.no_grad():
        for bn, nxt in zip(chain, chain[1:], strict=False):
            if isinstance(bn, L.BatchNorm) and isinstance(nxt, L.BinaryAct):
                acc = accs[id(bn)]
                c = int(torch.randint(bn.channels, (1,)))
                vals = acc[:, c].reshape(-1)
                bn.running_mean[c] = vals[len(vals) // 3]
                bn.bias[c] = 0.0
            if isinstance(bn, L.BatchNorm) and isinstance(nxt, L.IntAct):
                # BN output exactly 1.5 steps of the quantizer where acc = 0 (all-zero images): a
                # round-half-to-even tie. var + eps == 1 exactly, so a = gamma = 2**-20.
                c = int(torch.randint(bn.channels, (1,)))
                bn.running_var[c] = _ONE_MINUS_EPS
                bn.running_mean[c], bn.weight[c], bn.bias[c] = 0.0, 2.0**-20, 1.5 * float(nxt.scale)
    return model, x


def _one_minus_eps() -> float:
    eps = np.float32(L.BN_EPS)
    v = np.float32(1) - eps
    while v + eps != np.float32(1):
        v = np.nextafter(v, np.float32(2) if v + eps < 1 else np.float32(0))
    return float(v)


_ONE_MINUS_EPS = _one_minus_eps()


def _boundary_hits(model: QuantNet, x: torch.Tensor) -> int:
    """Pre-activations exactly on a quantizer boundary: 0 before a bipolar activation, a half step
    (a rounding tie) before an integer one."""
    zeros = 0
    acts = [m for m in leaves(model.layers) if isinstance(m, L.BinaryAct | L.IntAct)
            and not isinstance(m, L.InputQuant)]

    def hook(m, i, o):
        nonlocal zeros
        if isinstance(m, L.BinaryAct):
            zeros += int((i[0] == 0).sum())
        else:
            d = i[0] / m.scale
            zeros += int(((d - 0.5) == torch.round(d - 0.5)).sum())

    handles = [a.register_forward_hook(hook) for a in acts]
    with torch.no_grad():
        model(x)
    for h in handles:
        h.remove()
    return zeros


@pytest.mark.parametrize("name", MODELS)
def test_torch_onnxruntime_executor_agree(tmp_path, name, capsys):
    model, x = _calibrated(name)
    path = tmp_path / f"{name}.onnx"
    proto = export(model, x[:8], path)  # export itself checks torch == onnxruntime on its example
    assert is_exact(proto), [p.value for p in proto.metadata_props]
    xt = _inputs(model, 40, seed=7)
    with torch.no_grad():
        want = model(xt).numpy()
    got_ort = onnxruntime_outputs(path, xt.numpy())
    got_exec = run(load(str(path)), xt.numpy()).outputs[0]
    np.testing.assert_array_equal(got_ort, want)  # exact models: bit for bit
    np.testing.assert_array_equal(got_exec, want)
    assert _boundary_hits(model, xt) > 0  # x >= 0 at x = 0, and rounding ties, are exercised
    assert cli.main(["inspect", str(path)]) == 0
    assert "HostHead" in capsys.readouterr().out


def test_cnv_finn_widths_export_and_import(tmp_path):
    torch.manual_seed(0)
    model = zoo.build("cnv-finn")
    x = _inputs(model, 4, 0)
    model.train()
    with torch.no_grad():
        model(x)
    export(model, x, tmp_path / "c.onnx")
    assert cli.main(["inspect", str(tmp_path / "c.onnx"), "--json"]) == 0


def test_export_is_the_dialect(tmp_path):
    model, x = _calibrated("shiftadd-mlp")
    proto = export(model, x[:4], tmp_path / "m.onnx")
    ops = [n.op_type for n in proto.graph.node]
    assert "BatchNormalization" not in ops and "Sign" not in ops and "Gemm" not in ops
    assert "AdderMatMul" in ops and proto.functions[0].domain == "bnncc"
    assert proto.opset_import[0].version == 13 and proto.ir_version == 8
    onnx.checker.check_model(proto, full_check=True)
    assert (tmp_path / "m.onnx").read_bytes() == export(model, x[:4], tmp_path / "m2.onnx").SerializeToString(
        deterministic=True)


def test_export_refuses_float_layers(tmp_path):
    with pytest.raises(BnnccError, match="float weights have no hardware form"):
        export(zoo.build("tfc", float_baseline=True), torch.zeros(2, 784), tmp_path / "f.onnx")


def _adder_cnn() -> QuantNet:
    """shift conv -> BN -> signed codes -> AdderConv2d -> BN -> unsigned codes -> pool -> shift FC. The
    BatchNorms take a calibration batch's statistics whole (momentum 1), so the codes vary."""
    sact = L.IntAct(4, True, 0.25)
    return QuantNet("adder-cnn", "shiftadd", (1, 10, 10), [
        L.InputQuant(), L.ShiftConv2d(1, 4), L.BatchNorm(4, momentum=1.0), sact, L.AdderConv2d(4, 6, sact.spec),
        L.BatchNorm(6, momentum=1.0), L.IntAct(4, False, 0.25), nn.MaxPool2d(2), nn.Flatten(), L.ShiftLinear(54, 10),
        L.BatchNorm(10, momentum=1.0)])


def test_adder_conv_exports_and_agrees(tmp_path):
    torch.manual_seed(3)
    model, x = _calibrate(_adder_cnn(), seed=3)
    path = tmp_path / "a.onnx"
    proto = export(model, x[:8], path)  # checks torch == onnxruntime on its example
    assert is_exact(proto), [p.value for p in proto.metadata_props]
    assert "AdderConv" in [n.op_type for n in proto.graph.node]
    assert [(f.domain, f.name) for f in proto.functions] == [("bnncc", "AdderConv")]
    xt = _inputs(model, 40, seed=8)
    with torch.no_grad():
        want = model(xt).numpy()
    got_ort = onnxruntime_outputs(path, xt.numpy())
    graph = load(str(path))
    np.testing.assert_array_equal(got_ort, want)
    np.testing.assert_array_equal(run(graph, xt.numpy()).outputs[0], want)
    assert np.unique(want.argmax(1)).size >= 4
    adder = next(n.op for n in graph.nodes if isinstance(n.op, ops.Adder))
    assert adder.weights.shape == (36, 6)  # rows: 3x3 window x 4 input channels


def test_inexact_input_scale_is_flagged_and_checked_to_a_bound(tmp_path):
    torch.manual_seed(0)
    net = QuantNet("s", "binary", (16,), [L.InputQuant(scale=1 / 255), L.BinaryLinear(16, 8), L.BatchNorm(8),
                                          L.BinaryAct(), L.BinaryLinear(8, 4), L.BatchNorm(4)])
    x = torch.rand(32, 16)
    net.train()
    net(x)
    proto = export(net, x, tmp_path / "s.onnx")
    assert not is_exact(proto)
    with torch.no_grad():
        want = net.eval()(x).numpy()
    got = onnxruntime_outputs(tmp_path / "s.onnx", x.numpy())
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    top2 = np.sort(want, axis=1)[:, -2:]
    clear = top2[:, 1] - top2[:, 0] > 1e-4
    np.testing.assert_array_equal(got.argmax(1)[clear], want.argmax(1)[clear])


def test_top_level_bnncc_export_is_callable(tmp_path):
    import bnncc

    model, x = _calibrated("tfc")
    proto = bnncc.export(model, x[:4], tmp_path / "t.onnx")
    assert isinstance(proto, onnx.ModelProto) and (tmp_path / "t.onnx").exists()


def test_failed_export_check_leaves_no_file(tmp_path, monkeypatch):
    import bnncc.export as exp

    net, x = _calibrated("tfc")
    monkeypatch.setattr(exp, "onnxruntime_outputs", lambda path, x: np.full((len(x), 10), 12345.0, np.float32))
    path = tmp_path / "tfc.onnx"
    with pytest.raises(BnnccError, match="differs from torch"):
        export(net, x, path)
    assert list(tmp_path.iterdir()) == []
