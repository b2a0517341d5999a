"""The import matrix of docs/architecture.md holds: every import of the package (AST, function-local
imports included) is allowed by the table, and the packages' import graph has no cycle."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "bnncc"
DOC = ROOT / "docs" / "architecture.md"


def matrix() -> dict[str, set[str]]:
    text = DOC.read_text()
    table = text.split("<!-- import-matrix:begin -->")[1].split("<!-- import-matrix:end -->")[0]
    rows = {}
    for line in table.strip().splitlines()[2:]:
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        rows[cells[0].strip("`")] = {x.strip() for x in cells[1].split(",") if x.strip()} if len(cells) > 1 else set()
    return rows


def unit(module: str) -> str:
    """bnncc.hw.blocks.mvau -> hw; bnncc -> bnncc."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "bnncc"


def imports() -> list[tuple[str, str, str]]:
    """(file, importing unit, imported module) for every import of a bnncc module in the package."""
    found = []
    for f in sorted(PACKAGE.rglob("*.py")):
        rel = f.relative_to(ROOT).with_suffix("")
        module = ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
        for node in ast.walk(ast.parse(f.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [f"{node.module}.{a.name}" if node.module == "bnncc" else node.module for a in node.names]
            found += [(str(rel), unit(module), n) for n in names if n == "bnncc" or n.startswith("bnncc.")]
    return found


def allowed(rules: set[str], target: str) -> bool:
    if "*" in rules:
        return True
    sub = ".".join(target.split(".")[1:])  # hw.blocks.mvau
    return any(sub == r or sub.startswith(r + ".") for r in rules) or (target == "bnncc" and "bnncc" in rules)


def test_every_import_follows_the_matrix():
    rules = matrix()
    assert {"ir", "hw", "cost", "backends", "sim", "nn", "commands", "cli"} <= set(rules)
    bad = []
    for path, src, target in imports():
        if unit(target) == src:
            continue
        if src not in rules:
            bad.append(f"{path}: unit {src!r} is not in the matrix")
        elif not allowed(rules[src], target):
            bad.append(f"{path}: {src} imports {target}")
    assert not bad, "\n".join(bad)


def test_no_import_cycle_between_packages():
    graph: dict[str, set[str]] = {}
    for _, src, target in imports():
        if unit(target) != src:
            graph.setdefault(src, set()).add(unit(target))
    state: dict[str, int] = {}

    def visit(n: str, path: list[str]) -> None:
        state[n] = 1
        for m in sorted(graph.get(n, ())):
            assert state.get(m) != 1, f"import cycle: {' -> '.join(path + [n, m])}"
            if m not in state:
                visit(m, path + [n])
        state[n] = 2

    for n in sorted(graph):
        if n not in state:
            visit(n, [])


def test_the_matrix_is_enforced_by_this_test():
    """A violation is found (so the first test cannot pass vacuously)."""
    rules = matrix()
    assert not allowed(rules["ir"], "bnncc.hw.design") and not allowed(rules["nn"], "bnncc.onnx_writer")
    assert not allowed(rules["sim"], "bnncc.backends.fpga.hls") and allowed(rules["nn"], "bnncc.ir.spec")
    assert re.search(r"\| `hw` \| ir, cost, errors \|", DOC.read_text())
