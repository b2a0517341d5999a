"""The dataflow schedule: every stream between two blocks holds one whole image of words (at least 2),
so a producer never waits for a consumer that is busy with its other folds and the bottleneck never
stalls: the design runs at its initiation interval (II), the slowest stage's cycles per image. The
sum of the stages' cycles, plus a few pipeline registers per stage, bounds one image's latency."""

from __future__ import annotations

import numpy as np

PIPELINE_CYCLES_PER_STAGE = 4


def fifo_depth(words_per_image):
    """Depth of the stream into a stage that reads `words_per_image` words per image (arrays allowed)."""
    return np.maximum(2, words_per_image)


def interval(cycles: list[int]) -> int:
    return max(cycles)


def latency(cycles: list[int]) -> int:
    return sum(cycles) + PIPELINE_CYCLES_PER_STAGE * len(cycles)
