"""`bnncc search deepbit`: Deepbit's selection on the cost charts (Vo et al., Applied Sciences 12(3) 1296, 2022).

1. The chart: every XNOR-net of the space (depths x widths on a grid of 16) costed by the cost model at its
   cheapest folding for the budget's FPS (fully folded without one). Cheapest cost need not grow with width
   (a wider layer can fold into fewer, cheaper lanes), so the whole grid is scanned rather than bisected;
   the chart records per depth whether feasibility was monotone and what a bisection would have returned.
2. Per depth, the widest network that meets the budget (the candidates); beside them the networks a MACs-
   and a BOPs-based selection would pick: the widest per depth under the MAC (BOP) budget that the LUT
   budget gives through the LUT-per-MAC (per-BOP) ratio fitted on the calibration store.
3. Every candidate is trained with bnncc.nn and exported; the winner is the most accurate candidate (or,
   with an accuracy target, the cheapest that reaches it).
4. The winner is compiled, C-simulated and RTL-simulated bit-exactly against the executor and synthesized
   with Yosys; if its measured cost breaks the budget the next candidate is measured instead.

Trials run in a local process pool or as Ray tasks; only this process writes the search's store, so a
killed search resumes without redoing a finished trial.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

import bnncc
from bnncc.calibrate.runner import map_tasks
from bnncc.cost.devices import DEFAULT_PART, device
from bnncc.cost.model import CostModel
from bnncc.errors import BnnccError
from bnncc.search import tasks
from bnncc.search.arch import PRIMARY, WIDTH_STEP, Arch, arch_of, predict
from bnncc.search.budget import Budget
from bnncc.search.trials import TrialStore, is_search_folder, trial_key

METHODS = ("calibrated", "macs", "bops")  # who picks: the cost model, or a MAC / BOP count


@dataclass
class Options:
    budget: Budget
    model: CostModel
    part: str = DEFAULT_PART
    kind: str = "mlp"
    depths: list[int] = field(default_factory=lambda: [2, 3, 4, 5, 6])
    widths: list[int] = field(default_factory=lambda: list(range(WIDTH_STEP, 513, WIDTH_STEP)))
    dataset: str = "fashion-mnist"
    epochs: int = 5
    seed: int = 0
    accuracy_target: float | None = None
    clock_ns: float = 10.0
    max_train: int | None = None  # train on the first N (shuffled) training images only
    threads: int = 1  # torch threads per training
    jobs: int = 1
    ray: str | None = None
    measure: str = "winner"  # winner | winners (each method's choice) | all | none
    target: str = "fpga"  # fpga | rram | gpu | cpu (arch.TARGETS)
    images: int = 8  # test images that C simulation and RTL simulation check
    simulator: str = "verilator"

    def model_id(self) -> str:
        return model_id(self.model)


def model_id(model: CostModel) -> str:
    """A hash of what the cost model is (not where its file lies): it keys every trial it decides."""
    about = {k: v for k, v in model.describe().items() if k != "file"}
    return hashlib.sha256(json.dumps(about, sort_keys=True, default=str).encode()).hexdigest()[:16]


def cost_inputs(arch, part: str, clock_ns: float, fps: float | None, model: CostModel, target: str = "fpga") -> dict:
    out = {"arch": arch.to_json(), "part": part, "clock_ns": clock_ns, "fps": fps, "model": model_id(model),
           "bnncc": bnncc.__version__}
    return out if target == "fpga" else {**out, "target": target}


def train_inputs(arch, dataset: str, epochs: int, seed: int, max_train: int | None) -> dict:
    return {"arch": arch.to_json(), "dataset": dataset, "epochs": epochs, "seed": seed, "max_train": max_train,
            "bnncc": bnncc.__version__}


def _measure_inputs(opts: Options, train_key: str) -> dict:
    # the cost model chooses the folding that is built, so it is part of what decides the measurement
    out = {"train": train_key, "part": opts.part, "fps": opts.budget.fps, "clock_ns": opts.clock_ns,
           "images": opts.images, "simulator": opts.simulator, "model": opts.model_id(), "bnncc": bnncc.__version__}
    return out if opts.target == "fpga" else {**out, "target": opts.target}


def _predict_point(arch: dict, fps: float | None, part: str, clock_ns: float, model: CostModel,
                   target: str) -> dict:
    return predict(arch_of(arch), fps, part, clock_ns, model, target)


# -- the trials both searches run --------------------------------------------------------------------


def cost_points(archs: list, store: TrialStore | None, fps: float | None, part: str, clock_ns: float,
                model: CostModel, target: str = "fpga", jobs: int = 1, progress: bool = False,
                desc: str = "search: cost chart") -> tuple[dict, list]:
    """({arch: predicted cost}, the archs costed now rather than read from the store)."""
    points: dict = {}
    todo = []
    for a in archs:
        cached = store.get(trial_key("cost", cost_inputs(a, part, clock_ns, fps, model, target))) if store else None
        if cached is not None:
            points[a] = cached
        else:
            todo.append(a)
    calls = [(a.to_json(), fps, part, clock_ns, model, target) for a in todo]
    jobs = 1 if target == "cpu" else min(jobs, max(1, len(calls) // 8))  # timings run alone
    with tqdm(total=len(archs), initial=len(archs) - len(todo), desc=desc, unit="net", file=sys.stderr,
              disable=not progress) as bar:
        for i, point in map_tasks(_predict_point, calls, jobs=jobs, start="spawn"):
            points[todo[i]] = point
            bar.update(1)
    return points, todo


def store_costs(store: TrialStore, points: dict, new: list, fps: float | None, part: str, clock_ns: float,
                model: CostModel, target: str = "fpga") -> None:
    """The newly costed points into the store, in one transaction."""
    rows = []
    for a in new:
        inputs = cost_inputs(a, part, clock_ns, fps, model, target)
        rows.append((trial_key("cost", inputs), "cost", a.name, inputs, points[a], 0.0))
    store.put_many(rows)


def train_all(archs: list, store: TrialStore, out: Path, dataset: str, epochs: int, seed: int,
              max_train: int | None, threads: int = 1, jobs: int = 1, ray: str | None = None,
              progress: bool = False, desc: str = "search: training") -> tuple[dict, dict]:
    """Every architecture trained with bnncc.nn (from the store where it was before), as ({arch: result
    with "key" and "onnx", relative to `out`}, {arch: the error of a training that failed})."""
    done: dict = {}
    failed: dict = {}
    todo = []
    for a in dict.fromkeys(archs):
        key = trial_key("train", train_inputs(a, dataset, epochs, seed, max_train))
        cached = store.get(key)
        if cached is not None and "error" not in cached:  # a failed training is tried again
            done[a] = {**cached, "key": key}
        else:
            todo.append((a, key))
    calls = [(a.to_json(), dataset, epochs, seed, threads, max_train, str(_trial_folder(out, a, k)))
             for a, k in todo]
    best = max((r["accuracy"] for r in done.values()), default=0.0)
    with tqdm(total=len(done) + len(todo), initial=len(done), desc=desc, unit="net", file=sys.stderr,
              disable=not progress or not todo) as bar:
        for i, result in map_tasks(tasks.train_trial, calls, jobs=jobs, ray=ray, num_cpus=threads, start="spawn"):
            a, key = todo[i]
            if "error" not in result:
                result["onnx"] = str(_trial_folder(out, a, key).relative_to(out) / "model.onnx")
                best = max(best, result["accuracy"])
                done[a] = {**result, "key": key}
            else:
                failed[a] = result["error"]
            store.put(key, "train", a.name, train_inputs(a, dataset, epochs, seed, max_train), result,
                      result.get("train_s", 0.0))
            bar.update(1)
            bar.set_postfix(best=f"{best:.4f}")
    return done, failed


# -- 1. the chart ----------------------------------------------------------------------------------


def scan(opts: Options, store: TrialStore | None, progress: bool) -> list[dict]:
    """The cost of every architecture of the space (from the store where it was computed before)."""
    archs = [Arch(opts.kind, d, w) for d in opts.depths for w in opts.widths]
    points, new = cost_points(archs, store, opts.budget.fps, opts.part, opts.clock_ns, opts.model, opts.target,
                              opts.jobs, progress)
    return [{**points[a], "new": a in new} for a in archs]


def _feasible(point: dict, budget: Budget) -> bool:
    return "infeasible" not in point and not budget.violations(point)


def _bisect(points: list[dict], budget: Budget) -> int | None:
    """The width a bisection over the grid returns, assuming feasibility falls off with width."""
    lo, hi, best = 0, len(points) - 1, None
    while lo <= hi:
        mid = (lo + hi) // 2
        if _feasible(points[mid], budget):
            best, lo = points[mid]["arch"]["width"], mid + 1
        else:
            hi = mid - 1
    return best


def proxy_budgets(opts: Options, chart: list[dict]) -> dict[str, float | None]:
    """The MAC and the BOP budget a MACs- or BOPs-based selection works with. FPGA: the LUT budget (the part's
    LUTs without one) over the LUT-per-MAC (per-BOP) ratio the calibration store gives. The other targets:
    each limit over its own per-MAC ratio fitted on the chart (the ratio of sums; an FPS limit as latency,
    1 / FPS), the tightest of them."""
    if opts.target == "fpga":
        dev = device(opts.part)
        lut = opts.budget.bound("lut") or dev.lut
        ratios = {m: opts.model.lut_per(m[:-1], "binary", dev) for m in ("macs", "bops")}
        return {m: lut / r if r else None for m, r in ratios.items()}
    costed = [p for p in chart if "infeasible" not in p]
    out: dict[str, float | None] = {}
    for m in ("macs", "bops"):
        bounds = []
        for metric, bound in opts.budget.limits:
            value = (lambda p: 1 / p["fps"]) if metric == "fps" else (lambda p, k=metric: p.get(k))
            pts = [(value(p), p[m]) for p in costed if value(p) is not None]
            if pts and sum(x for _, x in pts):
                ratio = sum(v for v, _ in pts) / sum(x for _, x in pts)
                bounds.append((1 / bound if metric == "fps" else bound) / ratio)
        out[m] = min(bounds) if bounds else None
    return out


def select(opts: Options, chart: list[dict]) -> tuple[dict[str, list[dict]], list[dict]]:
    """Per method, the widest network per depth it picks; and per depth what the scan says of monotonicity."""
    proxy = proxy_budgets(opts, chart)
    picks: dict[str, list[dict]] = {m: [] for m in METHODS}
    depths = []
    for d in opts.depths:
        pts = sorted((p for p in chart if p["arch"]["depth"] == d), key=lambda p: p["arch"]["width"])
        ok = [_feasible(p, opts.budget) for p in pts]
        feasible = [p for p, good in zip(pts, ok, strict=True) if good]
        if feasible:
            picks["calibrated"].append(feasible[-1])
        monotone = ok == sorted(ok, reverse=True)
        row = {"depth": d, "widest": feasible[-1]["arch"]["width"] if feasible else None, "monotone": monotone,
               "bisection": _bisect(pts, opts.budget)}
        for m, bound in proxy.items():
            under = [p for p in pts if bound and p[m] <= bound]
            row[f"{m}_widest"] = under[-1]["arch"]["width"] if under else None  # None: nothing under its budget
            if under:
                picks[m].append({**under[-1], "proxy_budget": bound})
        depths.append(row)
    return picks, depths


def impossible(opts: Options, chart: list[dict]) -> BnnccError:
    costed = [p for p in chart if "infeasible" not in p]
    if not costed:
        return BnnccError(f"--budget {opts.budget.text()}: no network of the space can be built for {opts.part} "
                          f"at this rate ({chart[0]['infeasible']})")
    cost = PRIMARY[getattr(opts, "target", "fpga")]
    cheapest = min(costed, key=lambda p: (p[cost], -p["fps"]))
    shown = ", ".join(f"{cheapest[k]:,.6g} {k.upper() if k == 'lut' else k}" for k in (cost, "fps", "bram18")
                      if k in cheapest)
    return BnnccError(f"--budget {opts.budget.text()}: no network of the space meets it; the cheapest, "
                      f"{cheapest['name']}, is predicted at {shown} ({'; '.join(opts.budget.violations(cheapest))})")


# -- 2. training and measuring ---------------------------------------------------------------------


def _trial_folder(out: Path, arch: Arch, key: str) -> Path:
    return out / "trials" / f"{arch.name}-{key[:8]}"


def train(opts: Options, store: TrialStore, out: Path, archs: list[Arch], progress: bool) -> dict[Arch, dict]:
    """Every candidate trained; a failed training is reported and left out."""
    done, failed = train_all(archs, store, out, opts.dataset, opts.epochs, opts.seed, opts.max_train, opts.threads,
                             opts.jobs, opts.ray, progress)
    for a, error in failed.items():
        print(f"bnncc: search: training {a.name} failed: {error}", file=sys.stderr)
    return done


def measure(opts: Options, store: TrialStore, out: Path, trained: list[tuple[Arch, dict]],
            progress: bool) -> dict[Arch, dict]:
    """Compile, verify and synthesize each trained network (from the store where it was measured before)."""
    done: dict[Arch, dict] = {}
    todo = []
    for a, t in trained:
        key = trial_key("measure", _measure_inputs(opts, t["key"]))
        cached = store.get(key)
        if cached is not None and "error" not in cached:  # a failed trial is tried again
            done[a] = {**cached, "key": key}
        else:
            todo.append((a, t, key))
    calls = [(opts.target, str(out / t["onnx"]), opts.part, opts.budget.fps, opts.clock_ns,
              str(_trial_folder(out, a, t["key"]) / f"project-{key[:8]}"), opts.dataset, opts.seed, opts.images,
              opts.simulator, opts.model) for a, t, key in todo]
    with tqdm(total=len(trained), initial=len(done), desc="search: verify + synthesize", unit="net",
              file=sys.stderr, disable=not progress) as bar:
        for i, result in map_tasks(tasks.measure_trial, calls, jobs=opts.jobs, ray=opts.ray, start="spawn"):
            a, t, key = todo[i]
            if "error" in result:
                tqdm.write(f"bnncc: search: measuring {a.name} failed: {result['error']}", file=sys.stderr)
            else:
                if result.get("project"):
                    result["project"] = str(Path(result["project"]).relative_to(out))
                result["violations"] = opts.budget.violations({**result.get("modelled", {}), **result["measured"]})
            store.put(key, "measure", a.name, _measure_inputs(opts, t["key"]), result, result.get("measure_s", 0.0))
            done[a] = {**result, "key": key}
            bar.update(1)
    return done


def _preference(opts: Options, candidates: list[dict]) -> list[dict]:
    """The trained candidates, best first: the most accurate (then the cheaper); with an accuracy target, the
    cheapest that reaches it first."""
    cost = PRIMARY[opts.target]
    by_accuracy = sorted(candidates, key=lambda c: (-c["accuracy"], c[cost], c["name"]))
    if opts.accuracy_target is None:
        return by_accuracy
    reach = sorted((c for c in candidates if c["accuracy"] >= opts.accuracy_target),
                   key=lambda c: (c[cost], c["name"]))
    return reach + [c for c in by_accuracy if c not in reach]


# -- the whole search ------------------------------------------------------------------------------


def prepare(out: Path) -> bool:
    """Whether `out` is a search to resume; refuses a folder that is not a search's own."""
    if not out.exists():
        return False
    if not out.is_dir():
        raise BnnccError(f"-o {out}: exists and is not a folder")
    if is_search_folder(out):
        return True
    if any(out.iterdir()):
        raise BnnccError(f"-o {out}: exists and is not a search's folder (no search.sqlite); choose another folder")
    return False


