"""Builders of models in the bnncc ONNX dialect (``docs/onnx-dialect.md``), made with ``onnx.helper``.

Tests, benchmarks and the bundled example use these instead of torch exports: the op patterns are
exactly the dialect's, the models are small, and every builder is deterministic for its seed (numpy
``default_rng`` only; no torch import here).

Random BatchNormalization statistics are *calibrated*: while a model is built, a batch of random
inputs (drawn as :func:`random_inputs` draws them) is pushed through the layers in numpy, and each
BN gets a mean / variance near the real statistics of its input channel, a random-sign gamma (one
channel exactly 0) and a small beta. That keeps every hidden channel switching and the argmax
labels varied on random inputs, which fixed formulas (``mean ~ sqrt(fan_in)``) do not for integer
inputs, adder layers or deep nets.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

from bnncc import onnx_writer as _w
from bnncc.ir.float_ops import FloatNode, run_node
from bnncc.ir.spec import int_range
from bnncc.onnx_writer import (  # re-exported: the fixtures' public names predate the shared writer
    ADDER_CONV_OP,
    ADDER_DOMAIN,
    ADDER_OP,
    BN_EPS,
    IR_VERSION,
    OPSET,
    IntQuantSpec,
    adder_function,
)

__all__ = [
    "ADDER_CONV_OP",
    "ADDER_DOMAIN",
    "ADDER_OP",
    "IR_VERSION",
    "OPSET",
    "SMALL_BUILDERS",
    "IntQuantSpec",
    "adder_function",
    "binary_cnn",
    "binary_mlp",
    "cnv",
    "for_qonnx",
    "input_quantizer",
    "int_mlp",
    "int_range",
    "lfc",
    "pow2_mlp",
    "random_inputs",
    "save",
    "shiftadd_cnn",
    "shiftadd_mlp",
    "rename_function",
    "rename_graph",
    "with_hostile_names",
]

_F32 = np.float32


# --------------------------------------------------------------------------------------------------
# Quantizer specs
# --------------------------------------------------------------------------------------------------


def _sample(rng: np.random.Generator, shape: tuple[int, ...], spec: IntQuantSpec | None) -> np.ndarray:
    """Random model inputs matched to the input quantizer, so all codes occur.

    Bipolar input: standard normal (sign is balanced). Unsigned codes: uniform over the real range
    ``[0, qmax*scale]`` (pixels/255 for 8-bit). Signed codes: normal with the range at ~2 sigma.
    """
    if spec is None:
        return rng.standard_normal(shape).astype(_F32)
    if spec.qmin >= 0:
        return rng.uniform(0.0, spec.qmax * spec.scale, shape).astype(_F32)
    return (rng.standard_normal(shape) * (spec.qmax * spec.scale / 2.0)).astype(_F32)


# --------------------------------------------------------------------------------------------------
# Graph builder: emits ONNX nodes and runs the same op on a numpy calibration batch
# --------------------------------------------------------------------------------------------------


class _Builder(_w.DialectWriter):
    """The dialect writer plus a numpy calibration batch: every node the writer emits also runs, by
    bnncc's float interpreter (``bnncc.ir.float_ops``, the semantics the frontend evaluates), on the
    batch at the current tensor, ``self.cal``, which the calibrated random BatchNorms read."""

    def __init__(self, name: str, in_shape: Sequence[int], seed: int, in_spec: IntQuantSpec | None,
                 calib: int) -> None:
        super().__init__(name, in_shape)
        self.rng = np.random.default_rng(seed)
        self.consts: dict[str, np.ndarray] = {}
        # An odd calibration size makes the median of a channel an observed value (see _bn_random).
        self.env = {self.x: _sample(np.random.default_rng([seed, 1]), (calib, *self.in_shape), in_spec)}

    @property
    def cal(self) -> np.ndarray:
        return self.env[self.x]

    def init(self, name: str, value: np.ndarray) -> str:
        self.consts[name] = np.asarray(value)
        return super().init(name, value)

    def node(self, op: str, inputs: list[str], name: str, domain: str = "", **attrs: object) -> str:
        out = super().node(op, inputs, name, domain, **attrs)
        env = {i: self.env[i] for i in inputs if i in self.env}
        run_node(FloatNode(op, list(inputs), [out], dict(attrs), name), env, self.consts)
        self.env = {out: env[out]}  # a chain: only the tensor in flight is read again
        return out

    def exact(self) -> bool:
        """True when the current values are multiples of 2**-12 (so float32 sums of them are exact)."""
        scaled = self.cal.astype(np.float64) * 4096.0
        return bool(np.all(scaled == np.round(scaled)))

    def channel_stats(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        axes = (0, 2, 3) if self.cal.ndim == 4 else (0,)
        z = np.moveaxis(self.cal, 1, -1).reshape(-1, self.channels()).astype(np.float64)
        mean = self.cal.mean(axis=axes, dtype=np.float64)
        std = self.cal.std(axis=axes, dtype=np.float64)
        # Floor the spread so a constant channel still gets a finite, positive variance.
        std = np.maximum(std, 1e-3 * max(float(np.abs(mean).max()), 1.0))
        return mean, std, np.median(z, axis=0)

    def channel_scale(self, p: str) -> None:
        """A random per-output-channel float Mul after a linear op (FLightNN-style; some negative)."""
        c = self.channels()
        self.mul(f"{p}/wscale", self.rng.uniform(0.5, 2.0, c) * self.rng.choice([-1.0, 1.0], c))

    def bn_random(self, p: str, center: float = 0.0, spread: float = 1.0) -> None:
        """A BN whose output is ~ center + spread * N(0, 1) per channel on random inputs.

        One channel gets gamma = 0 (a constant channel, beta = center); for bipolar targets
        (center 0) another gets mean = an observed accumulator value and beta = 0, so BN outputs of
        exactly 0 occur and exercise ``Where(x >= 0)`` at the boundary.
        """
        c = self.channels()
        mean, std, median = self.channel_stats()
        rng = self.rng
        m = mean + std * rng.uniform(-0.4, 0.4, c)
        var = (std * rng.uniform(0.7, 1.4, c)) ** 2
        gamma = spread * rng.uniform(0.6, 1.4, c) * rng.choice([-1.0, 1.0], c)
        beta = center + spread * rng.uniform(-0.3, 0.3, c)
        if c >= 4:
            zero_ch, exact_ch = rng.choice(c, 2, replace=False)
            gamma[zero_ch], beta[zero_ch] = 0.0, center
            # Only where float32 computes the accumulator exactly (bipolar or power-of-two-scaled
            # codes): with a scale like 1/255 onnxruntime's rounded sum differs from s * acc in the
            # last ulp, and a switching point placed on a reachable value would make its output
            # depend on summation order instead of on the integer meaning.
            if center == 0.0 and self.exact():
                m[exact_ch], beta[exact_ch] = median[exact_ch], 0.0
        self.batchnorm(p, gamma, beta, m, var)

    def affine_random(self, p: str, center: float = 0.0, spread: float = 1.0) -> None:
        """Per-channel Mul then Add (the BN-free normalization), calibrated like :meth:`bn_random`."""
        c = self.channels()
        mean, std, _ = self.channel_stats()
        a = spread / std * self.rng.uniform(0.6, 1.4, c) * self.rng.choice([-1.0, 1.0], c)
        self.mul(p, a)
        self.add(p, center - a * mean + spread * self.rng.uniform(-0.3, 0.3, c))

    def tail_random(self, p: str) -> None:
        """Per-channel Mul/Add on the logits that standardizes each class, so argmax labels vary.

        One channel's scale is negative (a legal float tail the frontend keeps on the host).
        """
        c = self.channels()
        mean, std, _ = self.channel_stats()
        sign = np.ones(c)
        sign[self.rng.integers(c)] = -1.0
        a = sign * self.rng.uniform(0.8, 1.25, c) / std
        self.mul(p, a)
        self.add(p, -a * mean + self.rng.uniform(-0.2, 0.2, c))

    def finish(self, doc: str) -> onnx.ModelProto:  # type: ignore[override]
        return super().finish(doc, producer="bnncc.fixtures")


# --------------------------------------------------------------------------------------------------
# Weight generators
# --------------------------------------------------------------------------------------------------


def _bipolar_w(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return rng.choice(np.array([-1.0, 1.0], dtype=_F32), size=shape)


def _int_w(rng: np.random.Generator, shape: tuple[int, ...], lo: int, hi: int) -> np.ndarray:
    return rng.integers(lo, hi + 1, size=shape).astype(_F32)


def _pow2_w(rng: np.random.Generator, shape: tuple[int, ...], k: int,
            exp_range: tuple[int, int]) -> np.ndarray:
    """Sums of k terms s * 2**e, s in {-1, 0, +1} (0 with prob. 0.1, so zero weights occur)."""
    lo, hi = exp_range
    w = np.zeros(shape, dtype=np.float64)
    for _ in range(k):
        sign = rng.choice([-1.0, 0.0, 1.0], size=shape, p=[0.45, 0.1, 0.45])
        w += sign * np.exp2(rng.integers(lo, hi + 1, size=shape))
    return w.astype(_F32)


def _check_sizes(sizes: Sequence[int], min_layers: int = 1) -> list[int]:
    sizes = [int(s) for s in sizes]
    if len(sizes) < min_layers + 1 or any(s < 1 for s in sizes):
        raise ValueError(f"sizes must list >= {min_layers + 1} positive widths, got {sizes}")
    return sizes


# --------------------------------------------------------------------------------------------------
# Public builders
# --------------------------------------------------------------------------------------------------


def binary_mlp(
    sizes: Sequence[int] = (64, 32, 32, 10),
    seed: int = 0,
    input_bits: int | None = None,
    weights: list[np.ndarray] | None = None,
    bn: list[dict[str, np.ndarray | float]] | None = None,
    tail: dict[str, np.ndarray] | None = None,
) -> onnx.ModelProto:
    """A binary (XNOR) MLP: input quantizer, then [MatMul(+-1) -> BN -> bipolar] per hidden layer,
    then MatMul(+-1) -> tail giving float logits.

    Input quantizer: bipolar ``Where(x >= 0, 1, -1)`` when ``input_bits`` is None, else unsigned
    ``input_bits`` codes with scale ``1/(2**input_bits - 1)`` (inputs in [0, 1]: pixel/255 -> code
    0..255 for 8 bits).

    A trained model supplies ``weights`` (``[MW, MH]`` arrays of +-1, MatMul layout) and ``bn``
    (dicts with ``gamma, beta, mean, var`` and optional ``eps``): ``len(sizes) - 2`` of them for the
    hidden layers, or one more, used as a BatchNormalization tail on the logits. ``tail`` (``scale``,
    ``bias``) gives an explicit per-channel Mul/Add tail instead. Without ``bn`` the hidden BNs and
    the Mul/Add tail are random (calibrated, see the module doc).
    """
    sizes = _check_sizes(sizes)
    n_layers = len(sizes) - 1
    in_spec = None if input_bits is None else IntQuantSpec(1.0 / (2**input_bits - 1), 0, 2**input_bits - 1)
    if weights is not None:
        if len(weights) != n_layers:
            raise ValueError(f"expected {n_layers} weight matrices, got {len(weights)}")
        for i, w in enumerate(weights):
            w = np.asarray(w)
            if w.shape != (sizes[i], sizes[i + 1]) or not np.all(np.abs(w) == 1):
                raise ValueError(f"weights[{i}] must be a +-1 array of shape {(sizes[i], sizes[i + 1])}")
    if bn is not None and len(bn) not in (n_layers - 1, n_layers):
        raise ValueError(f"bn must have {n_layers - 1} or {n_layers} entries, got {len(bn)}")
    b = _Builder("binary_mlp", (sizes[0],), seed, in_spec, calib=257)
    b.quant("input_quant", in_spec)
    for i in range(n_layers):
        p = f"fc{i}"
        w = weights[i] if weights is not None else _bipolar_w(b.rng, (sizes[i], sizes[i + 1]))
        b.matmul(p, w)
        last = i == n_layers - 1
        if bn is not None and (not last or len(bn) == n_layers):
            d = bn[i]
            b.batchnorm(p, d["gamma"], d["beta"], d["mean"], d["var"], float(d.get("eps", BN_EPS)))
        elif not last:
            b.bn_random(p)
        elif tail is not None:
            b.mul("tail", tail["scale"])
            b.add("tail", tail["bias"])
        elif bn is None:
            b.tail_random("tail")
        if not last:
            b.bipolar(f"act{i}")
    return b.finish(f"binary_mlp(sizes={tuple(sizes)}, seed={seed}, input_bits={input_bits}, "
                    f"trained={weights is not None})")


def _binary_convnet(name: str, in_shape: Sequence[int], plan: Sequence[int | str], fc: Sequence[int],
                    seed: int, input_bits: int | None, pad: int, calib: int) -> onnx.ModelProto:
    """Convs (int = out channels of a 3x3 conv + BN + bipolar; "M" = 2x2 max-pool), Flatten, FC."""
    in_spec = None if input_bits is None else IntQuantSpec(1.0 / (2**input_bits - 1), 0, 2**input_bits - 1)
    b = _Builder(name, in_shape, seed, in_spec, calib=calib)
    b.quant("input_quant", in_spec)
    ci = 0
    for item in plan:
        if item == "M":
            b.maxpool(f"pool{ci - 1}")
            continue
        cout = int(item)
        b.conv(f"conv{ci}", _bipolar_w(b.rng, (cout, b.channels(), 3, 3)), pad=pad)
        b.bn_random(f"conv{ci}")
        b.bipolar(f"conv{ci}/act")
        ci += 1
    b.flatten("flatten")
    fc = _check_sizes([int(b.cal.shape[1]), *fc])
    for i in range(len(fc) - 1):
        p = f"fc{i}"
        b.matmul(p, _bipolar_w(b.rng, (fc[i], fc[i + 1])))
        if i < len(fc) - 2:
            b.bn_random(p)
            b.bipolar(f"{p}/act")
        else:
            b.tail_random("tail")
    return b.finish(f"{name}(in_shape={tuple(in_shape)}, plan={list(plan)}, fc={tuple(fc[1:])}, seed={seed}, "
                    f"input_bits={input_bits}, pad={pad})")


def binary_cnn(
    in_shape: Sequence[int] = (1, 12, 12),
    channels: Sequence[int] = (8, 16),
    fc: Sequence[int] = (32, 10),
    seed: int = 0,
    input_bits: int | None = None,
    pad: int = 0,
) -> onnx.ModelProto:
    """Binary CNN: per entry of ``channels`` a Conv3x3(+-1) -> BN -> bipolar -> MaxPool2, then
    Flatten -> [MatMul(+-1) -> BN -> bipolar]* -> MatMul(+-1) -> Mul/Add logits.

    ``pad > 0`` zero-pads every conv: on bipolar activations that is outside the dialect (zero is
    not a bipolar value) and builds a model the frontend must refuse; it is legal on the first conv
    only when ``input_bits`` is set (code 0 is a real input value).
    """
    plan: list[int | str] = []
    for c in channels:
        plan += [int(c), "M"]
    return _binary_convnet("binary_cnn", in_shape, plan, fc, seed, input_bits, pad, calib=65)


def cnv(seed: int = 0) -> onnx.ModelProto:
    """FINN's CNV topology, binary: 3x32x32 input as 8-bit codes (pixel/255), convs 64-64-MP-128-128-MP-
    256-256 (3x3, no padding; 32->30->28->14->12->10->5->3->1), FC 256-512-512-10."""
    plan: list[int | str] = [64, 64, "M", 128, 128, "M", 256, 256]
    return _binary_convnet("cnv", (3, 32, 32), plan, (512, 512, 10), seed, 8, 0, calib=33)


def lfc(seed: int = 0) -> onnx.ModelProto:
    """FINN's LFC topology: binary MLP 784-1024-1024-1024-10 with bipolar input."""
    return binary_mlp((784, 1024, 1024, 1024, 10), seed=seed)


