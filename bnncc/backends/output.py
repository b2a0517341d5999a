"""Output folders: written atomically, and only ever replacing a folder bnncc wrote itself.

A writer builds its folder under a temporary name next to the destination (`staged`). When it is done,
it lists every file it wrote in a marker file (`.bnncc-output.json`) and renames the folder into place:
an existing destination is moved aside, the new folder renamed in, and the old one deleted; if the
rename fails, the old folder is put back. A destination that exists must be a bnncc output holding
nothing but the files its marker lists (or nested bnncc outputs); the current folder, one of its
parents, the home folder and the root are never replaced. Anything else is refused before anything
is written: exit 2, one line, nothing lost.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import bnncc
from bnncc.errors import BnnccError, quote

MARKER = ".bnncc-output.json"


def written_files(folder: Path) -> list[str]:
    """Every file under `folder` (relative, sorted), except the marker."""
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")
                  if (p.is_file() or p.is_symlink()) and p.name != MARKER)


def foreign_files(folder: Path) -> list[str]:
    """Files under a bnncc output folder that its marker does not list (nested outputs are bnncc's too)."""
    try:
        listed = set(json.loads((folder / MARKER).read_text())["files"])
    except (OSError, ValueError, KeyError, TypeError):
        return written_files(folder)
    nested = [p.parent for p in folder.rglob(MARKER) if p.parent != folder]
    return [f for f in written_files(folder) if f not in listed
            and not any((folder / f).is_relative_to(n) for n in nested)]


def check_replaceable(dest: Path, option: str = "-o") -> None:
    """A BnnccError unless `dest` is absent or a bnncc output folder that holds only what bnncc wrote."""
    where = f"{option} {quote(str(dest))}"
    if any(len(part.encode()) > 255 for part in dest.parts):
        raise BnnccError(f"{where}: a folder name longer than 255 bytes")
    for parent in [dest, *dest.parents]:
        if parent.exists() or parent.is_symlink():
            if parent != dest and not parent.is_dir():
                raise BnnccError(f"{where}: {quote(str(parent))} is a file, not a folder")
            break
    resolved = dest.resolve()
    cwd, home = Path.cwd().resolve(), Path.home().resolve()
    if resolved == cwd or resolved in cwd.parents or resolved == home or resolved == Path(resolved.anchor):
        raise BnnccError(f"{where}: is the current folder, one of its parents, the home folder or the root; "
                         "bnncc writes into a folder of its own: name a new one")
    if not dest.exists() and not dest.is_symlink():
        return
    if dest.is_symlink() or not dest.is_dir():
        raise BnnccError(f"{where}: exists and is not a folder bnncc wrote; choose another name")
    if not (dest / MARKER).is_file():
        raise BnnccError(f"{where}: exists and was not written by bnncc (no {MARKER}); choose another folder or "
                         "remove it yourself")
    foreign = foreign_files(dest)
    if foreign:
        raise BnnccError(f"{where}: holds {len(foreign)} file(s) bnncc did not write (e.g. {quote(foreign[0])}); "
                         "not replaced")


def write_marker(folder: Path) -> None:
    (folder / MARKER).write_text(json.dumps({"written_by": f"bnncc {bnncc.__version__}",
                                             "files": written_files(folder)}, indent=1) + "\n")


@contextlib.contextmanager
def staged(dest: Path, option: str = "-o") -> Iterator[Path]:
    """A fresh folder to write into; on success it becomes `dest` (see the module doc), on failure it is
    removed, and so is any parent folder this call created."""
    dest = Path(os.path.normpath(os.path.abspath(dest)))  # "a/b/../c" is "a/c": no folder "a/b" is made
    check_replaceable(dest, option)
    created = [p for p in [dest.parent, *dest.parent.parents] if not p.exists()]
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".bnncc-", dir=dest.parent))
    tmp.chmod(0o755)  # mkdtemp makes it private; the result is an ordinary output folder
    try:
        yield tmp
        write_marker(tmp)
        replace_dir(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        for p in created:  # innermost first
            with contextlib.suppress(OSError):
                p.rmdir()
        raise


def replace_dir(tmp: Path, dest: Path) -> None:
    """Move the finished folder into place; an old one is moved aside first and deleted last, and put
    back if the rename fails."""
    aside = None
    if dest.exists():
        aside = Path(tempfile.mkdtemp(prefix=".bnncc-old-", dir=dest.parent))
        os.replace(dest, aside / dest.name)
    try:
        os.replace(tmp, dest)
    except BaseException:
        if aside is not None:
            os.replace(aside / dest.name, dest)
            shutil.rmtree(aside, ignore_errors=True)
        raise
    if aside is not None:
        shutil.rmtree(aside, ignore_errors=True)
