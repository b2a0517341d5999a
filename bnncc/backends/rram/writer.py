"""Write ``OUT/rram``: mapping.json, tiles/xbarNNNN.npy, host_head.onnx, host_tail.onnx, report.json.

Same mapping -> byte-identical files: JSON is written with a fixed key order and no time stamps,
conductances with ``np.save`` (its header holds only dtype and shape), ONNX with deterministic
protobuf serialization. The folder is built under a temporary name next to its destination and
renamed into place, so a failed compile never leaves half a mapping behind.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from bnncc.backends.rram import host
from bnncc.backends.rram.estimate import CONSTANTS
from bnncc.backends.rram.mapper import SCHEMA, VERSION, Mapping


def dump_json(path: Path, obj: dict) -> None:
    path.write_text(json.dumps(obj, indent=1, allow_nan=False) + "\n")


def write_mapping(mapping: Mapping, folder: Path) -> None:
    """Every file the crossbar simulator reads."""
    (folder / "tiles").mkdir(parents=True, exist_ok=True)
    for t in mapping.tiles:
        np.save(folder / t.file, np.ascontiguousarray(t.conductance, dtype=np.float64))
    (folder / "host_head.onnx").write_bytes(host.serialize(mapping.head))
    if mapping.tail is not None:
        (folder / "host_tail.onnx").write_bytes(host.serialize(mapping.tail))
    dump_json(folder / "mapping.json", mapping.to_json())


def build_report(mapping: Mapping, est: dict, verification: dict | None) -> dict:
    """report.json: tiles, utilization, ADC count and bits per layer, the estimate, the verification."""
    cfg = mapping.config
    adcs = {row["index"]: row["adcs"] for row in est["layers"]}
    layers, used_total = [], 0
    for s in mapping.matrices:
        used = sum(int(t.conductance.size) for t in s.tiles)
        used_total += used
        layers.append({
            "index": s.index, "kind": s.kind, "in_features": s.in_features, "out_features": s.out_features,
            "word_lines": s.word_lines, "pixels": s.pixels, "input_coding": s.input["coding"], "planes": s.planes,
            "slices": s.code.slices, "tiles": len(s.tiles), "row_tiles": 1 + max(t.row_tile for t in s.tiles),
            "col_tiles": 1 + max(t.col_tile for t in s.tiles), "cells_used": used,
            "cell_utilization": round(used / (len(s.tiles) * cfg.rows * cfg.cols), 4),
            "adcs": adcs[s.index], "adc_bits": s.adc_bits, "adc_bits_exact": s.derived_bits,
        })
    tiles = len(mapping.tiles)
    report = {
        "target": "rram", "mapping_schema": SCHEMA, "mapping_version": VERSION,
        "model_sha256": mapping.model_sha256, "crossbar": cfg.xbar, "encoding": cfg.encoding,
        "cell_bits": cfg.cell_bits, "g_on": cfg.g_on, "g_off": cfg.g_off, "v_read": cfg.v_read, "t_read": cfg.t_read,
        "tiles": tiles, "cells_used": used_total, "cells_total": tiles * cfg.rows * cfg.cols,
        "cell_utilization": round(used_total / (tiles * cfg.rows * cfg.cols), 4),
        "adcs": sum(adcs.values()), "adc_bits": max(s.adc_bits for s in mapping.matrices),
        "adc_exact": all(s.adc_bits >= s.derived_bits for s in mapping.matrices),
        "layers": layers, "estimate": est,
        "estimate_constants": {k: {"value": c.value, "unit": c.unit} for k, c in CONSTANTS.items()},
    }
    if verification is not None:
        report["verification"] = {"crossbar_sim": verification}
    return report