def int_mlp(
    sizes: Sequence[int] = (64, 32, 32, 10),
    weight_bits: int = 2,
    act_bits: int = 2,
    narrow: bool = True,
    seed: int = 0,
    signed: bool = True,
    norm: str = "bn",
    channel_scale: bool = False,
) -> onnx.ModelProto:
    """An integer MLP: weights uniform on the signed ``weight_bits`` grid, ``act_bits`` quantizers.

    ``narrow`` applies to weights and activations: 2-bit narrow signed is ternary {-1, 0, +1}.
    Activations are signed (``signed``) or unsigned codes (the Clip does the ReLU). The input
    quantizer has the activation's code range. ``norm`` is ``"bn"`` (BatchNormalization) or
    ``"affine"`` (per-channel Mul then Add); ``channel_scale`` adds a per-output-channel Mul (some
    scales negative) right after every MatMul. Hidden activation scales are powers of two; the input
    scale is ``2/qmax`` (signed, inputs ~ N(0, 1)) or ``1/qmax`` (unsigned, inputs in [0, 1]).
    """
    if weight_bits < 2:
        raise ValueError("weight_bits must be >= 2 (use binary_mlp for +-1 weights)")
    if norm not in ("bn", "affine"):
        raise ValueError(f"norm must be 'bn' or 'affine', got {norm!r}")
    sizes = _check_sizes(sizes)
    wlo, whi = int_range(weight_bits, True, narrow)
    qlo, qhi = int_range(act_bits, signed, narrow)
    # Inputs: signed ~ N(0, 1) spans the range at 2 sigma; unsigned inputs live in [0, 1].
    in_spec = IntQuantSpec((2.0 if signed else 1.0) / qhi, qlo, qhi)
    b = _Builder("int_mlp", (sizes[0],), seed, in_spec, calib=257)
    b.quant("input_quant", in_spec)
    n_layers = len(sizes) - 1
    for i in range(n_layers):
        p = f"fc{i}"
        b.matmul(p, _int_w(b.rng, (sizes[i], sizes[i + 1]), wlo, whi))
        if channel_scale:
            b.channel_scale(p)
        if i == n_layers - 1:
            b.tail_random("tail")
            break
        # Power-of-two activation scales keep every hidden float32 MatMul exact (see the dialect
        # doc, "Exactness"); the non-power-of-two cases are the input scale, channel_scale and BN.
        spec = IntQuantSpec((0.25, 0.5, 1.0)[i % 3], qlo, qhi)
        center = 0.0 if signed else 0.4 * qhi * spec.scale
        spread = 0.6 * qhi * spec.scale if signed else 0.5 * qhi * spec.scale
        (b.bn_random if norm == "bn" else b.affine_random)(p, center, spread)
        b.int_quant(f"act{i}", spec)
    return b.finish(f"int_mlp(sizes={tuple(sizes)}, weight_bits={weight_bits}, act_bits={act_bits}, "
                    f"narrow={narrow}, seed={seed}, signed={signed}, norm={norm!r}, "
                    f"channel_scale={channel_scale})")


