"""Trainable layers whose eval-mode forward is, op for op, the exported dialect graph.

Each layer computes in eval mode exactly what its ONNX pattern computes in float32
(docs/onnx-dialect.md): weights are materialized on their integer / power-of-two grid, BatchNorm
is applied folded (``x * a + b`` with a and b precomputed in float32, never torch's own BN
kernel, whose float order differs), quantizers are Div/Round/Clip/Mul. So torch, onnxruntime and
bnncc's executor agree bit for bit wherever float32 holds the integers exactly.

Layers with constrained latent parameters (binary weights in [-1, 1], shift exponents in their
range) expose ``constrain_()``, which the training loop calls after every optimizer step.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from bnncc.ir.spec import BN_EPS, IntQuantSpec, int_range
from bnncc.nn import quantizers as Q
from bnncc.nn.adder import adder_matmul

__all__ = [
    "AdderConv2d",
    "AdderLinear",
    "BatchNorm",
    "BinaryAct",
    "BinaryConv2d",
    "BinaryLinear",
    "InputQuant",
    "IntAct",
    "Pow2Conv2d",
    "Pow2Linear",
    "ShiftConv2d",
    "ShiftLinear",
]


def _scalar(v: float) -> Tensor:
    return torch.tensor(v, dtype=torch.float32)


# --------------------------------------------------------------------------------------------------
# Activation quantizers
# --------------------------------------------------------------------------------------------------


class IntAct(nn.Module):
    """n-bit integer activation ``clamp(round(x / s), qmin, qmax) * s`` (ONNX Div/Round/Clip/Mul).

    Hidden-layer scales should be powers of two: then every value is an integer times 2**e and the
    next layer's float32 sums are exact. The preceding BatchNorm learns the range, so s is fixed.
    """

    def __init__(self, bits: int, signed: bool = False, scale: float = 0.25) -> None:
        super().__init__()
        if bits < 1 or scale <= 0:
            raise ValueError(f"need bits >= 1 and scale > 0, got bits={bits}, scale={scale}")
        self.bits, self.signed = bits, signed
        self.qmin, self.qmax = int_range(bits, signed)
        self.register_buffer("scale", _scalar(scale))

    @property
    def spec(self) -> IntQuantSpec:
        return IntQuantSpec(float(self.scale), self.qmin, self.qmax)

    def forward(self, x: Tensor) -> Tensor:
        return Q.int_quant(x, self.scale, self.qmin, self.qmax)

    def extra_repr(self) -> str:
        return f"bits={self.bits}, signed={self.signed}, scale={float(self.scale):g}"


class InputQuant(IntAct):
    """The model's first quantizer, run by the host: unsigned ``bits``-bit codes of the raw input.

    The default (8 bits, scale 1) takes raw pixels 0..255 as they come from ``bnncc.data`` and
    hands the hardware the integer pixel codes; with scale 1 every first-layer sum is an integer,
    so float32 computes it exactly (a scale of 1/255 would not be).
    """

    def __init__(self, bits: int = 8, scale: float = 1.0) -> None:
        super().__init__(bits, signed=False, scale=scale)


class BinaryAct(nn.Module):
    """Bipolar activation x >= 0 -> +1 else -1 (hardtanh STE).

    With ``track = True`` it keeps the per-channel mean and std of its input batch (with grad) in
    ``stats``, which the distribution loss reads.
    """

    def __init__(self) -> None:
        super().__init__()
        self.track = False
        self.stats: tuple[Tensor, Tensor] | None = None

    def forward(self, x: Tensor) -> Tensor:
        if self.track and self.training:
            dims = [0] + list(range(2, x.dim()))
            self.stats = (x.mean(dim=dims), x.std(dim=dims, unbiased=False))
        return Q.bipolar(x)


# --------------------------------------------------------------------------------------------------
# BatchNorm, applied folded in eval
# --------------------------------------------------------------------------------------------------


class BatchNorm(nn.Module):
    """BatchNorm over channels (axis 1) for [N, C] and [N, C, H, W]; ``l1=True`` for L1 batch norm.

    Training uses batch statistics: L2 through ``F.batch_norm``; L1 divides by the mean absolute
    deviation (cheaper, and the low-memory BNN training's choice). Eval computes ``x * a + b`` with
    ``a, b = folded()``: a = gamma * (1/sqrt(var + eps)) (L2) or gamma * (1/(mad + eps)) (L1),
    b = beta - mean * a, each step in float32: the dialect's Mul/Add, bit for bit.
    """

    def __init__(self, channels: int, l1: bool = False, eps: float = BN_EPS, momentum: float = 0.1) -> None:
        super().__init__()
        self.channels, self.l1, self.eps, self.momentum = channels, l1, eps, momentum
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.register_buffer("running_mean", torch.zeros(channels))
        self.register_buffer("running_var", torch.ones(channels))  # L1: running mean absolute deviation

    def folded(self) -> tuple[Tensor, Tensor]:
        """The float32 per-channel (a, b) of eval mode and of the exported Mul/Add."""
        with torch.no_grad():
            spread = self.running_var + self.eps
            if not self.l1:
                # torch's float32 sqrt is not correctly rounded on CPU (~18 % of values differ in the
                # last bit); the float64 root rounded once to float32 is, as numpy's and onnxruntime's.
                spread = torch.sqrt(spread.double()).float()
            a = self.weight * torch.div(torch.ones_like(spread), spread)
            return a, self.bias - self.running_mean * a

    def _shape(self, x: Tensor) -> list[int]:
        return [1, -1] + [1] * (x.dim() - 2)

    def forward(self, x: Tensor) -> Tensor:
        if not self.training:
            a, b = self.folded()
            return x * a.view(self._shape(x)) + b.view(self._shape(x))
        if not self.l1:
            return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, True,
                                self.momentum, self.eps)
        return l1_batch_norm(x, self.weight, self.bias, self.running_mean, self.running_var, self.momentum,
                             self.eps)

    def extra_repr(self) -> str:
        return f"{self.channels}, l1={self.l1}, eps={self.eps:g}"


def l1_batch_norm(x: Tensor, weight: Tensor, bias: Tensor, running_mean: Tensor | None,
                  running_mad: Tensor | None, momentum: float, eps: float) -> Tensor:
    """Training-mode L1 batch norm: (x - mean) / (mean|x - mean| + eps) * gamma + beta per channel,
    updating the running statistics in place when they are given."""
    dims = [0] + list(range(2, x.dim()))
    shape = [1, -1] + [1] * (x.dim() - 2)
    mean = x.mean(dim=dims)
    c = x - mean.view(shape)
    mad = c.abs().mean(dim=dims)
    if running_mean is not None and running_mad is not None:
        with torch.no_grad():
            running_mean.mul_(1 - momentum).add_(momentum * mean)
            running_mad.mul_(1 - momentum).add_(momentum * mad)
    return c / (mad + eps).view(shape) * weight.view(shape) + bias.view(shape)


# --------------------------------------------------------------------------------------------------
# Binary layers (XNOR-Net / BNN)
# --------------------------------------------------------------------------------------------------


class _BinaryMixin:
    """±1 weights from latent weights in [-1, 1]; optional XNOR-Net scale alpha = mean|W| per output."""

    weight: nn.Parameter
    alpha: bool
    training: bool

    def binary(self) -> Tensor:
        if self.training:
            return Q.binary_weight(self.weight)
        with torch.no_grad():
            return torch.where(self.weight >= 0, 1.0, -1.0)

    def scale(self) -> Tensor:
        """alpha per output channel (float32); a gradient flows to it in training."""
        dims = list(range(1, self.weight.dim()))
        a = self.weight.abs().mean(dim=dims)
        return a if self.training else a.detach()

    def constrain_(self) -> None:
        with torch.no_grad():
            self.weight.clamp_(-1.0, 1.0)


class BinaryLinear(_BinaryMixin, nn.Module):
    """y = x @ sign(W)^T (times alpha per output with ``alpha=True``); exported as MatMul [+ Mul]."""

    def __init__(self, in_features: int, out_features: int, alpha: bool = False) -> None:
        super().__init__()
        self.in_features, self.out_features, self.alpha = in_features, out_features, alpha
        bound = 1.0 / math.sqrt(in_features)
        self.weight = nn.Parameter(torch.empty(out_features, in_features).uniform_(-bound, bound))

    def forward(self, x: Tensor) -> Tensor:
        y = F.linear(x, self.binary())
        return y * self.scale() if self.alpha else y

    def extra_repr(self) -> str:
        return f"{self.in_features}, {self.out_features}, alpha={self.alpha}"


class BinaryConv2d(_BinaryMixin, nn.Module):
    """3x3 (or k x k) convolution with ±1 weights, stride 1, no bias; exported as Conv [+ Mul].

    ``padding`` must stay 0 on bipolar inputs (zero is not a bipolar value; the frontend refuses it);
    it is legal on the first layer, whose input codes include 0.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, padding: int = 0,
                 alpha: bool = False) -> None:
        super().__init__()
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, kernel_size
        self.padding, self.alpha = padding, alpha
        bound = 1.0 / math.sqrt(in_channels * kernel_size * kernel_size)
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, kernel_size, kernel_size)
                                   .uniform_(-bound, bound))

    def forward(self, x: Tensor) -> Tensor:
        y = F.conv2d(x, self.binary(), padding=self.padding)
        return y * self.scale().view(1, -1, 1, 1) if self.alpha else y

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}, k={self.kernel_size}, pad={self.padding}, alpha={self.alpha}"


