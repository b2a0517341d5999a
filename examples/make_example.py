"""Train the bundled example: a binary MLP (64-64-64-10) on sklearn's 8x8 digits, export it in the bnncc
ONNX dialect.

    .venv/bin/python examples/make_example.py [--out DIR] [--input 4bit|bipolar]

Writes ``DIR/digits_bnn.onnx`` (built by ``bnncc.fixtures.binary_mlp`` from the trained parameters,
so it is exactly our dialect), ``DIR/digits_input.npy`` (16 test images, float32 [16, 64], in the
model's input layout), ``DIR/digits_labels.npy`` (their true labels) and prints the test accuracy
of the exported model run by onnxruntime. Seeded and single-threaded: re-running gives a
byte-identical ONNX file.

Input quantizer (default ``--input 4bit``): the model input is ``x = pixel / 16`` (pixels are
0..16, so x is in [0, 1]) and the first node is the dialect's unsigned 4-bit quantizer with scale
float32(1/15): code = clip(round_half_even(x / s), 0, 15), i.e. code = round(15 * pixel / 16) as
float32 evaluates it (pixel 8 gives 7.4999995 -> 7). The first layer sees 4-bit codes (FINN feeds
integer pixels to its first layer too); all later activations are bipolar. ``--input bipolar``
binarizes each pixel instead: the input layout is ``pixel / 16 - 0.5`` and the quantizer
``Where(x >= 0, 1, -1)`` (pixel >= 8 -> +1); it loses detail (about 88 % instead of 95 %).

Training: straight-through estimator (sign forward with x >= 0 -> +1, hardtanh gradient), latent
weights clipped to [-1, 1] after every step, BatchNorm1d after every layer (the last one is the
logits' tail), Adam, cross-entropy.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn

# Runnable from a checkout without installing: the project root holds the (namespace) package.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bnncc import fixtures  # noqa: E402

SEED = 0
HIDDEN = (64, 64)
EPOCHS = 20
BATCH = 32


class SignSTE(torch.autograd.Function):
    """Bipolar sign (x >= 0 -> +1, never 0, matching the dialect's Where) with the hardtanh gradient."""

    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, x: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(x)
        return torch.where(x >= 0, 1.0, -1.0).to(x.dtype)

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad: torch.Tensor) -> torch.Tensor:
        (x,) = ctx.saved_tensors
        return grad * (x.abs() <= 1).to(grad.dtype)


class BinaryLinear(nn.Linear):
    """Linear layer with binarized weights in the forward pass; the latent float weights are trained."""

    def __init__(self, fan_in: int, fan_out: int) -> None:
        super().__init__(fan_in, fan_out, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.linear(x, SignSTE.apply(self.weight))


class Sign(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return SignSTE.apply(x)


def build(sizes: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        layers += [BinaryLinear(sizes[i], sizes[i + 1]), nn.BatchNorm1d(sizes[i + 1])]
        if i < len(sizes) - 2:
            layers.append(Sign())
    return nn.Sequential(*layers)


def quantize_input(x: np.ndarray, mode: str) -> np.ndarray:
    """The model's input quantizer in numpy, float32 op for op like ONNX (it has no parameters, so
    training on its output equals training through it)."""
    if mode == "bipolar":
        return np.where(x >= 0, np.float32(1), np.float32(-1))
    s = np.float32(1.0 / 15)
    return (np.clip(np.round(x / s), 0, 15) * s).astype(np.float32)


def export(model: nn.Sequential, sizes: list[int], mode: str) -> onnx.ModelProto:
    linears = [m for m in model if isinstance(m, BinaryLinear)]
    bns = [m for m in model if isinstance(m, nn.BatchNorm1d)]
    # torch Linear weight is [out, in]; the dialect's MatMul takes W [in, out].
    weights = [np.where(m.weight.detach().numpy() >= 0, 1.0, -1.0).astype(np.float32).T for m in linears]
    bn = [
        {
            "gamma": b.weight.detach().numpy(),
            "beta": b.bias.detach().numpy(),
            "mean": b.running_mean.numpy(),
            "var": b.running_var.numpy(),
            "eps": b.eps,
        }
        for b in bns
    ]
    return fixtures.binary_mlp(sizes, seed=SEED, input_bits=None if mode == "bipolar" else 4,
                               weights=weights, bn=bn)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    ap.add_argument("--input", choices=("4bit", "bipolar"), default="4bit")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()

    # Determinism: one thread (reduction order fixed), seeded generators, deterministic kernels.
    torch.manual_seed(SEED)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)

    digits = load_digits()
    x = digits.data.astype(np.float32) / np.float32(16)
    if args.input == "bipolar":
        x = x - np.float32(0.5)
    y = digits.target.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.2, stratify=y, random_state=SEED)

    sizes = [64, *HIDDEN, 10]
    model = build(sizes)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    loss_fn = nn.CrossEntropyLoss()
    xt = torch.from_numpy(quantize_input(x_tr, args.input))
    yt = torch.from_numpy(y_tr)
    gen = torch.Generator().manual_seed(SEED)
    for _ in range(EPOCHS):
        model.train()
        for idx in torch.randperm(len(xt), generator=gen).split(BATCH):
            if len(idx) < 2:  # BatchNorm needs two samples
                continue
            opt.zero_grad()
            loss_fn(model(xt[idx]), yt[idx]).backward()
            opt.step()
            with torch.no_grad():
                for m in model:
                    if isinstance(m, BinaryLinear):
                        m.weight.clamp_(-1.0, 1.0)
    model.eval()
    with torch.no_grad():
        torch_acc = float((model(torch.from_numpy(quantize_input(x_te, args.input))).argmax(1).numpy()
                           == y_te).mean())

    onnx_model = export(model, sizes, args.input)
    path = fixtures.save(onnx_model, args.out / "digits_bnn.onnx")
    np.save(args.out / "digits_input.npy", x_te[:16].astype(np.float32))
    np.save(args.out / "digits_labels.npy", y_te[:16])

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    pred = sess.run(None, {sess.get_inputs()[0].name: x_te})[0].argmax(1)
    acc = float((pred == y_te).mean())
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    print(f"input={args.input} train={len(x_tr)} test={len(x_te)} epochs={EPOCHS}")
    print(f"torch test accuracy {torch_acc:.4f}; exported ONNX (onnxruntime) test accuracy {acc:.4f}")
    print(f"wrote {path} (sha256 {sha[:16]}), {args.out / 'digits_input.npy'} in "
          f"{time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
