"""Backends: one folder per target (fpga_hls, fpga_rtl, rram); shared dataflow and I/O format here."""
