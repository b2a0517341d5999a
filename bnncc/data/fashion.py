"""Fashion-MNIST from the Debian package ``dataset-fashion-mnist`` (idx files, gzipped or not).

No download ever happens: the files are looked up under ``BNNCC_FASHION_MNIST`` (if set) or
/usr/share/datasets/fashion-mnist, and a missing file is a BnnccError naming the setup command.
Images come back as raw pixels, like the other loaders: the model's input quantizer scales them.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np

from bnncc.errors import BnnccError

DEFAULT_DIR = Path("/usr/share/datasets/fashion-mnist")
_SETUP_HINT = "install it with: bash scripts/setup.sh (Debian package dataset-fashion-mnist)"
_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def _folder() -> Path:
    return Path(os.environ.get("BNNCC_FASHION_MNIST", str(DEFAULT_DIR)))


def _read_idx(stem: str) -> np.ndarray:
    """One idx file (``stem`` or ``stem.gz``): magic 0x0000 08 NDIM, big-endian dims, uint8 data."""
    folder = _folder()
    for path in (folder / stem, folder / f"{stem}.gz"):
        if path.is_file():
            break
    else:
        raise BnnccError(f"Fashion-MNIST file {stem}[.gz] not found in {folder}; {_SETUP_HINT}")
    try:
        raw = (gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")).read()
    except OSError as e:
        raise BnnccError(f"{path}: unreadable ({e}); {_SETUP_HINT}") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise BnnccError(f"{path}: not an unsigned-byte idx file")
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise BnnccError(f"{path}: {data.size} bytes of data for dims {dims} (truncated?)")
    return data.reshape(dims)


def load_fashion_mnist(split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """Fashion-MNIST ``split`` ("train": 60,000, "test": 10,000) in the file's order: float32 images
    [N, 1, 28, 28] with pixel values 0..255 and int64 labels [N] (0..9)."""
    if split not in _FILES:
        raise BnnccError(f"unknown Fashion-MNIST split {split!r}; use 'train' or 'test'")
    images, labels = (_read_idx(s) for s in _FILES[split])
    if images.ndim != 3 or images.shape[1:] != (28, 28) or labels.shape != (images.shape[0],):
        raise BnnccError(f"Fashion-MNIST {split}: unexpected shapes {images.shape} / {labels.shape}")
    return images.astype(np.float32).reshape(-1, 1, 28, 28), labels.astype(np.int64)
