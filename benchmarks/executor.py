"""Throughput (images/s) of bnncc's reference executor against two peers, in-process and as whole processes.

(a) TFC_1W1A (qonnx-zoo, real MNIST-5k images / 255): bnncc executor vs qonnx's ``execute_onnx`` on the
    ``cleanup_model``-ed graph. qonnx runs these Brevitas exports one image at a time only (fixed batch
    of 1), so its "batch 1,000" figure is 1,000 sequential single-image calls.
(b) LFC-sized binary MLP 784-1024-1024-1024-10 in the bnncc ONNX dialect (``bnncc.fixtures.lfc``, random
    inputs from ``bnncc.fixtures.random_inputs``): bnncc executor vs onnxruntime (CPUExecutionProvider) at
    batch 1, 1,000 and 20,000, in-process; the check compares labels and outputs on 20,000 inputs and the
    fast kernels with the bit-packed XNOR reference kernel on 1,000.
(c) The same LFC file as whole processes on 20,000 images: ``bnncc run --input X.npy --output Y.npy`` (Python
    start-up, model load and lowering, run, save) against a Python script that creates an onnxruntime
    session, runs the file and saves the output.

Equal threads: numpy's BLAS (threadpoolctl in-process, OPENBLAS_NUM_THREADS for processes) and onnxruntime's
intra-op pool both get ``--threads`` (default: the machine's cores). Each figure is the median of ``--repeats``
timed repeats after one untimed warm-up; bnncc and its peer are timed alternately, repeat by repeat, so that
other jobs on the machine load both alike. Batch 1 is a loop of single-image calls (``--batch1-calls`` of
them; fewer for qonnx) divided into the images it ran. In (a) and (b) model loading and session creation are
not timed (bnncc's load time is reported separately). The ratio column is ours / peer (> 1: bnncc is faster).
The load average is recorded before and after; the JSON records the thread-related variables.

    .venv/bin/python benchmarks/executor.py    # ~3 min on an idle 2-core machine
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

TFC = ROOT.parent / "shared" / "models" / "qonnx-zoo-tfc" / "TFC_1W1A.onnx"
BATCH = 1000
LARGE = 20000
# OPENBLAS_CORETYPE may be set on this machine (it pins numpy's OpenBLAS kernels); this benchmark leaves the
# environment as it is (no thread pinning either) and only records these variables in the JSON.
ENV_KEYS = ("OPENBLAS_CORETYPE", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def paired(ours: Callable[[], object], ours_images: int, peer: Callable[[], object], peer_images: int,
           repeats: int, keep: dict | None = None) -> tuple[dict, dict]:
    """Median images/s of bnncc's and the peer's run over ``repeats`` timed repeats, after one warm-up each.

    The two are timed alternately (ours, peer, ours, peer, ...) so that load from other jobs on the machine
    hits both alike. ``keep["out"]`` gets the peer's last return value (a check need not run it again)."""
    ours()
    out = peer()
    t_ours, t_peer = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        ours()
        t1 = time.perf_counter()
        out = peer()
        t2 = time.perf_counter()
        t_ours.append(t1 - t0)
        t_peer.append(t2 - t1)
    if keep is not None:
        keep["out"] = out

    def stats(times: list[float], images: int) -> dict:
        med = statistics.median(times)
        return {"images_per_s": images / med, "median_s": med, "times_s": times, "images": images}

    return stats(t_ours, ours_images), stats(t_peer, peer_images)


def row(model: str, batch: int, peer: str, timed: tuple[dict, dict], note: str = "") -> dict:
    return {"model": model, "batch": batch, "peer": peer, "ours": timed[0], "theirs": timed[1], "note": note}


def single_calls(call: Callable[[np.ndarray], np.ndarray], x: np.ndarray) -> Callable[[], list[np.ndarray]]:
    def loop() -> list[np.ndarray]:
        return [call(x[i : i + 1]) for i in range(x.shape[0])]

    return loop


def bench_tfc(args) -> tuple[list[dict], dict]:
    from qonnx.core.onnx_exec import execute_onnx
    from qonnx_ref import qonnx_model

    from bnncc.data.mnist import load_mnist5k
    from bnncc.frontend import load
    from bnncc.ir.executor import run

    x, _ = load_mnist5k(0)
    x = x[:BATCH] / np.float32(255)
    graph = load(str(TFC))
    qm = qonnx_model(TFC)
    in_name, out_name = qm.graph.input[0].name, qm.graph.output[0].name

    def qonnx_one(xi: np.ndarray) -> np.ndarray:
        return execute_onnx(qm, {in_name: np.ascontiguousarray(xi)})[out_name]

    def bnncc_one(xi: np.ndarray) -> np.ndarray:
        return run(graph, xi).outputs[0]

    nb, nq = args.batch1_calls, args.qonnx_batch1_calls
    kept: dict = {}
    rows = [
        row("TFC_1W1A", 1, "qonnx", paired(single_calls(bnncc_one, x[:nb]), nb, single_calls(qonnx_one, x[:nq]), nq,
                                           args.repeats)),
        row("TFC_1W1A", BATCH, "qonnx", paired(lambda: run(graph, x), BATCH, single_calls(qonnx_one, x), BATCH,
                                               args.qonnx_repeats, kept),
            "qonnx: 1,000 sequential single-image calls (batch 1 only)"),
    ]
    ours = run(graph, x)
    theirs = np.concatenate([np.asarray(o).reshape(1, -1) for o in kept["out"]])
    check = {"labels_agree": int(np.sum(ours.labels == np.argmax(theirs, axis=-1))), "of": BATCH,
             "max_abs_diff": float(np.abs(ours.outputs[0].reshape(BATCH, -1) - theirs).max())}
    return rows, check


