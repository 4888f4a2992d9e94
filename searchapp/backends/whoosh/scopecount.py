"""How many documents of one scope have a term, without building the term's bitmap.

A suggestion ranks a dozen completions and up to ~90 facet values by how many
items they share with the earlier words (`popcount(scope & bitmap)`). Most of
those terms are rare, and their bitmaps were not cached: each was built from
the term's postings (an N-flag array packed into an int: 43 µs at 300k items)
to be ANDed once, 37 of them for "amazon c", and each pushed a common word's
bitmap out of the LRU. Here a term whose bitmap is not at hand and that has
few postings is counted by gathering the scope's flags at its docnums
(a few µs); a cached bitmap, or a common term's (built and cached, as before:
from its row of bits written at indexing, tables.dense_bitmaps, since round
23), is counted by popcount. Both give popcount(scope & live & term).
"""

from __future__ import annotations

import numpy as np

from searchapp.bitmaps import flags_of

SPARSE_SHARE = 32   # a term with fewer than N/32 postings is counted from them (where a bitmap costs more)


class ScopeCounts:
    """Counts of documents of `scope` having a word or a facet value, for one request.
    `snapshot`: a WhooshSnapshot (its cached bitmaps, its postings tables)."""

    def __init__(self, snapshot, scope: int):
        self.snapshot = snapshot
        self.scope = scope & snapshot.live
        self.documents = snapshot.searcher.reader().doc_count_all()
        self._flags: np.ndarray | None = None   # the scope as flags, made at the first sparse term

    def _count(self, keys: tuple[tuple[str, str], ...]) -> int:
        """Documents of the scope having any of the terms."""
        if not self.scope:
            return 0
        cached = [self.snapshot.cached_bits(*key) for key in keys]
        if all(bits is None for bits in cached):   # none at hand: from the postings, when they are few
            found = [postings[0] for postings in (self.snapshot.postings(*key) for key in keys) if postings is not None]
            if sum(docs.size for docs in found) * SPARSE_SHARE < self.documents:
                return self._gathered(found)
        union = 0
        for key, bits in zip(keys, cached):
            union |= self.snapshot.term_bits(*key) if bits is None else bits
        return (self.scope & union).bit_count()

    def _gathered(self, found: list[np.ndarray]) -> int:
        """Documents of the scope among the docnums of `found`, each counted once."""
        if self._flags is None:
            self._flags = flags_of(self.scope, self.documents)
        flags, count, cleared = self._flags, 0, []
        for docs in found:   # a document in two terms' postings is counted at the first, then cleared
            docs = docs[docs < self.documents]
            hits = docs[flags[docs]]
            count += hits.size
            flags[hits] = False
            cleared.append(hits)
        for hits in cleared:
            flags[hits] = True
        return count

    def word(self, word: str) -> int:
        """As popcount(scope & snapshot.word_bits(word))."""
        stem = self.snapshot.stem(word)
        return self._count((("title", stem), ("excerpt", stem)))

    def value(self, facet: str, value: str) -> int:
        """As popcount(scope & snapshot.value_bits(facet, value))."""
        return self._count((self.snapshot.value_key(facet, value),))
