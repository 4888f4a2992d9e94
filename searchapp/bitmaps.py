"""Bitmaps of documents as Python ints (bit n set = document n): set algebra at C speed.

Shared by the backend (which builds them from postings) and the search core
(which combines them: filters, facet counts, story grouping).
"""

from __future__ import annotations

import re

import numpy as np


def bits_of(docnums) -> int:
    """Docnums -> a bitmap int (bit n set = doc n)."""
    array = bytearray()
    for doc in docnums:
        byte = doc >> 3
        if byte >= len(array):
            array.extend(bytes(byte - len(array) + 1 + 64))
        array[byte] |= 1 << (doc & 7)
    return int.from_bytes(array, "little")


def as_bytes(bits: int) -> bytes:
    """A bitmap as bytes, for testing many single bits (a shift of a big int costs its size)."""
    return bits.to_bytes((bits.bit_length() + 7) // 8, "little")


def has(data: bytes, doc: int) -> bool:
    return doc >> 3 < len(data) and data[doc >> 3] >> (doc & 7) & 1


_BITS = [tuple(bit for bit in range(8) if value >> bit & 1) for value in range(256)]
_NONZERO_RUN = re.compile(rb"[^\x00]+")


def docnums(bits: int) -> list[int]:
    """A bitmap int -> its docnums, ascending. Runs of nonzero bytes are found
    by the regex engine (C speed); slicing the rest of the bytes at each set
    byte, as before, was quadratic (20,000 of 300,000 items: 102 -> 44 ms)."""
    data = as_bytes(bits)
    found: list[int] = []
    extend = found.extend
    for run in _NONZERO_RUN.finditer(data):
        for index, byte in enumerate(run.group(), run.start()):
            base = index << 3
            extend([base + bit for bit in _BITS[byte]])
    return found


def flags_of(bits: int, size: int) -> np.ndarray:
    """A bitmap int -> a boolean array of `size` documents."""
    data = np.frombuffer(as_bytes(bits), dtype=np.uint8)
    flags = np.unpackbits(data, bitorder="little")[:size].astype(bool)
    if flags.size < size:
        flags = np.concatenate([flags, np.zeros(size - flags.size, dtype=bool)])
    return flags


def bits_of_flags(flags: np.ndarray) -> int:
    """A boolean array -> a bitmap int (the inverse of flags_of)."""
    return int.from_bytes(np.packbits(flags, bitorder="little").tobytes(), "little")
