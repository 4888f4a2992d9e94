"""Bitmaps of documents as Python ints (bit n set = document n): set algebra at C speed.

Shared by the backend (which builds them from postings) and the search core
(which combines them: filters, facet counts, story grouping).
"""

from __future__ import annotations


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


def docnums(bits: int) -> list[int]:
    """A bitmap int -> its docnums, ascending (skips empty bytes quickly)."""
    data = as_bytes(bits)
    found = []
    start = 0
    while True:
        # Jump over runs of zero bytes with C-speed searching.
        stripped = data[start:].lstrip(b"\x00")
        if not stripped:
            return found
        index = len(data) - len(stripped)
        byte = data[index]
        base = index * 8
        for bit in range(8):
            if byte >> bit & 1:
                found.append(base + bit)
        start = index + 1
