"""The HLS backend: projects that compile, C-simulate bit-exactly against the executor under
different foldings, carry the pragmas, stay deterministic, and keep model names out."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
from brevitas_models import binary_cnn as brevitas_cnn

from bnncc import fixtures
from bnncc.backends.fpga.driver import FpgaBackend, FpgaOptions, hardware_inputs, plan
from bnncc.cli import main
from bnncc.data.mnist import load_mnist5k
from bnncc.errors import BnnccError
from bnncc.frontend import load
from bnncc.hw import dataflow
from bnncc.ir.executor import run_hardware
from bnncc.sim import csim

FPGA = FpgaBackend()
FINN = "../shared/models/finn-tfc-w1a1"
ZOO = "../shared/models/qonnx-zoo-tfc"


def _save(tmp_path: Path, model, name: str = "m") -> str:
    path = str(tmp_path / f"{name}.onnx")
    fixtures.save(model, path)
    return path


def _folding(path: str, mode: str, tmp_path: Path, seed: int = 0) -> str:
    """A folding file: fully folded, the most parallel legal folding, or a seeded random one."""
    df = dataflow.build(load(path))
    rng = np.random.default_rng(seed)
    blocks = {}
    for b in df.blocks:
        options = b.options()
        if mode == "folded":
            blocks[b.name] = min(options, key=lambda o: sum(o.values()))
        elif mode == "parallel":
            blocks[b.name] = max(options, key=lambda o: sum(o.values()))
        else:
            blocks[b.name] = options[int(rng.integers(len(options)))]
    f = tmp_path / f"folding_{mode}.json"
    f.write_text(json.dumps({"format": "bnncc-folding", "version": 1, "blocks": blocks}))
    return str(f)


def _compile(path: str, tmp_path: Path, **kw) -> tuple[dict, int]:
    kw.setdefault("out", str(tmp_path / "out"))
    kw.setdefault("part", "xcu250-figd2104-2L-e")
    report = FPGA.compile(load(path), FpgaOptions(**kw))
    return report, FPGA.exit_code(report)


def test_finn_tfc_with_finn_folding(tmp_path):
    x = np.load(f"{FINN}/input.npy")
    report, code = _compile(f"{FINN}/model.onnx", tmp_path, folding=f"{FINN}/folding_config.json", csim=True,
                            input=x, part="xc7z020clg400-1")
    assert code == 0 and report["verification"]["csim"] == {"passed": True, "vectors": 4, "mismatches": 0}
    assert any("'MVA_hls_3'" in w for w in report["warnings"])
    # ram_style comes back as the file gave it; the mistyped MVA_hls_3 entry (and its ram_style) is ignored
    assert report["folding"]["mvau0"] == {"PE": 16, "SIMD": 49, "ram_style": "block"}
    assert report["folding"]["mvau3"] == {"PE": 1, "SIMD": 1}
    blocks = {r["block"]: r["cycles"] for r in report["estimate"]["blocks"]}
    assert [blocks[f"mvau{i}"] for i in range(4)] == [64, 64, 64, 640]  # FINN's estimate, typo fallback included
    assert report["estimate"]["cycles_per_image"] == 640  # no 784-cycle input reshape
    out = (tmp_path / "out" / "hls" / "tb" / "tb_data" / "expected.txt").read_text().split()
    assert out == ["7", "2", "1", "0"]
    with pytest.raises(BnnccError, match="MVA_hls_3.*strict-folding"):
        _compile(f"{FINN}/model.onnx", tmp_path, out=str(tmp_path / "o2"), folding=f"{FINN}/folding_config.json",
                 strict_folding=True)
    assert not (tmp_path / "o2").exists()


@pytest.mark.parametrize("name", ["TFC_1W1A", "TFC_1W2A", "TFC_2W2A"])
def test_qonnx_zoo_csim_on_500_mnist_images(tmp_path, name):
    x, _ = load_mnist5k(seed=0)
    pick = np.random.default_rng(7).choice(len(x), 500, replace=False)
    report, code = _compile(f"{ZOO}/{name}.onnx", tmp_path, csim=True, input=x[pick] / 255.0,
                            folding=_folding(f"{ZOO}/{name}.onnx", "random", tmp_path, seed=3))
    assert code == 0 and report["verification"]["csim"] == {"passed": True, "vectors": 500, "mismatches": 0}


def _models(tmp_path: Path) -> dict[str, str]:
    brevitas = str(tmp_path / "brevitas_cnn.onnx")
    brevitas_cnn(brevitas, seed=1)
    return {"brevitas_cnn": brevitas, "binary_cnn_in8": _save(tmp_path, fixtures.binary_cnn(seed=2, input_bits=8)),
            "pow2_k2": _save(tmp_path, fixtures.pow2_mlp(k=2, seed=2), "pow2"),
            "shiftadd": _save(tmp_path, fixtures.shiftadd_mlp(seed=2), "shiftadd"),
            "shiftadd_cnn": _save(tmp_path, fixtures.shiftadd_cnn(seed=2), "shiftadd_cnn")}


@pytest.mark.parametrize("mode", ["folded", "parallel", "random"])
@pytest.mark.parametrize("name", ["brevitas_cnn", "binary_cnn_in8", "pow2_k2", "shiftadd", "shiftadd_cnn"])
def test_csim_bit_exact_under_three_foldings(tmp_path, name, mode):
    path = _models(tmp_path)[name]
    report, code = _compile(path, tmp_path, csim=True, vectors=24, folding=_folding(path, mode, tmp_path, seed=11))
    assert code == 0 and report["verification"]["csim"]["passed"], report["verification"]
    assert report["verification"]["csim"]["vectors"] == 26


def test_pragmas_and_strict_compile(tmp_path):
    path = _save(tmp_path, fixtures.binary_cnn(seed=0))
    _compile(path, tmp_path, folding=_folding(path, "random", tmp_path), ap_ctrl="hs")
    fw = tmp_path / "out" / "hls" / "firmware"
    top = (fw / "bnncc_top.cpp").read_text()
    for pragma in ("#pragma HLS DATAFLOW", "#pragma HLS INTERFACE axis port=in", "#pragma HLS INTERFACE axis port=out",
                   "#pragma HLS INTERFACE ap_ctrl_hs port=return"):
        assert pragma in top
    streams = re.findall(r"hls::stream<ap_uint<\d+> > (s\d+)", top)
    assert streams and all(f"#pragma HLS STREAM variable={s} depth=" in top for s in streams)
    assert "#pragma HLS ARRAY_PARTITION variable=w_mvau0 complete dim=2" in top
    # Every loop of the layer library is either pipelined at II=1 or unrolled inside a pipelined loop.
    lib = (fw / "bnncc_layers.h").read_text().splitlines()
    loops = [i for i, line in enumerate(lib) if line.strip().startswith("for (")]
    assert loops and all(re.match(r"#pragma HLS (PIPELINE II=1|UNROLL)$", lib[i + 1].strip()) for i in loops)
    code = re.sub(r"//[^\n]*", "", "\n".join(lib) + top)
    for banned in (r"std::", r"\bnew\b", r"\bmalloc\b", r"\bfloat\b", r"\bdouble\b", r"#include <(?!stdint\.h>)"):
        assert not re.search(banned, code), banned
    from bnncc.sim.csim import ap_types_dir

    cmd = ["g++", "-std=c++14", "-Wall", "-Wextra", "-Werror", "-Wno-unknown-pragmas", "-isystem", str(ap_types_dir()),
           "-I", str(fw), "-c", str(fw / "bnncc_top.cpp"), "-o", str(tmp_path / "top.o")]
    assert subprocess.run(cmd, capture_output=True, text=True).returncode == 0


def test_mismatch_names_first_differing_layer(tmp_path):
    path = _save(tmp_path, fixtures.binary_mlp(seed=4))
    _compile(path, tmp_path)
    hls = tmp_path / "out" / "hls"
    header = hls / "firmware" / "params" / "w_mvau1.h"
    # flip the lowest weight bit of every row of layer 1
    header.write_text(re.sub(r"0x([0-9a-f]+)ULL", lambda m: f"0x{int(m.group(1), 16) ^ 1:x}ULL", header.read_text()))
    graph = load(path)
    values = hardware_inputs(graph, FpgaOptions(vectors=16))
    result = csim.run(hls, plan(graph, FpgaOptions()).design, values, run_hardware(graph, values))
    assert not result.passed and result.mismatches > 0
    assert result.first_layer.startswith("mvau1 ")


def test_reading_an_empty_stream_fails(tmp_path):
    path = _save(tmp_path, fixtures.binary_mlp(seed=5))
    _compile(path, tmp_path)
    hls = tmp_path / "out" / "hls"
    top_h = hls / "firmware" / "bnncc_top.h"
    words = int(re.search(r"#define BNNCC_IN_WORDS (\d+)", top_h.read_text()).group(1))
    top_h.write_text(top_h.read_text().replace(f"BNNCC_IN_WORDS {words}", f"BNNCC_IN_WORDS {words - 1}"))
    graph = load(path)
    values = hardware_inputs(graph, FpgaOptions(vectors=2))
    result = csim.run(hls, plan(graph, FpgaOptions()).design, values, run_hardware(graph, values))
    assert not result.passed and "read while empty" in result.first_mismatch


def test_hostile_names_compile_simulate_and_stay_out(tmp_path):
    model = fixtures.with_hostile_names(fixtures.binary_cnn(seed=3), rename_input=True)
    path = _save(tmp_path, model, "hostile")
    report, code = _compile(path, tmp_path, csim=True, vectors=8)
    assert code == 0 and report["verification"]["csim"]["passed"]
    out = tmp_path / "out"
    for f in out.rglob("*"):
        assert re.fullmatch(r"[A-Za-z0-9_.-]+", f.name), f
        if f.is_file() and f.name != "report.json":
            text = f.read_text()
            for token in ("'$[{", "../*/", "\"'$", "fn:", "n0:"):
                assert token not in text, (f, token)


def test_identical_inputs_give_identical_trees(tmp_path):
    path = _save(tmp_path, fixtures.binary_cnn(seed=6))
    trees = []
    for out in ("a", "b"):
        _compile(path, tmp_path, out=str(tmp_path / out), csim=True, vectors=4, fps=2000, clock_ns=5.0)
        root = tmp_path / out
        trees.append({str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()})
    assert trees[0] == trees[1] and len(trees[0]) > 10


def test_json_equals_report_and_exit_codes(tmp_path, capsys):
    path = _save(tmp_path, fixtures.int_mlp(seed=1))
    out = str(tmp_path / "o")
    assert main([path, "--target", "fpga", "-o", out, "--csim", "--json", "--part", "xczu3eg-sbva484-1-e"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads((tmp_path / "o" / "report.json").read_text())
    est = printed["estimate"]
    for key in ("cycles_per_image", "latency_cycles", "fps", "lut", "ff", "bram18", "dsp"):
        assert est[key] >= 0
    assert printed["verification"]["csim"]["passed"] and printed["warnings"] == []
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"format": "bnncc-folding", "blocks": {"mvau0": {"PE": 5, "SIMD": 1}}}))
    assert main([path, "--target", "fpga", "-o", str(tmp_path / "o3"), "--folding", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "mvau0: PE=5 must be a positive integer dividing MH=32" in err and not (tmp_path / "o3").exists()


def test_fps_chooses_cheapest_folding_and_refuses_the_impossible(tmp_path, capsys):
    path = f"{ZOO}/TFC_1W1A.onnx"
    report, _ = _compile(path, tmp_path, fps=100_000, clock_ns=10.0)
    est = report["estimate"]
    assert est["fps"] >= 100_000 and est["cycles_per_image"] <= 1000
    code = main([path, "--target", "fpga", "-o", str(tmp_path / "x"), "--fps", "1e9"])
    assert code == 2 and "reaches at most" in capsys.readouterr().err
    # unfolded, the 2-bit TFC is several times the part (the binary one sits near its size, where a refit can
    # move the estimate to either side)
    code = main([f"{ZOO}/TFC_2W2A.onnx", "--target", "fpga", "-o", str(tmp_path / "y"), "--fps", "5e7", "--part",
                 "xc7z020clg400-1"])
    err = capsys.readouterr().err
    assert code == 2 and "does not fit xc7z020clg400-1" in err and err.count("\n") == 1


def test_an_estimate_beyond_the_calibration_says_so(tmp_path, capsys):
    """Unfolded, the binary TFC's first layer has 25,088 XNOR lanes, hundreds of times what the shipped model was
    fitted on (Yosys: 62,903 LUT for the design, the model 33,436): the compile names the blocks and terms."""
    path = f"{ZOO}/TFC_1W1A.onnx"
    wide = ["--fps", "5e7", "--part", "xcu250-figd2104-2L-e"]  # a part it fits under any model
    assert main([path, "--target", "fpga", "-o", str(tmp_path / "wide"), *wide]) == 0
    note = next(line for line in capsys.readouterr().err.splitlines() if "extrapolates" in line)
    assert "mvau0 (" in note and "lut.adder_tree" in note
    report = json.loads((tmp_path / "wide" / "report.json").read_text())
    assert "mvau0" in report["estimate"]["beyond_calibration"]
    assert main([path, "--target", "fpga", "-o", str(tmp_path / "folded"), "--fps", "1000"]) == 0
    assert "extrapolates" not in capsys.readouterr().err
    assert "beyond_calibration" not in json.loads((tmp_path / "folded" / "report.json").read_text())["estimate"]


@pytest.mark.parametrize("builder,fps", [(fixtures.lfc, 20_000), (fixtures.cnv, 500)], ids=["lfc", "cnv"])
def test_finn_sized_models_compile_and_simulate(tmp_path, builder, fps):
    path = _save(tmp_path, builder(0))
    report, code = _compile(path, tmp_path, fps=fps, csim=True, vectors=2, part="xczu7ev-ffvc1156-2-e")
    assert code == 0 and report["verification"]["csim"]["passed"]


def test_relative_output_directory(tmp_path, monkeypatch, capsys):
    path = _save(tmp_path, fixtures.binary_mlp(seed=8))
    monkeypatch.chdir(tmp_path)
    assert main([path, "--target", "fpga", "-o", "rel/out", "--csim"]) == 0
    assert "csim: passed" in capsys.readouterr().err and (tmp_path / "rel" / "out" / "report.json").is_file()
    assert [p.name for p in (tmp_path / "rel").iterdir()] == ["out"]  # no temporary directory left behind
