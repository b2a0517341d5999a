"""The package declares what its features need with the same pins as requirements.txt / constraints.txt, and
the command line names the parts it knows."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from bnncc.cli import build_parsers
from bnncc.cost.devices import DEVICES

ROOT = Path(__file__).resolve().parents[1]


def _pins(*files: str) -> dict[str, str]:
    pins = {}
    for name in files:
        for line in (ROOT / name).read_text().splitlines():
            m = re.fullmatch(r"([A-Za-z0-9_.-]+)==([^\s#]+)", line.strip())
            if m:
                pins[m.group(1).lower().replace("_", "-")] = m.group(2).split("+")[0]
    return pins


def test_pyproject_pins_equal_the_requirement_files():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = list(project["dependencies"]) + [d for extra in project["optional-dependencies"].values() for d in extra]
    pins = _pins("constraints.txt", "requirements.txt")
    for dep in declared:
        if dep.startswith("bnncc["):
            continue
        name, version = re.fullmatch(r"([A-Za-z0-9_.-]+)==(\S+)", dep).groups()
        assert pins.get(name.lower().replace("_", "-")) == version, dep
    extras = project["optional-dependencies"]
    assert {"sim", "data", "train", "all"} <= set(extras) and "torch==2.13.0" in extras["train"]
    assert project["license"] == "Apache-2.0"  # an SPDX string: no setuptools deprecation warning


def test_part_help_lists_the_parts():
    _, comp = build_parsers()
    text = comp.format_help()
    assert all(part in " ".join(text.split()) for part in DEVICES)
