"""torch (``bnncc.nn``) -> the bnncc ONNX dialect (docs/onnx-dialect.md).

The exporter walks the model's layer chain and emits each layer's dialect pattern through the
shared ``bnncc.onnx_writer`` (the writer the fixtures use), with the very tensors the eval-mode
forward uses: ±1 / power-of-two / grid weights as computed by the layers, BatchNorm as the
float32 (a, b) of ``BatchNorm.folded()``. It does not trace torch (no ``torch.onnx``): tracing
would emit torch's own op choices (Gemm, BatchNormalization, Sign), which the dialect forbids.

Exactness: the model records, as metadata ``bnncc.exact``, whether float32 computes every linear
layer's integer accumulator exactly (every input scale a power of two and, per output channel,
max|code| * sum_i |w_ij / 2**e_min| < 2**24, which bounds every partial sum of any summation
order). Then torch, onnxruntime and the executor agree bit for bit; ``export`` checks torch against
onnxruntime on the example input before it returns.
"""

from __future__ import annotations

import math
import sys
import types
from pathlib import Path

import numpy as np
import onnx
import torch
from torch import nn

from bnncc.errors import BnnccError
from bnncc.ir.pow2 import pow2_exponent
from bnncc.nn import layers as L
from bnncc.nn.net import QuantNet, Residual, leaves
from bnncc.onnx_writer import DialectWriter, IntQuantSpec

__all__ = ["export", "is_exact", "onnxruntime_outputs"]

_EXACT_LIMIT = 2**24


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().numpy().astype(np.float32)


def _weight_unit(w: np.ndarray) -> float:
    """The largest power of two every weight is an integer multiple of (1 for all-zero weights)."""
    e = pow2_exponent(w)
    return 1.0 if e is None else 2.0**e


class _Exactness:
    """Tracks the integer grid of the tensor in flight and whether each linear layer sums exactly."""

    def __init__(self) -> None:
        self.scale: float | None = None  # value = code * scale, None before the first quantizer
        self.max_code = 0
        self.exact = True
        self.notes: list[str] = []

    def quantizer(self, scale: float, qmin: int, qmax: int) -> None:
        self.scale, self.max_code = scale, max(abs(qmin), abs(qmax))

    def _pow2_input(self, name: str) -> bool:
        """Float32 sums of the layer's inputs are exact only on a power-of-two grid."""
        if self.scale is None or not math.log2(self.scale).is_integer():
            self.exact = False
            self.notes.append(f"{name}: input scale {self.scale} is not a power of two")
            return False
        return True

    def linear(self, name: str, w_rows_in: np.ndarray) -> None:
        """``w_rows_in``: weights [fan-in, outputs] (a conv's flattened to (cin*k*k, cout))."""
        if not self._pow2_input(name):
            return
        unit = _weight_unit(w_rows_in)
        worst = float(np.max(np.abs(w_rows_in).sum(axis=0) / unit)) * self.max_code
        if worst >= _EXACT_LIMIT:
            self.exact = False
            self.notes.append(f"{name}: partial sums up to {worst:.3g} units of 2**{int(math.log2(unit))}")

    def adder(self, name: str, fan_in: int, act: IntQuantSpec) -> None:
        """An adder layer sums ``fan_in`` terms |x - w| of at most qmax - qmin units of its grid."""
        if not self._pow2_input(name):
            return
        worst = fan_in * (act.qmax - act.qmin)
        if worst >= _EXACT_LIMIT:
            self.exact = False
            self.notes.append(f"{name}: adder sums up to {worst} units of its input scale")


def _layer_name(i: int, m: nn.Module) -> str:
    return f"l{i}_{type(m).__name__.lower()}"


def build_onnx(model: QuantNet, in_shape: tuple[int, ...]) -> onnx.ModelProto:
    """The dialect model of ``model`` in eval mode (no file, no checks against torch)."""
    w = DialectWriter(getattr(model, "name", "model"), in_shape)
    ex = _Exactness()
    with torch.no_grad():
        for i, m in enumerate(leaves(model.layers if isinstance(model, QuantNet) else model)):
            _layer(w, ex, _layer_name(i, m), f"layer {i} ({type(m).__name__})", m)
    doc = f"bnncc.export of {getattr(model, 'name', type(model).__name__)}"
    out = w.finish(doc, producer="bnncc.export")
    onnx.helper.set_model_props(out, {"bnncc.exact": "true" if ex.exact else "false",
                                      "bnncc.exact_notes": "; ".join(ex.notes)})
    return out


