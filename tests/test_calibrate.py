"""`bnncc calibrate` and `bnncc charts`: the small sweep fills a store through the real backends (Yosys,
Icarus), a second run measures nothing, a killed run resumes with no lost and no duplicate row, a local Ray
cluster measures the same rows as the process pool, the fit and the charts work from the store, and bad
input leaves the store as it was."""

from __future__ import annotations

import hashlib
import io
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pages import check_page

from bnncc import fixtures
from bnncc.calibrate import space
from bnncc.calibrate.store import SCHEMA_VERSION, Store
from bnncc.cli import main

ROOT = Path(__file__).resolve().parents[1]
REPORTS = ROOT.parent / "shared" / "reports" / "vivado-2020.1-xc7z020"
VOLATILE = {"run_id", "timestamp"}
WEIGHTED = {"mvau", "thresh"}  # blocks holding weights or thresholds; the others are the same hardware wherever
# their geometry recurs (a 2-deep 4-bit FIFO, a 3x3 window over 12x12x1)


def calibrate(*args: str) -> tuple[int, dict]:
    """Run `bnncc calibrate ... --json` in-process; (exit code, its JSON)."""
    out = io.StringIO()
    from contextlib import redirect_stdout

    with redirect_stdout(out):
        rc = main(["calibrate", *args, "--json"])
    text = out.getvalue().strip()
    return rc, json.loads(text) if text else {}


def rows_of(path: Path, keys: set[str] | None = None) -> list[tuple]:
    """The store's measurement rows without run ids and timestamps, sorted."""
    with Store(str(path), create=False) as store:
        rows = store.rows()
    return sorted(tuple((k, json.dumps(v, sort_keys=True)) for k, v in sorted(r.items()) if k not in VOLATILE)
                  for r in rows if keys is None or r["design_key"] in keys)


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else "absent"


@pytest.fixture(scope="module")
def small_store(tmp_path_factory) -> Path:
    store = tmp_path_factory.mktemp("calibrate") / "cost.sqlite"
    start = time.perf_counter()
    rc, out = calibrate("--target", "fpga", "--sweep", "small", "--store", str(store), "--jobs", "2")
    elapsed = time.perf_counter() - start
    assert rc == 0, out
    assert out["measured"] == len(space.SMALL) and out["failed"] == []
    print(f"small sweep: {elapsed:.1f} s")  # the CI budget is 90 s; pytest --durations shows it
    return store


def test_small_sweep_measures_every_block_kind(small_store: Path) -> None:
    with Store(str(small_store), create=False) as store:
        designs = store.designs("fpga")
        rows = store.rows(target="fpga")
    assert len(designs) == len(space.SMALL) <= 8
    sources = {r["source"] for r in rows}
    assert {"yosys", "rtlsim", "estimate"} <= sources
    classes = {r["params"]["cost_class"] for r in rows if r["source"] == "yosys" and r["block"]}
    assert {"mvau-xnor", "mvau-bipolar", "mvau-ternary", "mvau-pow2", "mvau-adder", "swg", "pool", "fifo"} <= classes
    # every yosys block row carries the features a fit needs and a block key
    for r in rows:
        if r["source"] == "yosys" and r["block"]:
            assert r["block_key"] and r["params"]["terms"] and r["params"]["params"]
    # RTL simulation measured the latency the token model predicts
    sim = {r["design_key"]: r["value"] for r in rows if r["source"] == "rtlsim" and r["metric"] == "latency_cycles"}
    for d in designs:
        _, design = space.design_of(d["spec"], d["part"])
        assert design.latency() == sim[d["design_key"]], d["name"]


def test_second_run_measures_nothing(small_store: Path) -> None:
    before = rows_of(small_store)
    rc, out = calibrate("--target", "fpga", "--sweep", "small", "--store", str(small_store))
    assert rc == 0 and out["measured"] == 0 and out["already_in_store"] == len(space.SMALL)
    assert rows_of(small_store) == before


