"""Co-design on a space small enough to enumerate: does the GP sampler find the Pareto front with few
evaluations, against random search and NSGA-II, and does the few-epoch proxy rank networks as full
training does?

1. Every network of the co-design space (depths 1-3, widths 16-128, a precision per hidden layer: 156 MLPs)
   is costed by the calibrated model at its cheapest folding for the budget's FPS and trained once as a
   proxy (``--proxy-epochs`` on MNIST-5k): the table every sampler run looks up.
2. ``--full`` networks drawn at random are also trained fully (``--full-epochs``): Kendall tau of proxy
   against full accuracy, with a 95 % bootstrap interval.
3. Each sampler (bnncc's GP on the error with exact LUTs, random search over the feasible networks, Optuna's
   NSGA-II with population = evaluations / 5 and Optuna's black-box GP sampler) runs ``--seeds`` times with
   ``--evaluations`` trials (default 10 % of the space); hypervolume on (error, LUT) against a reference point
   fixed at 1.1 x each objective's worst value over the enumerated space, as a share of the exhaustive
   Pareto front's hypervolume; median and IQR per sampler, Mann-Whitney U (one-sided) of GP against each
   baseline; plotted against evaluations.

    .venv/bin/python benchmarks/codesign.py [--seeds 10] [--evaluations 16] [--jobs 2] [--out DIR]
        [--json benchmarks/codesign.json] [--png docs/images/codesign_hypervolume.png]

Resumable: the proxies and full trainings live in OUT/search.sqlite.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bnncc.cost.calibrated import default_model  # noqa: E402
from bnncc.search import budget as budgets  # noqa: E402
from bnncc.search import codesign  # noqa: E402
from bnncc.search.trials import TrialStore  # noqa: E402

BUDGET = "fps>=10000,lut<=4000"


def table(args) -> tuple[list, dict, dict, dict]:
    opts = codesign.Options(budget=budgets.parse(args.budget), model=default_model(), dataset=args.dataset,
                            proxy_epochs=args.proxy_epochs, jobs=args.jobs)
    nets = codesign.space(opts.depths, opts.widths)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with TrialStore(out / "search.sqlite") as store:
        costs = codesign.costs(opts, store, nets, progress=True)
        proxy = codesign.trainer(opts, store, out, progress=True)(nets)
        rng = np.random.default_rng(0)
        chosen = [nets[i] for i in sorted(rng.choice(len(nets), size=min(args.full, len(nets)), replace=False))]
        full_opts = codesign.Options(budget=opts.budget, model=opts.model, dataset=args.dataset,
                                     proxy_epochs=args.full_epochs, jobs=args.jobs)
        full = codesign.trainer(full_opts, store, out, progress=True)(chosen)
    return nets, costs, proxy, full


def kendall(proxy: dict, full: dict) -> dict:
    from scipy.stats import kendalltau

    names = sorted(full, key=lambda n: n.name)
    x = np.array([proxy[n]["accuracy"] for n in names])
    y = np.array([full[n]["accuracy"] for n in names])
    rng = np.random.default_rng(0)
    boot = []
    for _ in range(2000):
        i = rng.integers(0, len(x), len(x))
        t = kendalltau(x[i], y[i]).statistic
        if np.isfinite(t):
            boot.append(t)
    return {"tau": float(kendalltau(x, y).statistic), "ci": [float(v) for v in np.percentile(boot, [2.5, 97.5])],
            "n": len(names), "proxy_mean": float(x.mean()), "full_mean": float(y.mean())}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--budget", default=BUDGET)
    ap.add_argument("--dataset", default="mnist5k")
    ap.add_argument("--proxy-epochs", type=int, default=1)
    ap.add_argument("--full", type=int, default=30, help="networks trained fully for the proxy's Kendall tau")
    ap.add_argument("--full-epochs", type=int, default=10)
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--evaluations", type=int, default=0, help="per run (default: 10 %% of the space)")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--out", default="/tmp/bnncc-codesign-bench")
    ap.add_argument("--json", default=str(ROOT / "benchmarks" / "codesign.json"))
    ap.add_argument("--png", default=str(ROOT / "docs" / "images" / "codesign_hypervolume.png"))
    args = ap.parse_args()
    start = time.time()
    nets, costs, proxy, full = table(args)
    b = budgets.parse(args.budget)
    lookup = {n: {"error": 1.0 - proxy[n]["accuracy"], "lut": costs[n].get("lut"),
                  "violation": codesign.violation(costs[n], b)} for n in nets}
    built = [v for v in lookup.values() if v["lut"] is not None]
    ref = (1.1 * max(v["error"] for v in built), 1.1 * max(v["lut"] for v in built))
    for v in lookup.values():
        v["lut"] = ref[1] if v["lut"] is None else v["lut"]
    exhaustive = codesign.hypervolume([(v["error"], v["lut"]) for v in lookup.values() if v["violation"] <= 0], ref)
    evaluations = args.evaluations or max(2, len(nets) // 10)
    runs: dict[str, list[list[float]]] = {}
    for sampler in codesign.SAMPLERS:
        runs[sampler] = []
        for seed in range(args.seeds):
            trials = codesign.optimize(lambda batch: [lookup[n] for n in batch], sampler, seed, evaluations,
                                       [1, 2, 3], [16, 32, 64, 128], known=lookup, ref=ref)
            runs[sampler].append([h / exhaustive for h in codesign.hv_curve(trials, ref)])
        print(f"{sampler}: median share {np.median([r[-1] for r in runs[sampler]]):.3f}", file=sys.stderr)
    from scipy.stats import mannwhitneyu

    final = {s: [r[-1] for r in rs] for s, rs in runs.items()}
    tests = {f"gp>{s}": float(mannwhitneyu(final["gp"], final[s], alternative="greater").pvalue)
             for s in codesign.SAMPLERS if s != "gp"}
    tau = kendall(proxy, full)
    result = {"budget": args.budget, "space": len(nets), "evaluations": evaluations, "seeds": args.seeds,
              "reference_point": {"error": ref[0], "lut": ref[1]}, "exhaustive_hypervolume": exhaustive,
              "hypervolume_share": {s: {"median": float(np.median(v)), "q25": float(np.percentile(v, 25)),
                                        "q75": float(np.percentile(v, 75)), "runs": v} for s, v in final.items()},
              "mann_whitney_p": tests, "proxy_vs_full": tau, "curves": runs, "wall_s": round(time.time() - start, 1),
              "command": " ".join(sys.argv)}
    Path(args.json).write_text(json.dumps(result, indent=1, sort_keys=True) + "\n")
    plot(runs, evaluations, args.png)
    print(f"| sampler | hypervolume share at {evaluations} evaluations (median [IQR]) | runs ≥ 95 % |")
    print("|---|---|---:|")
    for s, v in final.items():
        print(f"| {s} | {np.median(v):.3f} [{np.percentile(v, 25):.3f}, {np.percentile(v, 75):.3f}] | "
              f"{sum(x >= 0.95 for x in v)} of {len(v)} |")
    print("\nMann-Whitney U, GP greater: " + ", ".join(f"p = {p:.4f} vs {k[3:]}" for k, p in tests.items()))
    print(f"Proxy ({args.proxy_epochs} epoch) vs full ({args.full_epochs} epochs) accuracy over {tau['n']} networks: "
          f"Kendall tau {tau['tau']:.3f} [{tau['ci'][0]:.3f}, {tau['ci'][1]:.3f}]")
    return 0


def plot(runs: dict, evaluations: int, path: str) -> None:
    from bnncc.calibrate.charts import _figure, _png

    fig, axes = _figure(6.5, 4.0, cols=1)
    ax = axes[0]
    x = np.arange(1, evaluations + 1)
    for sampler, rs in runs.items():
        a = np.array(rs)
        ax.plot(x, np.median(a, axis=0), label=f"{sampler} (median)")
        ax.fill_between(x, np.percentile(a, 25, axis=0), np.percentile(a, 75, axis=0), alpha=0.2)
    ax.axhline(0.95, color="k", ls="--", lw=1, label="95 % of the exhaustive front")
    ax.set_xlabel("evaluations")
    ax.set_ylabel("hypervolume / exhaustive hypervolume")
    ax.set_title(f"co-design samplers over {len(next(iter(runs.values())))} seeds (IQR shaded)", fontsize=9)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7)
    Path(path).write_bytes(_png(fig))


if __name__ == "__main__":
    sys.exit(main())
