"""Every generated artefact stays byte-identical across refactors (see tests/artefacts.py).

A deliberate output change regenerates tests/data/artefact_hashes.json in the same commit
(`.venv/bin/python tests/artefacts.py --record`) and says what changed and why."""

from __future__ import annotations

import json

import pytest
from artefacts import HASHES, ROOT, case_names, diff, run_case

WANT = json.loads(HASHES.read_text())


def test_fixture_covers_every_case():
    assert sorted(WANT) == sorted(case_names())
    assert len(WANT) >= 13 and all(WANT.values())


@pytest.mark.parametrize("name", case_names())
def test_artefacts_are_byte_identical(name, tmp_path):
    lines = diff(WANT[name], run_case(name, tmp_path))
    assert not lines, f"{name}: generated files differ from the fixture:\n" + "\n".join(lines)
    # A path of this checkout or of the scratch folder in an artefact would make it differ on another machine.
    leaks = [p.name for p in (tmp_path / name / "out").rglob("*") if p.is_file()
             and any(where.encode() in p.read_bytes() for where in (str(ROOT), str(tmp_path)))]
    assert not leaks, f"{name}: machine paths in {leaks}"
