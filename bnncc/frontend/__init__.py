"""ONNX / QONNX / FINN-ONNX / bnncc-dialect files -> IR."""

from bnncc.frontend.onnx_import import load, read_onnx

__all__ = ["load", "read_onnx"]