def test_killed_run_resumes_without_loss_or_duplicates(small_store: Path, tmp_path: Path) -> None:
    store = tmp_path / "killed.sqlite"
    cmd = [sys.executable, "-c", "import sys; from bnncc.cli import main; sys.exit(main(sys.argv[1:]))",
           "calibrate", "--target", "fpga", "--sweep", "small", "--store", str(store), "--jobs", "1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            if store.exists():
                with sqlite3.connect(store) as db:
                    try:
                        if db.execute("SELECT COUNT(*) FROM designs").fetchone()[0] >= 1:
                            break
                    except sqlite3.OperationalError:
                        pass
            time.sleep(0.2)
        os.kill(proc.pid, signal.SIGKILL)  # the worst case: no handler runs
    finally:
        proc.wait()
    with Store(str(store), create=False) as s:
        done = s.design_keys()
    assert 1 <= len(done) < len(space.SMALL)
    assert rows_of(store) == rows_of(small_store, done)  # what was committed is whole
    rc, out = calibrate("--target", "fpga", "--sweep", "small", "--store", str(store), "--jobs", "2")
    assert rc == 0 and out["measured"] == len(space.SMALL) - len(done)
    assert rows_of(store) == rows_of(small_store)  # nothing lost, nothing twice


def test_ray_cluster_measures_the_same_rows(small_store: Path, tmp_path: Path) -> None:
    import ray  # pinned in requirements.txt, installed by scripts/setup.sh
    sweep = tmp_path / "three.json"
    sweep.write_text(json.dumps({"format": "bnncc-sweep", "version": 1, "designs": space.SMALL[:3]}))
    store = tmp_path / "ray.sqlite"
    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=80 * 1024 * 1024, log_to_driver=False)
    try:
        rc, out = calibrate("--target", "fpga", "--sweep", str(sweep), "--store", str(store), "--ray", "auto")
    finally:
        ray.shutdown()
    assert rc == 0 and out["measured"] == 3
    with Store(str(store), create=False) as s:
        keys = s.design_keys()
    assert rows_of(store) == rows_of(small_store, keys)


def test_fit_and_compile_with_the_fitted_model(small_store: Path, tmp_path: Path, capsys) -> None:
    model = tmp_path / "model.json"
    rc, out = calibrate("--store", str(small_store), "--fit", str(model))
    assert rc == 0 and out["fit"]["zynq"]["blocks"] > 20
    data = json.loads(model.read_text())
    assert data["format"] == "bnncc-cost-model" and "Yosys 0.23" in data["ground_truth"]
    onnx_path = fixtures.save(fixtures.binary_mlp((32, 16, 10), seed=1), tmp_path / "m.onnx")
    for cost_model, name in ((str(model), "bnncc-calibrated"), ("analytical", "finn-r-analytical")):
        assert main([str(onnx_path), "--target", "fpga", "-o", str(tmp_path / name), "--fps", "50000",
                     "--cost-model", cost_model, "--json"]) == 0
        report = json.loads(capsys.readouterr().out)
        assert report["estimate"]["cost_model"]["name"] == name
    assert "not Vivado" in report["estimate"]["cost_model"].get("ground_truth", "not Vivado")


def test_charts_page_renders_in_headless_chromium(small_store: Path, tmp_path: Path) -> None:
    out = tmp_path / "charts"
    assert main(["charts", "--store", str(small_store), "-o", str(out)]) == 0
    check_page(out / "index.html", 3, tmp_path)


@pytest.mark.parametrize("target", ["cpu", "gpu", "rram"])
def test_other_targets_measure_or_model(target: str, tmp_path: Path) -> None:
    sweep = tmp_path / "one.json"
    sweep.write_text(json.dumps({"format": "bnncc-sweep", "version": 1, "designs": space.SMALL[:1]}))
    store = tmp_path / "t.sqlite"
    rc, out = calibrate("--target", target, "--sweep", str(sweep), "--store", str(store), "--repeats", "3")
    assert rc == 0 and out["measured"] == 1
    with Store(str(store), create=False) as s:
        sources = {(r["source"], r["metric"]) for r in s.rows()}
    expected = {"cpu": {("cpu-measured", "latency_s"), ("cpu-measured", "latency_ort_s")},
                "gpu": {("gpu-model", "latency_s")},  # no CUDA device on this machine: the roofline, labelled so
                "rram": {("rram-model", "energy_pj"), ("crossbar-sim", "adc_conversions"),
                         ("crossbar-sim", "driven_word_lines")}}[target]
    assert expected <= sources


def test_ingest_vendor_reports(tmp_path: Path) -> None:
    store = tmp_path / "v.sqlite"
    rc, out = calibrate("--ingest", str(REPORTS), "--store", str(store))
    assert rc == 0 and out["rows"] > 0
    with Store(str(store), create=False) as s:
        rows = {(r["source"], r["metric"]): r["value"] for r in s.rows() if not r["block"]}
    assert rows["vitis", "lut"] == 2532 and rows["vivado", "lut"] == 1526
    rc, out = calibrate("--ingest", str(REPORTS), "--store", str(store))
    assert rc == 0 and out["already_in_store"]


def _refused(args: list[str], store: Path, capsys, text: str) -> None:
    before = file_digest(store)
    try:
        rc = main(args)
    except SystemExit as e:  # argparse's usage errors
        rc = e.code
    assert rc == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and text in err and "Traceback" not in err, err
    assert file_digest(store) == before


