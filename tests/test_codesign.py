"""`bnncc search codesign`: hypervolume and Pareto front exact on small cases, every sampler reaches the
evaluation count and resumes a stored study without redoing its trials, and a tiny co-design search runs end
to end through real proxy trainings and the calibrated model."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest
from pages import check_page

from bnncc.cli import main
from bnncc.search import codesign
from bnncc.search.arch import Mixed


def test_pareto_and_hypervolume_are_exact() -> None:
    pts = [(0.2, 5.0), (0.1, 8.0), (0.3, 4.0), (0.25, 6.0), (0.1, 9.0)]
    assert codesign.pareto(pts) == [(0.1, 8.0), (0.2, 5.0), (0.3, 4.0)]
    # the box is 1 x 10; the front dominates 0.9*2 + 0.8*3 + 0.7*1 of it
    assert codesign.hypervolume(pts, (1.0, 10.0)) == pytest.approx((0.9 * 2 + 0.8 * 3 + 0.7 * 1) / 10)
    assert codesign.hypervolume([(2.0, 1.0)], (1.0, 10.0)) == 0.0  # outside the reference box


def test_space_enumerates_every_precision_per_layer() -> None:
    nets = codesign.space([1, 2, 3], [16, 32, 64, 128])
    assert len(nets) == 4 * (3 + 9 + 27) == len(set(nets))
    assert Mixed(16, ("binary", "pow2k2")) in nets


def _table(nets):
    rng = __import__("numpy").random.default_rng(1)
    return {n: {"error": float(rng.uniform(0.05, 0.5)), "lut": float(n.width * (1 + n.depth)),
                "violation": 0.0 if n.width < 128 else 0.5} for n in nets}


@pytest.mark.parametrize("sampler", codesign.SAMPLERS)
def test_samplers_reach_the_evaluations_and_resume(sampler: str, tmp_path: Path) -> None:
    nets = codesign.space([1, 2], [16, 32, 64, 128])
    table = _table(nets)
    seen: list[Mixed] = []

    def evaluate(batch):
        seen.extend(batch)
        return [table[n] for n in batch]

    storage = f"sqlite:///{tmp_path / 'optuna.sqlite'}"
    kw = {"known": table, "ref": (1.0, 1000.0)}
    first = codesign.optimize(evaluate, sampler, 0, 5, [1, 2], [16, 32, 64, 128], storage=storage, **kw)
    assert len(first) == 5 and len(seen) == 5
    again = codesign.optimize(evaluate, sampler, 0, 8, [1, 2], [16, 32, 64, 128], storage=storage, batch=2, **kw)
    assert len(again) == 8 and len(seen) == 8  # the 5 stored trials were not evaluated again
    assert again[:5] == first
    if sampler in ("gp", "random"):  # they know the costs: never an infeasible or a repeated network
        assert all(t["violation"] <= 0 for t in again) and len({t["network"] for t in again}) == 8
    curve = codesign.hv_curve(again, (1.0, 1000.0))
    assert len(curve) == 8 and all(a <= b for a, b in zip(curve, curve[1:], strict=False)) and 0 <= curve[-1] <= 1


def test_tiny_codesign_search(tmp_path: Path) -> None:
    out = tmp_path / "c"
    buf, err = io.StringIO(), io.StringIO()
    with redirect_stdout(buf), redirect_stderr(err):
        rc = main(["search", "codesign", "--budget", "fps>=5000,lut<=3000", "--depths", "1", "--widths", "16,32",
                   "--evaluations", "4", "--max-train", "1000", "-o", str(out), "--json"])
    assert rc == 0, err.getvalue()
    res = json.loads(buf.getvalue())
    result = json.loads((out / "search.json").read_text())
    assert len(result["trials"]) == 4 and result["space"] == 6
    assert res["pareto"] and 0 < res["hypervolume"] <= 1
    for t in result["trials"]:
        assert 0 <= t["error"] <= 1 and t["lut"] == t["predicted"]["lut"]
    check_page(out / "index.html", 2, tmp_path)
    with redirect_stdout(io.StringIO()), redirect_stderr(io.StringIO()) as e:
        rc = main(["search", "codesign", "--budget", "lut<=3000", "--sampler", "bayes", "-o", str(tmp_path / "x")])
    assert rc == 2
    assert "--sampler" in e.getvalue() and not (tmp_path / "x").exists()
