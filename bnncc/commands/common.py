"""What several commands share: loading a model and reading or writing a .npy batch."""

from __future__ import annotations

import os
import tempfile

import numpy as np

from bnncc.errors import BnnccError


def load(path: str):
    """The lowered IR of an ONNX, QONNX or FINN-ONNX file."""
    from bnncc.frontend import load as load_model

    return load_model(path)


def read_npy(path: str, option: str = "--input") -> np.ndarray:
    if not os.path.isfile(path):
        raise BnnccError(f"{option} {path}: no such file")
    try:
        return np.load(path, allow_pickle=False)
    except Exception as e:  # numpy raises several types for foreign or truncated files
        raise BnnccError(f"{option} {path}: not a readable .npy array ({type(e).__name__})") from None


def write_npy_atomic(path: str, array: np.ndarray) -> None:
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(suffix=".npy", dir=folder)
    os.close(fd)
    try:
        np.save(tmp, array)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
