"""Facet counts without a bitmap per value.

Every facet value's bitmap was kept for a generation's life (N/8 bytes each:
799 values, 26 MB per worker at 300k items, 100 MB at a million, and twice
that while a switch warms the next generation). Most values are rare: 775 of
the 799 have fewer than N/32 items, where a bitmap costs more than a list of
4-byte docnums. So only common values keep a bitmap; the rare values of a
field are counted together from one array of their docnums (taken from the
generation's mapped postings table): the scope's flags gathered at those
docnums, summed per value.
"""

from __future__ import annotations

import numpy as np

from searchapp.bitmaps import flags_of

COMMON_SHARE = 32   # a value with at least N/32 items keeps a bitmap (there it is the smaller form)


def is_common(count, documents: int):
    """Whether a value with `count` items keeps a bitmap (`count` may be an array of counts)."""
    return count * COMMON_SHARE >= documents


class FieldCounter:
    """One facet field's values counted under any scope: `counts(scope, bits_of)` gives each
    value's number of items in `scope` (a bitmap of live documents), in the table's order.
    `bits_of(n)`: value n's bitmap, for the common values (the snapshot keeps them);
    `common_values`: their names, given the field's values in the table's order."""

    def __init__(self, starts: np.ndarray, docs: np.ndarray, documents: int, values=()):
        starts = np.asarray(starts, dtype=np.int64)
        sizes = np.diff(starts)
        self.documents = documents
        self.size = sizes.size
        common = is_common(sizes, documents)
        self.common = np.flatnonzero(common)
        self.common_values = frozenset(values[n] for n in self.common.tolist()) if len(values) else frozenset()
        self.rare = np.flatnonzero(~common)
        # the rare values' docnums, one after another (a private copy: 4 B an item of a rare value)
        pieces = [np.asarray(docs[starts[n]:starts[n + 1]]) for n in self.rare.tolist()]
        self.rare_docs = np.concatenate(pieces).astype(np.int32) if pieces else np.zeros(0, dtype=np.int32)
        self.rare_bounds = np.zeros(self.rare.size + 1, dtype=np.int64)
        np.cumsum(sizes[self.rare], out=self.rare_bounds[1:])

    def counts(self, scope: int, bits_of) -> np.ndarray:
        found = np.zeros(self.size, dtype=np.int64)
        if not scope:
            return found
        for n in self.common.tolist():
            found[n] = (scope & bits_of(n)).bit_count()
        if self.rare.size:
            hits = np.zeros(self.rare_docs.size + 1, dtype=np.int64)
            np.cumsum(flags_of(scope, self.documents)[self.rare_docs], out=hits[1:])
            found[self.rare] = hits[self.rare_bounds[1:]] - hits[self.rare_bounds[:-1]]
        return found
