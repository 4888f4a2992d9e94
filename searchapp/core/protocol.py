"""What the search core needs from a search backend: one index generation, read-only.

Bitmaps are Python ints (bit n set = document n, see searchapp.bitmaps);
documents are numbered 0..N-1 within a generation. Queries arrive as our own
trees (searchapp.query.ast), never as a library's objects, so a second backend
(for example a server cluster for corpora beyond one machine) implements this
and passes the same conformance suite (tests/test_backend_conformance.py)
without touching the service, the web or the CLI.
"""

from __future__ import annotations

from pathlib import Path
from collections.abc import Hashable, Mapping
from typing import Callable, Protocol

from searchapp.model import Filters


class Snapshot(Protocol):
    generation: Path | None
    key: object                 # identifies the generation's CURRENT switch (caches are keyed on it)
    live: int                   # every live document

    @property
    def doc_count(self) -> int: ...

    def analyze(self, field: str | None, text: str) -> tuple[str, ...]:
        """The terms the index holds for this text (a text field when `field` is None)."""

    # matching and counting
    def matches(self, tree) -> int: ...
    def matches_own_text(self, tree) -> int:
        """Matches in the item's own text only (not the titles of the items it lists)."""
    def head_scores(self, term: str, docnums: list[int]) -> list[float]:
        """The BM25F score of an indexed term in each document's title and excerpt (0 without it)."""
    def filter_bits(self, filters: Filters) -> dict[str, int]:
        """One bitmap per active filter group: each facet with values, and "date"."""
    def facet_values(self, facet: str) -> list[str]: ...
    def value_bits(self, facet: str, value: str) -> int: ...
    def value_counts(self, facet: str, scope: int) -> list[int]:
        """Each of facet_values(facet)'s number of live items in `scope`, in that order."""
    def counter(self, scope: int) -> ScopeCounter:
        """Counts under one scope, for a request that asks many (a suggestion)."""

    # ranking and ordering
    def ranked(self, tree, bits: int, limit: int, sort: str, restricted: bool,
               boosts: tuple[tuple[int, float], ...] = ()) -> list[tuple[float | None, int]]:
        """The first `limit` documents of `bits` as (score, docnum), best first, ties by docnum;
        `boosts`: (bitmap, factor) pairs multiplying the scores of those documents."""
    def first_by_date(self, bits: int, sort: str, limit: int) -> list[int]: ...
    def stories(self) -> tuple[int, Mapping[int, Hashable], Mapping[Hashable, tuple[int, ...]]]:
        """(every story member but the first of each, docnum -> its story's key, story key ->
        members in docnum order). A key is any value shared by one story's members (Whoosh's
        backend numbers them); `None` is never one."""

    # records and display
    def record(self, docnum: int) -> dict: ...
    def title(self, docnum: int) -> tuple[str, str]:
        """(item id, title) of a document, as record() has them: what a suggestion lists."""
    def document(self, item_id: str) -> dict | None: ...
    def highlights(self, tree, docnum: int, score) -> tuple[dict, str, str]:
        """(record, title HTML, snippet HTML): escaped, the query's words in <mark>."""

    # words
    def known(self, word: str) -> bool: ...
    def neighbours(self, word: str, maxdist: int) -> dict[str, int]: ...
    def completions(self, prefix: str, limit: int = 300) -> dict[str, int]: ...
    def word_bits(self, word: str) -> int: ...
    def title_bits(self, word: str) -> int: ...
    def stem(self, word: str) -> str: ...

    # per-generation caches shared by threads
    def shared_cache(self, name: str, factory: Callable[[], object]): ...
    def close(self) -> None: ...


class ScopeCounter(Protocol):
    """How many live documents of one scope have a term; what a bitmap's popcount would say."""
    def word(self, word: str) -> int:
        """As (scope & word_bits(word)).bit_count()."""
    def value(self, facet: str, value: str) -> int:
        """As (scope & value_bits(facet, value)).bit_count()."""


class Backend(Protocol):
    def open(self, generation: Path, key, shared: dict) -> Snapshot:
        """A snapshot of one generation; `shared` is the same dict for every
        thread reading that generation (the backend keeps its caches there)."""

    def usable(self, generation: Path, items: int | None, trusted: frozenset[str] = frozenset()) -> str | None:
        """A trial open: None when the generation opens and answers (reading
        cheaply but for real what a search reads), else why, in one line.
        `items`: the document count its build recorded, if known. `trusted`:
        names of files linked unchanged from a generation that passed (the
        writer's check of an append), whose parts need not be read again.
        Never raises."""

    def verify(self, generation: Path, items: int | None) -> str | None:
        """The full check (`searchapp index --verify`, and a generation that
        raised while answering): every stored document, term, posting and
        column value decoded and cross-checked. None when whole, else why."""
