"""The `bnncc` command: parses the command line and dispatches to bnncc/commands, nothing else.

    bnncc MODEL.onnx --target fpga|rram [options]      compile (bnncc/commands/compile.py)
    bnncc inspect | run | report | rram-sweep | train   (bnncc SUBCOMMAND --help)

Exit codes: 0 ok, 1 verification failed, 2 bad input or usage, 130 interrupted.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import warnings

import numpy as np

from bnncc.commands import MODULES, SUBCOMMANDS
from bnncc.commands import compile as compile_command
from bnncc.commands.common import Parser
from bnncc.errors import BnnccError, printable


def build_parsers() -> tuple[argparse.ArgumentParser, argparse.ArgumentParser]:
    sub = Parser(
        prog="bnncc", allow_abbrev=False,
        description="bnncc: binary / power-of-two / ShiftAdd nets from ONNX to verified hardware.",
        epilog="Compile: bnncc MODEL.onnx --target fpga|rram [-o OUT] [options]; "
               "see bnncc MODEL.onnx --target fpga --help. Exit codes: 0 ok, 1 verification failed, 2 bad input.")
    cmds = sub.add_subparsers(dest="command", required=True)
    for name in SUBCOMMANDS:
        importlib.import_module(f"bnncc.commands.{MODULES[name]}").add_parser(cmds)
    return sub, compile_command.parser(SUBCOMMANDS)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    sub, comp = build_parsers()
    if not argv or argv[0] in ("-h", "--help"):
        sub.print_help()
        return 0 if argv else 2
    args = (sub if argv[0] in SUBCOMMANDS else comp).parse_args(argv)
    args.given = {a.split("=", 1)[0] for a in argv if a.startswith("-")}  # options written out, for checks
    try:
        # inputs are checked before they are computed with, so numpy's floating-point warnings would only
        # be noise printed ahead of the one line that explains
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore", RuntimeWarning)
            return args.fn(args)
    except BnnccError as e:
        print(f"bnncc: error: {printable(e)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # Ctrl-C, or SIGTERM during a calibration: what was committed stays
        print("bnncc: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (bnncc inspect ... | head): end quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as e:  # a model we could not classify: still one line, still exit 2
        if os.environ.get("BNNCC_DEBUG"):
            raise
        print(f"bnncc: error: {printable(getattr(args, 'model', ''))}: {type(e).__name__}: {printable(e)} "
              "(set BNNCC_DEBUG=1 for a traceback)", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