def run(opts: Options, out: Path, progress: bool = True) -> dict:
    """Run (or resume) the search into `out`; returns what search.json holds."""
    start = time.perf_counter()
    resume = prepare(out)
    store = TrialStore(out / "search.sqlite") if resume else None
    try:
        chart = scan(opts, store, progress)
        picks, depths = select(opts, chart)
        if not picks["calibrated"]:
            raise impossible(opts, chart)
        if store is None:  # only now, with a budget some network meets, does the folder come to be
            out.mkdir(parents=True, exist_ok=True)
            store = TrialStore(out / "search.sqlite")
        new = [Arch(**p["arch"]) for p in chart if p.pop("new")]
        store_costs(store, {Arch(**p["arch"]): p for p in chart}, new, opts.budget.fps, opts.part, opts.clock_ns,
                    opts.model, opts.target)
        archs = sorted({Arch(**p["arch"]) for m in METHODS for p in picks[m]})
        trained = train(opts, store, out, archs, progress)
        candidates = [{**p, **trained[Arch(**p["arch"])]} for p in picks["calibrated"] if Arch(**p["arch"]) in trained]
        if not candidates:
            raise BnnccError("search: every candidate's training failed (see the messages above)")
        order = _preference(opts, candidates)
        measured: dict[Arch, dict] = {}
        winner = None
        if opts.measure == "all":
            measured = measure(opts, store, out, [(a, t) for a, t in trained.items()], progress)
        for c in order if opts.measure != "none" else []:
            a = Arch(**c["arch"])
            if a not in measured:
                measured.update(measure(opts, store, out, [(a, trained[a])], progress))
            m = measured[a]
            if "error" not in m and not m["violations"]:
                winner = c
                break
        if opts.measure == "none":
            winner = order[0]
        # what a MACs- or BOPs-based selection ends with: its most accurate pick, whatever that costs
        chosen = {m: max((p for p in picks[m] if Arch(**p["arch"]) in trained),
                         key=lambda p: (trained[Arch(**p["arch"])]["accuracy"], -p["macs"]), default=None)
                  for m in METHODS[1:]}
        if opts.measure == "winners":
            todo = {Arch(**p["arch"]) for p in chosen.values() if p} - set(measured)
            measured.update(measure(opts, store, out, [(a, trained[a]) for a in sorted(todo)], progress))
        chosen["calibrated"] = winner
        result = _result(opts, chart, depths, picks, trained, measured, chosen, time.perf_counter() - start)
        _write(out, result)
        return result
    finally:
        if store is not None:
            store.close()


