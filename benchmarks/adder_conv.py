"""Training cost of an AdderNet convolution (``bnncc.nn.AdderConv2d``) against torch's ``nn.Conv2d`` of
the same shape: forward + backward time of one batch, one torch thread, the two timed alternately.

This is why the zoo's ShiftAdd CNN keeps its adder layers in the fully connected part: the adder
conv's |x - w| product has no BLAS kernel (it runs as chunked broadcasts), so a CNV-sized adder conv
costs tens of times a convolution per step on this CPU.

    .venv/bin/python benchmarks/adder_conv.py            # ~15 s; writes benchmarks/adder_conv.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# (in channels, out channels, input side): the second and fourth convs of the zoo's CNV-28.
SHAPES = [(32, 32, 26), (64, 64, 10)]


def _step_seconds(layer, x) -> float:
    start = time.perf_counter()
    layer(x).sum().backward()
    return time.perf_counter() - start


def run(batch: int, repeats: int) -> list[dict]:
    import torch

    from bnncc.nn import layers as L

    torch.set_num_threads(1)
    torch.manual_seed(0)
    rows = []
    for cin, cout, side in SHAPES:
        x = torch.rand(batch, cin, side, side, requires_grad=True)
        layers = {"conv": torch.nn.Conv2d(cin, cout, 3, bias=False),
                  "adder": L.AdderConv2d(cin, cout, L.IntAct(8, True, 2.0**-6).spec)}
        times: dict[str, list[float]] = {k: [] for k in layers}
        for layer in layers.values():
            _step_seconds(layer.train(), x)  # warm-up
        for _ in range(repeats):
            for name, layer in layers.items():
                times[name].append(_step_seconds(layer, x))
        conv, adder = (statistics.median(times[k]) for k in ("conv", "adder"))
        rows.append({"layer": f"{cin}->{cout} 3x3 at {side}x{side}", "batch": batch, "conv_ms": round(1e3 * conv, 1),
                     "adder_ms": round(1e3 * adder, 1), "ratio": round(adder / conv, 1)})
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    rows = run(args.batch, args.repeats)
    print("| layer | batch | nn.Conv2d fwd+bwd ms | AdderConv2d fwd+bwd ms | adder / conv |")
    print("|---|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['layer']} | {r['batch']} | {r['conv_ms']:,} | {r['adder_ms']:,} | {r['ratio']}x |")
    out = ROOT / "benchmarks" / "adder_conv.json"
    out.write_text(json.dumps({"date": time.strftime("%Y-%m-%d %H:%M"), "rows": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