def pow2_mlp(
    sizes: Sequence[int] = (64, 32, 32, 10),
    k: int = 1,
    exp_range: tuple[int, int] = (-4, 0),
    act_bits: int = 4,
    seed: int = 0,
    signed_act: bool = False,
    channel_scale: bool = False,
) -> onnx.ModelProto:
    """A power-of-two (LightNN) MLP: weights sum_{j<k} s_j 2**e_j, s_j in {-1, 0, +1},
    e_j in ``exp_range`` (inclusive), so zero weights occur.

    Activations: ``act_bits`` unsigned codes after BN -> Relu (default), or signed codes after BN
    (``signed_act``), with power-of-two scales. Inputs are unsigned codes of [0, 1] (scale
    ``1/(2**act_bits - 1)``) or signed codes of N(0, 1). ``channel_scale`` adds a per-output-channel
    float Mul after each MatMul (FLightNN-style per-filter scale; some negative).
    """
    if k not in (1, 2):
        raise ValueError(f"k must be 1 or 2, got {k}")
    lo, hi = (int(e) for e in exp_range)
    if lo > hi:
        raise ValueError(f"exp_range must be (min, max), got {exp_range}")
    sizes = _check_sizes(sizes)
    qlo, qhi = int_range(act_bits, signed_act, False)
    in_spec = IntQuantSpec(2.0 / qhi, qlo, qhi) if signed_act else IntQuantSpec(1.0 / qhi, qlo, qhi)
    b = _Builder("pow2_mlp", (sizes[0],), seed, in_spec, calib=257)
    b.quant("input_quant", in_spec)
    n_layers = len(sizes) - 1
    for i in range(n_layers):
        p = f"fc{i}"
        b.matmul(p, _pow2_w(b.rng, (sizes[i], sizes[i + 1]), k, (lo, hi)))
        if channel_scale:
            b.channel_scale(p)
        if i == n_layers - 1:
            b.tail_random("tail")
            break
        spec = IntQuantSpec(0.25, qlo, qhi)
        if signed_act:
            b.bn_random(p, 0.0, 0.6 * qhi * spec.scale)
        else:
            b.bn_random(p, 0.3 * qhi * spec.scale, 0.6 * qhi * spec.scale)
            b.relu(f"act{i}")
        b.int_quant(f"act{i}", spec)
    return b.finish(f"pow2_mlp(sizes={tuple(sizes)}, k={k}, exp_range={(lo, hi)}, act_bits={act_bits}, "
                    f"seed={seed}, signed_act={signed_act}, channel_scale={channel_scale})")


