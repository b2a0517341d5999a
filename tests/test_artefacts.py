"""Every generated artefact stays byte-identical across refactors (see tests/artefacts.py).

A deliberate output change regenerates tests/data/artefact_hashes.json in the same commit
(`.venv/bin/python tests/artefacts.py --record`) and says what changed and why."""

from __future__ import annotations

import json

import pytest
from artefacts import HASHES, case_names, diff, run_case

WANT = json.loads(HASHES.read_text())


def test_fixture_covers_every_case():
    assert sorted(WANT) == sorted(case_names())
    assert len(WANT) >= 13 and all(WANT.values())


@pytest.mark.parametrize("name", case_names())
def test_artefacts_are_byte_identical(name, tmp_path):
    lines = diff(WANT[name], run_case(name, tmp_path))
    assert not lines, f"{name}: generated files differ from the fixture:\n" + "\n".join(lines)
