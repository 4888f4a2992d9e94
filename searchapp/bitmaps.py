"""Bitmaps of documents as Python ints (bit n set = document n): set algebra at C speed.

Shared by the backend (which builds them from postings) and the search core
(which combines them: filters, facet counts, story grouping).
"""

from __future__ import annotations

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


def docnum_array(bits: int) -> np.ndarray:
    """A bitmap int -> its docnums, ascending, as int64. Sparse: only the nonzero
    bytes are unpacked; dense: all of them (at 300,000 items, 2,000 set: 1.1 ms
    for the regex scan of round 6, 0.13 ms this way; 20,000: 6.6 -> 0.5 ms)."""
    data = np.frombuffer(as_bytes(bits), dtype=np.uint8)
    if not data.size:
        return np.zeros(0, dtype=np.int64)
    nonzero = np.flatnonzero(data)
    if nonzero.size * 8 < data.size:
        rows, columns = np.nonzero(np.unpackbits(data[nonzero, None], axis=1, bitorder="little"))
        return (nonzero[rows].astype(np.int64) << 3) + columns
    return np.flatnonzero(np.unpackbits(data, bitorder="little")).astype(np.int64)


def docnums(bits: int) -> list[int]:
    """A bitmap int -> its docnums, ascending."""
    return docnum_array(bits).tolist()


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