def shiftadd_mlp(
    sizes: Sequence[int] = (64, 32, 32, 10), seed: int = 0, act_bits: int = 4
) -> onnx.ModelProto:
    """A ShiftAddNet MLP: hidden layers alternate shift (power-of-two MatMul, k=1) and adder
    (``bnncc.AdderMatMul``) layers, starting with a shift layer; the last layer is a shift layer.

    (64, 32, 32, 10) gives: unsigned input codes -> shift -> BN -> signed ``act_bits`` quantizer
    (scale 1/4) -> adder (weights = 1/4 * integer codes of that quantizer) -> scalar Mul, per-channel
    Add -> Relu -> unsigned quantizer -> shift -> Mul/Add logits.
    """
    sizes = _check_sizes(sizes, min_layers=3)
    slo, shi = int_range(act_bits, True, False)
    ulo, uhi = int_range(act_bits, False, False)
    in_spec = IntQuantSpec(1.0 / uhi, ulo, uhi)
    b = _Builder("shiftadd_mlp", (sizes[0],), seed, in_spec, calib=257)
    b.quant("input_quant", in_spec)
    act = in_spec
    n_layers = len(sizes) - 1
    for i in range(n_layers):
        last = i == n_layers - 1
        if i % 2 == 0 or last:
            p = f"shift{i}"
            b.matmul(p, _pow2_w(b.rng, (sizes[i], sizes[i + 1]), 1, (-3, 0)))
            if last:
                b.tail_random("tail")
                break
            act = IntQuantSpec(0.25, slo, shi)  # signed: the adder sees both signs
            b.bn_random(p, 0.0, 0.6 * shi * act.scale)
            b.int_quant(f"act{i}", act)
        else:
            p = f"adder{i}"
            # Weights on the activation grid of the quantizer feeding this layer.
            codes = _int_w(b.rng, (sizes[i], sizes[i + 1]), act.qmin, act.qmax)
            b.adder(p, (codes * _F32(act.scale)).astype(_F32))
            _, std, _ = b.channel_stats()
            out = IntQuantSpec(0.5, ulo, uhi)
            scale = float(0.5 * uhi * out.scale / np.mean(std))
            b.mul(p, scale)  # scalar Mul
            mean, _, _ = b.channel_stats()
            b.add(p, 0.4 * uhi * out.scale - mean + b.rng.uniform(-0.3, 0.3, b.channels()))  # per-channel Add
            b.relu(f"act{i}")
            b.int_quant(f"act{i}", out)
            act = out
    return b.finish(f"shiftadd_mlp(sizes={tuple(sizes)}, seed={seed}, act_bits={act_bits})")


