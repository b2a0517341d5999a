"""FINN's reference topologies as Brevitas defines them (`brevitas_examples.bnn_pynq.models`: tfc/sfc/lfc
and cnv at 1w1a, 1w2a, 2w2a), with seeded random latent weights and BatchNorm statistics (no downloads),
exported to QONNX. Calibration's held-out set and the RTL benchmark use them as FINN users know them.
Needs the `train` extra (torch, Brevitas)."""

from __future__ import annotations

import tempfile
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