def _layer(w: DialectWriter, ex: _Exactness, p: str, where: str, m: nn.Module) -> None:
    """Write one layer of the chain (a residual block: its branch, the add of the shortcut, its activation)."""
    if isinstance(m, Residual):
        skip, shape = w.x, w.shape
        for j, b in enumerate(leaves(m.branch)):
            _layer(w, ex, f"{p}/b{j}_{type(b).__name__.lower()}", f"{where}, branch layer {j}", b)
        if w.shape != shape:
            raise BnnccError(f"{where}: the branch changes the shape {list(shape)} to {list(w.shape)}")
        w.x = w.node("Add", [w.x, skip], f"{p}/residual")
        _layer(w, ex, f"{p}/act", f"{where}, activation", m.act)
    elif isinstance(m, L.IntAct):  # includes InputQuant
        w.int_quant(p, m.spec)
        ex.quantizer(m.spec.scale, m.spec.qmin, m.spec.qmax)
    elif isinstance(m, L.BinaryAct):
        w.bipolar(p)
        ex.quantizer(1.0, -1, 1)
    elif isinstance(m, L.BinaryLinear | L.Pow2Linear | L.ShiftLinear):
        wt = _np(m.binary() if isinstance(m, L.BinaryLinear) else m.quantized()).T
        ex.linear(p, wt)
        w.matmul(p, wt)
        if isinstance(m, L.BinaryLinear) and m.alpha:
            w.mul(f"{p}/alpha", _np(m.scale()))
    elif isinstance(m, L.BinaryConv2d | L.Pow2Conv2d | L.ShiftConv2d):
        wt = _np(m.binary() if isinstance(m, L.BinaryConv2d) else m.quantized())
        ex.linear(p, wt.reshape(wt.shape[0], -1).T)
        w.conv(p, wt, pad=m.padding)
        if isinstance(m, L.BinaryConv2d) and m.alpha:
            w.mul(f"{p}/alpha", _np(m.scale()))
    elif isinstance(m, L.AdderLinear):
        wt = _np(m.quantized())
        ex.adder(p, wt.shape[0], m.act)
        w.adder(p, wt)
    elif isinstance(m, L.AdderConv2d):
        # Stored [C*k*k, O], rows ordered (c, i, j) as F.unfold lays out a patch: that is
        # W [O, C, k, k] flattened per output channel.
        k = m.kernel_size
        wt = _np(m.quantized()).T.reshape(m.out_channels, m.in_channels, k, k)
        ex.adder(p, m.in_channels * k * k, m.act)
        w.adder_conv(p, wt)
    elif isinstance(m, L.BatchNorm):
        a, b = m.folded()
        w.mul(p, _np(a))
        w.add(p, _np(b))
    elif isinstance(m, nn.ReLU):
        w.relu(p)
    elif isinstance(m, nn.MaxPool2d):
        k, s = m.kernel_size, m.stride
        if k != s or m.padding not in (0, (0, 0)) or m.ceil_mode or m.dilation not in (1, (1, 1)):
            raise BnnccError(f"{where}: only MaxPool2d(k) with stride k, no padding, is in the dialect")
        w.maxpool(p, int(k) if isinstance(k, int) else int(k[0]))
    elif isinstance(m, nn.Flatten):
        w.flatten(p)
    elif isinstance(m, nn.Identity | nn.Dropout):
        return
    elif isinstance(m, nn.Linear | nn.Conv2d):
        raise BnnccError(f"{where}: float weights have no hardware form in the dialect "
                         "(a float baseline is not exportable)")
    else:
        raise BnnccError(f"{where}: not a layer the dialect exporter knows")


def is_exact(model: onnx.ModelProto) -> bool:
    """Whether the exporter found every accumulator exact in float32 (metadata ``bnncc.exact``)."""
    return any(p.key == "bnncc.exact" and p.value == "true" for p in model.metadata_props)


def onnxruntime_outputs(path: str | Path, x: np.ndarray) -> np.ndarray:
    """Run the file in onnxruntime op by op as written (graph optimizations off: they fold per-channel
    Mul/Add into Conv weights and change float rounding exactly on switching points)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    return sess.run(None, {sess.get_inputs()[0].name: np.ascontiguousarray(x, dtype=np.float32)})[0]


def export(model: nn.Module, example_input: torch.Tensor | np.ndarray, path: str | Path,
           check: bool = True) -> onnx.ModelProto:
    """Write ``model`` (a ``bnncc.nn`` chain, in eval mode) to ``path`` in the bnncc dialect.

    ``example_input`` ([N, ...] raw inputs) fixes the input shape; with ``check`` the file is run in
    onnxruntime on it and must equal the torch eval output (bit for bit when the model is exact,
    else to 1e-5 relative), or a BnnccError says where they differ. Returns the ONNX model.
    """
    x = torch.as_tensor(np.asarray(example_input, dtype=np.float32))
    in_shape = tuple(getattr(model, "input_shape", tuple(x.shape[1:])))
    if tuple(x.shape[1:]) != in_shape and int(np.prod(x.shape[1:])) == int(np.prod(in_shape)):
        x = x.reshape(x.shape[0], *in_shape)
    if tuple(x.shape[1:]) != in_shape:
        raise BnnccError(f"example input of shape {list(x.shape)} does not fit the model's input {list(in_shape)}")
    path = Path(path)
    tmp = path.with_name(f".{path.name}.partial")  # checked, then renamed: a failed export leaves nothing
    was_training = model.training
    model.eval()
    try:
        proto = build_onnx(model, in_shape)  # type: ignore[arg-type]
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_bytes(proto.SerializeToString(deterministic=True))
        if check:
            with torch.no_grad():
                want = model(x).numpy()
            got = onnxruntime_outputs(tmp, x.numpy())
            if is_exact(proto):
                bad = int(np.sum(got != want))
                if bad:
                    raise BnnccError(f"{path}: onnxruntime differs from torch in {bad} of {got.size} outputs "
                                     "although the model is exact")
            elif not np.allclose(got, want, rtol=1e-5, atol=1e-5):
                raise BnnccError(f"{path}: onnxruntime differs from torch by up to {np.abs(got - want).max():.3g}")
        tmp.replace(path)
    finally:
        model.train(was_training)
        tmp.unlink(missing_ok=True)
    return proto


class _CallableModule(types.ModuleType):
    """Lets ``bnncc.export(model, x, path)`` work although ``bnncc.export`` is also this module's name
    (importing the submodule binds the module, not the function, to ``bnncc.export``)."""

    def __call__(self, model: nn.Module, example_input: torch.Tensor | np.ndarray, path: str | Path,
                 check: bool = True) -> onnx.ModelProto:
        return export(model, example_input, path, check)


sys.modules[__name__].__class__ = _CallableModule
