"""QONNX's own executor as an independent reference for ONNX/QONNX files (a test helper, not a test).

qonnx checks the fed input shape against the graph's, and Brevitas exports with a fixed batch of 1,
so the batch runs one image at a time (~15 ms per image on small models): keep N to a few hundred.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator

import numpy as np
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.core.onnx_exec import execute_onnx
from qonnx.util.cleanup import cleanup_model


@functools.lru_cache(maxsize=32)
def _cleaned(path: str, _mtime_ns: int, _size: int) -> ModelWrapper:
    # The file's mtime and size are part of the key so that a test re-exporting to the same path
    # does not get the stale graph.
    return cleanup_model(ModelWrapper(path))


def qonnx_model(path: str | os.PathLike[str]) -> ModelWrapper:
    """The cleaned (``cleanup_model``) model qonnx runs, cached per file; its tensor names are the keys
    of ``qonnx_run_all`` (cleanup renames them, e.g. ``BipolarQuant_5_out0``, ``global_out``).
    Shared between callers: do not transform it in place."""
    st = os.stat(path)
    return _cleaned(os.fspath(path), st.st_mtime_ns, st.st_size)


def _images(model: ModelWrapper, x: np.ndarray) -> Iterator[dict[str, np.ndarray]]:
    name = model.graph.input[0].name
    for i in range(x.shape[0]):
        yield {name: np.ascontiguousarray(x[i : i + 1], dtype=np.float32)}


def qonnx_run(path: str | os.PathLike[str], x: np.ndarray) -> np.ndarray:
    """Run the model at ``path`` on each image of ``x`` [N, ...]; the graph's first output, concatenated
    along its batch axis (a [1, 10] output gives [N, 10]), as float32."""
    model = qonnx_model(path)
    out_name = model.graph.output[0].name
    outs = [np.asarray(execute_onnx(model, feed)[out_name]) for feed in _images(model, x)]
    return _batch(outs).astype(np.float32)


def qonnx_run_all(path: str | os.PathLike[str], x: np.ndarray) -> dict[str, np.ndarray]:
    """Every tensor of qonnx's execution context (``return_full_exec_context=True``) over the batch ``x``.

    Tensors computed from the graph input are batched: concatenated along a leading batch axis of 1
    ([N, ...], as in ``qonnx_run``), else stacked into [N, ...]. Tensors that do not depend on the
    input (initializers, quantized weights) are returned once, unbatched.
    """
    model = qonnx_model(path)
    varying = _input_dependent(model)
    per_image: dict[str, list[np.ndarray]] = {}
    for feed in _images(model, x):
        ctx = execute_onnx(model, feed, return_full_exec_context=True)
        for name, value in ctx.items():
            per_image.setdefault(name, []).append(np.asarray(value))
    result: dict[str, np.ndarray] = {}
    for name, values in per_image.items():
        result[name] = _batch(values) if name in varying else values[0]
    return result


def _input_dependent(model: ModelWrapper) -> set[str]:
    varying = {model.graph.input[0].name}
    for node in model.graph.node:  # cleanup_model leaves the nodes topologically sorted
        if any(i in varying for i in node.input):
            varying.update(node.output)
    return varying


def _batch(values: list[np.ndarray]) -> np.ndarray:
    # Batch-1 tensors join along their batch axis; tensors without one get a new leading axis.
    if values[0].ndim >= 1 and values[0].shape[0] == 1:
        return np.concatenate(values)
    return np.stack(values)
