"""A search budget: what a design may cost, as `--budget "lut<=20000,fps>=10000"`."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from bnncc.errors import BnnccError

# metric -> the direction it is bounded in, and what it means
LIMITS = {"lut": ("<=", "LUTs (logic + LUTRAM)"), "ff": ("<=", "flip-flops"), "bram18": ("<=", "BRAM18 blocks"),
          "dsp": ("<=", "DSP slices"), "fps": (">=", "images per second at the clock"),
          "latency_us": ("<=", "first-output latency in microseconds"),
          "area_mm2": ("<=", "RRAM: crossbar and periphery area"), "energy_pj": ("<=", "RRAM: energy per image")}
_TERM = re.compile(r"^([a-z_0-9]+)(<=|>=)([0-9]*\.?[0-9]+(?:e[+-]?[0-9]+)?)([km]?)$")
_SUFFIX = {"": 1.0, "k": 1e3, "m": 1e6}


@dataclass(frozen=True)
class Budget:
    limits: tuple[tuple[str, float], ...]  # (metric, bound); the direction is LIMITS[metric][0]

    def bound(self, metric: str) -> float | None:
        return dict(self.limits).get(metric)

    @property
    def fps(self) -> float | None:
        return self.bound("fps")

    def violations(self, cost: dict) -> list[str]:
        """One phrase per limit the cost breaks ("lut 21,300 > 20,000"); empty when it meets the budget."""
        out = []
        for metric, bound in self.limits:
            value = cost.get(metric)
            if value is None:
                continue
            if LIMITS[metric][0] == "<=" and value > bound:
                out.append(f"{metric} {value:,.6g} > {bound:,.6g}")
            elif LIMITS[metric][0] == ">=" and value < bound:
                out.append(f"{metric} {value:,.6g} < {bound:,.6g}")
        return out

    def text(self) -> str:
        return ",".join(f"{m}{LIMITS[m][0]}{v:g}" for m, v in self.limits)

    def to_json(self) -> dict:
        return {m: {"bound": v, "op": LIMITS[m][0]} for m, v in self.limits}


def parse(text: str) -> Budget:
    """`lut<=20000,fps>=10k`: comma-separated limits, each metric, <= or >=, a number (k or M suffix)."""
    where = f"--budget {text!r}"
    limits: dict[str, float] = {}
    for term in (t for t in text.replace(" ", "").lower().split(",") if t):
        m = _TERM.match(term)
        if not m:
            raise BnnccError(f"{where}: cannot read {term!r} (write metric<=N or metric>=N, e.g. lut<=20000,fps>=10k)")
        metric, op, number, suffix = m.groups()
        if metric not in LIMITS:
            raise BnnccError(f"{where}: unknown metric {metric!r}; choose from {', '.join(LIMITS)}")
        if op != LIMITS[metric][0]:
            raise BnnccError(f"{where}: {metric} is bounded with {LIMITS[metric][0]}, not {op}")
        if metric in limits:
            raise BnnccError(f"{where}: {metric} is given twice")
        value = float(number) * _SUFFIX[suffix]
        if not math.isfinite(value) or value <= 0:
            raise BnnccError(f"{where}: {metric} needs a positive bound")
        limits[metric] = value
    if not limits:
        raise BnnccError(f"{where}: no limit given (e.g. lut<=20000,fps>=10000)")
    return Budget(tuple(limits.items()))
