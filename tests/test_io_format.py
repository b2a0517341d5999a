"""The host-side pack/unpack of io_format.json: round trips, and the documented bit positions."""

from __future__ import annotations

import numpy as np
import pytest

from bnncc.hw.stream import StreamFormat, element_format
from bnncc.ir.dtypes import BIPOLAR, int_type

RANGES = {"bipolar": (-1, 1), "signed": (-4, 3), "unsigned": (0, 255)}


@pytest.mark.parametrize("encoding,bits", [("bipolar", 1), ("signed", 3), ("unsigned", 8)])
@pytest.mark.parametrize("lanes", [1, 7, 49, 100])
def test_round_trip_and_bit_positions(encoding, bits, lanes):
    rng = np.random.default_rng(lanes)
    fmt = StreamFormat(lanes * 6, lanes, bits, encoding)
    lo, hi = RANGES[encoding]
    values = rng.integers(lo, hi + 1, (5, lanes * 6))
    if encoding == "bipolar":
        values = np.where(values >= 0, 1, -1)
    words = fmt.pack(values)
    np.testing.assert_array_equal(fmt.unpack(words), values)
    # element i of a word at bits [i*bits, (i+1)*bits), two's complement for signed, 1 <-> +1 for bipolar
    codes = fmt.encode(values.reshape(5, 6, lanes))
    assert words == [[sum(int(c) << (i * bits) for i, c in enumerate(w)) for w in image] for image in codes]


def test_element_formats():
    assert element_format(BIPOLAR) == (1, "bipolar")
    assert element_format(int_type(-1, 1)) == (2, "signed")
    assert element_format(int_type(0, 15)) == (4, "unsigned")
    assert element_format(int_type(-8, 7)) == (4, "signed")
    assert StreamFormat(6, 2, 2, "signed").encode(np.array([-1, -2, 1])).tolist() == [3, 2, 1]
