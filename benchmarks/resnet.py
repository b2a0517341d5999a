"""Brevitas' quantized ResNet-18 (bnn_pynq `resnet18_4w4a`, random weights, randomized BN statistics) in bnncc's
executor against qonnx's own executor, code for code, on seeded 8-bit images (--input-codes uint8, 1/255).

Two variants: `shared` (Brevitas shares one QuantReLU across each residual add: the adds join one scale) and
`random` (every QuantReLU its own random scale: the adds join different scales). Per variant: every quantizer
compared teacher-forced (each IR node reads qonnx's upstream codes, tests/qonnx_codes.py), how many codes
differ and whether each difference is a float32 boundary case, labels of the free-running executor against
qonnx's, the tail's float error, and the time of both executors.

With `--compile N`, the shared variant is also compiled for the Alveo U250 (`--part xcu250-figd2104-2L-e
--fps 1000`, its ~45 Mbit of weights fit no smaller part of ours) and N images are C-simulated bit-exactly
against the executor (g++; minutes per image at this size).

With `--zoo MODEL.onnx` (the residual zoo model, `bnncc train --model resnet --dataset fashion-mnist`), that
model is compiled at `--fps 5000` and checked on 8 Fashion-MNIST test images: C simulation, RTL simulation
with random input gaps and output back-pressure (and its efficiency against the designed interval), and the
ideal crossbar simulation, each bit-exact against the executor.

    .venv/bin/python benchmarks/resnet.py [--images 100] [--seeds 0] [--compile 2] [--zoo OUT/resnet.onnx]
        [--json benchmarks/resnet.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))


def beyond_rtol(got, ref, rtol: float = 1e-5) -> float:
    """The share of outputs outside rtol of the reference, element by element (no absolute tolerance)."""
    import numpy as np

    return float(np.mean(np.abs(got - ref) > rtol * np.abs(ref)))


def measure(variant: str, n: int, tmp: Path, seed: int = 0) -> dict:
    import numpy as np
    import torch
    from qonnx_codes import agreement, images

    from bnncc.finn_zoo import brevitas_resnet
    from bnncc.frontend import InputCodes, load
    from bnncc.ir.executor import run

    path = tmp / f"resnet18-{variant}-{seed}.onnx"
    model = brevitas_resnet(path, "resnet18_4w4a", seed=seed, scales=variant)
    codes = InputCodes(8, False, 1 / 255)
    t0 = time.perf_counter()
    graph = load(str(path), codes)
    t_load = time.perf_counter() - t0
    x = images(n, 32, seed=11)
    t0 = time.perf_counter()
    got = agreement(path, graph, x, codes)  # runs qonnx once per image, then ours teacher-forced and free
    t_both = time.perf_counter() - t0
    t0 = time.perf_counter()
    run(graph, x)
    t_ours = time.perf_counter() - t0
    with torch.no_grad():  # Brevitas' own float32 forward: the noise floor between two float32 runtimes
        out = model(torch.from_numpy(x))
    brevitas = np.asarray(getattr(out, "value", out))
    total = sum(c for c, _, _ in got.quantizers.values())
    adds = sorted({str(nd.op) for nd in graph.nodes if type(nd.op).__name__ == "Add"})
    ref = got.reference
    return {"variant": variant, "seed": seed, "images": n, "quantizers": len(got.quantizers), "codes": total,
            "differing": got.differing, "boundary": got.differing - got.unexplained, "unexplained": got.unexplained,
            "labels_equal": got.labels_equal, "labels_seen": got.label_count, "tail_rel_error": got.tail_rel_error,
            "free_rel_error_clean": got.free_rel_error, "adds": adds, "load_s": round(t_load, 2),
            "ours_s_per_image": round(t_ours / n, 4), "qonnx_s_per_image": round((t_both - t_ours) / n, 4),
            "differing_at": {k: v[1] for k, v in got.quantizers.items() if v[1]},
            "beyond_rtol": beyond_rtol(got.outputs, ref), "clean_labels_equal": got.clean_labels_equal,
            "brevitas_labels_equal": float(np.mean(brevitas.argmax(1) == ref.argmax(1))),
            "brevitas_beyond_rtol": beyond_rtol(brevitas, ref),
            "brevitas_rel_error": float(np.abs(brevitas - ref).max() / np.abs(ref).max())}


def compile_u250(tmp: Path, n: int) -> dict:
    import subprocess

    import numpy as np
    from qonnx_codes import images

    path = tmp / "resnet18-shared-0.onnx"
    np.save(tmp / "x.npy", images(n, 32, seed=12))
    out = tmp / "u250"
    cmd = [sys.executable, "-m", "bnncc.cli", str(path), "--target", "fpga", "--part", "xcu250-figd2104-2L-e",
           "--fps", "1000", "--input-codes", "uint8", "--input-scale", "1/255", "-o", str(out), "--json"]
    if n:
        cmd += ["--csim", "--input", str(tmp / "x.npy")]
    t0 = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - t0
    if p.returncode not in (0, 1):
        raise RuntimeError(f"compile failed ({p.returncode}): {p.stderr[-2000:]}")
    report = json.loads(p.stdout)
    est = report["estimate"]
    kinds: dict[str, int] = {}
    for b in est["blocks"]:
        kinds[b["kind"]] = kinds.get(b["kind"], 0) + 1
    return {"part": est["part"], "fps": round(est["fps"], 1), "latency_us": round(est["latency_us"], 1),
            **{r: est[r] for r in ("lut", "ff", "bram18", "dsp")},
            "utilization": {k: round(v, 3) for k, v in est["utilization"].items()}, "blocks": kinds,
            "csim": report["verification"].get("csim"), "wall_s": round(wall, 1), "csim_images": n}


def zoo_checks(path: Path, tmp: Path) -> dict:
    import subprocess

    import numpy as np

    from bnncc.data import load_dataset

    _, _, x_test, _ = load_dataset("fashion-mnist")
    np.save(tmp / "zoo_x.npy", x_test[:8].reshape(8, 1, 28, 28).astype(np.float32))
    out: dict = {}
    for target, extra in (("fpga", ["--fps", "5000", "--csim", "--rtl", "--sim"]), ("rram", ["--sim"])):
        cmd = [sys.executable, "-m", "bnncc.cli", str(path), "--target", target, *extra, "--input",
               str(tmp / "zoo_x.npy"), "-o", str(tmp / f"zoo-{target}"), "--json"]
        t0 = time.perf_counter()
        p = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
        if p.returncode not in (0, 1):
            raise RuntimeError(f"{target} failed ({p.returncode}): {p.stderr[-2000:]}")
        report = json.loads(p.stdout)
        out[target] = {"verification": report["verification"], "wall_s": round(time.perf_counter() - t0, 1)}
        if target == "fpga":
            est = report["estimate"]
            out[target]["estimate"] = {k: est[k] for k in ("part", "fps", "lut", "ff", "bram18", "dsp")}
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", type=int, default=100)
    ap.add_argument("--variants", default="shared,random")
    ap.add_argument("--seeds", default="0", help="model seeds, comma-separated: each variant is measured per seed")
    ap.add_argument("--compile", type=int, default=None, metavar="N",
                    help="also compile for the U250 at 1,000 FPS and C-simulate N images (0: estimate only)")
    ap.add_argument("--zoo", type=Path, help="a trained residual zoo model to verify through csim, RTL sim and RRAM")
    ap.add_argument("--json", default=str(ROOT / "benchmarks" / "resnet.json"))
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="bnncc-resnet-") as tmp:
        for variant, seed in ((v, int(s)) for v in args.variants.split(",") for s in args.seeds.split(",")):
            rows.append(measure(variant, args.images, Path(tmp), seed))
            r = rows[-1]
            print(f"{r['variant']:7} seed {seed} {r['images']:4} images  {r['quantizers']} quantizers  "
                  f"{r['codes']:,} codes  "
                  f"differ {r['differing']} (boundary {r['boundary']}, unexplained {r['unexplained']})  labels equal "
                  f"{100 * r['labels_equal']:.1f} % ({r['labels_seen']} labels)  tail err {r['tail_rel_error']:.1e}  "
                  f"beyond rtol 1e-5 {100 * r['beyond_rtol']:.1f} %  Brevitas vs qonnx: labels "
                  f"{100 * r['brevitas_labels_equal']:.1f} %, beyond rtol {100 * r['brevitas_beyond_rtol']:.1f} %  "
                  f"ours {r['ours_s_per_image']:.3f} s/img  qonnx {r['qonnx_s_per_image']:.3f} s/img  "
                  f"adds {', '.join(r['adds'])}", flush=True)
        compiled = None
        if args.compile is not None:
            if "shared" not in args.variants.split(","):
                from bnncc.finn_zoo import brevitas_resnet

                brevitas_resnet(Path(tmp) / "resnet18-shared-0.onnx", "resnet18_4w4a", seed=0, scales="shared")
            compiled = compile_u250(Path(tmp), args.compile)
            c = compiled
            print(f"U250 at --fps 1000: {c['fps']:,} FPS, latency {c['latency_us']:,} us, LUT {c['lut']:,} "
                  f"({100 * c['utilization']['lut']:.1f} %), BRAM18 {c['bram18']:,} "
                  f"({100 * c['utilization']['bram18']:.1f} %), DSP {c['dsp']:,}; csim {c['csim']}; "
                  f"{c['wall_s']} s", flush=True)
        zoo = zoo_checks(args.zoo.resolve(), Path(tmp)) if args.zoo else None
        if zoo:
            for target, r in zoo.items():
                print(f"zoo {target}: {json.dumps(r['verification'])} ({r['wall_s']} s)", flush=True)
    Path(args.json).write_text(json.dumps({"agreement": rows, "u250": compiled, "zoo": zoo}, indent=1) + "\n")
    ok = all(r["unexplained"] == 0 for r in rows) and (compiled is None or not compiled["csim"]
                                                       or compiled["csim"]["passed"])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
