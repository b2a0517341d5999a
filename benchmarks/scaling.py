"""Graph walks are linear: `bnncc inspect` on a small binary MLP with a chain of N Identity nodes inserted
between its first two layers, in shuffled file order, for N = 1,000, 10,000 and 100,000 (the whole command
in-process: read, validate, topological sort, passes, lowering, printing). Target: 100,000 nodes in <= 10 s
and a 100,000/10,000 time ratio <= 15 (linear would be 10).

Wall time on a small VM grows faster than the work once a graph's objects outgrow the caches, so the run
also times a plain Python baseline of the same shape (N small objects, a dict of their names, eight walks)
and, with --instructions, counts the instructions of each inspect under valgrind's callgrind, which no
cache or load affects (slow: a few minutes).

    .venv/bin/python benchmarks/scaling.py [--instructions] [--json out.json]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import onnx  # noqa: E402
from onnx import helper  # noqa: E402

from bnncc import fixtures  # noqa: E402
from bnncc.cli import main  # noqa: E402

SIZES = (1_000, 10_000, 100_000)


def identity_chain(n: int) -> onnx.ModelProto:
    """The MLP with n Identity nodes on the edge after its first hidden quantizer, in shuffled file order
    (so the topological sort has real work)."""
    import random

    m = fixtures.binary_mlp((16, 8, 8, 4), seed=0)
    g = m.graph
    k = next(i for i, node in enumerate(g.node) if node.name.startswith("act0/bipolar"))
    src = g.node[k].output[0]
    users = [node for node in g.node if src in node.input]
    names = [f"{src}/id{i}" for i in range(n)]
    chain = [helper.make_node("Identity", [src if i == 0 else names[i - 1]], [names[i]], name=f"id{i}")
             for i in range(n)]
    for node in users:
        node.input[:] = [names[-1] if x == src else x for x in node.input]
    nodes = list(g.node) + chain
    random.Random(0).shuffle(nodes)
    del g.node[:]
    g.node.extend(nodes)
    return m


def time_inspect(n: int, folder: Path) -> float:
    path = folder / f"chain{n}.onnx"
    path.write_bytes(identity_chain(n).SerializeToString())
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        code = main(["inspect", str(path)])
    if code != 0:
        raise RuntimeError(f"inspect of the {n}-node chain exited {code}")
    return time.perf_counter() - t0


def python_baseline(n: int) -> float:
    """Seconds for N plain objects shaped like nodes, a dict of their tensor names, eight linear walks."""
    import gc

    class Node:
        def __init__(self, i: int) -> None:
            self.inputs, self.outputs, self.name = [f"t/{i}"], [f"t/{i + 1}"], f"n{i}"

    gc.disable()
    t0 = time.perf_counter()
    nodes = [Node(i) for i in range(n)]
    for _ in range(8):
        readers: dict[str, list] = {}
        for node in nodes:
            for i in node.inputs:
                readers.setdefault(i, []).append(node)
    gc.enable()
    return time.perf_counter() - t0


def instructions(n: int, folder: Path) -> int:
    """Instructions of `bnncc inspect` on the n-node chain (a whole process under callgrind)."""
    import re
    import subprocess

    path = folder / f"chain{n}.onnx"
    path.write_bytes(identity_chain(n).SerializeToString())
    p = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable, "-m",
                        "bnncc.cli", "inspect", str(path)], capture_output=True, text=True, cwd=ROOT)
    return int(re.search(r"Collected : (\d+)", p.stderr).group(1))


def main_bench() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--instructions", action="store_true", help="also count instructions under callgrind")
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bnncc-scaling-") as tmp:
        times = {n: time_inspect(n, Path(tmp)) for n in SIZES}
        base = {n: python_baseline(n) for n in SIZES}
        counts = {n: instructions(n, Path(tmp)) for n in SIZES} if args.instructions else {}
    ratio = times[100_000] / times[10_000]
    print(f"{'Identity nodes':>15}{'inspect s':>12}{'baseline s':>12}" + (f"{'instructions':>16}" if counts else ""))
    for n, t in times.items():
        print(f"{n:>15,}{t:>12.2f}{base[n]:>12.3f}" + (f"{counts[n]:>16,}" if counts else ""))
    print(f"100,000 / 10,000 ratios: inspect {ratio:.1f}, plain-Python baseline {base[100_000] / base[10_000]:.1f}"
          + (f", instructions {counts[100_000] / counts[10_000]:.1f}" if counts else "")
          + f" (linear: 10); load average {os.getloadavg()[0]:.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps({"seconds": times, "baseline_seconds": base, "instructions": counts,
                                               "ratio_100k_10k": ratio, "loadavg": os.getloadavg()}, indent=1) + "\n")
    return 0 if times[100_000] <= 10 else 1


if __name__ == "__main__":
    sys.exit(main_bench())
