"""RRAM backend: crossbar mapping files, NeuroSim-style estimates, and the hooks of `bnncc --target rram`.

See docs/rram-mapping.md for the file schema, the physics and the estimate constants.
"""
