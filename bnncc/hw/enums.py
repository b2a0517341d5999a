"""The one table of the codes Python, the HLS library and the RTL library share: how a stream element
is encoded and which kind of weight an MVAU multiplies by. The writers render both libraries'
definitions from it."""

from __future__ import annotations

ENCODINGS = {"bipolar": 0, "signed": 1, "unsigned": 2}  # one stream element (see io_format.json)
WEIGHT_KINDS = {"xnor": 0, "bipolar": 1, "ternary": 2, "int": 3, "pow2": 4, "adder": 5}
