"""Simulators that check generated hardware against the reference executor."""
