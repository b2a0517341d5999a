"""The reference executor: the golden model every simulator is compared with.

Runs the host head, every integer layer (bit-packed XNOR-popcount for binary layers) and the host
tail on a batch of any size, node by node in topological order over named tensors, and can keep
every node's integer output for "first differing layer" messages. `run_hardware` starts at the
hardware boundary, from integer values.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from bnncc.errors import BnnccError
from bnncc.ir import ops
from bnncc.ir.graph import Graph, Node


@dataclass
class Result:
    outputs: list[np.ndarray]  # the model's outputs, ONNX order and layout
    labels: np.ndarray  # top-1 class per input
    trace: dict[str, np.ndarray] = field(default_factory=dict)  # tensor name -> batch of values

    @property
    def hardware_out(self) -> np.ndarray:
        """The last integer tensor that leaves the hardware (accumulators or labels)."""
        return self.trace["hardware_out"]


def check_input(graph: Graph, x: np.ndarray) -> np.ndarray:
    want = graph.input_type.shape
    x = np.asarray(x)
    given = list(x.shape)
    if x.ndim == len(want) and tuple(x.shape) == want:  # a single sample
        x = x[None]
    if tuple(x.shape[1:]) != want:
        raise BnnccError(f"input of shape {given} does not match the model's [N, {', '.join(map(str, want))}]")
    if len(x) == 0:
        raise BnnccError("the input batch is empty")
    if np.iscomplexobj(x) or not np.issubdtype(x.dtype, np.number):
        raise BnnccError(f"input dtype {x.dtype} is not real numbers")
    x = np.asarray(x, dtype=np.float32)  # no copy when it already is
    bad = np.flatnonzero(~np.isfinite(x.reshape(-1)))
    if bad.size:
        where = np.unravel_index(bad[0], x.shape)
        raise BnnccError(f"input element {list(map(int, where))} is {x[where]}; inputs must be finite "
                         "(also after conversion to float32)")
    return x


def execute(nodes: list[Node], env: dict[str, np.ndarray], keep: set[str] | None = None) -> dict[str, np.ndarray]:
    """Run `nodes` (topological order) on the tensors in `env`; returns env with every output added. With
    `keep`, a tensor is dropped once its last reader has run unless it is in `keep` (a large batch then
    holds a few layers' tensors, not all of them)."""
    last = {i: k for k, n in enumerate(nodes) for i in n.inputs}
    for k, n in enumerate(nodes):
        value = n.op.execute(*(env[i] for i in n.inputs))
        for name, v in zip(n.outputs, value if isinstance(value, tuple) else (value,), strict=True):
            env[name] = v
        if keep is not None:
            for i in n.inputs:
                if last[i] == k and i not in keep:
                    env.pop(i, None)
    return env


def hardware_output(graph: Graph) -> str:
    """The tensor that leaves the hardware: the host tail's input, else the last hardware output."""
    tail = [n for n in graph.nodes if isinstance(n.op, ops.HostTail)]
    return tail[0].input if tail else graph.hardware[-1].outputs[-1]


BATCH_BYTES = 1 << 22  # a batch runs in slices whose widest float32 tensor stays near 4 MB


def batch_slice(graph: Graph) -> int:
    """Images per slice of a large batch: the slice's tensors stay small enough to be reused from the
    allocator's heap instead of being mapped (and page-faulted) afresh for every layer."""
    widest = max(t.size for t in graph.types.values())
    return max(1, BATCH_BYTES // (4 * widest))


def run(graph: Graph, x: np.ndarray, trace: bool = False) -> Result:
    x = check_input(graph, x)
    rows = batch_slice(graph)
    parts = [_run_slice(graph, x[i:i + rows], trace) for i in range(0, max(len(x), 1), rows)]
    if len(parts) == 1:
        return parts[0]
    outputs = [np.concatenate([p.outputs[k] for p in parts]) for k in range(len(parts[0].outputs))]
    kept = {k: np.concatenate([p.trace[k] for p in parts]) for k in parts[0].trace}
    return Result(outputs, np.concatenate([p.labels for p in parts]), kept)


def _run_slice(graph: Graph, x: np.ndarray, trace: bool) -> Result:
    tail = [o for n in graph.nodes if isinstance(n.op, ops.HostTail) for o in n.outputs]
    keep = None if trace else {hardware_output(graph), *tail}
    env = execute(graph.nodes, {graph.input: x}, keep)
    # without a tail, the hardware's label select is the output
    outputs = [env[o] for o in tail] if tail else [env[hardware_output(graph)]]
    kept = {k: v for k, v in env.items() if k != graph.input and k not in tail} if trace else {}
    kept["hardware_out"] = env[hardware_output(graph)]
    return Result(outputs, top1(graph, outputs[0]), kept)


def run_hardware(graph: Graph, values: np.ndarray) -> dict[str, np.ndarray]:
    """Trace of the hardware part alone, from the integer values the host head would send."""
    hw = graph.hardware
    env = execute(hw, {hw[0].inputs[0]: np.asarray(values, dtype=np.int64)})
    env["hardware_out"] = env[hardware_output(graph)]
    return env


def top1(graph: Graph, out: np.ndarray) -> np.ndarray:
    """Label-select output if the model has one, else argmax (ties to the lowest index)."""
    if isinstance(graph.nodes[-1].op, ops.LabelSelect) or np.issubdtype(out.dtype, np.integer):
        return out.reshape(out.shape[0], -1)[:, 0].astype(np.int64)
    return np.argmax(out.reshape(out.shape[0], -1), axis=-1)
