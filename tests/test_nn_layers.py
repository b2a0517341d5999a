"""Layers: folded BatchNorm bit for bit, binary / power-of-two / shift / adder weights on their grids,
FLightNN's per-filter k, the distribution loss, and low-memory training (same gradients, >= 3x fewer
saved bytes)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from bnncc.nn import layers as L
from bnncc.nn import zoo
from bnncc.nn.losses import distribution_loss, distribution_terms
from bnncc.nn.lowmem import saved_bytes
from bnncc.nn.net import BinaryBlock, QuantNet
from bnncc.onnx_writer import fold_batchnorm

torch.set_num_threads(1)


def _bn(c: int, l1: bool, seed: int = 0) -> L.BatchNorm:
    gen = torch.Generator().manual_seed(seed)
    bn = L.BatchNorm(c, l1=l1)
    with torch.no_grad():
        bn.weight.copy_(torch.randn(c, generator=gen))
        bn.weight[0] = 0.0  # a constant channel
        bn.bias.copy_(torch.randn(c, generator=gen))
        bn.running_mean.copy_(torch.randn(c, generator=gen) * 10)
        bn.running_var.copy_(torch.rand(c, generator=gen) * 5 + 0.1)
    return bn.eval()


def test_batchnorm_eval_is_the_dialect_fold_bit_for_bit():
    bn = _bn(16, l1=False)
    a, b = bn.folded()
    a_np, b_np = fold_batchnorm(bn.weight.detach().numpy(), bn.bias.detach().numpy(), bn.running_mean.numpy(),
                                bn.running_var.numpy(), bn.eps)
    np.testing.assert_array_equal(a.numpy(), a_np)
    np.testing.assert_array_equal(b.numpy(), b_np)
    x = torch.randint(-50, 50, (64, 16, 3, 3)).float()
    want = x.numpy() * a_np.reshape(1, -1, 1, 1) + b_np.reshape(1, -1, 1, 1)  # float32 Mul then Add
    np.testing.assert_array_equal(bn(x).detach().numpy(), want)


def test_batchnorm_exact_zero_at_the_mean_when_beta_is_zero():
    bn = _bn(4, l1=True)
    with torch.no_grad():
        bn.bias.zero_()
        bn.running_mean.copy_(torch.tensor([3.0, -7.0, 12.0, 0.0]))
    y = bn(torch.tensor([[3.0, -7.0, 12.0, 0.0]]))
    assert torch.all(y == 0)  # acc * a + (0 - mean * a) with acc == mean is exactly 0: the bipolar boundary


def test_l1_batchnorm_training_values():
    bn = L.BatchNorm(1, l1=True, eps=0.0, momentum=0.5)
    y = bn(torch.tensor([[1.0], [2.0], [3.0], [6.0]]))  # mean 3, mean |x - 3| = (2 + 1 + 0 + 3) / 4 = 1.5
    np.testing.assert_allclose(y.detach().numpy().ravel(), [-4 / 3, -2 / 3, 0, 2], rtol=1e-6)
    np.testing.assert_allclose(bn.running_mean.numpy(), [1.5])  # 0.5 * 0 + 0.5 * 3
    np.testing.assert_allclose(bn.running_var.numpy(), [1.25])  # 0.5 * 1 + 0.5 * 1.5


def test_binary_linear_zero_latent_weight_is_plus_one_and_constrain_clips():
    lin = L.BinaryLinear(3, 2, alpha=True)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[0.0, -0.5, 2.0], [-1.5, 0.25, -0.0]]))
    lin.eval()
    y = lin(torch.tensor([[1.0, 2.0, 4.0]]))
    # signs [[1, -1, 1], [-1, 1, 1]] -> [3, 5]; alpha = mean |W| per row = [2.5/3, 1.75/3]
    np.testing.assert_array_equal(y.numpy(), (np.float32([3, 5]) * np.float32([2.5 / 3, 1.75 / 3]))[None])
    lin.constrain_()
    assert float(lin.weight.abs().max()) == 1.0


def test_flightnn_filters_pick_k_by_the_threshold_and_the_threshold_learns():
    torch.manual_seed(0)
    lin = L.Pow2Linear(32, 8, flight=True)
    with torch.no_grad():
        lin.weight.mul_(torch.linspace(0.2, 3.0, 8)[:, None])  # filters of growing magnitude
        lin.threshold.fill_(1.0)
    k = lin.filter_k()
    assert k[0] == 1 and k[-1] == 2 and 0 < int((k == 1).sum()) < 8  # small filters take one term
    lin.eval()
    w = lin.quantized()
    q1, q2 = L.Q.pow2_quant(lin.weight, 1, -8, 0), L.Q.pow2_quant(lin.weight, 2, -8, 0)
    for f in range(8):
        np.testing.assert_array_equal(w[f].numpy(), (q1 if k[f] == 1 else q2)[f].detach().numpy())
    lin.train()
    (lin(torch.randn(4, 32)).square().sum() + lin.k2_penalty()).backward()
    assert lin.threshold.grad is not None and float(lin.threshold.grad) != 0.0
    net = QuantNet("t", "pow2", (32,), [lin])
    assert net.k1_fraction() == float((k == 1).float().mean())


def test_shift_layer_weights_are_ternary_powers_of_two():
    torch.manual_seed(0)
    lin = L.ShiftLinear(64, 16, shift_bits=3)
    with torch.no_grad():
        lin.sign[0, :8] = 0.2  # rounds to 0: zero weights
    lin.eval()
    w = lin.quantized().numpy()
    nz = np.abs(w[w != 0])
    assert np.all(w[0, :8] == 0)
    assert np.all(np.log2(nz) == np.round(np.log2(nz))) and nz.min() >= 2.0**-7 and nz.max() <= 1.0


def test_adder_weights_live_on_the_input_grid():
    spec = L.IntAct(4, signed=True, scale=0.25).spec
    lin = L.AdderLinear(10, 6, spec)
    with torch.no_grad():
        lin.weight[0, 0] = 5.0  # beyond the grid: clipped to 7 * 0.25
        lin.weight[0, 1] = 0.125  # a tie: round half to even -> 0
    lin.eval()
    codes = lin.quantized().numpy() / 0.25
    assert np.all(codes == np.round(codes)) and codes.min() >= -8 and codes.max() <= 7
    assert codes[0, 0] == 7 and codes[0, 1] == 0


def test_distribution_loss_terms():
    t = distribution_terms(torch.tensor([0.0, 2.0]), torch.tensor([1.0, 0.1]))
    np.testing.assert_allclose(float(t["degeneration"]), (1.9**2) / 2, rtol=1e-6)
    assert float(t["saturation"]) == 0.0
    np.testing.assert_allclose(float(t["mismatch"]), (0.15**2) / 2, rtol=1e-6)
    torch.manual_seed(0)
    net = zoo.build("tfc")
    net.track_activations(True)
    net.train()
    net(torch.randint(0, 256, (16, 784)).float())
    loss = distribution_loss(net)
    loss.backward()
    assert float(loss) > 0 and net.layers[1].bn.weight.grad is not None


def _blocks(low_memory: bool, conv: bool) -> QuantNet:
    torch.manual_seed(0)
    if conv:
        layers = [L.InputQuant(), BinaryBlock(L.BinaryConv2d(1, 4, 3), L.BatchNorm(4, l1=True), pool=2),
                  BinaryBlock(L.BinaryConv2d(4, 6, 3), L.BatchNorm(6, l1=True)), torch.nn.Flatten(),
                  BinaryBlock(L.BinaryLinear(6 * 3 * 3, 5), L.BatchNorm(5, l1=True), act=False)]
        net = QuantNet("c", "binary", (1, 12, 12), layers)
    else:
        layers = [L.InputQuant(), BinaryBlock(L.BinaryLinear(20, 16), L.BatchNorm(16, l1=True)),
                  BinaryBlock(L.BinaryLinear(16, 5), L.BatchNorm(5, l1=True), act=False)]
        net = QuantNet("m", "binary", (20,), layers)
    net.set_low_memory(low_memory)
    return net.train()


@pytest.mark.parametrize("conv", [False, True], ids=["mlp", "cnn"])
def test_low_memory_blocks_give_the_standard_gradients(conv):
    gen = torch.Generator().manual_seed(1)
    shape = (1, 12, 12) if conv else (20,)
    x = torch.randint(0, 256, (32, *shape), generator=gen).float()
    y = torch.randint(0, 5, (32,), generator=gen)
    grads, outs = [], []
    for low in (False, True):
        net = _blocks(low, conv)
        out = net(x)
        F.cross_entropy(out, y).backward()
        outs.append(out.detach())
        grads.append({n: p.grad.clone() for n, p in net.named_parameters()})
        stats = [b.clone() for b in net.buffers()]
    np.testing.assert_array_equal(outs[0].numpy(), outs[1].numpy())
    for name, g in grads[0].items():
        if name.endswith("linear.weight") or name.split(".")[-1] == "weight" and grads[1][name].dim() > 1:
            # weight gradients are formed in bfloat16: 8 significant bits
            np.testing.assert_allclose(grads[1][name].numpy(), g.numpy(), rtol=0.05, atol=0.02 * float(g.abs().max()))
        else:
            np.testing.assert_allclose(grads[1][name].numpy(), g.numpy(), rtol=1e-4, atol=1e-5)
    assert all(torch.isfinite(s).all() for s in stats)


@pytest.mark.parametrize("name", ["lfc", "cnv"])
def test_low_memory_saves_at_least_3x_fewer_bytes_at_batch_100(name):
    gen = torch.Generator().manual_seed(0)
    sizes = {}
    for low in (False, True):
        torch.manual_seed(0)
        net = zoo.build(name, low_memory=low).train()
        x = torch.randint(0, 256, (100, *net.input_shape), generator=gen).float()
        y = torch.randint(0, 10, (100,), generator=gen)
        sizes[low] = saved_bytes(lambda net=net, x=x, y=y: F.cross_entropy(net(x), y))
    assert sizes[False] >= 3 * sizes[True], sizes
