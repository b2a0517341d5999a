"""NeuroSim-style area / energy / latency estimates of a mapping, from a table of published constants.

Each constant carries its unit and its source; docs/rram-mapping.md lists the same table (a test
checks that every key is documented). The model counts events from the mapping (crossbar reads,
driven word lines, ADC conversions, shift-adds, threshold compares, buffer bits) and multiplies
them by per-event energies; array energy is physical (V_read^2 * g * t_read per driven cell) from
the programmed conductances at a nominal word-line activity. What it leaves out is listed in the doc.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from bnncc.backends.rram.mapper import Mapping, MatrixStage

ISAAC = "Shafiee et al., ISAAC, ISCA 2016, Table 2 (32 nm), as tabulated in Accelergy hwcomponents-library isaac.py"
NEUROSIM = "DNN+NeuroSim V1.3, Inference_pytorch/NeuroSIM/Param.cpp"


@dataclass(frozen=True)
class Constant:
    value: float
    unit: str
    source: str


CONSTANTS: dict[str, Constant] = {
    "tech_node": Constant(32, "nm", f"{ISAAC}: every periphery number below is for 32 nm"),
    "cell_area": Constant(48, "F^2", f"{NEUROSIM}: 1T1R cell 4F x 12F (heightInFeatureSize1T1R = 4, "
                          "widthInFeatureSize1T1R = 12)"),
    "adc_share": Constant(8, "columns per ADC", f"{NEUROSIM}: numColMuxed = 8"),
    "adc_rate_8b": Constant(1.2, "GS/s", f"{ISAAC}: 8-bit SAR ADC after Kull et al., ISSCC 2013"),
    "adc_energy_8b": Constant(1.67, "pJ / conversion", f"{ISAAC}: 16 mW / (8 ADCs x 1.2 GS/s)"),
    "adc_area_8b": Constant(1200, "um^2", f"{ISAAC}: 9600 um^2 / 8 ADCs"),
    "dac_energy": Constant(0.41667, "pJ / driven word line / read",
                           f"{ISAAC}: 1-bit DAC, 4 mW / (1024 DACs x 1.2e7 reads/s) x 128/100"),
    "dac_area": Constant(0.166, "um^2 / word line", f"{ISAAC}: 170 um^2 / (8 x 128)"),
    "shift_add_energy": Constant(0.021, "pJ / op", f"{ISAAC}: S+A 0.2 mW / 9.6e9 ops/s (16-bit)"),
    "shift_add_area": Constant(60, "um^2 / unit", f"{ISAAC}: S+A 0.00024 mm^2 / 4 units"),
    "digital_op_energy": Constant(0.021, "pJ / compare or add", "assumed equal to one ISAAC shift-add (16-bit adder)"),
    "buffer_energy": Constant(20.45 / 256, "pJ / bit", f"{ISAAC}: eDRAM 64 KB, 20.45 pJ per 256-bit access"),
    "buffer_area": Constant(83000 / (64 * 1024 * 8), "um^2 / bit", f"{ISAAC}: eDRAM 64 KB, 0.083 mm^2"),
    "digital_cycle": Constant(1.0, "ns", f"{NEUROSIM}: clkFreq = 1e9 (ISAAC also runs its digital units at 1 GHz)"),
    "activity": Constant(0.5, "fraction of word lines driven", "nominal assumption of this estimate; the "
                         "crossbar simulator measures the real array energy per input"),
}

# ADC energy (pJ) and area (um^2) by resolution: the ISAAC 8-bit point scaled with Saberi et al.,
# "Analysis of power consumption and linearity in capacitive DACs used in SAR ADCs", 2011
# (table in Accelergy hwcomponents-library isaac.py). Outside 4..10 bits: extrapolated geometrically
# with the ratio of the two nearest points (see docs/rram-mapping.md).
ADC_TABLE = {4: (0.79, 361.04), 5: (0.99, 476.91), 6: (1.20, 626.91), 7: (1.42, 845.18), 8: (1.67, 1200.0),
             9: (1.969078145, 1827.911647), 10: (2.379022742, 3002.008032)}


def adc_cost(bits: int) -> tuple[float, float]:
    """(energy pJ per conversion, area um^2) of one ADC of `bits` resolution."""
    if bits in ADC_TABLE:
        return ADC_TABLE[bits]
    edge, inner, n = (4, 5, 4 - bits) if bits < 4 else (10, 9, bits - 10)
    (e0, a0), (e1, a1) = ADC_TABLE[edge], ADC_TABLE[inner]
    return e0 * (e0 / e1) ** n, a0 * (a0 / a1) ** n


def adc_time_ns(bits: int) -> float:
    """SAR conversion time: one comparator cycle per bit at the 8-bit ISAAC rate."""
    return bits / 8 / CONSTANTS["adc_rate_8b"].value


def _c(key: str) -> float:
    return CONSTANTS[key].value


def _stage_input_bits(stage: MatrixStage) -> int:
    spec = stage.input
    if spec["coding"] == "thermometer":
        return max(1, len(spec["thresholds"]).bit_length())
    return int(spec["bits"])


def _matrix(stage: MatrixStage, mapping: Mapping) -> dict:
    """Events, energy (pJ), latency (ns) and area (um^2) of one crossbar layer per inference."""
    cfg = mapping.config
    share = int(_c("adc_share"))
    reads = stage.pixels * stage.planes  # per tile: every tile of the layer is read for every plane
    e_adc, a_adc = adc_cost(stage.adc_bits)
    array = dac = conversions = adcs = 0.0
    n_conv_max = 0
    for t in stage.tiles:
        rows, sensed = t.conductance.shape[0], t.window.shape[0]
        n_adc = math.ceil(sensed / share)
        adcs += n_adc
        n_conv_max = max(n_conv_max, math.ceil(sensed / n_adc))
        array += reads * cfg.v_read**2 * cfg.t_read * _c("activity") * float(t.conductance.sum()) * 1e12
        dac += reads * rows * _c("activity") * _c("dac_energy")
        conversions += reads * sensed
    groups = stage.pixels * stage.out_features
    shift_adds = conversions + groups * (stage.planes + 2)  # slices/row tiles, planes, corrections
    buffer_bits = stage.pixels * (stage.in_features * _stage_input_bits(stage) + stage.out_features * 16)
    row_tiles = 1 + max(t.row_tile for t in stage.tiles)
    depth = math.ceil(math.log2(max(2, row_tiles * stage.code.slices))) + 2
    latency = reads * (cfg.t_read * 1e9 + n_conv_max * adc_time_ns(stage.adc_bits)) + depth * _c("digital_cycle")
    cell = _c("cell_area") * (_c("tech_node") * 1e-3) ** 2  # um^2
    area = {"array": len(stage.tiles) * cfg.rows * cfg.cols * cell, "adc": adcs * a_adc,
            "dac": len(stage.tiles) * cfg.rows * _c("dac_area"), "shift_add": adcs * _c("shift_add_area")}
    energy = {"array": array, "dac": dac, "adc": conversions * e_adc,
              "shift_add": shift_adds * _c("shift_add_energy"), "buffer": buffer_bits * _c("buffer_energy")}
    return {"energy": energy, "latency": latency, "area": area, "adcs": int(adcs), "conversions": int(conversions),
            "buffer_bits": buffer_bits}


def _digital(stage: dict) -> dict:
    """Threshold compares, pool compares or adds, residual adds, label select: energy (pJ), latency (ns), area
    (um^2)."""
    out = stage["out_shape"]
    pixels = int(np.prod(out[:-1], dtype=np.int64)) if len(out) > 1 else 1
    op, cyc = stage["op"], _c("digital_cycle")
    if op == "threshold":
        n_thr = len(stage["thresholds"][0]) if stage["thresholds"] else 0
        ops_ = int(np.prod(out, dtype=np.int64)) * n_thr
        units = len(stage["thresholds"]) * n_thr
        return {"ops": ops_, "latency": pixels * cyc, "area": units * _c("shift_add_area")}
    if op == "add":  # the residual join: one adder per channel, one add per element
        return {"ops": int(np.prod(out, dtype=np.int64)), "latency": pixels * cyc,
                "area": out[-1] * _c("shift_add_area")}
    if op in ("maxpool", "sumpool"):
        k = stage["kernel"]
        return {"ops": int(np.prod(out, dtype=np.int64)) * (k * k - 1), "latency": pixels * cyc,
                "area": out[-1] * _c("shift_add_area")}
    if op == "labelselect":
        classes = stage["in_shape"][-1]
        return {"ops": classes - 1, "latency": math.ceil(math.log2(max(2, classes))) * cyc,
                "area": _c("shift_add_area")}
    return {"ops": 0, "latency": 0.0, "area": 0.0}  # window, flatten, concat: addressing only


def estimate(mapping: Mapping) -> dict:
    """Area (mm^2), energy per inference (pJ, by component), latency (ns), TOPS/W of the mapping."""
    energy = dict.fromkeys(("array", "dac", "adc", "shift_add", "digital", "buffer"), 0.0)
    area = dict.fromkeys(("array", "adc", "dac", "shift_add", "digital", "buffer"), 0.0)
    latency, macs, layers, max_bits = 0.0, 0, [], 0
    for s in mapping.stages:
        if isinstance(s, MatrixStage):
            m = _matrix(s, mapping)
            for k, v in m["energy"].items():
                energy[k] += v
            for k, v in m["area"].items():
                area[k] += v
            latency += m["latency"]
            macs += s.macs
            max_bits = max(max_bits, m["buffer_bits"])
            layers.append({"index": s.index, "energy_pj": round(sum(m["energy"].values()), 3),
                           "latency_ns": round(m["latency"], 3), "adcs": m["adcs"], "conversions": m["conversions"]})
        else:
            d = _digital(s)
            energy["digital"] += d["ops"] * _c("digital_op_energy")
            area["digital"] += d["area"]
            latency += d["latency"]
    area["buffer"] = max_bits * _c("buffer_area")
    total = sum(energy.values())
    ops_ = 2 * macs
    groups = {"array": energy["array"] + energy["dac"], "adc": energy["adc"],
              "digital": energy["shift_add"] + energy["digital"] + energy["buffer"]}
    return {
        "area_mm2": round(sum(area.values()) * 1e-6, 6),
        "area_um2_by_component": {k: round(v, 3) for k, v in area.items()},
        "energy_pj": round(total, 3),
        "energy_pj_by_group": {k: round(v, 3) for k, v in groups.items()},
        "energy_pj_by_component": {k: round(v, 3) for k, v in energy.items()},
        "latency_ns": round(latency, 3),
        "ops": ops_,
        "tops_per_w": round(ops_ / total, 3) if total else 0.0,
        "layers": layers,
        "assumptions": {"activity": _c("activity"), "tech_node_nm": _c("tech_node"),
                        "adc_share": int(_c("adc_share"))},
    }
