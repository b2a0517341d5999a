"""RRAM crossbar benchmark: TFC and an LFC-sized MLP on 128x128 crossbars, beside XNOR-RRAM.

For each configuration the model is mapped (``bnncc.backends.rram``), written to a temporary
``OUT/rram``, and run by the crossbar simulator from those files:

* estimates: tiles, area, energy per inference (array / ADC / digital), latency, TOPS/W
  (``docs/rram-mapping.md``: NeuroSim device and ISAAC periphery constants, 32 nm);
* the array energy the simulator measures on the real inputs (V_read * I * t_read summed over reads);
* accuracy at conductance variation sigma = 0, 0.1, 0.2 (lognormal, ``--chips`` chips per sigma).

TFC is the qonnx-zoo TFC_1W1A (trained; accuracy vs MNIST labels on ``--images`` shuffled MNIST-5k
images, pixels / 255). The LFC-sized MLP (784-1024-1024-1024-10, ``bnncc.fixtures.lfc(seed=0)``) has
random weights: its "accuracy" is agreement with the ideal reference executor's labels on seeded random
inputs. Writes the ``## RRAM`` section of ``benchmarks/RESULTS.md`` (only that section; the file is
re-read right before writing) and, with ``--json PATH``, the raw numbers.

    .venv/bin/python benchmarks/rram.py                 # 500 images, 5 chips per sigma (~1 min)
    .venv/bin/python benchmarks/rram.py --images 100 --chips 2 --no-write
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TFC = ROOT.parent / "shared" / "models" / "qonnx-zoo-tfc" / "TFC_1W1A.onnx"
SIGMAS = (0.0, 0.1, 0.2)
# XNOR-RRAM (Sun et al., DATE 2018; https://past.date-conference.com/proceedings-archive/2018/html/0813.html)
XNOR_RRAM = {"subarray": "128x128", "sense_amp_bits": 3, "cmos": "65 nm", "mnist_mlp_accuracy": 98.43,
             "tops_per_w": 141.18}


@dataclass(frozen=True)
class Config:
    label: str
    model: str  # "tfc" | "lfc"
    adc_bits: int | None = None
    adc_clip: float = 1.0
    g_on: float | None = None
    g_off: float | None = None


CONFIGS = (
    Config("TFC, NeuroSim device, exact ADC", "tfc"),
    Config("LFC, NeuroSim device, exact ADC", "lfc"),
    Config("TFC, 4-bit ADC (window 1/2)", "tfc", adc_bits=4, adc_clip=0.5),
    Config("TFC, 3-bit ADC (window 1/4)", "tfc", adc_bits=3, adc_clip=0.25),
    Config("TFC, 100 kOhm LRS, 3-bit ADC (window 1/4)", "tfc", adc_bits=3, adc_clip=0.25, g_on=1e-5, g_off=1e-7),
    Config("LFC, 100 kOhm LRS, 3-bit ADC (window 1/4)", "lfc", adc_bits=3, adc_clip=0.25, g_on=1e-5, g_off=1e-7),
)


def _models(images: int, seed: int) -> dict[str, tuple[object, np.ndarray, np.ndarray | None]]:
    """name -> (graph, inputs, true labels or None)."""
    from bnncc import fixtures
    from bnncc.data.mnist import load_mnist5k
    from bnncc.frontend import load

    x, y = load_mnist5k(seed)
    lfc = fixtures.lfc(seed=0)
    tmp = Path(tempfile.mkdtemp(prefix="bnncc-rram-bench-"))
    return {"tfc": (load(str(TFC)), (x[:images] / 255).astype(np.float32), y[:images]),
            "lfc": (load(str(fixtures.save(lfc, tmp / "lfc.onnx"))), fixtures.random_inputs(lfc, images, seed=seed),
                    None)}


def bench(cfg: Config, graph, x: np.ndarray, truth: np.ndarray | None, chips: int, out: Path) -> dict:
    from bnncc.backends.rram.config import G_OFF, G_ON, RramConfig
    from bnncc.backends.rram.estimate import estimate
    from bnncc.backends.rram.mapper import map_graph
    from bnncc.backends.rram.writer import write_mapping
    from bnncc.ir.executor import run
    from bnncc.sim.crossbar import CrossbarSim, NonIdeal

    t0 = time.perf_counter()
    rc = RramConfig(adc_bits=cfg.adc_bits, g_on=cfg.g_on or G_ON, g_off=cfg.g_off or G_OFF)
    mapping = map_graph(graph, rc)
    est = estimate(mapping)
    write_mapping(mapping, out)
    sim = CrossbarSim(out)
    ideal = run(graph, x).labels
    ref = ideal if truth is None else truth
    exact = sim.run(x)
    acc = {}
    for s in SIGMAS:
        n = 1 if s == 0 else chips
        vals = [float(np.mean(sim.run(x, NonIdeal(sigma=s, adc_clip=cfg.adc_clip, seed=k)).labels == ref))
                for k in range(n)]
        acc[str(s)] = {"mean": 100 * float(np.mean(vals)), "std": 100 * float(np.std(vals)), "chips": n}
    return {
        "config": cfg.label, "model": cfg.model, "inputs": len(x), "crossbar": rc.xbar, "encoding": rc.encoding,
        "g_on": rc.g_on, "g_off": rc.g_off, "adc_bits": max(s.adc_bits for s in mapping.matrices),
        "adc_clip": cfg.adc_clip, "tiles": len(mapping.tiles), "adcs": sum(row["adcs"] for row in est["layers"]),
        "area_mm2": est["area_mm2"], "energy_pj": est["energy_pj"], "energy_pj_by_group": est["energy_pj_by_group"],
        "latency_ns": est["latency_ns"], "tops_per_w": est["tops_per_w"], "ops": est["ops"],
        "measured_array_energy_pj": round(exact.array_energy_pj, 3),
        "ideal_sim_equals_executor": bool(np.array_equal(exact.labels, ideal)
                                          and np.array_equal(exact.hardware_out, run(graph, x).hardware_out))
        if cfg.adc_bits is None else None,
        "executor_accuracy": 100 * float(np.mean(ideal == ref)),
        "accuracy_is": "agreement with the ideal executor" if truth is None else "top-1 vs MNIST labels",
        "accuracy": acc, "seconds": round(time.perf_counter() - t0, 1),
    }


def section(rows: list[dict], images: int, chips: int) -> str:
    """The ``## RRAM`` section of RESULTS.md."""
    def acc(r: dict, s: float) -> str:
        a = r["accuracy"][str(s)]
        return f"{a['mean']:.2f}" + (f" ± {a['std']:.2f}" if a["chips"] > 1 else "")

    lines = [
        "## RRAM",
        "",
        f"`benchmarks/rram.py` (`--images {images} --chips {chips}`): 128×128 crossbars, differential (G+/G−) "
        "encoding, 1-bit cells, ADC bits derived for exactness unless stated; estimates from the constants "
        "of `docs/rram-mapping.md` (NeuroSim device: R_on 6 kΩ, R_off 900 kΩ, V_read 0.5 V, 10 ns reads; ISAAC "
        "32 nm periphery; 50 % word-line activity). Accuracy at lognormal conductance variation σ, mean ± std "
        "over chips. TFC = qonnx-zoo TFC_1W1A on shuffled MNIST-5k images (pixels / 255) vs labels; LFC = "
        "784-1024-1024-1024-10 with random weights (`fixtures.lfc(seed=0)`), so its accuracy column is "
        "**agreement with the ideal executor's labels** on seeded random inputs.",
        "",
        "| configuration | tiles | ADCs (bits) | area mm² | energy/inf. pJ (array / ADC / digital) | measured "
        "array pJ | latency ns | TOPS/W | acc. σ=0 | σ=0.1 | σ=0.2 |",
        "|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        g = r["energy_pj_by_group"]
        lines.append(
            f"| {r['config']} | {r['tiles']} | {r['adcs']} ({r['adc_bits']}) | {r['area_mm2']:.4f} | "
            f"{r['energy_pj']:.0f} ({g['array']:.0f} / {g['adc']:.0f} / {g['digital']:.0f}) | "
            f"{r['measured_array_energy_pj']:.0f} | {r['latency_ns']:.0f} | {r['tops_per_w']:.1f} | "
            f"{acc(r, 0.0)} | {acc(r, 0.1)} | {acc(r, 0.2)} |")
    x = XNOR_RRAM
    lines += [
        f"| XNOR-RRAM (Sun et al., DATE 2018), published | {x['subarray']} subarrays | {x['sense_amp_bits']}-bit "
        f"MLSA | – | – | – | – | {x['tops_per_w']} | {x['mnist_mlp_accuracy']} (their MLP) | – | – |",
        "",
        "Ideal crossbar simulation equals the reference executor (labels and every hardware integer) on every "
        "exact-ADC row: " + ", ".join(f"{r['config'].split(',')[0]}: {r['ideal_sim_equals_executor']}"
                                      for r in rows if r["ideal_sim_equals_executor"] is not None) + ".",
        "",
        "Why the numbers differ from XNOR-RRAM's:",
        "",
        "- **Model and training.** XNOR-RRAM's 98.43 % is their own trained binary MLP on the full MNIST test set; "
        "TFC_1W1A is a 64-64-64 network that the qonnx zoo reports at 93.17 %, measured here on MNIST-5k images.",
        "- **Cell conductance dominates our energy.** With NeuroSim's default 6 kΩ on-state at 0.5 V, one "
        "driven on-cell costs 0.42 pJ per 10 ns read, so the array is most of the energy (first rows). A "
        "100 kΩ on-state (last rows) cuts the array energy ~17×; XNOR-RRAM's figure rests on its own device "
        "and 65 nm circuit model, which we do not reproduce.",
        "- **ADC resolution.** Exactness needs ⌈log2(129)⌉ = 8 bits for 128 active rows; XNOR-RRAM uses a "
        "3-bit multi-level sense amplifier whose reference levels are placed for the partial-sum distribution "
        "and loses 0.34 %. Our low-bit rows use uniform steps over the central part of each column's window "
        "(`--adc-clip` in the sweep), one setting for all layers: 4 bits over half the window nearly keep "
        "TFC's accuracy, 3 bits over a quarter lose ~12 points, and 3 bits over the whole window leave ~17 % "
        "(see `tests/test_rram_cli.py`). Per-layer windows calibrated on data would close much of that gap; "
        "the random-weight LFC has no margins and follows its ideal labels only with exact ADCs.",
        "- **Input activity.** The nominal estimate assumes half the word lines driven; binarized MNIST "
        "drives about a fifth of TFC's first-layer rows, so the measured array energy is lower than the "
        "estimate on TFC and close to it on LFC's random ±1 inputs.",
        "- **Encoding.** XNOR-RRAM computes XNOR in one cell pair with complementary word lines and counts "
        "+1 matches; we apply bits on one word line per row and recover the popcount digitally "
        "(acc = Y + #negative weights). Both sense a signed pair per column, so cell counts are the same "
        "(2 per weight).",
        "- **What is counted.** Our energy includes row drivers, shift-add and eDRAM-style buffer traffic at "
        "ISAAC's 32 nm numbers, and no leakage, interconnect or control; latency assumes layer-by-layer "
        "processing with all tiles of a layer in parallel and 8 columns per ADC.",
        "",
    ]
    return "\n".join(lines)


def write_section(path: Path, text: str) -> None:
    """Replace (or append) only the ``## RRAM`` section; the file is re-read right before writing."""
    old = path.read_text() if path.exists() else "# Benchmark results\n"
    start = old.find("\n## RRAM\n")
    if old.startswith("## RRAM\n"):
        start = 0
    if start < 0:
        new = old.rstrip("\n") + "\n\n" + text
    else:
        end = old.find("\n## ", start + 1)
        new = old[:start].rstrip("\n") + "\n\n" + text + (old[end:] if end >= 0 else "")
    path.write_text(new if new.endswith("\n") else new + "\n")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--images", type=int, default=500)
    p.add_argument("--chips", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-write", action="store_true", help="print only; do not touch RESULTS.md")
    p.add_argument("--json", help="also write the raw numbers to this file")
    args = p.parse_args(argv)
    models = _models(args.images, args.seed)
    rows = []
    for cfg in CONFIGS:
        graph, x, truth = models[cfg.model]
        with tempfile.TemporaryDirectory(prefix="bnncc-rram-") as d:
            rows.append(bench(cfg, graph, x, truth, args.chips, Path(d)))
        print(json.dumps(rows[-1]), file=sys.stderr)
    text = section(rows, args.images, args.chips)
    print(text)
    if args.json:
        Path(args.json).write_text(json.dumps({"xnor_rram": XNOR_RRAM, "rows": rows}, indent=1) + "\n")
    if not args.no_write:
        write_section(ROOT / "benchmarks" / "RESULTS.md", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
