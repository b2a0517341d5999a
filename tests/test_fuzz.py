"""The CI fuzz run: 300 seeded mutants (benchmarks/fuzz.py) through the fork runner on 2 jobs, about a
minute. No crash, hang, leftover, silent-wrong answer or lost user file, and every meaning-preserving mutant
accepted with the oracle's labels. A failure prints each offending mutant with the command that reruns it.

The harness's own detectors are tested first, on children that misbehave on purpose: a harness that cannot
see a hang or a crash would pass the campaign for the wrong reason.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MUTANTS = 300
SEED = 0
JOBS = 2


def _load_harness():
    # benchmarks/ is not a package; load the file under a name of its own (dataclasses need it in sys.modules)
    spec = importlib.util.spec_from_file_location("bnncc_fuzz_harness", ROOT / "benchmarks" / "fuzz.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


fuzz = _load_harness()


# -- the detectors -------------------------------------------------------------------------------------------


def _misbehave(kind: str):
    def call_main(argv: list[str]) -> int:  # runs in the forked child instead of bnncc.cli.main
        if kind == "hang":
            time.sleep(60)
        if kind == "raise":
            raise RuntimeError("boom")
        if kind == "abort":
            os.kill(os.getpid(), signal.SIGSEGV)
        if kind == "two lines":
            print("bnncc: error: first\nsecond", file=sys.stderr)
            return 2
        if kind == "escape":
            print("bnncc: error: op 'a\x1b[2Jb'", file=sys.stderr)
            return 2
        if kind == "leftover":
            Path(".bnncc-tmp123").mkdir()
            Path("out").mkdir()
            print("bnncc: error: refused", file=sys.stderr)
            return 2
        if kind == "delete":
            Path("notes.txt").unlink()
            return 0
        print("bnncc: error: model.onnx: node 'n' (Op): refused", file=sys.stderr)
        return 2

    return call_main


@pytest.mark.parametrize("kind, expect", [
    ("hang", "hang"), ("raise", "traceback on stderr"), ("abort", "killed by signal SIGSEGV"),
    ("two lines", "one 'bnncc: error:' line"), ("escape", "control characters"), ("clean", None),
])
def test_the_runner_sees_hangs_crashes_and_bad_error_lines(tmp_path, monkeypatch, kind, expect):
    monkeypatch.setattr(fuzz, "_call_main", _misbehave(kind))
    (tmp_path / "work").mkdir()
    cmd = fuzz.cmd_inspect("model.onnx")
    results = []

    def job():
        results.append((yield fuzz.Step("t", tmp_path / "work", fuzz.sandbox_env(tmp_path), argv=cmd.argv)))
        return {}

    fuzz.Scheduler(1, "fork", time_limit_s=1.0).run([job()], lambda rec: None)
    (r,) = results
    if expect == "hang":
        assert r.timed_out and r.wall_s < 10
        return
    problems, _ = fuzz.stderr_problems(cmd, r)
    if expect is None:
        assert problems == [] and r.returncode == 2
    else:
        assert any(expect in p for p in problems), problems


@pytest.mark.parametrize("kind, column", [("leftover", "leftovers"), ("delete", "deleted")])
def test_the_file_checks_see_leftovers_and_lost_user_files(tmp_path, monkeypatch, kind, column):
    monkeypatch.setattr(fuzz, "_call_main", _misbehave(kind))
    root = tmp_path / "box"
    (root / "work").mkdir(parents=True)
    (root / "work" / "notes.txt").write_bytes(fuzz.SENTINEL)
    cmd = fuzz.cmd_fpga("model.onnx", "out")
    seen = {}

    def job():
        before = fuzz.snapshot(root)
        r = yield fuzz.Step("t", root / "work", fuzz.sandbox_env(root), argv=cmd.argv)
        deleted, leftovers = fuzz.fs_problems(root, before, fuzz.snapshot(root), cmd, r.returncode, None)
        seen.update(deleted=deleted, leftovers=leftovers)
        return {}

    fuzz.Scheduler(1, "fork").run([job()], lambda rec: None)
    assert seen[column], seen


# -- the campaign --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def campaign(tmp_path_factory):
    return fuzz.run_campaign(MUTANTS, seed=SEED, jobs=JOBS, runner="fork", work=tmp_path_factory.mktemp("fuzz"))


def _report(campaign, records) -> str:
    return "\n\n".join(f"{fuzz.describe(r)}\n  rerun: {campaign.rerun_command(r['index'])}" for r in records[:10])


def test_the_bases_agree_with_their_oracles(campaign):
    assert len(campaign.bases) == len(fuzz.ALL_BASES)
    problems = {b.name: b.problems for b in campaign.bases if b.problems}
    assert not problems, json.dumps(problems, indent=1)
    assert all(set(b.targets) == {"fpga", "rram"} for b in campaign.bases)


@pytest.mark.parametrize("outcome", [fuzz.CRASH, fuzz.HANG, fuzz.LEFTOVER, fuzz.SILENT_WRONG, fuzz.DELETION])
def test_no_mutant_breaks_the_contract(campaign, outcome):
    bad = [r for r in campaign.records if outcome in r["flags"]]
    assert not bad, f"{len(bad)} mutant(s) with {outcome}:\n{campaign.table()}\n\n{_report(campaign, bad)}"


def test_every_meaning_preserving_mutant_is_accepted_with_the_oracles_labels(campaign):
    preserving = [r for r in campaign.records if r["preserving"]]
    assert len(preserving) >= 0.2 * MUTANTS
    assert {r["class"] for r in preserving} == {c.name for c in fuzz.PRESERVING_CLASSES}
    bad = [r for r in preserving if r["outcome"] != fuzz.OK or r["labels"] is None]
    assert not bad, f"{len(bad)} meaning-preserving mutant(s) not accepted as they are:\n{_report(campaign, bad)}"


def test_the_campaign_covers_every_class_and_base_in_time(campaign):
    assert len(campaign.records) == MUTANTS
    assert {r["class"] for r in campaign.records} == set(fuzz.CLASS_BY_NAME)
    assert {r["base"] for r in campaign.records} == set(fuzz.ALL_BASES)
    assert campaign.wall_s < 240, campaign.wall_s  # about 60 s on 2 idle cores; this only catches a runaway
