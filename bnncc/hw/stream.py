"""The one stream format shared by the HLS and RTL backends (`OUT/io_format.json`) and its tested
host-side pack/unpack.

A stream carries one image as `words` words of `lanes` elements; element i of a word sits at bits
[i*bits, (i+1)*bits). Elements are the tensor flattened in NHWC order (channels fastest). An element
is a bipolar bit (1 <-> +1), a two's-complement signed integer, or an unsigned integer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bnncc.ir.dtypes import DataType


def signed_bits(lo: int, hi: int) -> int:
    """Two's-complement bits holding every integer of [lo, hi] (and 0)."""
    return max((-min(int(lo), 0) - 1).bit_length(), max(int(hi), 0).bit_length()) + 1


def element_format(dtype: DataType) -> tuple[int, str]:
    """(bits, encoding) of one element holding values of `dtype`."""
    if dtype.is_bipolar:
        return 1, "bipolar"
    if dtype.min >= 0:
        return max(1, int(dtype.max).bit_length()), "unsigned"
    return signed_bits(dtype.min, dtype.max), "signed"


@dataclass(frozen=True)
class StreamFormat:
    elements: int  # per image
    lanes: int  # elements per word
    bits: int  # per element
    encoding: str  # bipolar | signed | unsigned

    @property
    def word_bits(self) -> int:
        return self.lanes * self.bits

    @property
    def words(self) -> int:
        return self.elements // self.lanes

    @classmethod
    def of(cls, dtype: DataType, elements: int, lanes: int) -> StreamFormat:
        bits, encoding = element_format(dtype)
        return cls(elements, lanes, bits, encoding)

    def to_json(self) -> dict:
        return {"elements_per_image": self.elements, "elements_per_word": self.lanes, "element_bits": self.bits,
                "encoding": self.encoding, "word_bits": self.word_bits, "words_per_image": self.words}

    def encode(self, values: np.ndarray) -> np.ndarray:
        """Integer values -> unsigned element codes as stored in a word."""
        v = np.asarray(values, dtype=np.int64)
        if self.encoding == "bipolar":
            return (v > 0).astype(np.int64)
        return v & ((1 << self.bits) - 1)

    def decode(self, codes: np.ndarray) -> np.ndarray:
        c = np.asarray(codes, dtype=np.int64)
        if self.encoding == "bipolar":
            return 2 * c - 1
        if self.encoding == "signed":
            return np.where(c >= 1 << (self.bits - 1), c - (1 << self.bits), c)
        return c

    def pack(self, values: np.ndarray) -> list[list[int]]:
        """[N, elements] integer values -> per image, `words` Python ints of `word_bits` bits."""
        codes = self.encode(np.asarray(values).reshape(len(values), self.words, self.lanes)).astype(np.uint64)
        if self.word_bits <= 64:  # one uint64 per word: vectorized
            shifts = (np.arange(self.lanes, dtype=np.uint64) * np.uint64(self.bits))
            return (codes << shifts).sum(axis=-1, dtype=np.uint64).tolist()
        bits = ((codes[..., None] >> np.arange(self.bits, dtype=np.uint64)) & np.uint64(1)).astype(np.uint8)
        packed = np.packbits(bits.reshape(len(values), self.words, -1), axis=-1, bitorder="little")
        return [[int.from_bytes(word.tobytes(), "little") for word in image] for image in packed]

    def unpack(self, words: list[list[int]]) -> np.ndarray:
        mask = (1 << self.bits) - 1
        codes = np.array([[(w >> (i * self.bits)) & mask for w in image for i in range(self.lanes)]
                          for image in words], dtype=np.int64)
        return self.decode(codes.reshape(len(words), self.elements))
