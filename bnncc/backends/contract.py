"""The one shape every backend has: options in, `compile(graph, options) -> report`, a human summary
of the report and the exit code it implies (0 ok, 1 a simulation disagreed with the executor).

A report is the dict written as report.json; it may carry `warnings` and `notes` (lists of one-line
strings) that the command prints before the summary. Bad input is a BnnccError (exit 2)."""

from __future__ import annotations

from typing import ClassVar

from bnncc.ir.graph import Graph


class Backend:
    target: ClassVar[str]
    Options: ClassVar[type]

    def compile(self, graph: Graph, options) -> dict:
        raise NotImplementedError

    def summary(self, report: dict) -> str:
        raise NotImplementedError

    def exit_code(self, report: dict) -> int:
        """1 when any verification in the report failed, else 0."""
        checks = report.get("verification", {}).values()
        return 1 if any(not c["passed"] for c in checks) else 0


def backend(target: str) -> Backend:
    """The backend of a target name ("fpga", "rram")."""
    if target == "fpga":
        from bnncc.backends.fpga.driver import FpgaBackend

        return FpgaBackend()
    if target == "rram":
        from bnncc.backends.rram.backend import RramBackend

        return RramBackend()
    raise ValueError(f"unknown target {target!r}")


TARGETS = ("fpga", "rram")
