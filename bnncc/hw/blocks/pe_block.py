"""The shared folding of blocks that process PE channels per word in and out (pool, thresholds,
label select)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from bnncc.hw.block import Block, Fold, divisors


@dataclass(eq=False)
class PeBlock(Block):
    fold_keys: ClassVar[tuple[str, ...]] = ("PE",)

    @property
    def channels(self) -> int:
        raise NotImplementedError

    def options(self) -> list[Fold]:
        return [{"PE": p} for p in divisors(self.channels)]

    def fold(self, given: Mapping[str, Any]) -> Fold:
        return {"PE": self._divides("PE", given, self.channels, "the channels C")}

    def in_lanes(self, f: Fold):
        return f["PE"]

    def out_lanes(self, f: Fold):
        return f["PE"]