ORT_SCRIPT = """import sys, numpy as np, onnxruntime as ort
so = ort.SessionOptions(); so.intra_op_num_threads = int(sys.argv[4]); so.inter_op_num_threads = 1
s = ort.InferenceSession(sys.argv[1], so, providers=["CPUExecutionProvider"])
np.save(sys.argv[3], s.run(None, {s.get_inputs()[0].name: np.load(sys.argv[2])})[0])
"""


def ort_session(model, threads: int):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads, so.inter_op_num_threads = threads, 1
    return ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])


def bench_lfc(args) -> tuple[list[dict], dict]:
    from threadpoolctl import threadpool_limits

    from bnncc import fixtures
    from bnncc.frontend import load
    from bnncc.ir.executor import run

    model = fixtures.lfc(seed=0)
    path = fixtures.save(model, Path(args.workdir) / "lfc_seed0.onnx")
    load_s = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        graph = load(str(path))
        load_s.append(time.perf_counter() - t0)
    sess = ort_session(model, args.threads)
    in_name = sess.get_inputs()[0].name
    x = fixtures.random_inputs(model, LARGE, seed=1)

    def ort_run(xb: np.ndarray) -> np.ndarray:
        return sess.run(None, {in_name: xb})[0]

    def bnncc_run(xb: np.ndarray) -> np.ndarray:
        return run(graph, xb).outputs[0]

    nb = args.batch1_calls
    name = "LFC 784-1024x3-10"
    with threadpool_limits(args.threads):  # numpy's BLAS gets the threads onnxruntime gets
        rows = [
            row(name, 1, "onnxruntime", paired(single_calls(bnncc_run, x[:nb]), nb, single_calls(ort_run, x[:nb]),
                                               nb, args.repeats)),
            row(name, BATCH, "onnxruntime", paired(lambda: bnncc_run(x[:BATCH]), BATCH, lambda: ort_run(x[:BATCH]),
                                                   BATCH, args.repeats)),
            row(name, LARGE, "onnxruntime", paired(lambda: bnncc_run(x), LARGE, lambda: ort_run(x), LARGE,
                                                   args.repeats)),
        ]
        ours, theirs = run(graph, x), ort_run(x)
        packed = graph_with_packed_xnor(graph)
        golden = run(packed, x[:BATCH])
    check = {"labels_agree": int(np.sum(ours.labels == np.argmax(theirs, axis=-1))), "of": LARGE,
             "max_abs_diff": float(np.abs(ours.outputs[0] - theirs).max()),
             "equal_to_bit_packed_executor": bool(np.array_equal(golden.outputs[0], ours.outputs[0][:BATCH])),
             "distinct_labels": int(np.unique(ours.labels).size), "bnncc_load_s_median": statistics.median(load_s),
             "threads": args.threads}
    return rows, check


def graph_with_packed_xnor(graph):
    """A copy of the graph whose XNOR layers run the bit-packed reference kernel."""
    import copy

    from bnncc.ir import ops

    packed = copy.deepcopy(graph)
    for n in packed.nodes:
        if isinstance(n.op, ops.XnorPopcount):
            n.op.execute = n.op.execute_packed
    return packed


def bench_processes(args) -> tuple[list[dict], dict]:
    """Whole processes on LARGE images: `bnncc run` (load, lower, run, save) against a Python process that
    creates an onnxruntime session, runs the same file and saves the output; both with the same threads."""
    import subprocess

    from bnncc import fixtures

    work = Path(args.workdir)
    model = fixtures.lfc(seed=0)
    path = fixtures.save(model, work / "lfc_seed0.onnx")
    x = fixtures.random_inputs(model, LARGE, seed=1)
    np.save(work / "x_large.npy", x)
    (work / "ort_run.py").write_text(ORT_SCRIPT)
    env = {**os.environ, "OPENBLAS_NUM_THREADS": str(args.threads), "OMP_NUM_THREADS": str(args.threads)}
    bnncc = [str(ROOT / ".venv" / "bin" / "bnncc"), "run", str(path), "--input", str(work / "x_large.npy"),
             "--output", str(work / "y_bnncc.npy")]
    peer = [sys.executable, str(work / "ort_run.py"), str(path), str(work / "x_large.npy"), str(work / "y_ort.npy"),
            str(args.threads)]

    def call(cmd: list[str]) -> Callable[[], None]:
        return lambda: subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)

    rows = [row("LFC 784-1024x3-10, whole process", LARGE, "onnxruntime",
                paired(call(bnncc), LARGE, call(peer), LARGE, args.repeats),
                "load + run + save; python start-up included on both sides")]
    ours, theirs = np.load(work / "y_bnncc.npy"), np.load(work / "y_ort.npy")
    check = {"labels_agree": int(np.sum(ours.argmax(1) == theirs.argmax(1))), "of": LARGE,
             "max_abs_diff": float(np.abs(ours - theirs).max()), "threads": args.threads}
    return rows, check


