"""Distribution loss for BNNs (after Ding et al., "Regularizing activation distribution for training
binarized deep networks", CVPR 2019), in our formulation.

A bipolar activation with the hardtanh STE trains badly when the per-channel distribution of its
input (mean mu, std sigma over batch and positions) is

- **degenerate**: one sign dominates, the channel is nearly constant. Penalized by
  relu(|mu| - sigma)^2: the mean lies more than one std from the threshold 0;
- **saturated**: most values lie outside the STE's [-1, 1] window and get no gradient. Penalized
  by relu(sigma - sat)^2 (default sat = 1, about a third of a normal channel outside the window);
- **mismatched**: the values crowd so close to 0 that the hardtanh surrogate (slope 1) is far from
  the step it stands in for. Penalized by relu(mismatch - sigma)^2 (default mismatch = 0.25).

The loss is the mean over channels of the three terms, averaged over every tracked ``BinaryAct``
(``QuantNet.track_activations()`` makes them record mu and sigma of their current input).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from bnncc.nn.layers import BinaryAct

__all__ = ["distribution_loss", "distribution_terms"]


def distribution_terms(mean: Tensor, std: Tensor, sat: float = 1.0, mismatch: float = 0.25) -> dict[str, Tensor]:
    """The three per-channel-averaged penalties for one activation's input statistics."""
    return {
        "degeneration": torch.relu(mean.abs() - std).pow(2).mean(),
        "saturation": torch.relu(std - sat).pow(2).mean(),
        "mismatch": torch.relu(mismatch - std).pow(2).mean(),
    }


def distribution_loss(model: nn.Module, sat: float = 1.0, mismatch: float = 0.25) -> Tensor:
    """Sum of the three terms, averaged over the tracked activations of the last forward pass."""
    losses = []
    for m in model.modules():
        if isinstance(m, BinaryAct) and m.stats is not None:
            terms = distribution_terms(*m.stats, sat=sat, mismatch=mismatch)
            losses.append(sum(terms.values()))
    return torch.stack(losses).mean() if losses else torch.zeros(())