# --------------------------------------------------------------------------------------------------
# Power-of-two layers (LightNN, FLightNN)
# --------------------------------------------------------------------------------------------------


class _Pow2Mixin:
    """Weights Q_k(w) = sums of k signed powers of two with exponents in [e_min, e_max].

    LightNN: one k in {1, 2} per layer. FLightNN (``flight=True``): every output filter uses
    k = 2 only if its residual after one term, rms(w_f - Q_1(w_f)) relative to the layer's mean of
    that rms over filters, exceeds a trainable per-layer threshold t; otherwise k = 1. (The residual
    relative to the filter's own rms is nearly the same for every filter, ~0.17 for log-uniform
    rounding, so it cannot tell filters apart; the absolute residual ranks filters by how much a
    second term would change them.) The hard choice is made in forward; t learns through a sigmoid
    surrogate of the step (temperature ``tau``), and ``k2_penalty()`` (the mean surrogate gate) is
    the regularizer that pushes filters to k = 1.
    """

    weight: nn.Parameter
    k: int
    flight: bool
    exp_range: tuple[int, int]
    threshold: nn.Parameter
    tau: float
    training: bool

    def _setup_pow2(self, k: int, exp_range: tuple[int, int], flight: bool, tau: float) -> None:
        if k not in (1, 2):
            raise ValueError(f"k must be 1 or 2, got {k}")
        lo, hi = int(exp_range[0]), int(exp_range[1])
        if lo > hi:
            raise ValueError(f"exp_range must be (min, max), got {exp_range}")
        self.k, self.exp_range, self.flight, self.tau = (2 if flight else k), (lo, hi), flight, tau
        if flight:
            self.threshold = nn.Parameter(torch.tensor(0.5))  # below every filter: all start at k = 2

    def _gates(self) -> tuple[Tensor, Tensor, Tensor]:
        """(first term Q_1, second term R(w - Q_1), soft gate per filter) without grad to w."""
        lo, hi = self.exp_range
        w = self.weight.detach()
        q1 = Q.pow2_quant(w, 1, lo, hi)
        r2 = Q.pow2_round(w - q1, lo, hi)
        dims = list(range(1, w.dim()))
        res = (w - q1).pow(2).mean(dim=dims).sqrt()
        rel = res / res.mean().clamp_min(1e-12)
        soft = torch.sigmoid((rel - self.threshold) / self.tau)
        return q1, r2, soft

    def filter_k(self) -> Tensor:
        """k per output filter (int64): 1 or 2."""
        if not self.flight:
            return torch.full((self.weight.shape[0],), self.k, dtype=torch.int64)
        with torch.no_grad():
            _, _, soft = self._gates()
            return 1 + (soft > 0.5).to(torch.int64)

    def k2_penalty(self) -> Tensor:
        """FLightNN regularizer: the mean surrogate gate (fraction of filters using two terms), from the
        last training forward pass (recomputed if there was none)."""
        if not self.flight:
            return torch.zeros(())
        soft = getattr(self, "_soft", None)
        return (soft if soft is not None else self._gates()[2]).mean()

    def quantized(self) -> Tensor:
        lo, hi = self.exp_range
        if not self.flight:
            if self.training:
                return Q.pow2_ste(self.weight, self.k, lo, hi)
            with torch.no_grad():
                return Q.pow2_quant(self.weight, self.k, lo, hi)
        q1, r2, soft = self._gates()
        self._soft = soft if self.training else None
        hard = (soft > 0.5).to(soft.dtype)
        shape = [-1] + [1] * (self.weight.dim() - 1)
        with torch.no_grad():
            value = q1 + hard.view(shape) * r2  # sum of two powers of two in range: exact
        if not self.training:
            return value
        # Differentiable zeros carry the gradients: identity to w, the surrogate to the threshold.
        gate = (soft - soft.detach()).view(shape) * r2
        return Q.straight_through(self.weight, value) + gate

    def constrain_(self) -> None:
        if self.flight:
            with torch.no_grad():
                self.threshold.clamp_(0.0, 4.0)


