"""FINN's reference topologies as Brevitas defines them (`brevitas_examples.bnn_pynq.models`: tfc/sfc/lfc
and cnv at 1w1a, 1w2a, 2w2a), with seeded random latent weights and BatchNorm statistics (no downloads),
exported to QONNX. Calibration's held-out set and the RTL benchmark use them as FINN users know them.
Needs the `train` extra (torch, Brevitas)."""

from __future__ import annotations

import tempfile
import types
from pathlib import Path

import numpy as np
import onnx

TOPOLOGIES = tuple(f"{t}_{p}" for t in ("tfc", "sfc", "lfc", "cnv") for p in ("1w1a", "1w2a", "2w2a"))


def finn_topology(name: str, path: str | Path, seed: int = 0):
    """Export topology `name` (e.g. "sfc_1w2a") to the QONNX file `path`; returns the torch module."""
    import torch
    from brevitas.export import export_qonnx
    from brevitas.nn import QuantConv2d, QuantLinear
    from brevitas_examples.bnn_pynq import models
    from torch import nn

    if name not in TOPOLOGIES:
        raise ValueError(f"unknown FINN topology {name!r}; known: {', '.join(TOPOLOGIES)}")
    rng = np.random.default_rng(seed)
    model = getattr(models, name)(pretrained=False).eval()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, QuantLinear | QuantConv2d):
                m.weight.copy_(torch.from_numpy(rng.normal(0.0, 1.0, tuple(m.weight.shape)).astype(np.float32)))
            if isinstance(m, nn.BatchNorm1d | nn.BatchNorm2d):
                c = m.num_features
                m.running_mean.copy_(torch.from_numpy(rng.normal(0.0, 4.0, c).astype(np.float32)))
                m.running_var.copy_(torch.from_numpy(rng.uniform(20.0, 60.0, c).astype(np.float32)))
                m.weight.copy_(torch.from_numpy(rng.uniform(0.5, 1.5, c).astype(np.float32)))
                m.bias.copy_(torch.from_numpy(rng.normal(0.0, 0.2, c).astype(np.float32)))
    in_shape = (3, 32, 32) if name.startswith("cnv") else (1, 28, 28)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    export_qonnx(model, input_t=torch.zeros(1, *in_shape), export_path=str(path), dynamo=False)
    return model


def finn_model(name: str, seed: int = 0) -> onnx.ModelProto:
    """The topology's QONNX model."""
    with tempfile.TemporaryDirectory(prefix="bnncc-finn-") as tmp:
        path = Path(tmp) / f"{name}.onnx"
        finn_topology(name, path, seed)
        return onnx.load(str(path))


RESNETS = ("resnet18_4w4a", "resnet_tiny_4w4a")
RESNET_SCALES = ("shared", "random")


def _tiny_resnet(bits: int = 4, width: int = 8, classes: int = 10):
    """ResNet-18 of bnn_pynq cut to one stem and two basic blocks (the second downsamples: a 1x1 shortcut),
    from the very Brevitas blocks it uses; input 3 x 16 x 16."""
    import brevitas.nn as qnn
    from brevitas.quant import Int8WeightPerChannelFloat, Int8WeightPerTensorFloat, Int32Bias, TruncTo8bit
    from brevitas_examples.bnn_pynq.models.resnet import QuantBasicBlock, make_quant_conv2d
    from torch import nn

    class TinyQuantResNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = make_quant_conv2d(3, width, 3, 8, Int8WeightPerChannelFloat, padding=1)
            self.bn1 = nn.BatchNorm2d(width)
            self.relu = qnn.QuantReLU(bit_width=bits, return_quant_tensor=True)
            self.layer1 = QuantBasicBlock(width, width, 1, shared_quant_act=self.relu, act_bit_width=bits,
                                          weight_bit_width=bits)
            self.layer2 = QuantBasicBlock(width, 2 * width, 2, shared_quant_act=self.layer1.relu_out,
                                          act_bit_width=bits, weight_bit_width=bits)
            self.final_pool = qnn.TruncAvgPool2d(kernel_size=8, trunc_quant=TruncTo8bit, float_to_int_impl_type="FLOOR")
            self.linear = qnn.QuantLinear(2 * width, classes, bias=True, bias_quant=Int32Bias, weight_bit_width=8,
                                          weight_quant=Int8WeightPerTensorFloat)

        def forward(self, x):
            out = self.layer2(self.layer1(self.relu(self.bn1(self.conv1(x)))))
            return self.linear(self.final_pool(out).view(x.shape[0], -1))

    return TinyQuantResNet()


