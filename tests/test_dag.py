"""The IR is a DAG: the executor walks a fork and a join exactly, passes follow every path, the FPGA dataflow
forks and joins streams, and the RRAM mapping names each stage's inputs."""

from __future__ import annotations

import numpy as np
import pytest

from bnncc.errors import BnnccError
from bnncc.ir import ops
from bnncc.ir.dtypes import BIPOLAR, int_type
from bnncc.ir.executor import run_hardware
from bnncc.ir.graph import Graph, Node, TensorType


def branching_graph(seed: int = 0) -> tuple[Graph, list[np.ndarray]]:
    """x -> A -> t0 -> {B -> t1, C -> t2} -> Add(t1, t2) -> t3 (a fork and a join)."""
    rng = np.random.default_rng(seed)
    ws = [rng.integers(-3, 4, (8, 6)), rng.integers(-2, 3, (6, 5)), rng.integers(-1, 2, (6, 5))]
    grid = ops.WeightGrid("int", -3, 3)
    nodes = [Node(ops.MatMul(ws[0], grid), ["x"], ["t0"], ["a"]), Node(ops.MatMul(ws[1], grid), ["t0"], ["t1"], ["b"]),
             Node(ops.MatMul(ws[2], grid), ["t0"], ["t2"], ["c"]), Node(ops.Add(), ["t1", "t2"], ["t3"], ["join"])]
    x = TensorType((8,), int_type(-4, 3))
    graph = Graph("dag-test", "x", x, nodes, {"x": x}, ["y"])
    graph.retype()
    return graph, ws


def test_fork_and_join_execute_exactly():
    graph, (a, b, c) = branching_graph()
    x = np.random.default_rng(1).integers(-4, 4, (50, 8))
    trace = run_hardware(graph, x)
    t0 = x @ a
    assert np.array_equal(trace["t0"], t0)
    assert np.array_equal(trace["t3"], t0 @ b + t0 @ c)
    assert np.array_equal(trace["hardware_out"], trace["t3"])
    t3 = graph.types["t3"].dtype
    lo1, hi1 = graph.types["t1"].dtype.min, graph.types["t1"].dtype.max
    lo2, hi2 = graph.types["t2"].dtype.min, graph.types["t2"].dtype.max
    assert (t3.min, t3.max) == (lo1 + lo2, hi1 + hi2)
    assert trace["t3"].min() >= t3.min and trace["t3"].max() <= t3.max
    assert graph.outputs == ["t3"]
    assert "t3: " in str(graph) and "= Add(t1, t2)" in str(graph)


def test_add_refuses_mismatched_shapes():
    with pytest.raises(BnnccError, match=r"Add of shapes \[3\] and \[4\]"):
        ops.Add().infer(TensorType((3,), BIPOLAR), TensorType((4,), BIPOLAR))


def test_chain_check_names_the_branching_node():
    graph, _ = branching_graph()
    with pytest.raises(BnnccError, match=r"node MatMul \(from 'a'\) feeds several nodes; the test supports only "
                                         r"chains"):
        graph.chain("the test")
    straight = Graph("chain", "x", graph.input_type, graph.nodes[:2], dict(graph.types), ["y"])
    assert straight.chain("the test") == straight.nodes


def test_the_fpga_dataflow_forks_and_joins():
    from bnncc.hw import dataflow

    graph, _ = branching_graph()
    df = dataflow.build(graph)
    assert [b.kind for b in df.blocks] == ["mvau", "fork", "mvau", "mvau", "add"]
    assert sorted((e.src, e.src_port, e.dst, e.dst_port) for e in df.edges) == [
        (0, 0, 1, 0), (1, 0, 2, 0), (1, 1, 3, 0), (2, 0, 4, 0), (3, 0, 4, 1)]


def test_the_rram_mapping_names_every_stage_input(tmp_path):
    from residual_models import residual_block

    from bnncc.backends.rram.config import RramConfig
    from bnncc.backends.rram.mapper import map_graph
    from bnncc.frontend import load

    stages = map_graph(load(residual_block(tmp_path / "block.onnx")), RramConfig()).to_json()["stages"]
    assert [(s["op"], s["index"], s["inputs"]) for s in stages] == [
        ("window", 1, [0]), ("matrix", 2, [1]), ("threshold", 3, [2]), ("window", 4, [3]), ("matrix", 5, [4]),
        ("threshold", 6, [5]), ("add", 7, [6, 0]), ("threshold", 8, [7])]
