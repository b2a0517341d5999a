"""IR passes, one job per module, each with `apply(graph)`."""

from bnncc.ir.passes import batch_freedom, dead_nodes, fold_constants, input_codes, lower, no_ops, xnor

__all__ = ["batch_freedom", "dead_nodes", "fold_constants", "input_codes", "lower", "no_ops", "xnor"]
