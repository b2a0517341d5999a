"""Training library: binary (XNOR-Net/BNN), power-of-two (LightNN/FLightNN) and ShiftAdd layers,
the distribution loss, low-memory BNN training, the model zoo and the training loop.

Every layer's eval-mode forward is the exported dialect graph op for op (``bnncc.export``).
"""

from bnncc.nn.layers import (
    AdderConv2d,
    AdderLinear,
    BatchNorm,
    BinaryAct,
    BinaryConv2d,
    BinaryLinear,
    InputQuant,
    IntAct,
    Pow2Conv2d,
    Pow2Linear,
    ShiftConv2d,
    ShiftLinear,
)
from bnncc.nn.losses import distribution_loss
from bnncc.nn.net import BinaryBlock, QuantNet

__all__ = [
    "AdderConv2d",
    "AdderLinear",
    "BatchNorm",
    "BinaryAct",
    "BinaryBlock",
    "BinaryConv2d",
    "BinaryLinear",
    "InputQuant",
    "IntAct",
    "Pow2Conv2d",
    "Pow2Linear",
    "QuantNet",
    "ShiftConv2d",
    "ShiftLinear",
    "distribution_loss",
]