def _add_values(block, x):
    out = block.relu2(block.bn2(block.conv2(block.relu1(block.bn1(block.conv1(x))))))
    shortcut = block.downsample(x) if len(block.downsample) else x
    return block.relu_out(out.value + shortcut.value)


def brevitas_resnet(path: str | Path, name: str = "resnet18_4w4a", seed: int = 0, scales: str = "shared"):
    """Export a Brevitas ResNet with seeded random weights to the QONNX file `path`; returns the module.

    BatchNorm statistics are measured on random images, then randomized (scaled variances, shifted means,
    random affine) so every 4-bit activation uses its range. `scales="random"` gives every QuantReLU its own
    random scale and unshares the one a residual branch shares with its shortcut, so the adds join tensors
    on different scales."""
    import brevitas.nn as qnn
    import torch
    from brevitas.export import export_qonnx
    from brevitas.nn import QuantConv2d, QuantLinear
    from brevitas_examples.bnn_pynq import models
    from brevitas_examples.bnn_pynq.models.resnet import QuantBasicBlock
    from torch import nn

    if name not in RESNETS or scales not in RESNET_SCALES:
        raise ValueError(f"unknown ResNet {name!r} / scales {scales!r}; known: {RESNETS}, {RESNET_SCALES}")
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    model = models.resnet18_4w4a(pretrained=False) if name == "resnet18_4w4a" else _tiny_resnet()
    side = 32 if name == "resnet18_4w4a" else 16

    def t(a) -> torch.Tensor:
        return torch.from_numpy(np.asarray(a, dtype=np.float32))

    with torch.no_grad():
        if scales == "random":
            for block in model.modules():
                if isinstance(block, QuantBasicBlock):
                    block.relu2 = qnn.QuantReLU(bit_width=int(block.relu1.act_quant.bit_width().item()),
                                                return_quant_tensor=True)
                    # Brevitas refuses (in eval mode) to add QuantTensors of different scales: add their values,
                    # which exports the same Add of the two Quant outputs
                    block.forward = types.MethodType(_add_values, block)
            for pname, p in model.named_parameters():
                if pname.endswith("scaling_impl.value"):
                    p.copy_(t(rng.uniform(0.6, 1.8, tuple(p.shape))))
        for m in model.modules():
            if isinstance(m, QuantLinear | QuantConv2d):
                m.weight.copy_(t(rng.normal(0.0, 1.0, tuple(m.weight.shape))))
                if m.bias is not None:
                    m.bias.copy_(t(rng.normal(0.0, 0.5, tuple(m.bias.shape))))
            if isinstance(m, nn.BatchNorm2d):
                m.reset_running_stats()
                m.momentum = None  # a cumulative average over the calibration batches
        model.train()
        for _ in range(4):
            model(t(rng.integers(0, 256, (16, 3, side, side)) / 255.0))
        model.eval()
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                c = m.num_features
                m.running_var.mul_(t(rng.uniform(0.5, 2.0, c)))
                m.running_mean.add_(t(rng.normal(0.0, 0.2, c)) * m.running_var.sqrt())
                m.weight.copy_(t(rng.uniform(0.3, 0.7, c)))
                m.bias.copy_(t(rng.normal(0.45, 0.2, c)))
        # Random pooled features of random images are much alike: centre each logit on them, so that the
        # label follows the image instead of the class with the largest offset
        seen = []
        hook = model.linear.register_forward_hook(lambda mod, args, out: seen.append(out.detach().clone()))
        model(t(rng.integers(0, 256, (32, 3, side, side)) / 255.0))
        hook.remove()
        logits = torch.cat([o.value if hasattr(o, "value") else o for o in seen])
        model.linear.bias.sub_(logits.mean(0))
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    export_qonnx(model, input_t=torch.zeros(1, 3, side, side), export_path=str(path), dynamo=False)
    return model
