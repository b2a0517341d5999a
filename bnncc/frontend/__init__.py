"""ONNX / QONNX / FINN-ONNX / bnncc-dialect files -> IR."""

from bnncc.frontend.onnx_import import load, read_onnx
from bnncc.ir.passes.input_codes import InputCodes

__all__ = ["InputCodes", "load", "read_onnx"]