def shiftadd_cnn(
    in_shape: Sequence[int] = (1, 10, 10),
    channels: Sequence[int] = (6, 8),
    fc: Sequence[int] = (10,),
    seed: int = 0,
    act_bits: int = 4,
) -> onnx.ModelProto:
    """A ShiftAddNet CNN with adder convolutions. ``channels`` lists pairs of 3x3 convs, no padding:
    a shift conv (power-of-two Conv, k=1) -> BN -> signed ``act_bits`` quantizer (scale 1/4), then an
    adder conv (``bnncc.AdderConv``, weights = 1/4 * integer codes of that quantizer) -> BN ->
    unsigned quantizer (scale 1/2) -> MaxPool2. Then Flatten, shift FCs (BN -> unsigned quantizer
    between them) and Mul/Add logits.

    The input codes are unsigned ``act_bits`` with scale 2**-act_bits, so every scale is a power of
    two and float32 computes every accumulator exactly: onnxruntime equals the integer meaning bit
    for bit (inputs in [0, 1 - 2**-act_bits]).
    """
    if not channels or len(channels) % 2:
        raise ValueError(f"channels must list (shift, adder) pairs, got {list(channels)}")
    slo, shi = int_range(act_bits, True, False)
    ulo, uhi = int_range(act_bits, False, False)
    in_spec = IntQuantSpec(2.0**-act_bits, ulo, uhi)
    signed, unsigned = IntQuantSpec(0.25, slo, shi), IntQuantSpec(0.5, ulo, uhi)
    b = _Builder("shiftadd_cnn", in_shape, seed, in_spec, calib=65)
    b.quant("input_quant", in_spec)
    for i in range(0, len(channels), 2):
        if min(b.shape[1:]) < 6:  # two unpadded 3x3 convs and a 2x2 pool
            raise ValueError(f"in_shape {tuple(in_shape)} is too small for {len(channels) // 2} conv pairs")
        p = f"shift{i}"
        b.conv(p, _pow2_w(b.rng, (int(channels[i]), b.channels(), 3, 3), 1, (-3, 0)))
        b.bn_random(p, 0.0, 0.6 * shi * signed.scale)  # signed: the adder sees both signs
        b.int_quant(f"{p}/act", signed)
        p = f"adder{i + 1}"
        codes = _int_w(b.rng, (int(channels[i + 1]), b.channels(), 3, 3), slo, shi)
        b.adder_conv(p, (codes * _F32(signed.scale)).astype(_F32))
        b.bn_random(p, 0.4 * uhi * unsigned.scale, 0.5 * uhi * unsigned.scale)
        b.int_quant(f"{p}/act", unsigned)
        b.maxpool(f"pool{i + 1}")
    b.flatten("flatten")
    fc = _check_sizes([int(b.cal.shape[1]), *fc])
    for i in range(len(fc) - 1):
        p = f"fc{i}"
        b.matmul(p, _pow2_w(b.rng, (fc[i], fc[i + 1]), 1, (-3, 0)))
        if i == len(fc) - 2:
            b.tail_random("tail")
        else:
            b.bn_random(p, 0.4 * uhi * unsigned.scale, 0.5 * uhi * unsigned.scale)
            b.int_quant(f"{p}/act", unsigned)
    return b.finish(f"shiftadd_cnn(in_shape={tuple(in_shape)}, channels={tuple(channels)}, fc={tuple(fc[1:])}, "
                    f"seed={seed}, act_bits={act_bits})")


