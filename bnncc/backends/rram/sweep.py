"""``bnncc rram-sweep``: accuracy of a mapped network against device and ADC non-idealities.

The model is mapped once (``OUT/rram-sweep/rram``, the same files as a compile), then the crossbar
simulator runs a data set for every (ADC bits, stuck-at rate, sigma) point, drawing ``--trials``
chips per non-ideal point. Accuracy is against the data set's labels; agreement is against the
ideal reference executor (for the ``random`` data set both are agreement). Results: a markdown
table, a JSON file and a PNG plot (accuracy vs sigma, one line per stuck-at rate, one panel per
ADC resolution).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from bnncc.errors import BnnccError


def run_sweep(sim, x: np.ndarray, truth: np.ndarray, ideal: np.ndarray, sigmas: list[float], safs: list[float],
              bits: list[int | None], trials: int = 1, seed: int = 0, adc_clip: float = 1.0,
              saf_on_fraction: float = 0.5, progress: bool = True) -> list[dict]:
    """One row per (ADC bits, stuck-at rate, sigma): mean / std accuracy and agreement over chips."""
    from tqdm import tqdm

    from bnncc.sim.crossbar import NonIdeal

    if trials < 1:
        raise BnnccError(f"--trials {trials}: expected at least 1")
    points = [(b, f, s) for b in bits for f in safs for s in sigmas]
    rows = []
    with tqdm(total=len(points), desc="rram-sweep", unit="point", file=sys.stderr, disable=not progress) as bar:
        for b, f, s in points:
            n = 1 if s == 0 and f == 0 else trials
            acc, agree = [], []
            for t in range(n):
                ni = NonIdeal(sigma=s, saf=f, saf_on_fraction=saf_on_fraction, adc_bits=b, adc_clip=adc_clip,
                              seed=seed + t)
                labels = sim.run(x, ni).labels
                acc.append(float(np.mean(labels == truth)))
                agree.append(float(np.mean(labels == ideal)))
            rows.append({"adc_bits": "exact" if b is None else b, "saf": f, "sigma": s, "trials": n,
                         "accuracy": round(float(np.mean(acc)), 6), "accuracy_std": round(float(np.std(acc)), 6),
                         "agreement": round(float(np.mean(agree)), 6)})
            bar.update(1)
    return rows


def table(rows: list[dict]) -> str:
    lines = ["| ADC bits | stuck-at rate | sigma | chips | accuracy % | std | agreement with ideal % |",
             "|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['adc_bits']} | {r['saf']:g} | {r['sigma']:g} | {r['trials']} | "
                     f"{100 * r['accuracy']:.2f} | {100 * r['accuracy_std']:.2f} | {100 * r['agreement']:.2f} |")
    return "\n".join(lines) + "\n"


def plot(rows: list[dict], path: Path, title: str) -> None:
    """Accuracy vs sigma; one line per stuck-at rate, one panel per ADC resolution."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    bits = list(dict.fromkeys(r["adc_bits"] for r in rows))
    fig, axes = plt.subplots(1, len(bits), figsize=(4.2 * len(bits), 3.4), squeeze=False, sharey=True)
    for ax, b in zip(axes[0], bits, strict=True):
        for f in dict.fromkeys(r["saf"] for r in rows):
            pts = [r for r in rows if r["adc_bits"] == b and r["saf"] == f]
            ax.errorbar([r["sigma"] for r in pts], [100 * r["accuracy"] for r in pts],
                        yerr=[100 * r["accuracy_std"] for r in pts], marker="o", capsize=3, label=f"stuck-at {f:g}")
        ax.set_title(f"ADC bits: {b}")
        ax.set_xlabel("conductance variation sigma (lognormal)")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("accuracy (%)")
    axes[0][-1].legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120, metadata={"Software": None})
    plt.close(fig)


def sweep(graph, cfg, x: np.ndarray, y: np.ndarray | None, dataset: str, sigmas: list[float], safs: list[float],
          bits: list[int | None], out: Path, trials: int = 1, seed: int = 0, adc_clip: float = 1.0,
          saf_on_fraction: float = 0.5) -> dict:
    """Map `graph` once into ``out/rram``, run the sweep on inputs `x` (labels `y`, or None for agreement
    with the ideal executor), write sweep.json, sweep.md and sweep.png into `out`; returns the result."""
    from bnncc.backends.output import staged
    from bnncc.backends.rram.mapper import map_graph
    from bnncc.backends.rram.writer import write_mapping
    from bnncc.ir.executor import run
    from bnncc.sim.crossbar import CrossbarSim

    with staged(out) as tmp:
        write_mapping(map_graph(graph, cfg), tmp / "rram")
        sim = CrossbarSim(tmp / "rram")
        ideal = run(graph, x).labels
        truth = ideal if y is None else y
        ideal_sim = sim.run(x).labels
        rows = run_sweep(sim, x, truth, ideal, sigmas, safs, bits, trials, seed, adc_clip, saf_on_fraction)
        result, md = _write_results(tmp, rows, x, y, ideal, truth, ideal_sim, dataset, cfg, adc_clip)
    return result | {"markdown": md, "files": [str(out / n) for n in ("sweep.json", "sweep.md", "sweep.png")]}


def _write_results(out: Path, rows, x, y, ideal, truth, ideal_sim, dataset: str, cfg, adc_clip: float):
    from bnncc.backends.rram.writer import dump_json

    result = {"dataset": dataset, "inputs": len(x), "crossbar": cfg.xbar, "encoding": cfg.encoding,
              "cell_bits": cfg.cell_bits, "g_on": cfg.g_on, "g_off": cfg.g_off, "adc_clip": adc_clip,
              "accuracy_is": "agreement with the ideal executor" if y is None else "top-1 vs data set labels",
              "executor_accuracy": round(float(np.mean(ideal == truth)), 6),
              "ideal_sim_matches_executor": bool(np.array_equal(ideal_sim, ideal)), "rows": rows}
    dump_json(out / "sweep.json", result)
    md = (f"Crossbar {cfg.xbar}, {cfg.encoding} encoding, {cfg.cell_bits}-bit cells, {len(x)} inputs of "
          f"{dataset}; accuracy = {result['accuracy_is']}; ideal executor: "
          f"{100 * result['executor_accuracy']:.2f} %.\n\n" + table(rows))
    (out / "sweep.md").write_text(md)
    plot(rows, out / "sweep.png", f"{dataset}, {cfg.xbar} crossbars, {cfg.encoding} encoding")
    return result, md
