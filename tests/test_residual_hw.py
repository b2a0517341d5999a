"""Residual networks in hardware: forks and joins in the dataflow, the bypass FIFO the token model sizes
(checked by RTL simulation: one entry less loses the interval, below one image the design deadlocks), a
basic block through C simulation and RTL simulation with gaps and back-pressure, and Brevitas' ResNet
blocks through C simulation."""

from __future__ import annotations

import json

import numpy as np
import pytest
from qonnx_codes import images
from residual_models import conv, join_model, node, quant, residual_block, save

from bnncc.backends.fpga import rtl
from bnncc.cli import main
from bnncc.finn_zoo import brevitas_resnet
from bnncc.frontend import load
from bnncc.hw import dataflow, folding
from bnncc.hw.design import realize
from bnncc.ir.executor import run_hardware
from bnncc.sim import rtl as rtl_sim


@pytest.fixture(scope="module")
def block_model(tmp_path_factory) -> str:
    return residual_block(tmp_path_factory.mktemp("block") / "block.onnx")


def test_a_residual_block_becomes_a_fork_and_a_join(block_model):
    df = dataflow.build(load(block_model))
    kinds = [b.kind for b in df.blocks]
    assert kinds == ["fork", "swg", "mvau", "swg", "mvau", "add", "thresh"]
    into_add = sorted((e.src, e.src_port, e.dst_port) for e in df.edges if e.dst == 5)
    assert into_add == [(0, 1, 1), (4, 0, 0)]  # the long branch on port 0, the fork's bypass on port 1
    assert not df.is_chain


def _bypass(design) -> int:
    return next(k for k, e in enumerate(design.edges) if e.dst_port == 1)


def test_the_bypass_depth_is_the_smallest_that_keeps_the_interval(block_model, tmp_path):
    graph = load(block_model)
    df = dataflow.build(graph)
    fold = folding.complete(df)
    design = realize(df, fold)
    k = _bypass(design)
    chosen = [f.block.depth for f in design.fifos]
    model = design.token_model()

    def timing(depth: int):
        return model.solve(chosen[:k] + [depth] + chosen[k + 1:])

    # the token model, depth by depth: with a bypass below one image (32 words) the fork waits for a slot the
    # join frees only after the long branch's first word, which needs the whole image in its window buffer
    settles = [d for d in range(1, chosen[k] + 2) if timing(d).settled]
    keeps = [d for d in settles if timing(d).interval <= design.interval()]
    image = design.fifos[k].block.words
    assert settles[0] == image and keeps[0] == chosen[k] and chosen[k] > image
    assert timing(chosen[k] - 1).interval > design.interval()

    # RTL simulation, depth by depth where it matters
    values = np.random.default_rng(0).integers(0, 16, (6,) + graph.types[graph.head.output].shape)
    want = run_hardware(graph, values)["hardware_out"].reshape(len(values), -1)

    def rtl_at(depth: int):
        d = realize(df, fold, chosen[:k] + [depth] + chosen[k + 1:])
        root = tmp_path / f"depth{depth}"
        if not root.exists():
            rtl.write(root, d, "block")
        return d, root / "rtl"

    def finishes(depth: int) -> bool:
        d, root = rtl_at(depth)
        run = rtl_sim.simulate(root, d, values, max_cycles=40 * d.interval() + 2000)
        return len(run.outputs) == len(values) and all(len(o) == d.output_format.words for o in run.outputs)

    lo, hi = 2, chosen[k]  # the smallest depth whose simulation finishes, by bisection
    while lo < hi:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if finishes(mid) else (mid + 1, hi)
    # RTL blocks keep one word in their output register while the FIFO after them is full: the model, which
    # counts only the FIFO, is one word conservative about deadlock
    assert hi == image - 1 and not finishes(hi - 1)
    d, root = rtl_at(chosen[k])
    report = rtl_sim.verify(root, d, values, want)
    assert report["passed"] and report["efficiency"] >= 0.99
    d, root = rtl_at(chosen[k] - 1)
    slower = rtl_sim.verify(root, d, values, want)
    assert slower["passed"] and slower["cycles_per_image"] > design.interval() * 1.01