# --------------------------------------------------------------------------------------------------
# Inputs, renaming, saving
# --------------------------------------------------------------------------------------------------


def _initializer(model: onnx.ModelProto, name: str) -> np.ndarray:
    for t in model.graph.initializer:
        if t.name == name:
            return numpy_helper.to_array(t)
    for n in model.graph.node:
        if n.op_type == "Constant" and n.output[0] == name:
            return numpy_helper.to_array(n.attribute[0].t)
    raise ValueError(f"constant {name!r} not found")


def input_quantizer(model: onnx.ModelProto) -> IntQuantSpec | None:
    """The model's first quantizer: None for bipolar, else its scale and code range.

    Found by following the graph input to its consumer (names are never trusted).
    """
    nodes = model.graph.node
    x = model.graph.input[0].name
    first = next(n for n in nodes if x in n.input)
    if first.op_type == "GreaterOrEqual":
        return None
    if first.op_type != "Div":
        raise ValueError(f"not a dialect input quantizer: {first.op_type}")
    rnd = next(n for n in nodes if first.output[0] in n.input)
    clip = next(n for n in nodes if rnd.output[0] in n.input)
    return IntQuantSpec(float(_initializer(model, first.input[1])),
                        int(_initializer(model, clip.input[1])), int(_initializer(model, clip.input[2])))


