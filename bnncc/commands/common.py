"""What several commands share: loading a model and reading or writing a .npy batch."""

from __future__ import annotations

import argparse
import math
import os
import tempfile

import numpy as np

from bnncc.errors import BnnccError, printable


class Parser(argparse.ArgumentParser):
    """argparse with a usage error on one line (like every other error), pointing at --help."""

    def error(self, message: str):
        self.exit(2, f"bnncc: error: {printable(message)} (see {self.prog} --help)\n")


def positive(text: str) -> float:
    """An argparse type: a finite number above zero (a rate, a period, a conductance)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number above zero")
    return value


def at_least_one(text: str) -> int:
    """An argparse type: a whole number of 1 or more (a count)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not 1 or more")
    return value


def cost_model(spec: str | None):
    """--cost-model: "analytical", a fitted model file, or (None) the shipped calibrated model."""
    from bnncc.cost.calibrated import default_model, load
    from bnncc.cost.model import ANALYTICAL

    if spec == "analytical":
        return ANALYTICAL
    return load(spec) if spec else default_model()


def add_input_codes(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("input codes")
    g.add_argument("--input-codes", metavar="uintN|intN",
                   help="declare a raw float input to be N-bit integer codes times --input-scale, so the first "
                        "layer runs in hardware (e.g. uint8 pixels; inputs off that grid are rounded onto it)")
    g.add_argument("--input-scale", metavar="S",
                   help="the codes' scale, a number or a fraction (default 1; e.g. 1/255)")


def input_codes(args: argparse.Namespace):
    """The declared input grid, or None; --input-scale alone is a usage error."""
    from bnncc.frontend import InputCodes

    codes, scale = getattr(args, "input_codes", None), getattr(args, "input_scale", None)
    if codes is None:
        if scale is not None:
            raise BnnccError("--input-scale needs --input-codes")
        return None
    return InputCodes.parse(codes, scale)


def load(path: str, args: argparse.Namespace | None = None):
    """The lowered IR of an ONNX, QONNX or FINN-ONNX file (with the command's --input-codes, if any)."""
    from bnncc.frontend import load as load_model

    return load_model(path, input_codes(args) if args is not None else None)


def read_npy(path: str, option: str = "--input") -> np.ndarray:
    if not os.path.isfile(path):
        raise BnnccError(f"{option} {path}: no such file")
    try:
        return np.load(path, allow_pickle=False)
    except Exception as e:  # numpy raises several types for foreign or truncated files
        raise BnnccError(f"{option} {path}: not a readable .npy array ({type(e).__name__})") from None


def checked_input(graph, x: np.ndarray, path: str, args: argparse.Namespace | None = None) -> np.ndarray:
    """The batch as the model takes it (float32, finite); a problem names the file it came from. Inputs off
    a declared --input-codes grid are reported on stderr (the model rounds them onto it)."""
    import sys

    from bnncc.ir.executor import check_input

    try:
        x = check_input(graph, x)
    except BnnccError as e:
        raise BnnccError(f"--input {path}: {e}") from None
    codes = input_codes(args) if args is not None else None
    if codes is not None and (off := codes.off_grid(x)):
        print(f"bnncc: warning: {off:,} of {x.size:,} input values of {path} are not --input-codes values; they "
              "are rounded onto that grid, where the model itself would not round them", file=sys.stderr)
    return x


def write_npy_atomic(path: str, array: np.ndarray, option: str = "--output") -> None:
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise BnnccError(f"{option} {path}: {folder} is not an existing folder")
    if os.path.isdir(path):
        raise BnnccError(f"{option} {path}: is a folder")
    fd, tmp = tempfile.mkstemp(suffix=".npy", dir=folder)
    os.close(fd)
    try:
        np.save(tmp, array)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
