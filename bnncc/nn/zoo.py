"""The model zoo: binary MLPs/CNN after FINN's TFC/SFC/LFC/CNV, LightNN/FLightNN and ShiftAdd nets,
all for 28x28 single-channel input (MNIST, Fashion-MNIST), and their float baselines.

Every network takes raw pixels 0..255; its first layer is the host's 8-bit input quantizer
(scale 1, so the hardware receives the pixel codes and first-layer sums are exact integers).
``build(name, float_baseline=True)`` gives the same architecture with float weights, ReLU in place
of every activation quantizer and the same BatchNorms: the baseline the benchmarks compare with.
Float baselines are torch-only (float weights have no hardware form in the dialect).

Geometry (no padding anywhere: zero is not a bipolar value):
- MLPs: 784 -> hidden ... -> 10.
- CNV-28 (width w): conv w, conv w, pool, conv 2w, conv 2w, pool, conv 4w (28-26-24-12-10-8-4-2),
  then FC 8w, 8w, 10. With w = 64 the widths are FINN CNV's (64-64-128-128-256, FC 512-512).
- small CNN (width w): conv w, conv w, pool, conv 2w, conv 2w, pool (28-26-24-12-10-8-4), FC 8w, 10.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from bnncc.errors import BnnccError
from bnncc.nn import layers as L
from bnncc.nn.net import BinaryBlock, QuantNet, Residual

__all__ = ["MODELS", "ModelInfo", "build", "load_checkpoint", "mixed_mlp", "names", "xnor_net"]

MLP_HIDDEN = {"tfc": (64, 64, 64), "sfc": (256, 256, 256), "lfc": (1024, 1024, 1024)}


@dataclass(frozen=True)
class ModelInfo:
    family: str  # binary | pow2 | shiftadd: picks the optimizer settings in bnncc.nn.train
    kind: str  # mlp | cnn
    description: str
    act_bits: int = 4  # width of the integer activations (pow2 and ShiftAdd nets)


def _act_scale(bits: int) -> float:
    """Power-of-two activation scale giving a range of about [0, 4) unsigned / [-2, 2) signed."""
    return 2.0 ** (2 - bits)


class _Spec:
    """Builds one architecture either quantized or as its float baseline."""

    def __init__(self, float_baseline: bool, low_memory: bool = False, act_bits: int = 4) -> None:
        self.float, self.low_memory, self.act_bits = float_baseline, low_memory, act_bits

    def bn(self, c: int) -> L.BatchNorm:
        return L.BatchNorm(c, l1=self.low_memory)

    # binary --------------------------------------------------------------------------------------
    def binary_fc(self, i: int, o: int, act: bool = True) -> list[nn.Module]:
        if self.float:
            return [nn.Linear(i, o, bias=False), self.bn(o)] + ([nn.ReLU()] if act else [])
        return [BinaryBlock(L.BinaryLinear(i, o), self.bn(o), act=act)]

    def binary_conv(self, i: int, o: int, pool: int) -> list[nn.Module]:
        if self.float:
            return [nn.Conv2d(i, o, 3, bias=False), self.bn(o), nn.ReLU()] + ([nn.MaxPool2d(pool)] if pool else [])
        return [BinaryBlock(L.BinaryConv2d(i, o, 3), self.bn(o), act=True, pool=pool)]

    # integer activations ---------------------------------------------------------------------------
    def uact(self) -> list[nn.Module]:
        return [nn.ReLU()] if self.float else [L.IntAct(self.act_bits, False, _act_scale(self.act_bits))]

    def sact(self) -> list[nn.Module]:
        return [nn.ReLU()] if self.float else [L.IntAct(self.act_bits, True, _act_scale(self.act_bits))]

    def sspec(self):
        return L.IntAct(self.act_bits, True, _act_scale(self.act_bits)).spec

    # weights -------------------------------------------------------------------------------------
    def pow2_fc(self, i: int, o: int, k: int, flight: bool) -> nn.Module:
        return nn.Linear(i, o, bias=False) if self.float else L.Pow2Linear(i, o, k=k, flight=flight)

    def pow2_conv(self, i: int, o: int, k: int, flight: bool) -> nn.Module:
        return nn.Conv2d(i, o, 3, bias=False) if self.float else L.Pow2Conv2d(i, o, 3, k=k, flight=flight)

    def shift_fc(self, i: int, o: int) -> nn.Module:
        return nn.Linear(i, o, bias=False) if self.float else L.ShiftLinear(i, o)

    def shift_conv(self, i: int, o: int) -> nn.Module:
        return nn.Conv2d(i, o, 3, bias=False) if self.float else L.ShiftConv2d(i, o, 3)

    def adder_fc(self, i: int, o: int) -> nn.Module:
        return nn.Linear(i, o, bias=False) if self.float else L.AdderLinear(i, o, self.sspec())


def _resnet(w: int) -> Callable[[_Spec], list[nn.Module]]:
    """A binary-weight ResNet for 28 x 28 images: a stem convolution and a 2x2 max-pool, a residual block of
    two padded 3x3 convolutions at w channels and a max-pool, a convolution to 2w channels and a second
    residual block, then one binary FC layer. Weights are ±1, activations 4-bit unsigned codes on one fixed
    power-of-two grid (so every add is exact)."""
    def conv(s: _Spec, cin: int, cout: int) -> list[nn.Module]:
        if s.float:
            return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), s.bn(cout)] + s.uact()
        return [L.BinaryConv2d(cin, cout, 3, padding=1), s.bn(cout)] + s.uact()

    def block(s: _Spec, c: int) -> nn.Module:
        return Residual(conv(s, c, c) + conv(s, c, c), s.uact()[0])

    def make(s: _Spec) -> list[nn.Module]:
        return ([L.InputQuant()] + conv(s, 1, w) + [nn.MaxPool2d(2), block(s, w), nn.MaxPool2d(2)]
                + conv(s, w, 2 * w) + [block(s, 2 * w), nn.Flatten()] + s.binary_fc(49 * 2 * w, 10, act=False))
    return make


def _binary_mlp(hidden: tuple[int, ...]) -> Callable[[_Spec], list[nn.Module]]:
    def make(s: _Spec) -> list[nn.Module]:
        sizes = (784, *hidden, 10)
        out: list[nn.Module] = [L.InputQuant()]
        for i in range(len(sizes) - 1):
            out += s.binary_fc(sizes[i], sizes[i + 1], act=i < len(sizes) - 2)
        return out
    return make


def _cnv(w: int) -> Callable[[_Spec], list[nn.Module]]:
    def make(s: _Spec) -> list[nn.Module]:
        out: list[nn.Module] = [L.InputQuant()]
        for cin, cout, pool in ((1, w, 0), (w, w, 2), (w, 2 * w, 0), (2 * w, 2 * w, 2), (2 * w, 4 * w, 0)):
            out += s.binary_conv(cin, cout, pool)
        out.append(nn.Flatten())
        out += s.binary_fc(16 * w, 8 * w) + s.binary_fc(8 * w, 8 * w) + s.binary_fc(8 * w, 10, act=False)
        return out
    return make


def _pow2_mlp(k: int, flight: bool, hidden: tuple[int, ...] = (512, 512, 512)) -> Callable[[_Spec], list]:
    def make(s: _Spec) -> list[nn.Module]:
        sizes = (784, *hidden)
        out: list[nn.Module] = [L.InputQuant()]
        for i in range(len(sizes) - 1):
            out += [s.pow2_fc(sizes[i], sizes[i + 1], k, flight), s.bn(sizes[i + 1])] + s.uact()
        return out + [s.pow2_fc(sizes[-1], 10, k, flight), s.bn(10)]
    return make


def _pow2_cnn(k: int, flight: bool, w: int = 32) -> Callable[[_Spec], list]:
    def make(s: _Spec) -> list[nn.Module]:
        out: list[nn.Module] = [L.InputQuant()]
        for cin, cout, pool in ((1, w, 0), (w, w, 2), (w, 2 * w, 0), (2 * w, 2 * w, 2)):
            out += [s.pow2_conv(cin, cout, k, flight), s.bn(cout)] + s.uact() + ([nn.MaxPool2d(pool)] if pool else [])
        out += [nn.Flatten(), s.pow2_fc(32 * w, 8 * w, k, flight), s.bn(8 * w)] + s.uact()
        return out + [s.pow2_fc(8 * w, 10, k, flight), s.bn(10)]
    return make


def _shiftadd_head(s: _Spec, i: int, h: int) -> list[nn.Module]:
    """One ShiftAddNet block: shift layer -> BN -> signed quantizer -> adder layer -> BN -> unsigned
    quantizer (the adder's weights live on the signed quantizer's grid)."""
    return [s.shift_fc(i, h), s.bn(h)] + s.sact() + [s.adder_fc(h, h), s.bn(h)] + s.uact()


def _shiftadd_mlp(hidden: tuple[int, ...] = (512, 256)) -> Callable[[_Spec], list]:
    def make(s: _Spec) -> list[nn.Module]:
        out: list[nn.Module] = [L.InputQuant()]
        prev = 784
        for h in hidden:
            out += _shiftadd_head(s, prev, h)
            prev = h
        return out + [s.shift_fc(prev, 10), s.bn(10)]
    return make


def _shiftadd_cnn(w: int = 32) -> Callable[[_Spec], list]:
    def make(s: _Spec) -> list[nn.Module]:
        out: list[nn.Module] = [L.InputQuant()]
        for cin, cout, pool in ((1, w, 0), (w, w, 2), (w, 2 * w, 0), (2 * w, 2 * w, 2)):
            out += [s.shift_conv(cin, cout), s.bn(cout)] + s.uact() + ([nn.MaxPool2d(pool)] if pool else [])
        out.append(nn.Flatten())
        out += _shiftadd_head(s, 32 * w, 8 * w)
        return out + [s.shift_fc(8 * w, 10), s.bn(10)]
    return make


MODELS: dict[str, tuple[ModelInfo, Callable[[_Spec], list[nn.Module]]]] = {
    "tfc": (ModelInfo("binary", "mlp", "binary MLP 784-64-64-64-10 (FINN TFC), 8-bit input codes"),
            _binary_mlp(MLP_HIDDEN["tfc"])),
    "sfc": (ModelInfo("binary", "mlp", "binary MLP 784-256-256-256-10 (FINN SFC)"), _binary_mlp(MLP_HIDDEN["sfc"])),
    "lfc": (ModelInfo("binary", "mlp", "binary MLP 784-1024-1024-1024-10 (FINN LFC)"),
            _binary_mlp(MLP_HIDDEN["lfc"])),
    "cnv": (ModelInfo("binary", "cnn", "binary CNN CNV-28: conv 32-32-P-64-64-P-128, FC 256-256-10"), _cnv(32)),
    "resnet": (ModelInfo("binary", "cnn", "binary-weight ResNet-28: conv 32-P, residual block 32 (two 3x3 convs)-P, "
                         "conv 64, residual block 64, FC 10; 4-bit activations"), _resnet(32)),
    "cnv-finn": (ModelInfo("binary", "cnn", "binary CNN CNV-28 at FINN widths: conv 64-64-P-128-128-P-256, "
                           "FC 512-512-10"), _cnv(64)),
    "lightnn1-mlp": (ModelInfo("pow2", "mlp", "LightNN k=1 MLP 784-512x3-10, 4-bit activations"),
                     _pow2_mlp(1, False)),
    "lightnn2-mlp": (ModelInfo("pow2", "mlp", "LightNN k=2 MLP 784-512x3-10, 4-bit activations"),
                     _pow2_mlp(2, False)),
    "flightnn-mlp": (ModelInfo("pow2", "mlp", "FLightNN MLP 784-512x3-10 (k per filter), 4-bit activations"),
                     _pow2_mlp(2, True)),
    "lightnn1-cnn": (ModelInfo("pow2", "cnn", "LightNN k=1 small CNN 32-32-P-64-64-P, FC 256-10"),
                     _pow2_cnn(1, False)),
    "lightnn2-cnn": (ModelInfo("pow2", "cnn", "LightNN k=2 small CNN 32-32-P-64-64-P, FC 256-10"),
                     _pow2_cnn(2, False)),
    "flightnn-cnn": (ModelInfo("pow2", "cnn", "FLightNN small CNN 32-32-P-64-64-P, FC 256-10"),
                     _pow2_cnn(2, True)),
    "shiftadd-mlp": (ModelInfo("shiftadd", "mlp", "ShiftAddNet MLP: [shift 512, adder 512], [shift 256, "
                               "adder 256], shift 10, 8-bit activations", 8), _shiftadd_mlp()),
    "shiftadd-cnn": (ModelInfo("shiftadd", "cnn", "ShiftAdd small CNN: shift convs 32-32-P-64-64-P, "
                               "[shift 256, adder 256], shift 10, 8-bit activations", 8), _shiftadd_cnn()),
}


XNOR_KINDS = {"mlp": range(1, 9), "cnn": range(1, 6)}  # depths that leave a 28x28 image a spatial extent


def _xnor_cnn(depth: int, width: int) -> Callable[[_Spec], list[nn.Module]]:
    def make(s: _Spec) -> list[nn.Module]:
        out: list[nn.Module] = [L.InputQuant()]
        side, cin = 28, 1
        for i in range(depth):
            pool = 2 if i in (1, 3) else 0
            out += s.binary_conv(cin, width, pool)
            side, cin = (side - 2) // (pool or 1), width
        return out + [nn.Flatten()] + s.binary_fc(side * side * width, 10, act=False)
    return make


def xnor_net(kind: str, depth: int, width: int) -> QuantNet:
    """The architecture search's XNOR-net family (seed torch first for reproducible weights), 8-bit input
    codes, binary weights and activations, no padding:

    - mlp: 784 -> `depth` hidden layers of `width` -> 10 (depth 3, width 64 is FINN's TFC);
    - cnn: `depth` 3x3 convolutions of `width` channels, 2x2 max pooling after the second and the fourth,
      then one binary FC layer to 10 (depth 1-5: a sixth convolution would have no pixels left).
    """
    if kind not in XNOR_KINDS:
        raise BnnccError(f"unknown XNOR-net kind {kind!r}; choose mlp or cnn")
    if depth not in XNOR_KINDS[kind] or width < 1:
        raise BnnccError(f"xnor-{kind}: depth {depth} width {width} is outside depth "
                         f"{XNOR_KINDS[kind].start}-{XNOR_KINDS[kind].stop - 1}, width >= 1")
    make = _binary_mlp((width,) * depth) if kind == "mlp" else _xnor_cnn(depth, width)
    shape = (784,) if kind == "mlp" else (1, 28, 28)
    return QuantNet(f"xnor-{kind}-d{depth}-w{width}", "binary", shape, make(_Spec(False)))


MIXED_PRECISIONS = ("binary", "pow2k1", "pow2k2")


def mixed_mlp(width: int, precisions: tuple[str, ...], act_bits: int = 4) -> QuantNet:
    """The co-design space's MLP: 784 -> one hidden layer of `width` per entry of `precisions` -> 10, each
    hidden layer binary (sign activation) or LightNN k=1 / k=2 (power-of-two weights, `act_bits` unsigned
    activations); 8-bit input codes; the classifier is binary."""
    bad = [p for p in precisions if p not in MIXED_PRECISIONS]
    if not precisions or bad or width < 1:
        raise BnnccError(f"mixed MLP: precisions {list(precisions)} (each one of {', '.join(MIXED_PRECISIONS)}), "
                         f"width {width}")
    s = _Spec(False, act_bits=act_bits)
    out: list[nn.Module] = [L.InputQuant()]
    prev = 784
    for p in precisions:
        if p == "binary":
            out += s.binary_fc(prev, width)
        else:
            out += [s.pow2_fc(prev, width, int(p[-1]), False), s.bn(width)] + s.uact()
        prev = width
    out += s.binary_fc(prev, 10, act=False)
    family = "binary" if "binary" in precisions else "pow2"  # the optimizer settings of bnncc.nn.train
    return QuantNet(f"mix-w{width}-" + "-".join(p.replace("pow2", "") for p in precisions), family, (784,), out)


def names() -> list[str]:
    return list(MODELS)


def build(name: str, float_baseline: bool = False, low_memory: bool = False, act_bits: int | None = None) -> QuantNet:
    """A fresh model (seed torch before calling for reproducible weights).

    ``low_memory`` (binary models only) uses L1 BatchNorm and bit-saving blocks in training.
    """
    if name not in MODELS:
        raise BnnccError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}")
    info, make = MODELS[name]
    if low_memory and (info.family != "binary" or float_baseline):
        raise BnnccError(f"--low-memory applies to binary models, not {name!r}"
                         f"{' (float baseline)' if float_baseline else ''}")
    layers = make(_Spec(float_baseline, low_memory, act_bits or info.act_bits))
    shape = (784,) if info.kind == "mlp" else (1, 28, 28)
    family = "float" if float_baseline else info.family
    net = QuantNet(name + ("-float" if float_baseline else ""), family, shape, layers)
    if low_memory:
        net.set_low_memory(True)
    return net


def load_checkpoint(path: str) -> QuantNet:
    """The model of a ``bnncc train`` checkpoint (``.pt``), in eval mode."""
    import torch

    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
    except (OSError, RuntimeError) as e:
        raise BnnccError(f"{path}: not a readable bnncc checkpoint ({e})") from None
    net = build(ckpt["model"], low_memory=bool(ckpt.get("metrics", {}).get("low_memory", False)))
    net.load_state_dict(ckpt["state_dict"])
    return net.eval()