def test_bad_input_exits_2_and_leaves_the_store(tmp_path: Path, capsys) -> None:
    store = tmp_path / "s.sqlite"
    calib = ["calibrate", "--store", str(store)]
    _refused([*calib, "--target", "fpga", "--part", "xc7nope"], store, capsys, "unknown part")
    _refused([*calib, "--target", "asic"], store, capsys, "invalid choice")
    _refused([*calib, "--target", "cpu", "--part", "xc7z020clg400-1"], store, capsys, "--part host")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"format": "bnncc-sweep", "designs": [
        {"family": "binary_mlp", "sizes": [16, 16, 10], "folding": {"blocks": {"mvau0": {"PE": 3}}}}]}))
    _refused([*calib, "--target", "fpga", "--sweep", str(bad)], store, capsys, "PE=3")
    bad.write_text(json.dumps({"format": "bnncc-sweep", "designs": [{"family": "binary_mlp", "widht": [4]}]}))
    _refused([*calib, "--target", "fpga", "--sweep", str(bad)], store, capsys, "unknown key 'widht'")
    bad.write_text(json.dumps({"format": "bnncc-sweep", "generate": {"seed": 1, "count": 2, "max_side": 4}}))
    _refused([*calib, "--target", "cpu", "--sweep", str(bad)], store, capsys, "\"max_side\": S >= 10")
    empty = tmp_path / "no-reports"
    empty.mkdir()
    _refused([*calib, "--ingest", str(empty)], store, capsys, "no csynth")
    assert not store.exists()  # nothing above created it
    text = tmp_path / "notes.sqlite"
    text.write_text("not a database\n")
    _refused(["calibrate", "--store", str(text), "--target", "fpga"], text, capsys, "not an SQLite file")
    other = tmp_path / "other.sqlite"
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
        db.execute("INSERT INTO meta VALUES ('schema', 'bnncc-cost-store'), ('schema_version', '99')")
        db.execute("PRAGMA user_version = 99")
    _refused(["calibrate", "--store", str(other), "--target", "fpga"], other, capsys,
             f"schema version 99, this bnncc reads version {SCHEMA_VERSION}")
    foreign = tmp_path / "foreign.sqlite"
    with sqlite3.connect(foreign) as db:
        db.execute("CREATE TABLE t (x)")
    _refused(["calibrate", "--store", str(foreign), "--target", "fpga"], foreign, capsys, "not a bnncc cost store")
    _refused(["charts", "--store", str(tmp_path / "absent.sqlite"), "-o", str(tmp_path / "c")],
             tmp_path / "absent.sqlite", capsys, "no such cost store")
    model = tmp_path / "model.json"
    model.write_text(json.dumps({"format": "bnncc-cost-model", "version": 7}))
    onnx_path = fixtures.save(fixtures.binary_mlp((16, 8, 10), seed=1), tmp_path / "m.onnx")
    _refused([str(onnx_path), "--target", "fpga", "-o", str(tmp_path / "o"), "--cost-model", str(model)], model,
             capsys, "cost-model version 7")


def test_a_failed_transaction_writes_nothing(tmp_path: Path) -> None:
    from bnncc.calibrate.measure import Result, Row

    with Store(str(tmp_path / "t.sqlite")) as store:
        run = store.start_run("test", "cpu", "host")
        rows = [Row("latency_s", 1.0, "cpu-measured", "t"), Row("latency_s", 2.0, "cpu-measured", "t")]  # duplicate
        with pytest.raises(sqlite3.IntegrityError):
            store.add_design("k", "n", "cpu", "host", {}, {}, {}, Result(rows, {}, 0.0, 0.0), run)
        assert store.counts() == {"designs": 0, "measurements": 0}


def test_heldout_networks_share_no_block_with_the_training_store() -> None:
    """The accuracy study's premise: the held-out set is the committed one and none of its measured compute
    blocks (same kind, parameters, fold, weight and threshold memories, generator and tools) is in the
    training store. FIFOs, width converters, sliding windows and pools hold no weights: one of the same
    geometry is the same hardware in any network, so those are left out of the comparison."""
    data = ROOT / "benchmarks" / "data"
    for committed in ("heldout.json", "heldout-equal-macs.json", "heldout-equal-macs-2.json"):
        body = json.loads((data / committed).read_text())
        digest = body.pop("sha256")
        assert space.spec_hash(body) == digest, committed
    body = json.loads((data / "heldout.json").read_text())  # and the generator still draws it from its seed
    assert space.held_out(body["seed"], body["count"], tuple(body["topologies"]), body["max_width"],
                          body["max_lanes"]) == body["designs"]
    stores = sorted(data.glob("heldout-*.sqlite"))
    assert len(stores) >= 3  # xc7z020, ECP5 and this host's CPU
    with Store(str(data / "cost-train.sqlite"), create=False) as t:
        train_keys = {r["block_key"] for r in t.rows(source="yosys") if r["block_key"]}
        train_designs = t.design_keys()
    for path in stores:
        with Store(str(path), create=False) as h:
            assert not train_designs & h.design_keys(), path.name
            if h.designs("fpga"):
                held = {r["block_key"] for r in h.rows(source="yosys") if r["block_key"] and r["kind"] in WEIGHTED}
                assert held and train_keys and not held & train_keys, path.name