def test_a_residual_block_is_bit_exact_in_csim_and_rtl_sim_and_synthesizes(block_model, tmp_path, capsys):
    out = tmp_path / "out"
    code = main([block_model, "--target", "fpga", "--csim", "--rtl", "--sim", "--synth", "-o", str(out), "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0
    assert {"fork0", "add0", "fifo_add0_1"} <= set(report["measured"]["per_block"])  # Yosys maps the new kinds
    v = report["verification"]
    assert v["csim"]["passed"] and v["csim"]["vectors"] >= 10
    assert v["rtl_sim"]["passed"] and v["rtl_sim"]["efficiency"] >= 0.95
    depths = json.loads((out / "folding.json").read_text())["blocks"]["add0"]["in_fifo_depths"]
    assert depths[1] > depths[0]  # the bypass holds what the long branch is still working on


def test_brevitas_resnet_blocks_c_simulate_bit_exactly(tmp_path, capsys):
    path = tmp_path / "tiny.onnx"
    brevitas_resnet(path, "resnet_tiny_4w4a", seed=0, scales="random")
    np.save(tmp_path / "x.npy", images(8, 16, seed=2))
    out = tmp_path / "out"
    code = main([str(path), "--target", "fpga", "--input-codes", "uint8", "--input-scale", "1/255", "--csim",
                 "--input", str(tmp_path / "x.npy"), "-o", str(out), "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and report["verification"]["csim"]["passed"]
    kinds = [b["kind"] for b in report["estimate"]["blocks"]]
    assert kinds.count("add") == 2 and kinds.count("fork") == 2 and "pool" in kinds


def test_a_residual_block_is_bit_exact_on_the_ideal_crossbars(block_model, tmp_path, capsys):
    out = tmp_path / "rram"
    code = main([block_model, "--target", "rram", "--sim", "-o", str(out), "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and report["verification"]["crossbar_sim"]["passed"]
    mapping = json.loads((out / "rram" / "mapping.json").read_text())
    assert mapping["version"] == 2
    add = next(s for s in mapping["stages"] if s["op"] == "add")
    assert add["weights"] == [1, 1] and add["inputs"] == [6, 0]


def test_the_residual_zoo_model_trains_exports_and_c_simulates(tmp_path, capsys):
    onnx_path = tmp_path / "resnet.onnx"
    assert main(["train", "--model", "resnet", "--dataset", "mnist5k", "--epochs", "1", "--quiet", "-o",
                 str(onnx_path)]) == 0
    import onnx

    from bnncc.export import is_exact

    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert is_exact(onnx.load(str(onnx_path))) and metrics["test_accuracy"] > 0.5  # checked bit-exact in export
    graph = load(str(onnx_path))
    adds = [n.op for n in graph.nodes if type(n.op).__name__ == "Add"]
    assert [(a.wa, a.wb) for a in adds] == [(1, 1), (1, 1)]  # one grid on both sides of every join
    capsys.readouterr()
    code = main([str(onnx_path), "--target", "fpga", "--fps", "5000", "--csim", "-o", str(tmp_path / "out"),
                 "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and report["verification"]["csim"]["passed"]


def test_a_channel_concat_is_bit_exact_in_csim_rtl_sim_and_on_crossbars(tmp_path, capsys):
    model = join_model(tmp_path / "concat.onnx", 0.25, 0.25, after="output", op="Concat")
    code = main([model, "--target", "fpga", "--csim", "--rtl", "--sim", "-o", str(tmp_path / "fpga"), "--json"])
    v = json.loads(capsys.readouterr().out)["verification"]
    assert code == 0 and v["csim"]["passed"] and v["rtl_sim"]["passed"] and v["rtl_sim"]["efficiency"] >= 0.95
    code = main([model, "--target", "rram", "--sim", "-o", str(tmp_path / "rram"), "--json"])
    assert code == 0 and json.loads(capsys.readouterr().out)["verification"]["crossbar_sim"]["passed"]


@pytest.mark.parametrize("signed", [0, 1])
def test_an_average_pool_is_bit_exact_in_csim_and_rtl_sim(tmp_path, capsys, signed):
    # the pool block's sum mode: a 2x2 average of 4-bit codes (exact, the 1/4 folded into the next thresholds)
    parts = [quant("q0", "x", "x0", 0.5), conv("c", "x0", "a", 2, 2, 3), quant("qa", "a", "qa", 0.5, signed=signed),
             node("AveragePool", ["qa"], "m", "avg", kernel_shape=[2, 2], strides=[2, 2]),
             quant("qm", "m", "y", 0.25, signed=signed)]
    model = save(tmp_path / "avg.onnx", parts, (1, 2, 2, 2))
    code = main([model, "--target", "fpga", "--csim", "--rtl", "--sim", "-o", str(tmp_path / "fpga"), "--json"])
    report = json.loads(capsys.readouterr().out)
    v = report["verification"]
    assert code == 0 and v["csim"]["passed"] and v["rtl_sim"]["passed"]
    assert "pool" in [b["kind"] for b in report["estimate"]["blocks"]]