def table(rows: list[dict]) -> str:
    head = ["model", "batch", "bnncc img/s", "peer", "peer img/s", "ours/peer", "note"]
    cells = [[r["model"], f"{r['batch']:,}", f"{r['ours']['images_per_s']:,.0f}", r["peer"],
              f"{r['theirs']['images_per_s']:,.0f}", f"{r['ratio']:.2f}x", r["note"]] for r in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(head)]
    left = {0, 3, 6}
    lines = ["| " + " | ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)) + " |",
             "|" + "|".join("-" * (w + 2) if i in left else "-" * (w + 1) + ":" for i, w in enumerate(widths)) + "|"]
    lines += ["| " + " | ".join(c.ljust(w) if i in left else c.rjust(w) for i, (c, w) in
                                enumerate(zip(row, widths, strict=True))) + " |" for row in cells]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=5, help="timed repeats per figure, median reported (default 5)")
    ap.add_argument("--qonnx-repeats", type=int, default=3,
                    help="timed repeats of the TFC batch-1,000 row (qonnx: 1,000 calls, ~15 s each; default 3)")
    ap.add_argument("--batch1-calls", type=int, default=200, help="single-image calls per batch-1 repeat (default 200)")
    ap.add_argument("--qonnx-batch1-calls", type=int, default=50,
                    help="single-image calls per qonnx batch-1 repeat (default 50)")
    ap.add_argument("--parts", nargs="+", choices=("tfc", "lfc", "process"), default=["tfc", "lfc", "process"],
                    help="which comparisons to run (default all)")
    ap.add_argument("--threads", type=int, default=os.cpu_count(),
                    help="threads for numpy's BLAS and for onnxruntime alike (default: the machine's cores)")
    ap.add_argument("--workdir", default="/tmp/bnncc-bench", help="where the LFC model file is written")
    ap.add_argument("--json", default=str(ROOT / "benchmarks" / "executor.json"), help="where to write the results")
    args = ap.parse_args(argv)
    if min(args.repeats, args.qonnx_repeats, args.batch1_calls, args.qonnx_batch1_calls) < 1:
        ap.error("repeats and call counts must be >= 1")

    started = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    load_start = os.getloadavg()  # other jobs on this 2-core machine skew every figure, onnxruntime's most
    t0 = time.perf_counter()
    rows, checks = [], {}
    if "tfc" in args.parts:
        part_rows, checks["TFC_1W1A_vs_qonnx"] = bench_tfc(args)
        rows += part_rows
    if "lfc" in args.parts:
        part_rows, checks["LFC_vs_onnxruntime"] = bench_lfc(args)
        rows += part_rows
    if "process" in args.parts:
        part_rows, checks["LFC_whole_process_vs_onnxruntime"] = bench_processes(args)
        rows += part_rows
    for r in rows:
        r["ratio"] = r["ours"]["images_per_s"] / r["theirs"]["images_per_s"]

    print(table(rows))
    if "TFC_1W1A_vs_qonnx" in checks:
        c = checks["TFC_1W1A_vs_qonnx"]
        print(f"TFC_1W1A, {c['of']:,} MNIST images: bnncc and qonnx labels agree on {c['labels_agree']:,}/{c['of']:,}, "
              f"max |output diff| {c['max_abs_diff']:.3g}")
    if "LFC_vs_onnxruntime" in checks:
        c = checks["LFC_vs_onnxruntime"]
        print(f"LFC, {c['of']:,} random inputs: bnncc and onnxruntime labels agree on "
              f"{c['labels_agree']:,}/{c['of']:,} "
              f"({c['distinct_labels']} distinct labels), max |output diff| {c['max_abs_diff']:.3g}")
    total = time.perf_counter() - t0
    from importlib.metadata import version

    report = {
        "benchmark": "executor",
        "command": ".venv/bin/python benchmarks/executor.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "date": started,  # when the run started
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                    "numpy": np.__version__, "onnxruntime": version("onnxruntime"), "qonnx": version("qonnx"),
                    "env": {k: os.environ[k] for k in ENV_KEYS if k in os.environ},
                    "loadavg_start": load_start, "loadavg_end": os.getloadavg()},
        "settings": vars(args),
        "results": rows,
        "checks": checks,
        "total_s": total,
    }
    Path(args.json).write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {args.json} ({total:.0f} s)")
    return 0 if all(c["labels_agree"] == c["of"] for c in checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
