"""`bnncc search codesign`: network and accelerator explored together (after Fan et al., "Algorithm and Hardware
Co-design for Reconfigurable CNN Accelerator", ASP-DAC 2022), with training decoupled from the exploration.

- The space: MLPs 784 -> depth x width -> 10 with a precision per hidden layer (binary, LightNN k=1, k=2;
  `arch.Mixed`); small enough to enumerate (3 depths x 4 widths: 156 networks).
- The objectives: test error of a few-epoch proxy training (`--proxy-epochs`: how well it ranks fully
  trained networks is measured by benchmarks/codesign.py), and LUTs at the cheapest folding for the budget's
  FPS, straight from the calibrated model and the folding optimizer (the folding is not a search variable);
  the budget's other limits are constraints.
- The samplers: `gp`, a Gaussian process (scikit-learn) of the error alone — the LUTs and the budget are
  computed, so only feasible networks not yet trained are candidates — picking by Monte-Carlo expected
  hypervolume improvement; `random` over the same candidates; and Optuna's NSGA-II (population at most
  evaluations / 5) and GP sampler (`optuna-gp`), which see both objectives as black boxes and the budget as
  a constraint; every one runs in an Optuna study (gp and random enqueue their picks).
- Hypervolume is computed on (error, LUT) against a reference point fixed at 1.1 x
  each objective's worst value: LUT over the enumerated space, error at chance (0.9 for 10 classes) unless
  the caller knows the space's worst.

The study lives in OUT/optuna.sqlite and the trainings in OUT/search.sqlite, so a killed search resumes.
"""

from __future__ import annotations

import itertools
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

import bnncc
from bnncc.cost.devices import DEFAULT_PART
from bnncc.cost.model import CostModel
from bnncc.errors import BnnccError
from bnncc.search import deepbit
from bnncc.search.arch import Mixed
from bnncc.search.budget import Budget
from bnncc.search.trials import TrialStore

SAMPLERS = ("gp", "random", "nsga2", "optuna-gp")
PRECISIONS = ("binary", "pow2k1", "pow2k2")
CHANCE_ERROR = 0.9


@dataclass
class Options:
    budget: Budget
    model: CostModel
    part: str = DEFAULT_PART
    depths: list[int] = field(default_factory=lambda: [1, 2, 3])
    widths: list[int] = field(default_factory=lambda: [16, 32, 64, 128])
    dataset: str = "mnist5k"
    proxy_epochs: int = 1
    evaluations: int = 16
    sampler: str = "gp"
    seed: int = 0
    clock_ns: float = 10.0
    max_train: int | None = None
    threads: int = 1
    jobs: int = 1
    ray: str | None = None


def space(depths: list[int], widths: list[int]) -> list[Mixed]:
    return [Mixed(w, ps) for d in depths for w in widths for ps in itertools.product(PRECISIONS, repeat=d)]


def suggest(trial, depths: list[int], widths: list[int]) -> Mixed:
    """A fixed-dimensional encoding (every layer's precision is drawn; a shallower network ignores the rest),
    so the GP sampler models the whole space rather than falling back to random for conditional ones."""
    depth = trial.suggest_categorical("depth", depths)
    width = trial.suggest_categorical("width", widths)
    ps = tuple(trial.suggest_categorical(f"p{i}", PRECISIONS) for i in range(max(depths)))
    return Mixed(width, ps[:depth])


