"""The hardware stage: IR -> streaming dataflow blocks (one module per kind in `blocks/`), foldings
as values, the design a folding implies (width converters, FIFOs), its schedule and its estimate.
The FPGA writers (bnncc/backends/fpga) and the simulators read only what this stage produces."""
