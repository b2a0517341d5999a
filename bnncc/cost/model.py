"""Cost models: objects that turn a block's cost terms into LUT, FF, BRAM18 and DSP for a device.

A block kind (bnncc/hw/blocks) splits its cost into named terms per resource, from its structure
and folding (e.g. an MVAU's LUTs: a fixed overhead, the PE x SIMD datapath, its weight memory, its
input buffer, its threshold comparators). A cost model weighs those terms and decides how memories
map to the device (LUTRAM or block RAM). The analytical model below is FINN-R's style with its
constants; a calibrated model (bnncc calibrate) is another instance of the same interface with
fitted coefficients. Every method accepts numpy arrays for the terms, so thousands of foldings are
costed in one call.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bnncc.cost.devices import Device

RESOURCES = ("lut", "ff", "bram18", "dsp")
DATAPATH_PARTS = {"lanes": "datapath", "adder_tree": "datapath"}  # terms FINN-R's datapath constant covers


def ceil_div(a, b):
    """ceil(a / b) for non-negative integers or integer arrays, exactly."""
    return -(-a // b)


class CostModel:
    """The interface every cost model offers (see AnalyticalModel)."""

    name: str = "cost-model"

    def describe(self) -> dict:
        raise NotImplementedError

    def memory(self, depth, width, style: str, device: Device) -> dict[str, Any]:
        raise NotImplementedError

    def block_cost(self, kind: str, terms: dict[str, dict[str, Any]], device: Device) -> dict[str, Any]:
        raise NotImplementedError

    def multiplier_on_dsp(self, product_bits: int, device: Device) -> bool:
        """Whether a W x A multiply of `product_bits` = W * A maps to a DSP rather than to LUTs."""
        raise NotImplementedError

    def fmax_mhz(self, features: dict[str, int], device: Device) -> float | None:
        """The design's clock limit from its timing features (Design.timing_features), or None when the model
        has none for the device (the analytical model never does: it would be a guess)."""
        return None

    def beyond_range(self, cost_class: str, terms: dict[str, dict[str, Any]], device: Device) -> list[str]:
        """The terms of a block far beyond what the model was fitted on (its estimate there extrapolates), as
        readable strings; [] for a model that fits nothing."""
        return []

    def lut_per(self, proxy: str, weight: str, device: Device) -> float | None:
        """LUTs per MAC (proxy "mac") or per BOP ("bop") fitted for the weight kind, or None (nothing fitted)."""
        return None

    def cpu_latency(self, graph, runtime: str = "executor") -> dict | None:
        """A fitted CPU latency of one image of the IR graph (see CalibratedModel), or None (nothing fitted)."""
        return None


@dataclass
class AnalyticalModel(CostModel):
    """FINN-R-style arithmetic: LUT = ceil(sum of the LUT terms, the datapath scaled by `datapath_scale`,
    the `control` term by `block_overhead_lut`), FF = ceil(`ff_per_lut` x LUT) unless the block gives
    FF terms (a FIFO's registers), BRAM18 and DSP = sums of their terms.
    A memory shallower than `lutram_max_depth` or smaller than `bram_min_bits` goes to LUTRAM (as deep
    per LUT as the device's LUTs hold: 64 for LUT6, 16 for LUT4), any other to the device's best block-RAM
    aspect ratio. LUT counts are in the device's LUTs (the lane formulas count K-input LUTs)."""

    name: str = "finn-r-analytical"
    version: int = 1
    coefficients: dict[str, float] = field(default_factory=lambda: {
        "block_overhead_lut": 120.0,  # control, counters, stream handshakes per block (FINN-R uses 300 per MVAU)
        "datapath_scale": 1.1,  # FINN-R's c1: routing/packing slack on the datapath
        "ff_per_lut": 0.7,  # pipeline registers per datapath LUT
        "dsp_min_product_bits": 25,  # W*A above this maps a multiply to one DSP (below: LUTs)
        "lutram_max_depth": 128,  # memories shallower than this go to LUTRAM
        "bram_min_bits": 4096,  # and so do memories smaller than this
    })

    def describe(self) -> dict:
        return {"name": self.name, "version": self.version, "kind": "analytical",
                "coefficients": dict(self.coefficients)}

    def memory(self, depth, width, style: str, device: Device) -> dict[str, Any]:
        """Cost of a depth x width ROM/RAM: BRAM18s (best aspect ratio) or LUTRAM LUTs."""
        c = self.coefficients
        depth, width = np.asarray(depth), np.asarray(width)
        empty = (depth <= 0) | (width <= 0)
        small = (depth < c["lutram_max_depth"]) | (depth * width < c["bram_min_bits"])
        lutram = np.full(depth.shape, style == "distributed") | ((style == "auto") & small)
        luts = width * ceil_div(depth, device.lutram_depth)
        brams = np.min([ceil_div(depth, d) * ceil_div(width, w) for d, w in device.bram_shapes], axis=0)
        return {"lut": np.where(empty | ~lutram, 0, luts), "bram18": np.where(empty | lutram, 0, brams)}

    def multiplier_on_dsp(self, product_bits: int, device: Device) -> bool:
        return product_bits > self.coefficients["dsp_min_product_bits"]

    def block_cost(self, kind: str, terms: dict[str, dict[str, Any]], device: Device) -> dict[str, Any]:
        c = self.coefficients
        weight = {"control": c["block_overhead_lut"], "datapath": c["datapath_scale"]}
        groups: dict[str, Any] = {}  # a block's datapath terms (lanes, adder tree) are scaled as one sum
        for term, value in terms.get("lut", {}).items():
            key = DATAPATH_PARTS.get(term, term)
            groups[key] = groups.get(key, 0) + value
        lut = 0.0
        for term, value in groups.items():
            lut = lut + (weight[term] * value if term in weight else value)
        lut = np.ceil(lut)
        ff = sum(terms["ff"].values()) if "ff" in terms else np.ceil(lut * c["ff_per_lut"])
        return {"lut": lut, "ff": ff, "bram18": sum(terms.get("bram18", {}).values()),
                "dsp": sum(terms.get("dsp", {}).values())}


ANALYTICAL = AnalyticalModel()
