"""Verilog backend: the same dataflow blocks as the HLS backend, as RTL with valid/ready streams."""
