"""The training loop: one optimizer and schedule per family, seeded, with a tqdm bar on stderr.

Every family uses Adam with a cosine learning-rate decay to 0 over all steps, batch 100, and a
family learning rate (``FAMILY_LR``): binary latent weights need a larger step to flip signs;
shift exponents move in whole units and adder weights in steps of the activation grid, which a
1e-3 step crosses too slowly (4-bit ShiftAdd MLP on MNIST-5k, 8 epochs: 64 % at 1e-3, 86 % at
3e-3, 93 % at 1e-2). After every step ``QuantNet.constrain_()`` clips latent parameters into
their ranges. Optional terms: the distribution loss (binary nets) and the
FLightNN regularizer (``flight_lambda`` times the fraction of two-term filters).
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from bnncc.nn.losses import distribution_loss
from bnncc.nn.net import QuantNet

__all__ = ["FAMILY_LR", "TrainConfig", "evaluate", "train"]

FAMILY_LR = {"float": 1e-3, "binary": 3e-3, "pow2": 1e-3, "shiftadd": 1e-2}


@dataclass
class TrainConfig:
    epochs: int = 10
    batch_size: int = 100
    lr: float | None = None  # None: FAMILY_LR[model.family]
    weight_decay: float = 0.0
    distribution_loss: float = 0.0  # weight of the distribution loss (0: off)
    # Weight of the FLightNN two-term penalty. Adam moves a threshold by about its learning rate
    # whichever term wins the sign of its gradient, so the weight only has to be comparable with the
    # task gradient: on flightnn-mlp/MNIST-5k 0 gives 20 % k=1 filters, 0.001 53 %, 0.002 76 %,
    # 0.004 94 %, and 0.01 or more sends every filter to k = 1.
    flight_lambda: float = 0.004
    threshold_lr_scale: float = 10.0  # FLightNN thresholds learn this much faster than weights
    seed: int = 0
    threads: int = 2
    max_train: int | None = None  # use only the first N (shuffled) training images
    max_seconds: float | None = None  # stop before an epoch that would end past this training time
    extra: dict = field(default_factory=dict)


def evaluate(model: QuantNet, x: np.ndarray, y: np.ndarray, batch: int = 1000) -> float:
    """Top-1 accuracy (argmax, ties to the lowest index) of the model in eval mode."""
    was = model.training
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(y), batch):
            out = model(torch.from_numpy(x[i:i + batch]))
            correct += int((out.argmax(dim=1).numpy() == y[i:i + batch]).sum())
    model.train(was)
    return correct / max(1, len(y))


def train(model: QuantNet, data: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray], cfg: TrainConfig,
          progress: bool = True, desc: str | None = None) -> dict:
    """Train in place; returns metrics (test accuracy, per-epoch history, wall time, k=1 fraction)."""
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    x_train, y_train, x_test, y_test = data
    if cfg.max_train is not None:
        keep = rng.permutation(len(y_train))[: cfg.max_train]
        x_train, y_train = x_train[keep], y_train[keep]
    lr = cfg.lr if cfg.lr is not None else FAMILY_LR.get(model.family, 1e-3)
    thresholds = [p for n, p in model.named_parameters() if n.endswith("threshold")]
    others = [p for n, p in model.named_parameters() if not n.endswith("threshold")]
    groups = [{"params": others}] + ([{"params": thresholds, "lr": lr * cfg.threshold_lr_scale}] if thresholds else [])
    opt = torch.optim.Adam(groups, lr=lr, weight_decay=cfg.weight_decay)
    steps_per_epoch = math.ceil(len(y_train) / cfg.batch_size)
    total = max(1, cfg.epochs * steps_per_epoch)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, total) / total)))
    if cfg.distribution_loss:
        model.track_activations(True)
    history = []
    start, cpu_start = time.time(), time.process_time()
    bar = tqdm(total=total, file=sys.stderr, disable=not progress, desc=desc or model.name, unit="step",
               dynamic_ncols=True)
    model.train()
    for epoch in range(cfg.epochs):
        elapsed = time.time() - start
        if cfg.max_seconds is not None and epoch and elapsed + elapsed / epoch > cfg.max_seconds:
            break  # the next epoch would end past the time limit
        order = rng.permutation(len(y_train))
        loss_sum, seen = 0.0, 0
        for i in range(0, len(order), cfg.batch_size):
            idx = order[i:i + cfg.batch_size]
            x, y = torch.from_numpy(x_train[idx]), torch.from_numpy(y_train[idx])
            loss = F.cross_entropy(model(x), y)
            total_loss = loss
            if cfg.distribution_loss:
                total_loss = total_loss + cfg.distribution_loss * distribution_loss(model)
            if model.family == "pow2":
                total_loss = total_loss + cfg.flight_lambda * model.k2_penalty()
            opt.zero_grad(set_to_none=True)
            total_loss.backward()
            opt.step()
            model.constrain_()
            sched.step()
            loss_sum += loss.item() * len(idx)
            seen += len(idx)
            bar.update(1)
            bar.set_postfix(epoch=epoch + 1, loss=f"{loss_sum / seen:.3f}")
        acc = evaluate(model, x_test, y_test)
        history.append({"epoch": epoch + 1, "train_loss": loss_sum / max(1, seen), "test_accuracy": acc,
                        "wall_time_s": round(time.time() - start, 1)})
        bar.set_postfix(epoch=epoch + 1, loss=f"{loss_sum / max(1, seen):.3f}", test=f"{acc:.4f}")
    bar.close()
    model.track_activations(False)
    model.eval()
    metrics = {
        "model": model.name,
        "family": model.family,
        "test_accuracy": history[-1]["test_accuracy"] if history else evaluate(model, x_test, y_test),
        "epochs": len(history),
        "train_images": int(len(y_train)),
        "test_images": int(len(y_test)),
        "wall_time_s": round(time.time() - start, 1),
        "cpu_time_s": round(time.process_time() - cpu_start, 1),
        "optimizer": f"Adam lr {lr:g}, cosine to 0, batch {cfg.batch_size}",
        "history": history,
        "config": {k: v for k, v in asdict(cfg).items() if k != "extra"},
    }
    k1 = model.k1_fraction()
    if k1 is not None:
        metrics["k1_fraction"] = k1
    return metrics