class Pow2Linear(_Pow2Mixin, nn.Module):
    """LightNN / FLightNN fully connected layer; exported as MatMul with power-of-two weights."""

    def __init__(self, in_features: int, out_features: int, k: int = 2, exp_range: tuple[int, int] = (-8, 0),
                 flight: bool = False, tau: float = 0.1) -> None:
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        bound = 1.0 / math.sqrt(in_features)
        self.weight = nn.Parameter(torch.empty(out_features, in_features).uniform_(-bound, bound))
        self._setup_pow2(k, exp_range, flight, tau)

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.quantized())

    def extra_repr(self) -> str:
        return f"{self.in_features}, {self.out_features}, k={self.k}, exp_range={self.exp_range}, flight={self.flight}"


class Pow2Conv2d(_Pow2Mixin, nn.Module):
    """LightNN / FLightNN convolution (filters = output channels); exported as Conv."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, padding: int = 0, k: int = 2,
                 exp_range: tuple[int, int] = (-8, 0), flight: bool = False, tau: float = 0.1) -> None:
        super().__init__()
        self.in_channels, self.out_channels, self.kernel_size, self.padding = (in_channels, out_channels,
                                                                                kernel_size, padding)
        bound = 1.0 / math.sqrt(in_channels * kernel_size * kernel_size)
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, kernel_size, kernel_size)
                                   .uniform_(-bound, bound))
        self._setup_pow2(k, exp_range, flight, tau)

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(x, self.quantized(), padding=self.padding)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, k={self.kernel_size}, pad={self.padding}, "
                f"terms={self.k}, exp_range={self.exp_range}, flight={self.flight}")


# --------------------------------------------------------------------------------------------------
# Shift layers (DeepShift-PS)
# --------------------------------------------------------------------------------------------------


class _ShiftMixin:
    """w = sign(round(s)) * 2**round(p): trainable shift p in [e_max - 2**b + 1, e_max] (b-bit shift
    codes) and trainable sign s in [-1, 1] (ternary after rounding: zero weights exist)."""

    shift: nn.Parameter
    sign: nn.Parameter
    exp_range: tuple[int, int]

    def _setup_shift(self, w0: Tensor, shift_bits: int, e_max: int) -> None:
        if shift_bits < 1:
            raise ValueError(f"shift_bits must be >= 1, got {shift_bits}")
        self.exp_range = (e_max - 2**shift_bits + 1, e_max)
        lo, hi = self.exp_range
        self.shift = nn.Parameter(torch.log2(w0.abs().clamp_min(2.0**lo)).clamp(lo, hi))
        self.sign = nn.Parameter(torch.where(w0 >= 0, 1.0, -1.0))

    def quantized(self) -> Tensor:
        lo, hi = self.exp_range
        w = Q.shift_weight(self.shift, self.sign, lo, hi)
        return w if self.training else w.detach()

    def constrain_(self) -> None:
        lo, hi = self.exp_range
        with torch.no_grad():
            self.shift.clamp_(lo, hi)
            self.sign.clamp_(-1.0, 1.0)


class ShiftLinear(_ShiftMixin, nn.Module):
    """DeepShift-PS fully connected layer; exported as MatMul with weights in {0, ±2**e}."""

    def __init__(self, in_features: int, out_features: int, shift_bits: int = 3, e_max: int = 0) -> None:
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        bound = 1.0 / math.sqrt(in_features)
        self._setup_shift(torch.empty(out_features, in_features).uniform_(-bound, bound), shift_bits, e_max)

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.quantized())

    def extra_repr(self) -> str:
        return f"{self.in_features}, {self.out_features}, exp_range={self.exp_range}"


class ShiftConv2d(_ShiftMixin, nn.Module):
    """DeepShift-PS convolution; exported as Conv."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, padding: int = 0,
                 shift_bits: int = 3, e_max: int = 0) -> None:
        super().__init__()
        self.in_channels, self.out_channels, self.kernel_size, self.padding = (in_channels, out_channels,
                                                                                kernel_size, padding)
        bound = 1.0 / math.sqrt(in_channels * kernel_size * kernel_size)
        w0 = torch.empty(out_channels, in_channels, kernel_size, kernel_size).uniform_(-bound, bound)
        self._setup_shift(w0, shift_bits, e_max)

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(x, self.quantized(), padding=self.padding)

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}, k={self.kernel_size}, pad={self.padding}, " \
               f"exp_range={self.exp_range}"


