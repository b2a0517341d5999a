"""bnncc: compile binary, power-of-two and ShiftAdd neural networks from ONNX into verified hardware."""

import os

__version__ = "0.1.0"

# onnxruntime (crossbar simulation, export checks) would otherwise write a device id and a session
# database under $HOME/.cache and $TMPDIR; bnncc writes nothing outside the folders it is given. Read
# when onnxruntime is imported, so it is set here, before any bnncc module can import it.
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")


def __getattr__(name: str):
    """``bnncc.export(model, example_input, path)``: imported on first use, so ``import bnncc`` (and every
    CLI command) does not pay for importing torch."""
    if name == "export":
        import importlib

        return importlib.import_module("bnncc.export")  # a callable module: see bnncc/export.py
    raise AttributeError(f"module 'bnncc' has no attribute {name!r}")
