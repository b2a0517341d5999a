"""bnncc: compile binary, power-of-two and ShiftAdd neural networks from ONNX into verified hardware."""

__version__ = "0.1.0"