# --------------------------------------------------------------------------------------------------
# Adder layers (AdderNet)
# --------------------------------------------------------------------------------------------------


class _AdderMixin:
    """Weights on the activation grid of the quantizer feeding the layer: W = s * clamp(round(w / s),
    qmin, qmax) (identity STE), which is what the frontend's Adder lowering requires. The weight
    gradient is rescaled per layer to eta * sqrt(numel) / ||grad||_2 (AdderNet's adaptive learning
    rate: adder gradients are much smaller than a multiplication layer's)."""

    weight: nn.Parameter
    act: IntQuantSpec
    training: bool

    def _setup_adder(self, act: IntQuantSpec, eta: float) -> None:
        self.act, self.eta = act, eta
        self.register_buffer("act_scale", _scalar(act.scale))
        self.weight.register_hook(self._adaptive)

    def _adaptive(self, g: Tensor) -> Tensor:
        norm = g.norm()
        return g if norm == 0 else g * (self.eta * math.sqrt(g.numel()) / norm)

    def quantized(self) -> Tensor:
        with torch.no_grad():
            q = torch.mul(torch.clamp(torch.round(torch.div(self.weight, self.act_scale)), self.act.qmin,
                                      self.act.qmax), self.act_scale)
        return Q.straight_through(self.weight, q) if self.training else q