def random_inputs(model: onnx.ModelProto, n: int, seed: int = 0) -> np.ndarray:
    """``n`` float32 random inputs in the model's input layout, matched to its input quantizer."""
    dims = model.graph.input[0].type.tensor_type.shape.dim[1:]
    return _sample(np.random.default_rng(seed), (n, *(d.dim_value for d in dims)), input_quantizer(model))


_HOSTILE = "../*/\"'$[{}]\n"


def with_hostile_names(model: onnx.ModelProto, rename_input: bool = False) -> onnx.ModelProto:
    """A copy with every node and tensor renamed to strings with ``../ */ " ' $ [ { }`` and a newline.

    Graph input names are kept unless ``rename_input``. Names inside the adder function bodies are
    renamed too; the functions' own names are not (the frontend recognizes them by name).
    """
    m = onnx.ModelProto()
    m.CopyFrom(model)
    g = m.graph
    keep = set() if rename_input else {i.name for i in g.input}
    mapping: dict[tuple[str, str], str] = {}

    def hostile(name: str, kind: str) -> str:
        if not name or name in keep:
            return name
        if (kind, name) not in mapping:
            mapping[(kind, name)] = f"{_HOSTILE}{kind}{len(mapping)}:{name}"
        return mapping[(kind, name)]

    rename_graph(g, lambda name: hostile(name, "t"), lambda _, name: hostile(name or f"node{len(mapping)}", "n"))
    g.name = _HOSTILE + g.name
    for f in m.functions:
        fmap: dict[str, str] = {}

        def ft(name: str, fmap: dict[str, str] = fmap) -> str:
            if name and name not in fmap:
                fmap[name] = f"{_HOSTILE}f{len(fmap)}:{name}"
            return fmap.get(name, name)

        rename_function(f, ft, lambda _, name: f"{_HOSTILE}fn:{name}")
    onnx.checker.check_model(m, full_check=True)
    return m


def rename_graph(g: onnx.GraphProto, tensor: Callable[[str], str], node: Callable[[int, str], str]) -> None:
    """Rename in place, in file order, the nodes (``node(index, old name)``) and tensors (``tensor(old
    name)``, the same map everywhere) of a graph: each node's name, inputs and outputs, then the
    initializers, graph inputs, outputs and value infos."""
    for k, n in enumerate(g.node):
        n.name = node(k, n.name)
        n.input[:] = [tensor(s) for s in n.input]
        n.output[:] = [tensor(s) for s in n.output]
    for init in g.initializer:
        init.name = tensor(init.name)
    for vi in (*g.input, *g.output, *g.value_info):
        vi.name = tensor(vi.name)


