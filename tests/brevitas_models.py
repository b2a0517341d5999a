"""Small Brevitas models with random weights and random BatchNorm statistics, exported to QONNX.

Imported by tests as a fixture factory: nobody here trained these models, they exist to exercise the
frontend and the threshold derivation on graphs exactly as Brevitas writes them. The BatchNorm
statistics are drawn so that every layer's output varies with the input and so that the awkward
cases occur: negative gamma (flipped comparison), gamma exactly 0 (constant channel), and channels
whose mean is a reachable accumulator value, so that the BN output is exactly 0 or exactly +-0.5
(the bipolar ">= 0" boundary and the round-half-to-even boundary of 2-bit quantizers).

All quantizers use scale 1.0 (like BNN-PYNQ / the qonnx zoo TFC models): with Brevitas' own
``SignedBinaryWeightPerTensorConst`` scale of 0.1, the float32 MatMul sums multiples of 0.1f with
rounding error (onnxruntime gave exactly 0 for 2 of 1,579 zero accumulators), and the reference
output is then no longer a function of the integer accumulator.

The returned torch model is NOT a bit-exact reference: torch's eval BatchNorm computes the fused
x * a + (beta - mean * a), which gives -3e-8 where the ONNX graph (qonnx, onnxruntime) gives exactly
0 at acc == mean, so the bipolar output flips on the boundary channels. Compare with ``qonnx_ref``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from brevitas.export import export_qonnx
from brevitas.nn import QuantConv2d, QuantIdentity, QuantLinear
from brevitas.quant import SignedBinaryActPerTensorConst, SignedBinaryWeightPerTensorConst
from brevitas_examples.bnn_pynq.models.common import CommonActQuant, CommonWeightQuant
from torch import nn


def _bipolar_act() -> QuantIdentity:
    # Exports as BipolarQuant(x, scale=1): x >= 0 -> +1 else -1.
    return QuantIdentity(act_quant=SignedBinaryActPerTensorConst)


def _int_act(bit_width: int) -> QuantIdentity:
    # Signed narrow-range, scale 1: for 2 bits the levels are {-1, 0, +1}.
    return QuantIdentity(act_quant=CommonActQuant, bit_width=bit_width)


def _binary_linear(fan_in: int, fan_out: int) -> QuantLinear:
    return QuantLinear(
        fan_in, fan_out, bias=False, weight_quant=SignedBinaryWeightPerTensorConst, weight_scaling_const=1.0
    )


def _binary_conv(c_in: int, c_out: int) -> QuantConv2d:
    return QuantConv2d(
        c_in,
        c_out,
        kernel_size=3,
        padding=0,
        bias=False,
        weight_quant=SignedBinaryWeightPerTensorConst,
        weight_scaling_const=1.0,
    )


def _int_linear(fan_in: int, fan_out: int, bit_width: int) -> QuantLinear:
    return QuantLinear(fan_in, fan_out, bias=False, weight_quant=CommonWeightQuant, weight_bit_width=bit_width)


def _set_bn_stats(model: nn.Sequential, x: np.ndarray, rng: np.random.Generator) -> None:
    """Draw every BN's statistics from the accumulators the model really produces on ``x``.

    Calibrating on real accumulators (not on a guessed sqrt(fan_in) scale) keeps the outputs
    non-constant whatever the quantizer, and lets the boundary channels use a mean that is a
    reachable accumulator value, so that acc == mean really happens.
    """
    layers = list(model)
    h = torch.from_numpy(x)
    with torch.no_grad():
        for i, layer in enumerate(layers):
            if isinstance(layer, nn.BatchNorm1d | nn.BatchNorm2d):
                # A 2x2 max-pool after the activation turns a 50 % share of +1 into ~94 %: aim lower there.
                pooled = i + 2 < len(layers) and isinstance(layers[i + 2], nn.MaxPool2d)
                acc = h.transpose(0, 1).reshape(h.shape[1], -1).numpy().astype(np.float64)
                _draw_bn(layer, acc, pooled, rng)
            h = layer(h)


def _draw_bn(bn: nn.BatchNorm1d | nn.BatchNorm2d, acc: np.ndarray, pooled: bool, rng: np.random.Generator) -> None:
    c = bn.num_features
    centre = acc.mean(axis=1)
    spread = np.maximum(acc.std(axis=1), 1.0)
    gamma = rng.choice([-1.0, 1.0], c) * rng.uniform(0.5, 2.0, c)
    var = (spread * rng.uniform(0.7, 1.5, c)) ** 2
    beta = rng.normal(0.0, 0.3, c)
    # Output >= 0 iff (acc - mean) * sign(gamma) >= -beta * std / |gamma|: shifting the mean along
    # sign(gamma) lowers the share of +1 before a pool.
    mean = centre + spread * (rng.normal(0.0, 0.5, c) + (0.8 if pooled else 0.0) * np.sign(gamma))
    idx = rng.permutation(c)
    # Boundary channels: the mean is an accumulator value that occurs, so BN gives exactly beta =
    # 0 (the bipolar >= 0 edge) or +-0.5 (the round-half-to-even edge of multi-bit quantizers).
    for ch in idx[: max(2, c // 4)]:
        values = np.unique(acc[ch])
        mean[ch] = values[np.argmin(np.abs(values - mean[ch]))]
        beta[ch] = rng.choice([0.0, 0.0, 0.5, -0.5])
    dead = idx[-2:]  # gamma == 0: constant channels, one with output exactly 0 (-> +1, or rounds to 0)
    gamma[dead] = 0.0
    beta[dead[0]] = 0.0
    with torch.no_grad():
        for buf, value in (
            (bn.running_mean, mean),
            (bn.running_var, var),
            (bn.weight, gamma),
            (bn.bias, beta),
        ):
            buf.copy_(torch.from_numpy(value.astype(np.float32)))


def _randomize_weights(model: nn.Module, rng: np.random.Generator) -> None:
    # Latent float weights; the quantizer takes the sign (1 bit) or rounds to {-1, 0, 1} (2 bits narrow).
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, QuantLinear | QuantConv2d):
                m.weight.copy_(torch.from_numpy(rng.normal(0.0, 1.0, tuple(m.weight.shape)).astype(np.float32)))


def _finish(model: nn.Sequential, path: str | Path, in_shape: tuple[int, ...], rng: np.random.Generator) -> nn.Module:
    """Random weights, BN statistics calibrated on random inputs, eval mode, QONNX export to ``path``."""
    model.eval()
    _randomize_weights(model, rng)
    _set_bn_stats(model, random_inputs(in_shape, 256, int(rng.integers(2**31))), rng)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    # dynamo=False: the TorchScript exporter keeps MatMul/Conv plain; brevitas' wrapper forwards the flag.
    export_qonnx(model, input_t=torch.zeros(1, *in_shape), export_path=str(path), dynamo=False)
    return model


def _mlp(
    path: str | Path,
    seed: int,
    sizes: Sequence[int],
    act: Callable[[], nn.Module],
    linear: Callable[[int, int], nn.Module],
    final_bn: bool,
) -> nn.Module:
    if len(sizes) < 2:
        raise ValueError(f"an MLP needs at least input and output sizes, got {sizes}")
    rng = np.random.default_rng(seed)
    layers: list[nn.Module] = [act()]
    for fan_in, fan_out in zip(sizes[:-2], sizes[1:-1], strict=True):
        layers += [linear(fan_in, fan_out), nn.BatchNorm1d(fan_out), act()]
    layers.append(linear(sizes[-2], sizes[-1]))
    if final_bn:
        layers.append(nn.BatchNorm1d(sizes[-1]))
    return _finish(nn.Sequential(*layers), path, (sizes[0],), rng)


def binary_mlp(
    path: str | Path, seed: int, sizes: Sequence[int] = (64, 32, 32, 10), final_bn: bool = False
) -> nn.Module:
    """Bipolar-input, 1-bit-weight MLP: BipolarQuant -> [MatMul -> BN -> BipolarQuant]* -> MatMul (logits).

    Input [1, sizes[0]] float. Exports QONNX to ``path`` and returns the eval-mode torch model.
    ``final_bn`` appends a per-class BatchNorm on the logits (a float tail the host runs).
    """
    return _mlp(path, seed, sizes, _bipolar_act, _binary_linear, final_bn)


def w2a2_mlp(path: str | Path, seed: int, sizes: Sequence[int] = (64, 32, 32, 10), final_bn: bool = False) -> nn.Module:
    """Like the qonnx zoo TFC_2W2A: 2-bit narrow signed weights and activations ({-1, 0, 1}, scale 1.0)."""
    return _mlp(path, seed, sizes, lambda: _int_act(2), lambda i, o: _int_linear(i, o, 2), final_bn)


def binary_cnn(
    path: str | Path,
    seed: int,
    in_shape: Sequence[int] = (1, 14, 14),
    channels: Sequence[int] = (8, 16),
    fc: Sequence[int] = (32, 10),
) -> nn.Module:
    """Binary CNN: BipolarQuant -> [Conv3x3 (no pad) -> BN -> BipolarQuant -> MaxPool2] x len(channels)
    -> Flatten -> [MatMul -> BN -> BipolarQuant]* -> MatMul (logits).

    Input [1, *in_shape] float (C, H, W). The default 14x14 gives 12 -> 6 -> 4 -> 2, so the flatten
    sees a 2x2 map (the NHWC row permutation of the first FC matters); 12x12 or 16x16 make a pool
    see an odd size and drop its last row and column (floor). With one input channel the first conv
    has an odd fan-in (9), so its accumulators are never 0.
    """
    rng = np.random.default_rng(seed)
    c, h, w = in_shape
    layers: list[nn.Module] = [_bipolar_act()]
    for c_out in channels:
        layers += [_binary_conv(c, c_out), nn.BatchNorm2d(c_out), _bipolar_act(), nn.MaxPool2d(2)]
        c, h, w = c_out, (h - 2) // 2, (w - 2) // 2
        if h < 1 or w < 1:
            raise ValueError(f"input {tuple(in_shape)} is too small for {len(channels)} conv+pool stages")
    layers.append(nn.Flatten())
    sizes = [c * h * w, *fc]
    for fan_in, fan_out in zip(sizes[:-2], sizes[1:-1], strict=True):
        layers += [_binary_linear(fan_in, fan_out), nn.BatchNorm1d(fan_out), _bipolar_act()]
    layers.append(_binary_linear(sizes[-2], sizes[-1]))
    return _finish(nn.Sequential(*layers), path, tuple(in_shape), rng)


def random_inputs(
    shape: Sequence[int], n: int, seed: int, zero_fraction: float = 0.1, scale: float = 1.0
) -> np.ndarray:
    """``n`` float32 inputs of ``shape`` (no batch axis): normal floats with a fraction exactly 0.

    Exact zeros matter: a bipolar quantizer maps 0 to +1 while ONNX Sign maps it to 0.
    """
    rng = np.random.default_rng(seed)
    x = rng.normal(0.0, scale, (n, *shape)).astype(np.float32)
    x[rng.random(x.shape) < zero_fraction] = 0.0
    return x


def finn_topology(name: str, path: str | Path, seed: int = 0) -> nn.Module:
    """One of FINN's topologies as Brevitas defines them (``brevitas_examples.bnn_pynq.models.<name>``, e.g.
    ``sfc_1w2a``), random latent weights and random BatchNorm statistics (no downloads), exported to QONNX
    (``bnncc.finn_zoo``)."""
    from bnncc.finn_zoo import finn_topology as export_topology

    return export_topology(name, path, seed)
