"""Foldings estimated per second with the analytical cost model: a whole folding of FINN's CNV topology
(bnncc.fixtures.cnv: 9 MVAUs, 6 sliding windows, 2 pools, the label select, plus the width converters and
FIFOs each folding implies), the rate a folding search needs.

(a) batched: ``bnncc.hw.design.estimate_batch`` costs N random legal foldings in one call (numpy arrays
    per block and per stream: blocks, width converters where lanes differ, FIFOs).
(b) one at a time: ``design.realize`` + ``design.estimate`` per folding, what a compile runs once.

Both are checked equal (LUT, FF, BRAM18, DSP, cycles per image) on the first foldings, so the fast path is
the same model. Each rate is the median of ``--repeats`` timed repeats; the load average is recorded.
There is no peer to run beside it here: FINN's estimator needs a FINN install (Docker), which this machine
cannot run; FINN evaluates one folding per call of its Python transformation.

    .venv/bin/python benchmarks/folding.py [--foldings 20000] [--repeats 5] [--json out.json]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bnncc import fixtures  # noqa: E402
from bnncc.cost.devices import device  # noqa: E402
from bnncc.cost.model import ANALYTICAL  # noqa: E402
from bnncc.hw import dataflow  # noqa: E402
from bnncc.hw.design import estimate, estimate_batch, realize  # noqa: E402

PART = "xc7z020clg400-1"


def random_foldings(df, n: int, seed: int) -> dict[str, dict[str, np.ndarray]]:
    """n random legal foldings as one array per block and folding key."""
    rng = np.random.default_rng(seed)
    batch = {}
    for b in df.blocks:
        options = b.options()
        pick = rng.integers(len(options), size=n)
        batch[b.name] = {k: np.array([options[i][k] for i in pick]) for k in b.fold_keys}
    return batch


def one(batch: dict, i: int) -> dict[str, dict]:
    return {name: {k: int(v[i]) for k, v in fold.items()} for name, fold in batch.items()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--foldings", type=int, default=20000, help="foldings per batched call (default 20,000)")
    ap.add_argument("--scalar", type=int, default=200, help="foldings estimated one at a time (default 200)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--cost-model", help="a calibrated model file (default: the analytical model)")
    args = ap.parse_args()
    model = ANALYTICAL
    if args.cost_model:
        from bnncc.cost.calibrated import CalibratedModel

        model = CalibratedModel.load(args.cost_model)

    from bnncc.frontend import load

    work = Path(os.environ.get("TMPDIR", "/tmp")) / "bnncc-folding-bench"
    path = fixtures.save(fixtures.cnv(seed=0), work / "cnv.onnx")
    df = dataflow.build(load(str(path)))
    dev = device(PART)
    batch = random_foldings(df, args.foldings, seed=0)

    # the two paths agree
    got = estimate_batch(df, {k: {kk: vv[: args.scalar] for kk, vv in v.items()} for k, v in batch.items()}, dev,
                         model)
    for i in range(args.scalar):
        est = estimate(realize(df, one(batch, i), fifo_depths="minimal"), dev, model, 10.0)
        for key in ("lut", "ff", "bram18", "dsp", "cycles_per_image"):
            assert int(got[key][i]) == est[key], (i, key, int(got[key][i]), est[key])

    load_before = os.getloadavg()
    batched, scalar = [], []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        estimate_batch(df, batch, dev, model)
        batched.append(args.foldings / (time.perf_counter() - t0))
        t0 = time.perf_counter()
        for i in range(args.scalar):
            estimate(realize(df, one(batch, i), fifo_depths="minimal"), dev, model, 10.0)
        scalar.append(args.scalar / (time.perf_counter() - t0))
    result = {
        "date": datetime.date.today().isoformat(), "model": "fixtures.cnv (FINN CNV topology, binary)",
        "part": PART, "cost_model": model.name, "blocks": len(df.blocks),
        "batched_foldings_per_s": round(statistics.median(batched)), "batch": args.foldings,
        "one_at_a_time_foldings_per_s": round(statistics.median(scalar)), "checked_equal": args.scalar,
        "ratio_batched_over_one_at_a_time": round(statistics.median(batched) / statistics.median(scalar), 1),
        "repeats": args.repeats, "loadavg_before": load_before, "loadavg_after": os.getloadavg(),
    }
    print(f"{'path':<34}{'foldings/s':>14}")
    print(f"{'batched (estimate_batch)':<34}{result['batched_foldings_per_s']:>14,}")
    print(f"{'one at a time (realize+estimate)':<34}{result['one_at_a_time_foldings_per_s']:>14,}")
    print(f"ratio {result['ratio_batched_over_one_at_a_time']}x; {len(df.blocks)} blocks; equal on "
          f"{args.scalar} foldings; load {load_before[0]:.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
