"""``bnncc train``: train a zoo model on a bundled data set and export it.

    bnncc train --model NAME --dataset NAME [--epochs N] [--low-memory] [--distribution-loss] -o model.onnx

Writes ``model.onnx`` (the bnncc dialect), and beside it ``model.pt`` (checkpoint: state dict,
config, metrics) and ``metrics.json`` (test accuracy, epochs, wall time, ...; one per output
folder, so train different models into different folders); a tqdm progress bar goes to stderr,
one summary line to stdout.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from bnncc.errors import BnnccError

# The zoo's names (and, in the parser, TrainConfig's defaults) are repeated here so building the parser
# does not import torch; a test checks they match.
ZOO_MODELS = ("tfc", "sfc", "lfc", "cnv", "resnet", "cnv-finn", "lightnn1-mlp", "lightnn2-mlp", "flightnn-mlp",
              "lightnn1-cnn", "lightnn2-cnn", "flightnn-cnn", "shiftadd-mlp", "shiftadd-cnn")


def outputs_for(onnx_path: str | Path) -> dict[str, Path]:
    """The files ``bnncc train -o X.onnx`` writes: the ONNX, a checkpoint and the metrics."""
    p = Path(onnx_path)
    stem = p.with_suffix("") if p.suffix == ".onnx" else p
    return {"onnx": p, "checkpoint": stem.with_suffix(".pt"), "metrics": p.parent / "metrics.json"}


def run(args: argparse.Namespace) -> int:
    import torch

    from bnncc.data import load_dataset
    from bnncc.export import export
    from bnncc.nn import zoo
    from bnncc.nn.train import TrainConfig, train

    if args.epochs < 1:
        raise BnnccError(f"--epochs must be >= 1, got {args.epochs}")
    files = outputs_for(args.output)
    if files["onnx"].suffix != ".onnx":
        raise BnnccError(f"-o {args.output}: the output must end in .onnx")
    if args.distribution_loss and args.low_memory:
        raise BnnccError("--distribution-loss reads the pre-activation statistics that --low-memory does not keep; "
                         "use one of them")
    torch.manual_seed(args.seed)
    model = zoo.build(args.model, low_memory=args.low_memory)  # refuses bad combinations before loading data
    if args.distribution_loss and model.family != "binary":
        raise BnnccError("--distribution-loss regularizes bipolar activations: use it with a binary model")
    data = load_dataset(args.dataset, seed=args.seed)
    cfg = TrainConfig(epochs=args.epochs, seed=args.seed, threads=args.threads,
                      distribution_loss=args.distribution_loss_weight if args.distribution_loss else 0.0,
                      batch_size=args.batch_size, flight_lambda=args.flight_lambda)
    metrics = train(model, data, cfg, progress=not args.quiet, desc=f"{args.model}/{args.dataset}")
    metrics.update({"dataset": args.dataset, "low_memory": args.low_memory,
                    "distribution_loss": args.distribution_loss})
    metrics["files"] = {k: str(v) for k, v in files.items()}
    # All three files are written under temporary names first: a failure leaves none of them.
    partial = {k: v.with_name(f".{v.name}.partial") for k, v in files.items() if k != "onnx"}
    out_dir = files["onnx"].parent
    made_dir = not out_dir.exists()
    out_dir.mkdir(parents=True, exist_ok=True)
    done = False
    try:
        torch.save({"model": args.model, "state_dict": model.state_dict(), "metrics": metrics,
                    "input_shape": list(model.input_shape)}, partial["checkpoint"])
        partial["metrics"].write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
        export(model, data[2][:256].reshape(-1, *model.input_shape), files["onnx"])
        for k, tmp in partial.items():
            tmp.replace(files[k])
        done = True
    finally:
        for tmp in partial.values():
            tmp.unlink(missing_ok=True)
        if made_dir and not done:
            out_dir.rmdir()
    print(f"{args.model} on {args.dataset}: test accuracy {100 * metrics['test_accuracy']:.2f} % after "
          f"{metrics['epochs']} epochs in {metrics['wall_time_s']:.1f} s; wrote {files['onnx']}, "
          f"{files['checkpoint'].name}, {files['metrics'].name}")
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    from bnncc.data import DATASETS

    p = subparsers.add_parser("train", help="train a zoo model on a bundled data set and export it to ONNX",
                              description="Train a bnncc.nn zoo model, export it in the bnncc dialect and write "
                                          "a checkpoint and metrics.json beside the ONNX.")
    p.add_argument("--model", required=True, choices=ZOO_MODELS, metavar="NAME",
                   help="zoo model: " + ", ".join(ZOO_MODELS))
    p.add_argument("--dataset", required=True, choices=list(DATASETS), metavar="NAME",
                   help="data set: " + ", ".join(DATASETS))
    p.add_argument("--epochs", type=int, default=10, help="training epochs (default 10)")
    p.add_argument("--low-memory", action="store_true",
                   help="binary models: save only bit-packed signs for backward, L1 BatchNorm")
    p.add_argument("--distribution-loss", action="store_true", help="binary models: add the distribution loss")
    p.add_argument("--distribution-loss-weight", type=float, default=0.05, help=argparse.SUPPRESS)
    p.add_argument("--flight-lambda", type=float, default=0.004,
                   help="FLightNN models: weight of the regularizer that pushes filters to one power of two "
                        "(default 0.004; larger gives more k=1 filters)")
    p.add_argument("--batch-size", type=int, default=100, help="batch size (default 100)")
    p.add_argument("--seed", type=int, default=0, help="seed of weights, shuffling and the MNIST-5k split")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("-o", "--output", required=True, help="ONNX file to write (checkpoint .pt and metrics.json beside)")
    p.set_defaults(fn=run)
    return p
