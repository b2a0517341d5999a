"""Accuracy and training-memory benchmark of the bnncc.nn zoo on Fashion-MNIST and MNIST-5k.

    python benchmarks/accuracy.py run --dataset fashion-mnist --model lfc --variant quant --epochs 10
    python benchmarks/accuracy.py queue --dataset fashion-mnist lfc:float:10 lfc:quant:10 ...
    python benchmarks/accuracy.py memory            # saved-for-backward bytes, LFC and CNV, batch 100
    python benchmarks/accuracy.py report            # writes ## Accuracy and ## Training memory

Every run trains one model variant (``quant``: the zoo model; ``float``: its float baseline, same
architecture and epochs; ``lowmem``: binary model with low-memory training) with
``bnncc.nn.train`` (one optimizer and schedule per family) and stores
``benchmarks/accuracy/<dataset>/<model>-<variant>.json``. A run stops after the epoch that
reaches ``--max-minutes`` (default 60) and records the epochs it did. ``report`` rewrites only
this benchmark's two sections of ``benchmarks/RESULTS.md`` (other sections are kept as found).
Run it niced: ``nice -n 19``; it uses one torch thread per process.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

OUT = ROOT / "benchmarks" / "accuracy"
RESULTS = ROOT / "benchmarks" / "RESULTS.md"
VARIANTS = ("quant", "float", "lowmem")
# Models whose float baseline is another zoo model's (the same architecture once weights are float).
SHARED_BASELINE = {"lightnn1-mlp": "lightnn2-mlp", "flightnn-mlp": "lightnn2-mlp", "lightnn1-cnn": "lightnn2-cnn",
                   "flightnn-cnn": "lightnn2-cnn", "cnv-finn": "cnv-finn"}


def run_one(dataset: str, model: str, variant: str, epochs: int, max_minutes: float, seed: int = 0) -> dict:
    import torch

    from bnncc.data import load_dataset
    from bnncc.nn import zoo
    from bnncc.nn.train import TrainConfig, train

    data = load_dataset(dataset, seed=seed)
    torch.manual_seed(seed)
    net = zoo.build(model, float_baseline=variant == "float", low_memory=variant == "lowmem")
    cfg = TrainConfig(epochs=epochs, seed=seed, threads=1, max_seconds=max_minutes * 60)
    metrics = train(net, data, cfg, desc=f"{dataset} {model} {variant}")
    metrics.update({"dataset": dataset, "zoo_model": model, "variant": variant, "epochs_planned": epochs,
                    "description": zoo.MODELS[model][0].description, "finished": time.strftime("%Y-%m-%d %H:%M")})
    path = OUT / dataset / f"{model}-{variant}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(metrics, indent=1, sort_keys=True) + "\n")
    print(f"{dataset} {model} {variant}: {100 * metrics['test_accuracy']:.2f} % in {metrics['epochs']} epochs, "
          f"{metrics['wall_time_s']:.0f} s", flush=True)
    return metrics


def memory(batch: int = 100) -> dict:
    """Bytes saved for backward (saved_tensors_hooks, storages counted once) for one training step."""
    import torch
    import torch.nn.functional as F

    from bnncc.nn import zoo
    from bnncc.nn.lowmem import saved_bytes

    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(0)
    out = {}
    for model in ("lfc", "cnv", "tfc", "sfc"):
        row = {}
        for variant in ("quant", "lowmem"):
            torch.manual_seed(0)
            net = zoo.build(model, low_memory=variant == "lowmem")
            net.train()
            x = torch.randint(0, 256, (batch, *net.input_shape), generator=gen).float()
            y = torch.randint(0, 10, (batch,), generator=gen)
            row[variant] = saved_bytes(lambda net=net, x=x, y=y: F.cross_entropy(net(x), y))
        row["ratio"] = row["quant"] / row["lowmem"]
        out[model] = row
        print(f"{model}: standard {row['quant']:,} B, low-memory {row['lowmem']:,} B, ratio {row['ratio']:.1f}x",
              flush=True)
    (OUT / "memory.json").parent.mkdir(parents=True, exist_ok=True)
    (OUT / "memory.json").write_text(json.dumps({"batch": batch, "models": out}, indent=1, sort_keys=True) + "\n")
    return out


# --------------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------------

DATASET_TITLES = {"fashion-mnist": "Fashion-MNIST (60,000 train / 10,000 test)",
                  "mnist5k": "MNIST-5k (4,000 train / 1,000 test, stratified, seed 0)"}
TARGETS = {  # Fashion-MNIST targets of the issue
    ("lfc", "float"): ("float MLP >= 89 %", lambda r, _: r["test_accuracy"] >= 0.89),
    ("cnv", "float"): ("float CNN >= 91 %", lambda r, _: r["test_accuracy"] >= 0.91),
    ("lfc", "quant"): ("binary LFC >= 87 %", lambda r, _: r["test_accuracy"] >= 0.87),
    ("cnv", "quant"): ("binary CNV >= 89 %", lambda r, _: r["test_accuracy"] >= 0.89),
}


def _load(dataset: str) -> dict[tuple[str, str], dict]:
    rows = {}
    for p in sorted((OUT / dataset).glob("*.json")):
        r = json.loads(p.read_text())
        rows[(r["zoo_model"], r["variant"])] = r
    return rows


def _pct(r: dict | None) -> str:
    return "–" if r is None else f"{100 * r['test_accuracy']:.2f}"


def _time(r: dict | None) -> str:
    if r is None:
        return "–"
    cpu = f", CPU {r['cpu_time_s'] / 60:.1f} min" if "cpu_time_s" in r else ""
    planned = r.get("epochs_planned", r["epochs"])
    ep = f"{r['epochs']} ep" if r["epochs"] == planned else f"{r['epochs']} of {planned} ep (60-min limit)"
    return f"{ep}, {r['wall_time_s'] / 60:.1f} min{cpu}"


def _accuracy_section() -> str:
    from bnncc.nn.train import FAMILY_LR
    from bnncc.nn.zoo import MODELS

    lines = ["## Accuracy", "",
             "`benchmarks/accuracy.py` trains each zoo model (`bnncc.nn.zoo`) and its float baseline (same "
             "architecture, same BatchNorms, float weights, ReLU for every activation quantizer, same epochs) on "
             "this 2-core shared machine, one torch thread per run, niced. Inputs are raw pixels through the "
             "8-bit input quantizer (scale 1). Optimizer per family: Adam, cosine decay to 0 over all steps, "
             "batch 100, no augmentation, no weight decay, seed 0; learning rate "
             + ", ".join(f"{k} {v:g}" for k, v in FAMILY_LR.items())
             + ". Accuracy is top-1 on the test set in eval mode — the computation the exported ONNX performs "
               "bit for bit. Time is the wall time of the training run (evaluation after each epoch included); "
               "runs that finished before 03:10 UTC on 2026-11-22 shared the machine with other jobs (load 4–8 on "
               "2 cores) and were niced, so their wall time overstates the work; later runs (CNV 15 epochs, "
               "ShiftAdd CNN, LightNN/FLightNN, ShiftAdd MLP) ran two at a time on an otherwise quiet machine (the "
               "LightNN CNN runs for 7 minutes beside a test-suite run). CPU time "
               "(where recorded) is the run's own process time. A run that would "
               "pass 60 minutes of wall time stops after its last whole epoch (\"6 of 8 ep\"); its cosine schedule "
               "had not reached 0 then, which costs accuracy.",
             "",
             "Commands: `nice -n 5 .venv/bin/python benchmarks/accuracy.py queue --dataset DATASET "
             "MODEL:VARIANT:EPOCHS ...` with the models, variants and epochs of the tables (two queues at a "
             "time), then `.venv/bin/python benchmarks/accuracy.py report`; per-run records in "
             "`benchmarks/accuracy/DATASET/MODEL-VARIANT.json`.",
             ""]
    for dataset, title in DATASET_TITLES.items():
        rows = _load(dataset)
        if not rows:
            continue
        lines += [f"### {title}", "",
                  "| model | family | quantized acc. % | epochs, train time | float baseline % | "
                  "float epochs, time | Δ (quant − float) | notes |",
                  "|---|---|---:|---|---:|---|---:|---|"]
        for name in MODELS:
            q, f = rows.get((name, "quant")), rows.get((name, "float"))
            lm = rows.get((name, "lowmem"))
            if q is None and f is None:
                continue
            notes = []
            if f is None and SHARED_BASELINE.get(name, name) != name:
                f = rows.get((SHARED_BASELINE[name], "float"))
                if f is not None:
                    notes.append(f"float baseline shared with {SHARED_BASELINE[name]} (same architecture)")
            delta = "–" if q is None or f is None else f"{100 * (q['test_accuracy'] - f['test_accuracy']):+.2f}"
            if q is not None and "k1_fraction" in q:
                notes.append(f"k=1 filters {100 * q['k1_fraction']:.1f} %")
            if lm is not None:
                notes.append(f"low-memory training: {_pct(lm)} % ({_time(lm)})")
            lines.append(f"| {name} | {MODELS[name][0].family} | {_pct(q)} | {_time(q)} | {_pct(f)} | {_time(f)} | "
                         f"{delta} | {'; '.join(notes)} |")
        lines.append("")
        if dataset == "fashion-mnist":
            lines += _targets(rows)
    return "\n".join(lines).rstrip() + "\n"


def _targets(rows: dict) -> list[str]:
    def acc(name: str, variant: str) -> float | None:
        r = rows.get((name, variant))
        return None if r is None else 100 * r["test_accuracy"]

    out = ["Targets of the issue (Fashion-MNIST test set):", ""]

    def line(text: str, value: str, ok: bool | None) -> None:
        verdict = "not run" if ok is None else ("met" if ok else "**not met**")
        out.append(f"- {text}: {value} — {verdict}")

    for (name, variant), (text, _) in TARGETS.items():
        a = acc(name, variant)
        thr = float(re.search(r">= (\d+)", text).group(1))
        line(text, "–" if a is None else f"{a:.2f} %", None if a is None else a >= thr)
    for kind in ("mlp", "cnn"):
        l2, fl = acc(f"lightnn2-{kind}", "quant"), acc(f"lightnn2-{kind}", "float")
        lf = acc(f"flightnn-{kind}", "quant")
        line(f"LightNN k=2 within 1 point of float ({kind.upper()})",
             "–" if None in (l2, fl) else f"{l2 - fl:+.2f} points", None if None in (l2, fl) else l2 >= fl - 1.0)
        k1 = rows.get((f"flightnn-{kind}", "quant"), {}).get("k1_fraction")
        ok = None if None in (l2, lf, k1) else (lf >= l2 - 0.5 and k1 >= 0.4)
        line(f"FLightNN within 0.5 point of LightNN k=2 with >= 40 % k=1 filters ({kind.upper()})",
             "–" if ok is None else f"{lf - l2:+.2f} points, {100 * k1:.1f} % k=1", ok)
    for name in ("shiftadd-mlp", "shiftadd-cnn"):
        s, f = acc(name, "quant"), acc(name, "float")
        line(f"ShiftAdd within 1.5 points of float ({name})", "–" if None in (s, f) else f"{s - f:+.2f} points",
             None if None in (s, f) else s >= f - 1.5)
    for name in ("lfc", "cnv"):
        s, m = acc(name, "quant"), acc(name, "lowmem")
        line(f"low-memory training within 1 point of standard ({name})",
             "–" if None in (s, m) else f"{m - s:+.2f} points", None if None in (s, m) else abs(m - s) <= 1.0)
    out.append("")
    fl = rows.get(("flightnn-mlp", "quant"))
    if fl is not None:
        lam = fl.get("config", {}).get("flight_lambda")
        out.append(f"- FLightNN regularizer weight {lam:g} (`--flight-lambda`; thresholds learn at 10x the learning "
                   "rate). Adam moves a threshold by about its learning rate whichever term wins the sign of its "
                   "gradient, so the weight only has to be comparable with the task gradient; on flightnn-mlp / "
                   "MNIST-5k (15 epochs) a sweep gave 20 % k=1 filters at 0, 53 % at 0.001, 76 % at 0.002, 94 % at "
                   "0.004 and 100 % at 0.01 and above (an earlier default of 0.5 sent every filter to k = 1). At 0.002 "
                   "Fashion-MNIST gave flightnn-mlp 90.26 % with 83.4 % k=1 filters and flightnn-cnn 93.35 % with "
                   "only 34.7 %: the CNN's cross-entropy holds more filters at two terms, so it needs "
                   "the larger weight; 0.004 is the default for both.")
    cq, cf = rows.get(("cnv", "quant")), rows.get(("cnv", "float"))
    if cq is not None and cf is not None:
        per_epoch = ", ".join(f"{100 * h['test_accuracy']:.1f}" for h in cq["history"])
        out.append(f"- Binary CNV-28 is capacity-bound at half FINN's widths: after {cq['epochs']} epochs its train "
                   f"loss is {cq['history'][-1]['train_loss']:.2f} against {cf['history'][-1]['train_loss']:.2f} for "
                   f"float (test accuracy per epoch: {per_epoch}). A 6-epoch schedule reached only 87.89 %; the FINN "
                   "widths (`cnv-finn`) cost about 4x the compute per epoch.")
    return out + [""]


def _memory_section() -> str:
    path = OUT / "memory.json"
    if not path.exists():
        return ""
    mem = json.loads(path.read_text())
    accs = {d: _load(d) for d in DATASET_TITLES}
    lines = ["## Training memory", "",
             "Command: `.venv/bin/python benchmarks/accuracy.py memory` (writes `benchmarks/accuracy/memory.json`), "
             "then `report`. "
             f"Bytes autograd saves for backward in one training step at batch {mem['batch']} "
             "(`torch.autograd.graph.saved_tensors_hooks`; every packed tensor contributes its storage's size, "
             "each storage counted once by data pointer; parameters count when autograd saves them). Standard = "
             "straight-through-estimator training of the zoo model (L2 BatchNorm, float32 tensors saved by each "
             "op). Low-memory = `--low-memory` (`bnncc.nn.lowmem`): each binary block saves only the bit-packed "
             "signs of its input (the first layer's 8-bit input codes as bytes) and of its weights, plus BN's "
             "gamma/beta, and recomputes the exact integer accumulator in backward; L1 BatchNorm; weight "
             "gradients from sign(x) in bfloat16. The price is time: one more matrix product or convolution per "
             "block in backward (about 1.3x the step time for LFC and 1.6x for CNV on a quiet machine). Accuracy: "
             "test sets, same epochs and optimizer as the standard run (see ## Accuracy); MNIST-5k has 1,000 test "
             "images, so one point there is 10 images.",
             "",
             "| model | standard saved bytes | low-memory saved bytes | ratio | data set | standard acc. % | "
             "low-memory acc. % | Δ points |",
             "|---|---:|---:|---:|---|---:|---:|---:|"]
    for name, row in mem["models"].items():
        cells = []
        for dataset, rows in accs.items():
            s, m = rows.get((name, "quant")), rows.get((name, "lowmem"))
            if s is None and m is None:
                continue
            d = "–" if s is None or m is None else f"{100 * (m['test_accuracy'] - s['test_accuracy']):+.2f}"
            cells.append(f"{dataset} | {_pct(s)} ({_time(s)}) | {_pct(m)} ({_time(m)}) | {d}")
        for i, c in enumerate(cells or ["– | – | – | –"]):
            head = f"| {name} | {row['quant']:,} | {row['lowmem']:,} | {row['ratio']:.1f}× |" if i == 0 else "| | | | |"
            lines.append(f"{head} {c} |")
    return "\n".join(lines) + "\n"


def _replace_section(text: str, title: str, body: str) -> str:
    """Replace ``## title`` up to the next ``## `` heading (or append it), leaving the rest as is."""
    if not body:
        return text
    pattern = re.compile(rf"^## {re.escape(title)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        return pattern.sub(lambda _: body.rstrip() + "\n\n", text, count=1)
    return text.rstrip() + "\n\n" + body.rstrip() + "\n"


def report() -> None:
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"  # re-read right before writing
    text = _replace_section(text, "Accuracy", _accuracy_section())
    text = _replace_section(text, "Training memory", _memory_section())
    RESULTS.write_text(text.rstrip() + "\n")
    print(f"updated {RESULTS}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="train one model variant")
    r.add_argument("--dataset", default="fashion-mnist")
    r.add_argument("--model", required=True)
    r.add_argument("--variant", choices=VARIANTS, default="quant")
    r.add_argument("--epochs", type=int, default=10)
    r.add_argument("--max-minutes", type=float, default=60.0)
    q = sub.add_parser("queue", help="train MODEL:VARIANT:EPOCHS items one after the other")
    q.add_argument("--dataset", default="fashion-mnist")
    q.add_argument("--max-minutes", type=float, default=60.0)
    q.add_argument("--skip-done", action="store_true", help="skip items whose result file exists")
    q.add_argument("items", nargs="+")
    sub.add_parser("memory", help="measure saved-for-backward bytes (LFC, CNV, TFC, SFC at batch 100)")
    sub.add_parser("report", help="rewrite the ## Accuracy and ## Training memory sections of RESULTS.md")
    args = ap.parse_args(argv)
    if args.cmd == "run":
        run_one(args.dataset, args.model, args.variant, args.epochs, args.max_minutes)
    elif args.cmd == "queue":
        for item in args.items:
            model, variant, epochs = item.split(":")
            if args.skip_done and (OUT / args.dataset / f"{model}-{variant}.json").exists():
                continue
            run_one(args.dataset, model, variant, int(epochs), args.max_minutes)
    elif args.cmd == "memory":
        memory()
    else:
        report()
    return 0


if __name__ == "__main__":
    sys.exit(main())
