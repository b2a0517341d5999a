"""``bnncc rram-sweep``: accuracy of a mapped network against device and ADC non-idealities.

The model is mapped once (``OUT/rram-sweep/rram``, the same files as a compile), then the crossbar
simulator runs a data set for every (ADC bits, stuck-at rate, sigma) point, drawing ``--trials``
chips per non-ideal point. Accuracy is against the data set's labels; agreement is against the
ideal reference executor (for the ``random`` data set both are agreement). Results: a markdown
table, a JSON file and a PNG plot (accuracy vs sigma, one line per stuck-at rate, one panel per
ADC resolution).
"""

from __future__ import annotations

import gzip
import json
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

from bnncc.errors import BnnccError

FASHION = Path("/usr/share/datasets/fashion-mnist")


def _mnist5k(seed: int) -> tuple[np.ndarray, np.ndarray]:
    from bnncc.data.mnist import load_mnist5k

    return load_mnist5k(seed)


def _digits(seed: int) -> tuple[np.ndarray, np.ndarray]:
    from bnncc.data.mnist import load_digits

    return load_digits(seed)


def _fashion(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Fashion-MNIST test set (Debian ``dataset-fashion-mnist``), pixels 0..255, shuffled with `seed`."""
    def idx(name: str, offset: int) -> np.ndarray:
        path = FASHION / name
        if not path.is_file():
            raise BnnccError(f"--dataset fashion-mnist: {path} is missing (Debian package dataset-fashion-mnist)")
        return np.frombuffer(gzip.decompress(path.read_bytes()), dtype=np.uint8, offset=offset)

    x = idx("t10k-images-idx3-ubyte.gz", 16).reshape(-1, 1, 28, 28).astype(np.float32)
    y = idx("t10k-labels-idx1-ubyte.gz", 8).astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(y))
    return x[order], y[order]


DATASETS: dict[str, Callable | None] = {"mnist5k": _mnist5k, "fashion-mnist": _fashion, "digits": _digits,
                                         "random": None}


def load_dataset(name: str, limit: int, seed: int, shape: tuple[int, ...],
                 divide: float = 1.0) -> tuple[np.ndarray, np.ndarray | None]:
    """`limit` inputs in the model's input shape (reshaped when the sizes agree), labels or None."""
    if limit < 1:
        raise BnnccError(f"--limit {limit}: expected at least 1 input")
    if divide == 0:
        raise BnnccError("--input-div 0: cannot divide by zero")
    if name == "random":
        x = np.random.default_rng(seed).standard_normal((limit, *shape)).astype(np.float32)
        return x, None
    if name not in DATASETS:
        raise BnnccError(f"--dataset {name}: expected one of {', '.join(sorted(DATASETS))}")
    x, y = DATASETS[name](seed)
    x, y = x[:limit], y[:limit]
    if int(np.prod(x.shape[1:])) != int(np.prod(shape)):
        raise BnnccError(f"--dataset {name}: images of shape {list(x.shape[1:])} do not fit the model input "
                         f"{list(shape)}")
    return (x.reshape(len(x), *shape) / np.float32(divide)).astype(np.float32), y


def parse_floats(text: str, option: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise BnnccError(f"{option} {text!r}: expected comma-separated numbers") from None
    if not values or any(v < 0 for v in values):
        raise BnnccError(f"{option} {text!r}: expected non-negative numbers")
    return values


def parse_bits(text: str) -> list[int | None]:
    out: list[int | None] = []
    for v in (t.strip() for t in text.split(",") if t.strip()):
        if v == "exact":
            out.append(None)
        elif v.isdigit() and 1 <= int(v) <= 24:
            out.append(int(v))
        else:
            raise BnnccError(f"--adc-bits {text!r}: expected 'exact' or integers 1..24, comma-separated")
    if not out:
        raise BnnccError("--adc-bits: empty list")
    return out


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


def cmd_rram_sweep(args) -> int:
    from bnncc.backends.rram.cli import config_from_args
    from bnncc.backends.rram.mapper import map_graph
    from bnncc.backends.rram.writer import dump_json, replace_dir, staging_dir, write_mapping
    from bnncc.frontend import load
    from bnncc.ir.executor import run
    from bnncc.sim.crossbar import CrossbarSim

    sigmas, safs = parse_floats(args.sigma, "--sigma"), parse_floats(args.saf, "--saf")
    if any(f > 1 for f in safs):
        raise BnnccError(f"--saf {args.saf!r}: rates must be at most 1")
    bits = parse_bits(args.adc_bits)
    graph = load(args.model)
    cfg = config_from_args(args, adc_bits=False)
    x, y = load_dataset(args.dataset, args.limit, args.seed, tuple(graph.input_type.shape), args.input_div)
    out = Path(args.out) / "rram-sweep"
    out.mkdir(parents=True, exist_ok=True)
    tmp = staging_dir(out)
    write_mapping(map_graph(graph, cfg), tmp)
    replace_dir(tmp, out / "rram")
    sim = CrossbarSim(out / "rram")
    ideal = run(graph, x).labels
    truth = ideal if y is None else y
    ideal_sim = sim.run(x).labels
    rows = run_sweep(sim, x, truth, ideal, sigmas, safs, bits, args.trials, args.seed, args.adc_clip,
                     args.saf_on_fraction)
    result = {"dataset": args.dataset, "inputs": len(x), "crossbar": cfg.xbar, "encoding": cfg.encoding,
              "cell_bits": cfg.cell_bits, "g_on": cfg.g_on, "g_off": cfg.g_off, "adc_clip": args.adc_clip,
              "accuracy_is": "agreement with the ideal executor" if y is None else "top-1 vs data set labels",
              "executor_accuracy": round(float(np.mean(ideal == truth)), 6),
              "ideal_sim_matches_executor": bool(np.array_equal(ideal_sim, ideal)), "rows": rows}
    dump_json(out / "sweep.json", result)
    md = (f"Crossbar {cfg.xbar}, {cfg.encoding} encoding, {cfg.cell_bits}-bit cells, {len(x)} inputs of "
          f"{args.dataset}; accuracy = {result['accuracy_is']}; ideal executor: "
          f"{100 * result['executor_accuracy']:.2f} %.\n\n" + table(rows))
    (out / "sweep.md").write_text(md)
    plot(rows, out / "sweep.png", f"{args.dataset}, {cfg.xbar} crossbars, {cfg.encoding} encoding")
    if args.json:
        print(json.dumps(result | {"files": [str(out / n) for n in ("sweep.json", "sweep.md", "sweep.png")]}))
    else:
        print(md, end="")
    return 0 if result["ideal_sim_matches_executor"] else 1