def make_sampler(name: str, seed: int, evaluations: int):
    """Optuna's sampler for `name`. "gp" and "random" choose their trials themselves (next_networks) and
    enqueue them; the Optuna samplers see the problem as a black box, the budget as each trial's constraint."""
    import optuna

    if name in ("gp", "random"):
        return optuna.samplers.RandomSampler(seed=seed)  # never asked: every trial is enqueued
    if name == "optuna-gp":
        return optuna.samplers.GPSampler(seed=seed, n_startup_trials=max(2, evaluations // 4),
                                         warn_independent_sampling=False)
    if name == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed, population_size=max(2, evaluations // 5))
    raise BnnccError(f"--sampler {name!r}: choose one of {', '.join(SAMPLERS)}")


def _params(net: Mixed, depths: list[int]) -> dict:
    ps = list(net.precisions) + ["binary"] * (max(depths) - net.depth)
    return {"depth": net.depth, "width": net.width, **{f"p{i}": p for i, p in enumerate(ps)}}


def _features(nets: list[Mixed]) -> np.ndarray:
    """What the GP sees of a network: depth, log2 width, the share of each precision, the first layer's."""
    rows = []
    for n in nets:
        share = [n.precisions.count(p) / n.depth for p in PRECISIONS]
        rows.append([n.depth, np.log2(n.width), *share, *[float(n.precisions[0] == p) for p in PRECISIONS]])
    return np.array(rows)


def next_networks(sampler: str, done: list[tuple[Mixed, float]], known: dict[Mixed, dict], ref: tuple[float, float],
                  rng: np.random.Generator, count: int, startup: int, samples: int = 256) -> list[Mixed]:
    """The next `count` networks: among the feasible ones not evaluated yet (their LUTs and the budget are
    known before training), at random ("random", and "gp" for its first `startup`), else by Monte-Carlo
    expected hypervolume improvement under a Gaussian-process model of the error alone (scikit-learn; the
    LUTs are exact), one at a time with the earlier picks of the batch taken at their predicted error."""
    from sklearn.gaussian_process import GaussianProcessRegressor
    from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel

    seen = {n for n, _ in done}
    pool = sorted((n for n, k in known.items() if k["violation"] <= 0 and n not in seen), key=lambda n: n.name)
    picks: list[Mixed] = []
    for _ in range(min(count, len(pool))):
        left = [n for n in pool if n not in picks]
        if sampler == "random" or len(done) + len(picks) < startup:
            picks.append(left[int(rng.integers(len(left)))])
            continue
        xs = [n for n, _ in done]
        gp = GaussianProcessRegressor(ConstantKernel() * Matern(np.ones(_features(xs).shape[1]), nu=2.5)
                                      + WhiteKernel(1e-4), normalize_y=True, random_state=0)
        gp.fit(_features(xs), [e for _, e in done])
        mu, sd = gp.predict(_features(left), return_std=True)
        front = [(e, known[n]["lut"]) for n, e in done if known[n]["violation"] <= 0]
        front += [(float(gp.predict(_features([n]))[0]), known[n]["lut"]) for n in picks]
        base = hypervolume(front, ref)
        draws = rng.normal(mu, np.maximum(sd, 1e-9), size=(samples, len(left)))
        gain = [np.mean([hypervolume(front + [(e, known[n]["lut"])], ref) for e in draws[:, j]]) - base
                for j, n in enumerate(left)]
        picks.append(left[int(np.argmax(gain))])
    return picks


def pareto(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The non-dominated points (both objectives minimized), by the first objective."""
    front: list[tuple[float, float]] = []
    for p in sorted(set(points)):
        if not front or p[1] < front[-1][1]:
            front.append(p)
    return front


def hypervolume(points: list[tuple[float, float]], ref: tuple[float, float]) -> float:
    """The area the points dominate inside the reference box, as a share of the box (0..1)."""
    front = [p for p in pareto(points) if p[0] < ref[0] and p[1] < ref[1]]
    area, prev_y = 0.0, ref[1]
    for x, y in front:
        area += (ref[0] - x) * (prev_y - y)
        prev_y = y
    return area / (ref[0] * ref[1])


Evaluation = dict  # {"error", "lut", "violation", ...}


def optimize(evaluate: Callable[[list[Mixed]], list[Evaluation]], sampler: str, seed: int, evaluations: int,
             depths: list[int], widths: list[int], storage: str | None = None, batch: int = 1,
             progress: bool = False, known: dict[Mixed, dict] | None = None,
             ref: tuple[float, float] | None = None) -> list[dict]:
    """Run the study to `evaluations` finished trials (resuming the one in `storage`), asking `batch` at a
    time; every trial as {"number", "network", "error", "lut", "violation"}. "gp" and "random" need `known`
    (every network's {"lut", "violation"}, computed, not trained) and "gp" the reference point `ref`."""
    import optuna

    if sampler in ("gp", "random") and (known is None or ref is None):
        raise ValueError(f"sampler {sampler} needs the known costs and the reference point")
    rng = np.random.default_rng(seed)
    by_name = {n.name: n for n in known} if known else {}
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(directions=["minimize", "minimize"], storage=storage, load_if_exists=True,
                                study_name=f"codesign-{sampler}-seed{seed}",
                                sampler=make_sampler(sampler, seed, evaluations))
    for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        study.tell(t.number, state=optuna.trial.TrialState.FAIL)  # asked before a kill, never told
    done = len(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)))
    with tqdm(total=evaluations, initial=done, desc=f"codesign {sampler}", unit="eval", file=sys.stderr,
              disable=not progress) as bar:
        while done < evaluations:
            want = min(batch, evaluations - done)
            if sampler in ("gp", "random"):
                told = [(by_name[t.user_attrs["network"]], t.values[0])
                        for t in study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))]
                chosen = next_networks(sampler, told, known, ref, rng, want, startup=max(2, evaluations // 5))
                if not chosen:
                    break  # every feasible network has been evaluated
                for net in chosen:
                    study.enqueue_trial(_params(net, depths))
                want = len(chosen)
            asked = [study.ask() for _ in range(want)]
            nets = [suggest(t, depths, widths) for t in asked]
            for t, net, ev in zip(asked, nets, evaluate(nets), strict=True):
                t.set_user_attr("network", net.name)
                t.set_user_attr("violation", float(ev["violation"]))
                t.set_constraint("budget", float(ev["violation"]))
                study.tell(t, [ev["error"], ev["lut"]])
            done += len(asked)
            bar.update(len(asked))
    return [{"number": t.number, "network": t.user_attrs["network"], "error": t.values[0], "lut": t.values[1],
             "violation": t.user_attrs["violation"]}
            for t in study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))]


