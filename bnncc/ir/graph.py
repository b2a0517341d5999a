"""The two graph levels of bnncc.

`FloatGraph` is the imported ONNX-level graph (float ops, constants folded by passes).
`Graph` is the lowered IR: a host head, integer hardware ops and a host tail, each node an op
object from `bnncc.ir.ops` whose type inference, semantics and structure sit side by side.
Tensor shapes in both are per sample: the batch is always axis 0 at run time and never stored.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from bnncc.errors import BnnccError, quote
from bnncc.ir.dtypes import DataType
from bnncc.ir.float_ops import FloatNode


def consumers(nodes: list) -> dict[str, list]:
    """Tensor name -> the nodes that read it, in node order (FloatNodes or Nodes alike)."""
    out: dict[str, list] = {}
    for n in nodes:
        for i in n.inputs:
            users = out.get(i)
            if users is None:
                out[i] = [n]
            else:
                users.append(n)
    return out


@dataclass
class FloatGraph:
    path: str
    nodes: list[FloatNode]
    consts: dict[str, np.ndarray]
    input: str
    input_shape: tuple[int, ...]  # including the batch dimension the file declares
    outputs: list[str]
    shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)  # traced, batch included
    dtypes: dict[str, np.dtype] = field(default_factory=dict)  # traced

    def consumers(self) -> dict[str, list[FloatNode]]:
        return consumers(self.nodes)


@dataclass(frozen=True)
class TensorType:
    shape: tuple[int, ...]
    dtype: DataType

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    def __str__(self) -> str:
        rng = "" if self.dtype.is_float or self.dtype.name in ("bipolar", "binary", "ternary", "int64") else (
            f"<{self.dtype.min}..{self.dtype.max}>")
        return f"{self.dtype}{rng}[{','.join(map(str, self.shape))}]"


@dataclass
class Node:
    """One IR op applied to named tensors. Most ops read one tensor and write one; the executor, the
    passes and the printer treat every node as many-in, many-out."""

    op: object  # an op from bnncc.ir.ops
    inputs: list[str]
    outputs: list[str]
    source: list[str] = field(default_factory=list)  # names of the ONNX nodes it came from

    @property
    def host(self) -> bool:
        return bool(getattr(self.op, "host", False))

    @property
    def input(self) -> str:
        """The one input of a single-input node."""
        if len(self.inputs) != 1:
            raise ValueError(f"{type(self.op).__name__} has {len(self.inputs)} inputs")
        return self.inputs[0]

    @property
    def output(self) -> str:
        """The one output of a single-output node."""
        if len(self.outputs) != 1:
            raise ValueError(f"{type(self.op).__name__} has {len(self.outputs)} outputs")
        return self.outputs[0]

    def describe(self) -> str:
        """The node for a one-line message: its op and the ONNX nodes it came from."""
        names = ", ".join(quote(s) for s in self.source)
        return f"{type(self.op).__name__}" + (f" (from {names})" if names else "")


@dataclass
class Graph:
    """The lowered IR: a DAG of nodes in topological order over tensors with exact types."""

    path: str
    input: str
    input_type: TensorType
    nodes: list[Node]
    types: dict[str, TensorType]
    onnx_outputs: list[str]  # the model's output names (never printed: names from a model stay out)

    @property
    def hardware(self) -> list[Node]:
        return [n for n in self.nodes if not n.host]

    @property
    def head(self) -> Node:
        """The host head: the node that reads the model input."""
        return next(n for n in self.nodes if self.input in n.inputs)

    @property
    def outputs(self) -> list[str]:
        """Tensors no node reads, in node order (for a chain: the last node's output)."""
        read = {i for n in self.nodes for i in n.inputs}
        return [o for n in self.nodes for o in n.outputs if o not in read]

    def consumers(self) -> dict[str, list[Node]]:
        return consumers(self.nodes)

    def retype(self) -> None:
        """Infer every tensor's type again, in topological order (after a pass changed ops)."""
        for n in self.nodes:
            types = n.op.infer(*(self.types[i] for i in n.inputs))
            for o, t in zip(n.outputs, types if isinstance(types, tuple) else (types,), strict=True):
                self.types[o] = t

    def chain(self, what: str, nodes: list[Node] | None = None) -> list[Node]:
        """`nodes` (default: all) if each reads exactly the tensor the one before it wrote and no tensor
        feeds two nodes; otherwise a BnnccError naming the first node where the graph branches or joins."""
        nodes = self.nodes if nodes is None else nodes
        consumers = self.consumers()
        for prev, n in zip(nodes, nodes[1:], strict=False):
            if len(n.inputs) != 1 or len(prev.outputs) != 1 or n.inputs[0] != prev.outputs[0]:
                raise BnnccError(f"{self.path}: node {n.describe()} joins several tensors; {what} supports only "
                                 "chains of layers (residual networks are not supported yet)")
            if len(consumers.get(prev.outputs[0], [])) > 1:
                raise BnnccError(f"{self.path}: node {prev.describe()} feeds several nodes; {what} supports only "
                                 "chains of layers (residual networks are not supported yet)")
        return nodes

    def __str__(self) -> str:
        lines = [f"graph {quote(self.path)}", f"  input  {self.input}: {self.input_type}"]
        for n in self.nodes:
            side = "host" if n.host else "hw  "
            outs = ", ".join(f"{o}: {self.types[o]}" for o in n.outputs)
            lines.append(f"  {side}  {outs} = {n.op}({', '.join(n.inputs)})")
        lines.append(f"  output {', '.join(self.outputs)}")
        return "\n".join(lines)