def rename_function(f: onnx.FunctionProto, tensor: Callable[[str], str], node: Callable[[int, str], str]) -> None:
    """Rename in place a model-local function's body: its inputs and outputs, then each node's name,
    inputs and outputs (the function's own name stays: models call it by name)."""
    f.input[:] = [tensor(s) for s in f.input]
    f.output[:] = [tensor(s) for s in f.output]
    for k, n in enumerate(f.node):
        n.name = node(k, n.name)
        n.input[:] = [tensor(s) for s in n.input]
        n.output[:] = [tensor(s) for s in n.output]


def for_qonnx(model: onnx.ModelProto) -> onnx.ModelProto:
    """A copy that qonnx's executor runs: batch dim fixed to 1, the adder functions inlined, and every
    tensor's shape in value_info.

    qonnx executes node by node in single-node models, which lose the model-local functions, and it
    rejects the symbolic batch dim. onnxruntime needs neither change.
    """
    import onnx.inliner  # only here: the inliner pulls in more of onnx than the builders need

    m = onnx.inliner.inline_local_functions(model)
    del m.graph.value_info[:]
    for vi in (*m.graph.input, *m.graph.output):
        vi.type.tensor_type.shape.dim[0].dim_value = 1
    return _traced_shapes(onnx.shape_inference.infer_shapes(m, check_type=True, strict_mode=True))


def _traced_shapes(m: onnx.ModelProto) -> onnx.ModelProto:
    """Shapes that inference cannot derive, from one onnxruntime run on a zero input: the inlined
    ``AdderConv`` body computes its identity kernel's shape at run time (qonnx allocates every
    tensor from value_info)."""
    def known(vi: onnx.ValueInfoProto) -> bool:
        t = vi.type.tensor_type
        return t.HasField("shape") and all(d.HasField("dim_value") for d in t.shape.dim)

    have = {vi.name for vi in (*m.graph.input, *m.graph.output, *m.graph.value_info) if known(vi)}
    missing = [o for n in m.graph.node for o in n.output if o and o not in have]
    if not missing:
        return m
    import onnxruntime as ort  # only here, as the inliner

    probe = onnx.ModelProto()
    probe.CopyFrom(m)
    probe.graph.output.extend(onnx.helper.make_empty_tensor_value_info(o) for o in missing)
    sess = ort.InferenceSession(probe.SerializeToString(), providers=["CPUExecutionProvider"])
    inp = m.graph.input[0]
    x = np.zeros([d.dim_value for d in inp.type.tensor_type.shape.dim], dtype=_F32)
    values = sess.run(missing, {inp.name: x})
    keep = [vi for vi in m.graph.value_info if vi.name not in set(missing)]
    del m.graph.value_info[:]
    m.graph.value_info.extend(keep)
    m.graph.value_info.extend(
        onnx.helper.make_tensor_value_info(o, onnx.helper.np_dtype_to_tensor_dtype(v.dtype), v.shape)
        for o, v in zip(missing, values, strict=True))
    return m


def save(model: onnx.ModelProto, path: str | Path) -> Path:
    """Write ``model`` with deterministic serialization (same model -> same bytes); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(model.SerializeToString(deterministic=True))
    return path


# Small instances of every builder, by name: for parametrized tests and benchmarks.
SMALL_BUILDERS: dict[str, Callable[[int], onnx.ModelProto]] = {
    "binary_mlp": lambda seed: binary_mlp(seed=seed),
    "binary_mlp_in8": lambda seed: binary_mlp(seed=seed, input_bits=8),
    "binary_cnn": lambda seed: binary_cnn(seed=seed),
    "binary_cnn_in8": lambda seed: binary_cnn(seed=seed, input_bits=8),
    "int_mlp_ternary": lambda seed: int_mlp(seed=seed),
    "int_mlp_w4a3_unsigned": lambda seed: int_mlp(weight_bits=4, act_bits=3, narrow=False, signed=False,
                                                  seed=seed, norm="affine", channel_scale=True),
    "pow2_mlp_k1": lambda seed: pow2_mlp(k=1, seed=seed),
    "pow2_mlp_k2_signed": lambda seed: pow2_mlp(k=2, seed=seed, signed_act=True, channel_scale=True),
    "shiftadd_mlp": lambda seed: shiftadd_mlp(seed=seed),
    "shiftadd_cnn": lambda seed: shiftadd_cnn(seed=seed),
}
