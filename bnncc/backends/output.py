"""Output folders written atomically: everything goes into a temporary folder next to the destination
and is renamed into place at the end, so a failure leaves nothing half-written behind."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path


def staging_dir(parent: Path, prefix: str) -> Path:
    """A fresh temporary folder inside `parent`, on the same file system as the destination."""
    parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    tmp.chmod(0o755)  # mkdtemp makes it private; the result is an ordinary output folder
    return tmp


def replace_dir(tmp: Path, dest: Path) -> None:
    """Move the finished folder into place (the old one, if any, is removed after the rename)."""
    old = None
    if dest.exists():
        old = Path(tempfile.mkdtemp(prefix=".bnncc-old-", dir=dest.parent))
        os.replace(dest, old / dest.name)
    os.replace(tmp, dest)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
