"""The `bnncc` command: parses the command line and dispatches to bnncc/commands, nothing else.

    bnncc MODEL.onnx --target fpga|rram [options]      compile (bnncc/commands/compile.py)
    bnncc inspect | run | report | rram-sweep | train   (bnncc SUBCOMMAND --help)

Exit codes: 0 ok, 1 verification failed, 2 bad input or usage.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from bnncc.commands import MODULES, SUBCOMMANDS
from bnncc.commands import compile as compile_command
from bnncc.errors import BnnccError


def build_parsers() -> tuple[argparse.ArgumentParser, argparse.ArgumentParser]:
    sub = argparse.ArgumentParser(
        prog="bnncc", description="bnncc: binary / power-of-two / ShiftAdd nets from ONNX to verified hardware.",
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
    try:
        return args.fn(args)
    except BnnccError as e:
        print(f"bnncc: error: {' '.join(str(e).split())}", file=sys.stderr)
        return 2
    except Exception as e:  # a model we could not classify: still one line, still exit 2
        if os.environ.get("BNNCC_DEBUG"):
            raise
        print(f"bnncc: error: {getattr(args, 'model', '')}: {type(e).__name__}: {' '.join(str(e).split())} "
              "(set BNNCC_DEBUG=1 for a traceback)", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