def _row(p: dict, method: str, trained: dict, measured: dict, chosen: dict) -> dict:
    a = Arch(**p["arch"])
    row = {"method": method, "name": p["name"], "arch": p["arch"], "macs": p["macs"], "bops": p["bops"],
           "chosen": bool(chosen.get(method) and chosen[method]["name"] == p["name"]),
           "predicted": {k: p.get(k) for k in ("lut", "ff", "bram18", "dsp", "fps", "latency_us", "area_mm2",
                                               "energy_pj") if k in p or k in ("lut", "fps")},
           "infeasible": p.get("infeasible")}
    if "proxy_budget" in p:
        row["proxy_budget"] = p["proxy_budget"]
    t = trained.get(a)
    if t:
        row.update(accuracy=t["accuracy"], onnx=t["onnx"], train_s=t.get("train_s"))
    m = measured.get(a)
    if m:
        row.update({k: m[k] for k in ("measured", "modelled", "verified", "project", "violations", "error",
                                      "measure_s") if k in m})
    return row


def _result(opts, chart, depths, picks, trained, measured, chosen, wall_s) -> dict:
    rows = [_row(p, m, trained, measured, chosen) for m in METHODS for p in picks[m]]
    return {
        "format": "bnncc-search", "version": 1, "search": "deepbit", "bnncc_version": bnncc.__version__,
        "options": {"budget": opts.budget.to_json(), "target": opts.target, "part": opts.part, "kind": opts.kind,
                    "depths": opts.depths,
                    "widths": opts.widths, "dataset": opts.dataset, "epochs": opts.epochs, "seed": opts.seed,
                    "accuracy_target": opts.accuracy_target, "clock_ns": opts.clock_ns, "max_train": opts.max_train,
                    "measure": opts.measure, "images": opts.images, "simulator": opts.simulator},
        "cost_model": {k: v for k, v in opts.model.describe().items() if k in ("name", "kind", "file", "fitted")},
        "chart": chart, "depths": depths, "picks": rows,
        "winner": next((r for r in rows if r["method"] == "calibrated" and r["chosen"]), None),
        "wall_s": round(wall_s, 1),
    }


def _write(out: Path, result: dict) -> None:
    """search.json, the charts, the page and the winner's network and project, each replaced atomically."""
    from bnncc.search import report

    files = report.render(result)
    files["search.json"] = (json.dumps(result, indent=1, sort_keys=True) + "\n").encode()
    report.write(out, files)
    w = result["winner"]
    if w is None:
        return
    staging = out / ".winner.partial"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    shutil.copyfile(out / w["onnx"], staging / "model.onnx")
    if w.get("project"):
        shutil.copytree(out / w["project"], staging / "project")
    old = out / ".winner.old"
    shutil.rmtree(old, ignore_errors=True)
    if (out / "winner").exists():
        (out / "winner").replace(old)
    staging.replace(out / "winner")
    shutil.rmtree(old, ignore_errors=True)
