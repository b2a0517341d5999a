"""The dataflow schedule: the design runs at its initiation interval (II), the slowest stage's cycles per
image, when no FIFO makes the bottleneck wait; one image of words on every stream (`fifo_depth`) is enough
for that, and the token model (bnncc.hw.tokens) finds the much smaller depths that are. The sum of the
stages' cycles and pipeline depths bounds one image's latency."""

from __future__ import annotations

import numpy as np

MIN_FIFO_DEPTH = 2


def fifo_depth(words_per_image):
    """Depth of the stream into a stage that reads `words_per_image` words per image (arrays allowed)."""
    return np.maximum(2, words_per_image)


def interval(cycles: list[int]) -> int:
    return max(cycles)


def latency(cycles: list[int], depths: list[int]) -> int:
    """A bound on one image's latency: every stage's cycles and pipeline registers, one FIFO register per
    stream between stages."""
    return sum(cycles) + sum(depths) + len(cycles) - 1
