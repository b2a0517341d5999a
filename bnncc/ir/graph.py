"""The two graph levels of bnncc.

`FloatGraph` is the imported ONNX-level graph (float ops, constants folded by passes).
`Graph` is the lowered IR: a host head, integer hardware ops and a host tail, each node an op
object from `bnncc.ir.ops` whose type inference, semantics and structure sit side by side.
Tensor shapes in both are per sample: the batch is always axis 0 at run time and never stored.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from bnncc.ir.dtypes import DataType
from bnncc.ir.float_ops import FloatNode


def quote(name: str) -> str:
    """A model-supplied name made safe for a one-line message or a comment."""
    return repr(name).replace("*/", "*\\/")


@dataclass
class FloatGraph:
    path: str
    nodes: list[FloatNode]
    consts: dict[str, np.ndarray]
    input: str
    input_shape: tuple[int, ...]  # including the batch dimension the file declares
    outputs: list[str]
    shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)  # traced, batch included

    def producer(self) -> dict[str, FloatNode]:
        return {o: n for n in self.nodes for o in n.outputs}

    def consumers(self) -> dict[str, list[FloatNode]]:
        out: dict[str, list[FloatNode]] = {}
        for n in self.nodes:
            for i in n.inputs:
                out.setdefault(i, []).append(n)
        return out


@dataclass(frozen=True)
class TensorType:
    shape: tuple[int, ...]
    dtype: DataType

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    def __str__(self) -> str:
        rng = "" if self.dtype.is_float or self.dtype.name in ("bipolar", "binary", "ternary") else (
            f"<{self.dtype.min}..{self.dtype.max}>")
        return f"{self.dtype}{rng}[{','.join(map(str, self.shape))}]"


@dataclass
class Node:
    op: object  # an op from bnncc.ir.ops
    input: str
    output: str
    source: list[str] = field(default_factory=list)  # names of the ONNX nodes it came from

    @property
    def host(self) -> bool:
        return bool(getattr(self.op, "host", False))


@dataclass
class Graph:
    path: str
    input: str
    input_type: TensorType
    nodes: list[Node]
    types: dict[str, TensorType]
    onnx_outputs: list[str]  # the model's output names (never printed: names from a model stay out)

    @property
    def hardware(self) -> list[Node]:
        return [n for n in self.nodes if not n.host]

    def __str__(self) -> str:
        lines = [f"graph {quote(self.path)}", f"  input  {self.input}: {self.input_type}"]
        for n in self.nodes:
            side = "host" if n.host else "hw  "
            lines.append(f"  {side}  {n.output}: {self.types[n.output]} = {n.op}({n.input})")
        lines.append(f"  output {self.nodes[-1].output}")
        return "\n".join(lines)