def _adder_init(shape: tuple[int, ...], act: IntQuantSpec) -> Tensor:
    """Weights spread over the central part of the input grid, where the BN'd activations live."""
    lo, hi = act.qmin * act.scale, act.qmax * act.scale
    return torch.empty(shape).normal_(0.5 * (lo + hi), 0.25 * (hi - lo)).clamp_(lo, hi)


class AdderLinear(_AdderMixin, nn.Module):
    """y[n, j] = -sum_i |x[n, i] - W[i, j]|; exported as ``bnncc.AdderMatMul`` (W stored [in, out])."""

    def __init__(self, in_features: int, out_features: int, act: IntQuantSpec, eta: float = 0.1) -> None:
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.weight = nn.Parameter(_adder_init((in_features, out_features), act))
        self._setup_adder(act, eta)

    def forward(self, x: Tensor) -> Tensor:
        return adder_matmul(x, self.quantized())

    def extra_repr(self) -> str:
        return f"{self.in_features}, {self.out_features}, grid={self.act}"


class AdderConv2d(_AdderMixin, nn.Module):
    """Adder convolution y[n, o, p] = -sum_{c,i,j} |x[n, c, p + (i, j)] - W[o, c, i, j]| (im2col + the
    chunked adder product), stride 1, no padding; exported as ``bnncc.AdderConv`` (W stored
    [C*k*k, out], rows ordered (c, i, j) as ``F.unfold`` lays out a patch)."""

    def __init__(self, in_channels: int, out_channels: int, act: IntQuantSpec, kernel_size: int = 3,
                 eta: float = 0.1) -> None:
        super().__init__()
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, kernel_size
        self.weight = nn.Parameter(_adder_init((in_channels * kernel_size * kernel_size, out_channels), act))
        self._setup_adder(act, eta)

    def forward(self, x: Tensor) -> Tensor:
        n, _, h, w = x.shape
        k = self.kernel_size
        cols = F.unfold(x, k)  # [N, C*k*k, L], rows ordered (c, i, j)
        ho, wo = h - k + 1, w - k + 1
        y = adder_matmul(cols.transpose(1, 2).reshape(-1, cols.shape[1]), self.quantized())
        return y.view(n, ho * wo, -1).transpose(1, 2).reshape(n, -1, ho, wo)

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}, k={self.kernel_size}, grid={self.act}"
