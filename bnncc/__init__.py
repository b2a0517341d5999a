"""bnncc: compile binary, power-of-two and ShiftAdd neural networks from ONNX into verified hardware."""

__version__ = "0.1.0"


def __getattr__(name: str):
    """``bnncc.export(model, example_input, path)``: imported on first use, so ``import bnncc`` (and every
    CLI command) does not pay for importing torch."""
    if name == "export":
        import importlib

        return importlib.import_module("bnncc.export")  # a callable module: see bnncc/export.py
    raise AttributeError(f"module 'bnncc' has no attribute {name!r}")
