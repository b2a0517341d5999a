"""The model container every zoo network is: a chain of layers the exporter can walk.

``QuantNet`` is a ``Sequential`` of the ``bnncc.nn.layers`` modules, torch's ``ReLU``,
``MaxPool2d`` and ``Flatten``, and ``BinaryBlock``s (a binary linear/conv layer with its
BatchNorm, activation and pool, kept together so the low-memory mode can run the block as one
autograd function that saves only bits). The chain is exactly the order of the exported graph.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import Tensor, nn

from bnncc.nn import layers as L

__all__ = ["BinaryBlock", "QuantNet", "Residual", "leaves"]


class BinaryBlock(nn.Sequential):
    """BinaryLinear/BinaryConv2d -> BatchNorm -> [BinaryAct] -> [MaxPool2d].

    Without an activation it is the network's last layer (integer accumulators -> BN -> logits).
    ``low_memory = True`` (with an L1 BatchNorm) runs it through ``bnncc.nn.lowmem``, which saves
    only the bit-packed signs of its input and weights for backward.
    """

    def __init__(self, linear: L.BinaryLinear | L.BinaryConv2d, bn: L.BatchNorm, act: bool = True,
                 pool: int = 0) -> None:
        mods: list[nn.Module] = [linear, bn]
        if act:
            mods.append(L.BinaryAct())
        if pool:
            mods.append(nn.MaxPool2d(pool))
        super().__init__(*mods)
        self.low_memory = False

    @property
    def linear(self) -> L.BinaryLinear | L.BinaryConv2d:
        return self[0]  # type: ignore[return-value]

    @property
    def bn(self) -> L.BatchNorm:
        return self[1]  # type: ignore[return-value]

    @property
    def has_act(self) -> bool:
        return len(self) > 2 and isinstance(self[2], L.BinaryAct)

    @property
    def pool(self) -> int:
        last = self[-1]
        return int(last.kernel_size) if isinstance(last, nn.MaxPool2d) else 0

    def forward(self, x: Tensor) -> Tensor:
        if self.low_memory and self.training:
            from bnncc.nn.lowmem import binary_block

            return binary_block(self, x)
        return super().forward(x)


class Residual(nn.Module):
    """A residual basic block: ``act(branch(x) + x)``. The branch (convolutions that keep the shape, their
    BatchNorms and activations) ends in an activation on the grid x is on, and ``act`` is that grid again,
    so the add joins two integer tensors of one scale: an exact integer add in hardware, clipped back to the
    codes by ``act``. In a float baseline both activations are ReLUs."""

    def __init__(self, branch: list[nn.Module], act: nn.Module) -> None:
        super().__init__()
        self.branch, self.act = nn.Sequential(*branch), act

    def forward(self, x: Tensor) -> Tensor:
        return self.act(self.branch(x) + x)


def leaves(module: nn.Module) -> Iterator[nn.Module]:
    """The chain's layers in forward order, containers (Sequential, BinaryBlock) expanded; a Residual is
    one layer (the exporter walks its branch)."""
    if isinstance(module, nn.Sequential):
        for m in module:
            yield from leaves(m)
    else:
        yield module


class QuantNet(nn.Module):
    """A chain of layers with the metadata training and export need.

    ``input_shape`` is the per-sample shape (``(784,)`` for MLPs, ``(1, 28, 28)`` for CNNs); inputs
    are raw pixel values 0..255 as ``bnncc.data`` returns them, reshaped to it.
    """

    def __init__(self, name: str, family: str, input_shape: tuple[int, ...], layers: list[nn.Module]) -> None:
        super().__init__()
        self.name, self.family, self.input_shape = name, family, tuple(input_shape)
        self.layers = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.layers(x.reshape(x.shape[0], *self.input_shape))

    def constrain_(self) -> None:
        """Clip latent parameters back into their ranges (after every optimizer step)."""
        for m in self.modules():
            if m is not self and hasattr(m, "constrain_"):
                m.constrain_()

    def set_low_memory(self, on: bool = True) -> None:
        for m in self.modules():
            if isinstance(m, BinaryBlock):
                m.low_memory = on

    def track_activations(self, on: bool = True) -> None:
        """Make every BinaryAct keep its input statistics (for the distribution loss)."""
        for m in self.modules():
            if isinstance(m, L.BinaryAct):
                m.track, m.stats = on, None

    def k2_penalty(self) -> Tensor:
        """FLightNN regularizer summed over power-of-two layers (0 if there are none)."""
        terms = [m.k2_penalty() for m in self.modules() if isinstance(m, L.Pow2Linear | L.Pow2Conv2d) and m.flight]
        return torch.stack(terms).mean() if terms else torch.zeros(())

    def k1_fraction(self) -> float | None:
        """Fraction of power-of-two filters that use one term (None without power-of-two layers)."""
        ks = [m.filter_k() for m in self.modules() if isinstance(m, L.Pow2Linear | L.Pow2Conv2d)]
        if not ks:
            return None
        k = torch.cat(ks)
        return float((k == 1).to(torch.float64).mean())