def hv_curve(trials: list[dict], ref: tuple[float, float]) -> list[float]:
    """Hypervolume of the feasible trials after each evaluation."""
    out, pts = [], []
    for t in sorted(trials, key=lambda t: t["number"]):
        if t["violation"] <= 0:
            pts.append((t["error"], t["lut"]))
        out.append(hypervolume(pts, ref))
    return out


def violation(cost: dict, budget: Budget) -> float:
    """How far a cost is outside the budget: the largest relative excess over its limits (0 inside)."""
    if "infeasible" in cost:
        return 1.0
    worst = 0.0
    for metric, bound in budget.limits:
        v = cost.get(metric)
        if v is not None:
            excess = (v - bound) / bound if metric != "fps" else (bound - v) / bound
            worst = max(worst, excess)
    return worst


# -- the command -----------------------------------------------------------------------------------


def costs(opts: Options, store: TrialStore, nets: list[Mixed], progress: bool) -> dict[Mixed, dict]:
    """Every network's predicted cost (the enumerated space's chart), from the store where computed before."""
    points, new = deepbit.cost_points(nets, store, opts.budget.fps, opts.part, opts.clock_ns, opts.model,
                                      progress=progress, desc="codesign: cost chart")
    deepbit.store_costs(store, points, new, opts.budget.fps, opts.part, opts.clock_ns, opts.model)
    return points


def trainer(opts: Options, store: TrialStore, out: Path,
            progress: bool = False) -> Callable[[list[Mixed]], dict[Mixed, dict]]:
    """A function training networks (`--proxy-epochs`; from the store where trained before); a failed
    training stops the search."""
    def train(nets: list[Mixed]) -> dict[Mixed, dict]:
        done, failed = deepbit.train_all(nets, store, out, opts.dataset, opts.proxy_epochs, opts.seed,
                                         opts.max_train, opts.threads, opts.jobs, opts.ray,
                                         progress=progress and len(set(nets)) > 1, desc="codesign: training")
        if failed:
            n, error = next(iter(failed.items()))
            raise BnnccError(f"codesign: training {n.name} failed: {error}")
        return done
    return train


def run(opts: Options, out: Path, progress: bool = True) -> dict:
    start = time.perf_counter()
    if opts.evaluations < 2:
        raise BnnccError(f"--evaluations {opts.evaluations}: at least 2")
    nets = space(opts.depths, opts.widths)
    resume = deepbit.prepare(out)
    if not resume:
        out.mkdir(parents=True, exist_ok=True)
    with TrialStore(out / "search.sqlite") as store:
        chart = costs(opts, store, nets, progress)
        built = [c for c in chart.values() if "infeasible" not in c]
        if not any(violation(c, opts.budget) <= 0 for c in built):
            raise deepbit.impossible(deepbit.Options(budget=opts.budget, model=opts.model, part=opts.part),
                                     list(chart.values()))
        ref = (1.1 * CHANCE_ERROR, 1.1 * max(c["lut"] for c in built))
        train = trainer(opts, store, out)

        def evaluate(batch: list[Mixed]) -> list[Evaluation]:
            accuracy = train(batch)
            return [{"error": 1.0 - accuracy[n]["accuracy"], "lut": chart[n].get("lut", ref[1]),
                     "violation": violation(chart[n], opts.budget)} for n in batch]

        known = {n: {"lut": chart[n].get("lut", ref[1]), "violation": violation(chart[n], opts.budget)} for n in nets}
        trials = optimize(evaluate, opts.sampler, opts.seed, opts.evaluations, opts.depths, opts.widths,
                          storage=f"sqlite:///{out / 'optuna.sqlite'}", batch=opts.jobs, progress=progress,
                          known=known, ref=ref)
    feasible = [t for t in trials if t["violation"] <= 0]
    front = pareto([(t["error"], t["lut"]) for t in feasible])
    by_name = {n.name: n for n in nets}
    result = {
        "format": "bnncc-search", "version": 1, "search": "codesign", "bnncc_version": bnncc.__version__,
        "options": {"budget": opts.budget.to_json(), "part": opts.part, "depths": opts.depths, "widths": opts.widths,
                    "dataset": opts.dataset, "proxy_epochs": opts.proxy_epochs, "evaluations": opts.evaluations,
                    "sampler": opts.sampler, "seed": opts.seed, "clock_ns": opts.clock_ns},
        "space": len(nets), "reference_point": {"error": ref[0], "lut": ref[1]},
        "trials": [{**t, "arch": by_name[t["network"]].to_json(),
                    "predicted": {k: chart[by_name[t["network"]]].get(k) for k in ("lut", "ff", "bram18", "fps")}}
                   for t in trials],
        "pareto": [{"error": e, "lut": lut, "networks": sorted({t["network"] for t in feasible
                                                                if (t["error"], t["lut"]) == (e, lut)})}
                   for e, lut in front],
        "hypervolume": hv_curve(trials, ref), "wall_s": round(time.perf_counter() - start, 1),
    }
    _write(out, result)
    return result


def _write(out: Path, result: dict) -> None:
    from bnncc.search import report

    files = report.render_codesign(result)
    files["search.json"] = (json.dumps(result, indent=1, sort_keys=True) + "\n").encode()
    report.write(out, files)
