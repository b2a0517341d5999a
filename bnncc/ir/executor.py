"""The reference executor: the golden model every simulator is compared with.

Runs the host head, every integer layer (bit-packed XNOR-popcount for binary layers) and the host
tail on a batch of any size, and can keep every layer's integer output for "first differing layer"
messages.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from bnncc.errors import BnnccError
from bnncc.ir import ops
from bnncc.ir.graph import Graph


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
    if x.ndim == len(want):  # a single sample
        x = x[None]
    if tuple(x.shape[1:]) != want:
        raise BnnccError(f"input shape {list(x.shape)} does not match the model's [N, {', '.join(map(str, want))}]")
    if not np.issubdtype(x.dtype, np.number):
        raise BnnccError(f"input dtype {x.dtype} is not numeric")
    return x.astype(np.float32)


def run(graph: Graph, x: np.ndarray, trace: bool = False) -> Result:
    x = check_input(graph, x)
    env: dict[str, object] = {graph.input: x}
    kept: dict[str, np.ndarray] = {}
    last_hw = None
    outputs: list[np.ndarray] = []
    for n in graph.nodes:
        value = n.op.execute(env[n.input])
        env[n.output] = value
        if isinstance(n.op, ops.HostTail):
            outputs = value
        else:
            if trace:
                kept[n.output] = value
            last_hw = value
    if not outputs:  # the hardware's label select is the model's output
        outputs = [last_hw]
    kept["hardware_out"] = last_hw
    return Result(outputs, top1(graph, outputs[0]), kept if trace else {"hardware_out": last_hw})


def top1(graph: Graph, out: np.ndarray) -> np.ndarray:
    """Label-select output if the model has one, else argmax (ties to the lowest index)."""
    if isinstance(graph.nodes[-1].op, ops.LabelSelect) or np.issubdtype(out.dtype, np.integer):
        return out.reshape(out.shape[0], -1)[:, 0].astype(np.int64)
    return np.argmax(out.reshape(out.shape[0], -1), axis=-1)
