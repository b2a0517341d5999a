"""Training library: binary (XNOR-Net/BNN), power-of-two (LightNN/FLightNN) and ShiftAdd layers,
the distribution loss, low-memory BNN training, the model zoo and the training loop.

Every layer's eval-mode forward is the exported dialect graph op for op (``bnncc.export``).
Names are loaded on first use, so importing the package does not import torch.
"""

from __future__ import annotations

import importlib

_LAZY = {
    "AdderConv2d": "bnncc.nn.layers",
    "AdderLinear": "bnncc.nn.layers",
    "BatchNorm": "bnncc.nn.layers",
    "BinaryAct": "bnncc.nn.layers",
    "BinaryConv2d": "bnncc.nn.layers",
    "BinaryLinear": "bnncc.nn.layers",
    "InputQuant": "bnncc.nn.layers",
    "IntAct": "bnncc.nn.layers",
    "Pow2Conv2d": "bnncc.nn.layers",
    "Pow2Linear": "bnncc.nn.layers",
    "ShiftConv2d": "bnncc.nn.layers",
    "ShiftLinear": "bnncc.nn.layers",
    "distribution_loss": "bnncc.nn.losses",
    "BinaryBlock": "bnncc.nn.net",
    "QuantNet": "bnncc.nn.net",
    "build": "bnncc.nn.zoo",
    "train": "bnncc.nn.train",
    "TrainConfig": "bnncc.nn.train",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'bnncc.nn' has no attribute {name!r}")
