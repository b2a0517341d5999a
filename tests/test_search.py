"""`bnncc search deepbit`: a tiny search end to end on a local Ray cluster (the winner trained, compiled,
C- and RTL-simulated bit-exactly and synthesized within the budget), a killed search resumed without redoing
finished trials, the selection's rules, and bad input refused with nothing written."""

from __future__ import annotations

import io
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest
from pages import check_page

from bnncc.cli import main
from bnncc.cost.calibrated import default_model
from bnncc.errors import BnnccError
from bnncc.search import budget as budgets
from bnncc.search import deepbit

TINY = ["--dataset", "mnist5k", "--epochs", "1", "--depths", "1..2", "--widths", "16..32", "--images", "4",
        "--simulator", "icarus"]
BUDGET = "lut<=560,fps>=5000"


def search(*args: str) -> tuple[int, dict | None, str]:
    """`bnncc search deepbit ... --json` in-process: (exit code, its JSON or None, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        rc = main(["search", "deepbit", *args, "--json"])
    return rc, json.loads(out.getvalue()) if out.getvalue().strip() else None, err.getvalue()


def test_tiny_search_on_a_ray_cluster(tmp_path: Path) -> None:
    import ray  # pinned in requirements.txt, installed by scripts/setup.sh

    out = tmp_path / "s"
    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=80 * 1024 * 1024, log_to_driver=False)
    try:
        rc, res, err = search("--budget", BUDGET, *TINY, "--ray", "auto", "-o", str(out))
    finally:
        ray.shutdown()
    assert rc == 0, err
    result = json.loads((out / "search.json").read_text())
    b = budgets.parse(BUDGET)
    chart = {(p["arch"]["depth"], p["arch"]["width"]): p for p in result["chart"]}
    picks = [p for p in result["picks"] if p["method"] == "calibrated"]
    assert {p["arch"]["depth"] for p in picks} == {1, 2}
    for p in picks:  # the widest per depth that the model says meets the budget
        assert not b.violations(p["predicted"])
        wider = chart.get((p["arch"]["depth"], p["arch"]["width"] + 16))
        assert wider is None or "infeasible" in wider or b.violations(wider)
        assert 0.1 < p["accuracy"] <= 1.0
    w = result["winner"]
    assert w["accuracy"] == max(p["accuracy"] for p in picks)
    assert not b.violations(w["measured"]) and w["measured"]["lut"] <= 560 and w["measured"]["fps"] >= 5000
    assert w["verified"]["csim_vectors"] == 4 and w["verified"]["rtl_sim_vectors"] == 4
    for d in result["depths"]:  # what a MACs- and a BOPs-based selection would pick (None: no width under its budget)
        assert {"macs_widest", "bops_widest"} <= set(d)
    assert all("measured" not in p for p in result["picks"] if p["name"] != w["name"])
    assert (out / "winner" / "model.onnx").is_file()
    project = json.loads((out / "winner" / "project" / "report.json").read_text())
    assert project["verification"]["csim"]["passed"] and project["verification"]["rtl_sim"]["passed"]
    blocks = project["measured"]["per_block"].values()  # the per-block synthesis, the cost model's ground truth
    assert w["measured"]["lut_blocks"] == sum(r["lut"] + r["lutram"] for r in blocks) > 0
    predicted = chart[(w["arch"]["depth"], w["arch"]["width"])]["folding"]  # what was built is what was costed
    assert predicted and all(project["folding"][b][k] == v for b, f in predicted.items() for k, v in f.items()
                             if k in ("PE", "SIMD"))
    check_page(out / "index.html", 2, tmp_path)
    assert res["winner"]["name"] == w["name"]


def _trained(store: Path) -> dict[str, float]:
    with sqlite3.connect(store) as conn:
        return dict(conn.execute("SELECT key, finished_at FROM trials WHERE phase = 'train'").fetchall())


def test_killed_search_resumes_without_redoing_trials(tmp_path: Path) -> None:
    out = tmp_path / "s"
    cmd = [sys.executable, "-c", "import sys; from bnncc.cli import main; sys.exit(main(sys.argv[1:]))",
           "search", "deepbit", "--budget", BUDGET, *TINY, "--widths", "16..48", "--measure", "none", "-o", str(out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    store = out / "search.sqlite"
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        if store.exists() and _trained(store):
            break
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    before = _trained(store)
    assert before, "the search was killed before it finished a training"
    rc, res, err = search("--budget", BUDGET, *TINY, "--widths", "16..48", "--measure", "none", "-o", str(out))
    assert rc == 0, err
    after = _trained(store)
    assert {k: after[k] for k in before} == before  # finished trials were not run again
    trained = {p["name"] for p in res["picks"] if "accuracy" in p}
    assert len(after) == len(trained) > len(before)


def test_selection_scans_where_cost_is_not_monotone() -> None:
    b = budgets.parse("lut<=1000")
    chart = [{"arch": {"kind": "mlp", "depth": 2, "width": w}, "name": f"w{w}", "lut": lut, "fps": 1.0, "macs": w,
              "bops": w} for w, lut in ((16, 500), (32, 1200), (48, 900), (64, 1500))]
    opts = deepbit.Options(budget=b, model=default_model(), depths=[2], widths=[16, 32, 48, 64])
    picks, depths = deepbit.select(opts, chart)
    assert picks["calibrated"][0]["arch"]["width"] == 48  # a bisection would stop at 16
    assert depths[0]["widest"] == 48 and not depths[0]["monotone"] and depths[0]["bisection"] == 16


@pytest.mark.parametrize("text, why", [("lut<20000", "cannot read"), ("luts<=5", "unknown metric"),
                                       ("fps<=10", "bounded with >="), ("lut<=5,lut<=6", "twice"), ("", "no limit"),
                                       ("lut<=0", "positive")])
def test_malformed_budgets_are_refused(text: str, why: str) -> None:
    with pytest.raises(BnnccError, match=why):
        budgets.parse(text)


def test_budget_reads_suffixes() -> None:
    b = budgets.parse("lut<=20k, fps>=1.5M")
    assert b.bound("lut") == 20000 and b.fps == 1.5e6
    assert b.violations({"lut": 20001, "fps": 2e6}) == ["lut 20,001 > 20,000"]


def test_bad_input_exits_2_and_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "s"
    rc, _, err = search("--budget", "lut<=50,fps>=5000", *TINY, "-o", str(out))
    assert rc == 2 and "the cheapest" in err and "LUT" in err and len(err.strip().splitlines()) == 1
    assert not out.exists()
    for args, why in ((["--budget", "lut<=x"], "--budget"), (["--budget", BUDGET, "--target", "rram"], "rram"),
                      (["--budget", BUDGET, "--depths", "0..2"], "depths"),
                      (["--budget", BUDGET, "--widths", "20,40"], "multiple of 16")):
        rc, _, err = search(*args, "--dataset", "mnist5k", "-o", str(out))
        assert rc == 2 and why in err and "Traceback" not in err, err
        assert not out.exists()
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    rc, _, err = search("--budget", BUDGET, *TINY, "-o", str(other))
    assert rc == 2 and "not a search's folder" in err
    assert sorted(p.name for p in other.iterdir()) == ["notes.txt"]


@pytest.mark.parametrize("target, budget, source", [("rram", "energy_pj<=70000", "rram-model"),
                                                    ("gpu", "latency_us<=12", "gpu-model"),
                                                    ("cpu", "latency_us<=100000", "cpu-measured")])
def test_other_targets_search_on_their_own_costs(target: str, budget: str, source: str, tmp_path: Path) -> None:
    out = tmp_path / target
    rc, res, err = search("--target", target, "--budget", budget, *TINY[:-2], "--widths", "16..48",
                          "--depths", "1..2", "-o", str(out))
    assert rc == 0, err
    b = budgets.parse(budget)
    result = json.loads((out / "search.json").read_text())
    assert all(source.split("-")[0] in p["source"] for p in result["chart"])
    w = result["winner"]
    got = {**w.get("modelled", {}), **w["measured"]}
    assert got["source"] == source and not b.violations(got)  # modelled numbers are never labelled measured
    assert ("latency_us" in w["measured"]) == (target == "cpu")
    if target == "rram":
        assert w["verified"]["crossbar_sim_vectors"] == 4
        assert (out / "winner" / "project" / "rram").is_dir()
    rc, _, err = search("--target", target, "--budget", "lut<=100", *TINY, "-o", str(tmp_path / "x"))
    assert rc == 2 and "not a cost of --target" in err
