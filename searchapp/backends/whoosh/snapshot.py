"""A Whoosh index generation behind the search core's Snapshot protocol.

Speed comes from bitmaps (Python ints, one bit per document) cached per index
generation and shared by threads: a query's boolean structure is evaluated on
per-term bitmaps, facet counts are popcounts, date-sorted pages are read off a
presorted order; only relevance ranking scores documents (BM25F: cached
per-word score maps for bare words, Whoosh's exact collector otherwise).
"""

from __future__ import annotations

import datetime as dt
import heapq
import html
import itertools
import threading
import time
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path

import numpy as np
from rapidfuzz import process as rf_process
from rapidfuzz.distance import OSA, Levenshtein
from whoosh import highlight, query as Q, scoring

from searchapp import processes
from searchapp.backends.whoosh import compat, derived, tables
from searchapp.backends.whoosh.compile import analyze, compile_own_text, compile_query
from searchapp.backends.whoosh.facetcount import FieldCounter
from searchapp.backends.whoosh.scopecount import ScopeCounts
from searchapp.backends.whoosh.schema import (FACET_FIELDS, NO_DATE_KEY, SCORED_TAG_FIELDS, SPELLING_FIELDS, TEXT_FIELDS,
                                             date_key)
from searchapp.backends.whoosh.storytable import StoryTable
from searchapp.bitmaps import as_bytes, bits_of, docnum_array, docnums, flags_of, has
from searchapp.lru import Lru
from searchapp.model import Filters
from searchapp.query import ast

# Bitmaps are N/8 bytes each (37 kB at 300,000 items), so their caches are bounded by bytes, not
# entries: 2,048 word bitmaps and 1,024 query bitmaps were up to 115 MB per worker at 300k.
TERM_CACHE_BYTES = 16_000_000    # word bitmaps kept per generation (~430 at 300k; a typed query reuses a few dozen)
QUERY_CACHE_BYTES = 8_000_000    # query bitmaps kept per generation
WARM_LIKE_SECONDS = 2.0          # a new generation computes the old one's cached words for at most this long
                                 # (then the server replays its recent requests), while a build waits for it
                                 # (store/generations.switch_current) and the old generation serves
WARM_SLICE_SECONDS = 0.02        # warming works this long, then sleeps as long (the old generation serves meanwhile)
QUERY_OBJECTS = 4096             # the Whoosh queries behind the cached query bitmaps (their keys are reprs),
                                 # kept so that a new generation can compute the same bitmaps before it serves
WARM_AFTER_SECONDS = 10.0        # ... and the rest while it serves, working half the time
WARM_GIVE_WAY_SECONDS = 0.1      # ... each key waiting at most this long while a request runs (so it goes on under
                                 # requests without a gap; 20 ms: more spikes in one run of 5 switches)
SNIPPET_CHARS = 300
# stored documents kept per generation, by their estimated size in bytes (_stored_size). Weighed by
# their texts' characters alone, 5 M held 4,700 documents and 17 MB per worker at 300k items
STORED_CACHE_BYTES = 8_000_000
# prefix -> its completions, per generation: "amazon c" listed and decoded the table's 530
# words starting with "c" on every keystroke, 1.9 of 7 ms of a suggestion at 300k (round 19)
COMPLETION_CACHE_WORDS = 50_000
TERM_PLACES = 20_000   # terms whose place in their postings table is kept, per generation (~250 B each)
_FACET_FIELD = {**FACET_FIELDS, "month": "f_month"}

_WHOLE = compat.CachingHighlighter(fragmenter=highlight.WholeFragmenter(), formatter=compat.EscapingFormatter())
_CONTEXT = compat.CachingHighlighter(
    fragmenter=highlight.ContextFragmenter(maxchars=240, surround=60), formatter=compat.EscapingFormatter()
)


def open_snapshot(generation: Path, key, shared: dict) -> "WhooshSnapshot":
    """A snapshot of one generation; `shared` holds its caches for every thread."""
    return WhooshSnapshot(compat.open_generation(generation), generation, key, shared)


@lru_cache(maxsize=4096)
def _compiled(tree) -> Q.Query:
    return compile_query(tree)


@lru_cache(maxsize=4096)
def _compiled_own_text(tree) -> Q.Query:
    return compile_own_text(tree)


def _negated(tree) -> bool:
    return any(type(node) in (ast.AndNot, ast.Not) for node in ast.walk(tree))


def _stem(word: str) -> str:
    tokens = analyze("title", word)
    return tokens[0] if tokens else word


def _boosted(scored, boosts, limit: int) -> list[tuple[float, int]]:
    """The top `limit` of (score, docnum) pairs after multiplying the scores
    of the documents in each boost's bitmap by its factor, ties by docnum."""
    marks = [(as_bytes(bits), factor) for bits, factor in boosts]
    def boost(score, d):
        for data, factor in marks:
            if has(data, d):
                score *= factor
        return score
    top = heapq.nsmallest(limit, ((-boost(score, d), d) for score, d in scored))
    return [(-negative, d) for negative, d in top]


def _recent(shared: dict, name: str) -> list:
    """A cache's keys, most recently used first."""
    cache = shared.get(name)
    return list(reversed(list(cache))) if cache else []


def _segments(searcher) -> tuple[tuple[str, int, int], ...]:
    """(segment id, documents, deleted documents) of each segment, in docnum order: what a
    later generation compares to know which documents it shares with this one (_shared_documents)."""
    found = []
    for leaf, _ in searcher.leaf_searchers():
        reader = leaf.reader()
        segment = reader.segment() if callable(getattr(reader, "segment", None)) else None
        if segment is None:   # an empty index's reader has no segment
            return ()
        found.append((segment.segment_id(), segment.doc_count_all(), segment.deleted_count()))
    return tuple(found)


def _shared_documents(previous: dict, current: dict) -> int:
    """How many documents, from docnum 0, two generations hold unchanged: their leading segments
    that are the same segment (its id, its documents, none deleted). A segment's files never change
    once written, so its documents, their docnums and every bitmap bit over them are the same. An
    append (indexing.py: new segments on hard links to the previous ones) shares all the previous
    generation's documents; a full build or a merge (any deletion merges) shares none."""
    shared = 0
    for old, new in zip(previous.get("segments") or (), current.get("segments") or ()):
        if old != new or old[2]:
            break
        shared += old[1]
    return shared


def _entries_of(cache) -> list:
    """A cache's (key, value) pairs, least recently used first, taken under its lock (threads
    serving its generation meanwhile move and add entries)."""
    if not cache:
        return []
    lock = getattr(cache, "lock", None)
    if lock is None:
        return list(cache.items())
    with lock:
        return list(dict.items(cache))


def _cached_keys(shared: dict, skip: frozenset = frozenset()) -> list[tuple[str, object]]:
    """(kind, key) of what a generation's caches hold, most recently used first: what a typing
    pass after a switch found cold (profile at 10k: words' and terms' score arrays, idf values,
    phrase and prefix bitmaps, the spelling vocabulary, stored documents). Kinds in turn (one of
    each, then the next of each), so that a spent budget leaves no kind wholly cold; plain
    dicts (idf, vocabulary) newest entry first. The query bitmaps (phrases, pairs, prefixes,
    synonym groups) first of all: each takes tens of milliseconds at 100k items, where a word's
    arrays take one or two, so a request that finds one cold waits longest (the first suggestion
    after a switch at 100k: 26-74 ms against 5 warm, 90% of it "gdpr"'s synonym phrases)."""
    queries = shared.get("query-objects") or {}
    stored = shared.get("stored") or {}
    first = [("query", queries[k]) for k in _recent(shared, "queries") if k in queries and ("query", k) not in skip]
    kinds = [[("word", k) for k in _recent(shared, "word-arrays")], [("term", k) for k in _recent(shared, "term-arrays")],
             [("bits", k) for k in _recent(shared, "terms")], [("idf", k) for k in _recent(shared, "idf")],
             [("vocabulary", k) for k in _recent(shared, "vocabulary")],
             [("stored", (k, v["doc"].get("id"))) for k in _recent(shared, "stored")
              for v in [stored.get(k)] if v and isinstance(v.get("doc"), dict)]]
    def taken(key):   # a stored document is taken over by docnum (its key here also has the item id)
        return (key[0], key[1][0] if key[0] == "stored" else key[1]) in skip
    return first + [key for turn in itertools.zip_longest(*kinds) for key in turn if key is not None and not taken(key)]


def _keep_warming(generation: Path, key, shared: dict, keys: list) -> None:
    """warm_like's rest, on its own searcher, while the generation serves."""
    if "live" not in shared:
        return
    try:
        snapshot = WhooshSnapshot(compat.open_generation(generation), generation, key, shared)
    except Exception:   # removed or damaged meanwhile: requests compute what they need
        return
    try:
        snapshot._warm_keys(keys, time.perf_counter() + WARM_AFTER_SECONDS, give_way=True)
    except Exception:
        pass
    finally:
        snapshot.close()


def _bitmap_bytes(bits: int) -> int:
    return bits.bit_length() // 8 + 64   # the int's digits, its header, the cache's entry


def _stored_size(fields: dict) -> int:
    """A stored document's size in memory, roughly: measured over generated items (sys.getsizeof
    through its dicts and lists, fitted over 100 documents), 3 kB of keys, lists and small values,
    then 2 B a character of its texts."""
    doc = fields.get("doc") or {}
    return 3_000 + 2 * (len(fields.get("body") or "") + len(doc.get("title") or "") + len(doc.get("excerpt") or ""))


def _shorten(text: str, limit: int = SNIPPET_CHARS) -> str:
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + " …"


def word_concepts(tree, analyze) -> list[list[tuple[str, float]]] | None:
    """When a query is only one-term words, each concept a word or a synonym
    concept of words (joined by the implicit AND, or by a relaxed OR): its
    concepts as [(term, weight)]. Such queries are scored from cached per-word
    BM25F scores: a document's score is the sum of weight x the word's score
    over the words it has, which is what Whoosh's And/Or of (boosted) words
    computes. Anything else: None."""
    def term(node):
        if not ast.is_bare_word(node):
            return None
        found = analyze(None, node.text)
        return (found[0], ast.weight(node)) if len(found) == 1 else None

    def concept(node):
        if type(node) is ast.Synonyms:
            members = [node.typed, *node.others]
        else:
            members = [node]
        terms = [term(m) for m in members]
        return None if None in terms else list(dict.fromkeys(terms))

    if type(tree) is ast.And:
        children, either = tree.children, False
    elif type(tree) is ast.Or and all(ast.is_bare_word(c) for c in tree.children):
        children, either = tree.children, True
    else:
        children, either = (tree,), False
    concepts = [concept(c) for c in children]
    if None in concepts:
        return None
    if either:   # an OR of words: one concept; "a OR a" repeated terms count once
        concepts = [list(dict.fromkeys(t for c in concepts for t in c))]
    return concepts


class _TagScorer(scoring.BaseScorer):
    """A tag's posting scored as a word found once in a field of average length: its IDF."""

    def __init__(self, idf: float, max_weight: float):
        self._idf, self._max = idf, max_weight

    def supports_block_quality(self):
        return False

    def score(self, matcher):
        return self._idf * matcher.weight()

    def max_quality(self):
        return self._idf * self._max


class _BM25F(scoring.BM25F):
    """Whoosh's BM25F, with the tags a named place or body matches scored by their IDF
    (schema.SCORED_TAG_FIELDS)."""

    def scorer(self, searcher, fieldname, text, qf=1):
        if fieldname in SCORED_TAG_FIELDS:
            return _TagScorer(searcher.idf(fieldname, text), searcher.term_info(fieldname, text).max_weight())
        return super().scorer(searcher, fieldname, text, qf=qf)


class _RecencyBM25F(_BM25F):
    """BM25F times 0.5 ** (age / half-life), age counted from the newest item.

    Multiplying by an exponential decay ranks the same whatever the reference
    date; the newest item (or now, if an item claims a later date) is used so
    that scores stay put as days pass. Undated items get the decay of a
    ten-year-old item; ages are capped at 1,000 half-lives (no underflow to 0)."""

    use_final = True

    def __init__(self, factors: list[float]):
        super().__init__()
        self.factors = factors

    def final(self, searcher, docnum, score):
        return score * float(self.factors[docnum])   # a Python float, as before the factors were an array


_PINNED_FIELDS = frozenset((*FACET_FIELDS.values(), "f_month"))


class WhooshSnapshot:
    """One index generation as the search core sees it (core/protocol.py's
    Snapshot): a Whoosh searcher with the bitmaps, orders and score maps
    computed for it, shared by the threads reading the same generation."""

    def __init__(self, index, generation: Path | None, key=None, shared: dict | None = None):
        self.index = index
        self.generation = generation
        self.key = key
        self._closed = False
        self.searcher = index.searcher(weighting=_BM25F())
        reader = self.searcher.reader()
        # Bitmaps depend only on the generation's docnums: threads reading the
        # same generation share them (`shared`), so each is computed once.
        shared = {"lock": threading.Lock()} if shared is None else shared
        with shared["lock"]:  # the first thread of a generation sets it up; the others wait for it
            if "live" not in shared:
                mapped = self._mapped(generation, reader.doc_count_all())
                # the newest-first order lists every live document: 0.39 of 1.5 s of opening at 100k
                # went to asking Whoosh whether each document is deleted
                live = (derived.bitmap(np.asarray(mapped["order-newest"]), 0) if "order-newest" in mapped
                        else bits_of(reader.all_doc_ids()))
                shared.update(live=live, facet_terms={}, terms=Lru(TERM_CACHE_BYTES, weigh=_bitmap_bytes),
                              values={}, queries=Lru(QUERY_CACHE_BYTES, weigh=_bitmap_bytes), order=mapped,
                              segments=_segments(self.searcher))
            self._setup(index, shared)
            compat.share_idf(self.searcher, shared.setdefault("idf", {}))
            previous = None
            if not shared.get("warm"):
                self.warm()
                shared["warm"] = True
                previous = shared.pop("previous", None)
        if previous:   # outside the lock: shared_cache takes it
            self.warm_like(previous)

    def _setup(self, index, shared: dict) -> None:
        self._shared = shared
        self.live: int = shared["live"]
        # Facet values' bitmaps are kept for the generation's life; words' in an LRU (bounded memory).
        self._facet_terms: dict[tuple[str, str], int] = shared["facet_terms"]
        self._terms: Lru = shared["terms"]
        self._values: dict[str, list[str]] = shared["values"]
        self._queries: Lru = shared["queries"]
        self._order: dict = shared["order"]
        # Spelling fields this index has (an index built by an older version may lack some).
        self.spelling = tuple(f for f in SPELLING_FIELDS if f in index.schema)

    def warm(self) -> None:
        """Compute, once per generation, what every search needs: the bitmap of
        each facet value, the date orders and the story table. Then no user's
        first query pays for them."""
        for fieldname in (*FACET_FIELDS.values(), "f_month"):
            for value in self.values(fieldname):
                if self._pinned(fieldname, value):
                    self.term_bits(fieldname, value)
        self.position("newest")
        self.position("oldest")
        self.stories()
        for fieldname in TEXT_FIELDS:
            self.lengths(fieldname)
        self._warm_common_terms()

    def _warm_common_terms(self) -> None:
        """The bitmaps of the commonest title and excerpt terms, from their rows written at
        indexing (tables.dense_bitmaps), into the words' LRU, the commonest last (kept longest),
        at most half of it. A suggestion after a space and a letter ("children o") counts a dozen
        such words with the earlier words: in a new worker each was built by the first
        suggestions, from its postings (round 23: 7 ms at 100k for all of them here)."""
        width = (self.searcher.reader().doc_count_all() + 7) // 8 or 1
        for fieldname in tables.DENSE_FIELDS:
            table, dense = self._postings_table(fieldname), self._dense_table(fieldname)
            if table is None or dense is None or not len(dense.numbers):
                continue
            commonest = dense.numbers[np.argsort(np.diff(table.starts)[dense.numbers], kind="stable")]
            for n in commonest[-max(1, TERM_CACHE_BYTES // 2 // len(tables.DENSE_FIELDS) // width):].tolist():
                self.term_bits(fieldname, table.term(n).decode("utf-8"))

    def warm_like(self, previous: dict, seconds: float | None = None) -> int:
        """Compute in this generation what the previous one had cached, by key, most recently
        used first: each word's score arrays, each term's, and word bitmaps. The working set of
        everyone's queries, not only this process's last requests: after a switch, the first
        requests of words not replayed read their postings again (a search 260x its warm time
        at 10k). At most `seconds` before this generation serves, working half the time (the
        old generation serves meanwhile in the same interpreter); what is left goes on in a
        background thread for WARM_AFTER_SECONDS more, while it serves. (1,697 entries after
        10 typed queries at 10k took 1.9 s of work.) Returns how many were computed first."""
        keys = _cached_keys(previous, skip=self._carry(previous))
        done = self._warm_keys(keys, time.perf_counter() + (WARM_LIKE_SECONDS if seconds is None else seconds))
        if done < len(keys) and self.generation is not None:
            threading.Thread(target=_keep_warming, args=(self.generation, self.key, self._shared, keys[done:]),
                             daemon=True, name="searchapp-warm-more").start()
        return done

    def _carry(self, previous: dict) -> frozenset:
        """Take over what the previous generation computed about the documents both hold unchanged
        (_shared_documents), instead of computing it again: a bitmap's bits over those documents
        are the same, so only the new segments' bits are computed (an append's few documents), and
        their stored fields are the same. When every segment is the same, so are BM25F's
        statistics and spelling words, and score arrays, idf values and vocabularies are taken over
        too. Returns what was taken over, as _cached_keys's (kind, key), with a query's cache key
        and a stored document's docnum."""
        floor = _shared_documents(previous, self._shared)
        if not floor or "live" not in previous:
            return frozenset()
        same = previous.get("segments") == self._shared["segments"]
        low = (1 << floor) - 1
        taken = set()
        for key, bits in _entries_of(previous.get("terms")):   # least recently used first, as they were
            if not self._pinned(*key):
                self._terms.put(key, bits if same else (bits & low) | self._term_bits_from(*key, floor))
                taken.add(("bits", key))
        objects = previous.get("query-objects") or {}
        ours = self.shared_cache("query-objects", lambda: Lru(QUERY_OBJECTS))
        for key, bits in _entries_of(previous.get("queries")):
            query = objects.get(key)
            if query is not None:
                self._queries.put(key, bits if same else (bits & low) | self._evaluate(query, floor))
                ours.put(key, query)
                taken.add(("query", key))
        stored = self.shared_cache("stored", lambda: Lru(STORED_CACHE_BYTES, weigh=_stored_size))
        for docnum, fields in _entries_of(previous.get("stored")):
            if docnum < floor:
                stored.put(docnum, fields)
                taken.add(("stored", docnum))
        if same:
            for name, kind in (("word-arrays", "word"), ("term-arrays", "term")):
                cache = self.shared_cache(name, lambda: Lru(derived.TERM_CACHE_ENTRIES, weigh=derived.entries))
                for key, value in _entries_of(previous.get(name)):
                    cache.put(key, value)
                    taken.add((kind, key))
            for name, kind in (("idf", "idf"), ("vocabulary", "vocabulary")):
                cache = self._shared.setdefault(name, {}) if name == "idf" else self.shared_cache(name, dict)
                for key, value in _entries_of(previous.get(name)):
                    cache.setdefault(key, value)
                    taken.add((kind, key))
        return frozenset(taken)

    def _term_bits_from(self, fieldname: str, value: str, floor: int) -> int:
        """A term's live documents from docnum `floor` on, as a bitmap."""
        found = self.postings(fieldname, value)
        if found is None:
            return 0
        docs = np.asarray(found[0])
        return derived.bitmap(docs[np.searchsorted(docs, floor):], 0) & self.live

    def _warm_keys(self, keys: list, deadline: float, give_way: bool = False) -> int:
        """Compute `keys` until `deadline`, working half the time in slices of WARM_SLICE_SECONDS:
        a sleep per key (most take microseconds) cost a GIL hand-over each, up to 5 ms while a
        request runs, so at 10k items 14,000 keys took longer than the whole budget. `give_way`:
        while the generation serves, each key also waits while a request runs (processes.give_way)."""
        table, done = derived.arrays(self), 0
        slice_start = time.perf_counter()
        for kind, key in keys:
            started = time.perf_counter()
            if started > deadline or "live" not in self._shared:   # or a newer generation took over
                break
            if started - slice_start >= WARM_SLICE_SECONDS:
                time.sleep(max(0.0, min(started - slice_start, deadline - started)))
                slice_start = time.perf_counter()
            if give_way:
                waited_from = time.perf_counter()
                processes.give_way(deadline, WARM_GIVE_WAY_SECONDS)
                waited_until = time.perf_counter()
                if waited_until > deadline:
                    break
                slice_start += waited_until - waited_from   # the wait is no work (review 20b)
            if kind == "word":
                derived.word_arrays(self, key)
            elif kind == "term":
                if key[0] in self.index.schema:
                    table.term(self, *key)
            elif kind == "bits":
                self.term_bits(*key)
            elif kind == "idf":
                if key[0] in self.index.schema:
                    self.searcher.idf(*key)
            elif kind == "query":
                self.query_bits(key)
            elif kind == "vocabulary":
                if key[0] in self.index.schema:
                    self._vocabulary(*key)
            elif kind == "stored":   # the same document only: an incremental build keeps docnums, not contents' ids
                docnum, item_id = key
                if docnum < self.searcher.reader().doc_count_all() and self.title(docnum)[0] == item_id:
                    self.stored(docnum)
            done += 1
        return done

    def term_bits(self, fieldname: str, value: str) -> int:
        key = (fieldname, value)
        pinned = self._pinned(fieldname, value)
        bits = self._facet_terms.get(key) if pinned else self._terms.get_fresh(key)
        if bits is None:
            found = self.postings(fieldname, value)
            if found is None:
                return 0  # never pinned: a request may send any value
            # a common term's row of bits written at indexing, else from the stem tables, else a
            # block of postings at a time, into an array (one Python step per posting took 54 of
            # 147 s of the 100k suggestion profile); deleted documents go with `live`
            row = self.dense_row(fieldname, value)
            bits = (int.from_bytes(row.tobytes(), "little") if row is not None
                    else derived.bitmap(found[0], 0)) & self.live
            if pinned:
                self._facet_terms[key] = bits
            else:
                self._terms.put(key, bits)
        return bits

    def cached_bits(self, fieldname: str, value: str) -> int | None:
        """A term's bitmap when it is at hand (pinned, or in the LRU), else None: nothing is built."""
        key = (fieldname, value)
        return self._facet_terms.get(key) if self._pinned(fieldname, value) else self._terms.get_fresh(key)

    def counter(self, scope: int) -> ScopeCounts:
        """Counts of the documents of `scope` having a word or a facet value (scopecount.py)."""
        return ScopeCounts(self, scope)

    def value_key(self, facet: str, value: str) -> tuple[str, str]:
        return _FACET_FIELD[facet], value

    def postings(self, fieldname: str, value):
        """(docnums, weights) of a term's postings as arrays, None when the index does not have
        it. A title or excerpt stem's and a facet value's come from the generation's tables
        (mapped, shared by every worker, ready when a generation opens), the rest from Whoosh's
        posting blocks."""
        table = self._postings_table(fieldname)
        if table is not None:
            n = self._term_number(table, fieldname, value)
            return None if n < 0 else table.postings(n)
        if (fieldname, value) not in self.searcher.reader():
            return None
        return derived.postings(self.searcher, fieldname, value)

    def dense_row(self, fieldname: str, value):
        """A common term's documents as a row of packed bits (tables.dense_bitmaps: mapped, shared
        by every worker), None for a rarer term, another field, or a generation without them."""
        table, rows = self._postings_table(fieldname), self._dense_table(fieldname)
        if table is None or rows is None:
            return None
        n = self._term_number(table, fieldname, value)
        return None if n < 0 else rows.row(n)

    def _dense_table(self, fieldname: str):
        """A field's rows (tables.Dense), checked against its postings once per generation; None
        for another field, a generation without them, or rows that disagree."""
        if fieldname not in tables.DENSE_FIELDS:
            return None
        found = self._shared.get("dense")
        if found is None:
            found = self._shared.setdefault("dense", {f: tables.dense(self._order, f, self._postings_table(f))
                                                      for f in tables.DENSE_FIELDS})
        return found.get(fieldname)

    def _term_number(self, table, fieldname: str, value) -> int:
        """The term's number in the field's postings table, -1 when it has none; kept: the binary
        search steps through Python (a suggestion looks up ~25 terms: 0.1 of its 0.6 ms warm at
        100k). (Not shared_cache: its factories, and opening, hold the lock while they read postings.)"""
        places = self._shared.get("term-places")
        if places is None:
            places = self._shared.setdefault("term-places", Lru(TERM_PLACES))
        n = places.get_fresh((fieldname, value))
        if n is None:
            n = table.find(value)
            places.put((fieldname, value), n)
        return n

    def _postings_table(self, fieldname: str):
        """A field's postings table (tables.Postings), None when the generation has none for it.
        Through the shared dict, never kept by a snapshot: a switch drops it with the rest."""
        if fieldname not in tables.POSTING_FIELDS:
            return None
        found = self._shared.get("postings")
        if found is None:   # not shared_cache: opening holds its lock while it reads facet values
            found = self._shared.setdefault("postings", {f: tables.postings(self._order, f) for f in tables.POSTING_FIELDS})
        return found.get(fieldname)

    def _phrase_table(self, fieldname: str):
        """(tables.Postings, tables.Phrases) of a field whose words the generation keeps in order
        (tables.PHRASE_FIELDS), None for any other field or when it has none (then Whoosh's matchers)."""
        if fieldname not in tables.PHRASE_FIELDS:
            return None
        found = self._shared.get("phrases")
        if found is None:
            size = self.searcher.reader().doc_count_all()
            found = {}
            for name in tables.PHRASE_FIELDS:
                postings = self._postings_table(name)
                phrases = None if postings is None else tables.phrases(self._order, name, size, postings.size)
                found[name] = None if phrases is None else (postings, phrases)
            found = self._shared.setdefault("phrases", found)
        return found.get(fieldname)

    def values(self, fieldname: str) -> list[str]:
        if fieldname not in self._values:
            table = self._postings_table(fieldname)
            if table is not None:   # the terms of a facet field are its values (Whoosh encodes them in UTF-8)
                self._values[fieldname] = [table.term(n).decode("utf-8") for n in range(table.size)]
            else:
                self._values[fieldname] = list(self.searcher.reader().field_terms(fieldname))
        return self._values[fieldname]

    def query_bits(self, query: Q.Query) -> int:
        """The live documents matching a query, as a bitmap.

        Boolean structure is evaluated on cached per-term bitmaps, so a query
        costs a few big-int operations once its terms have been seen; only
        phrases, prefixes and ranges walk Whoosh's matchers."""
        if isinstance(query, Q.Every):
            return self.live
        if query is Q.NullQuery:
            return 0
        if type(query) is Q.Term:   # its own cache (term_bits)
            return self.term_bits(query.fieldname, query.text)
        # Keyed by repr, not by the query: Whoosh hashes a compound query as the
        # XOR of its parts, so every bare word (the same term in four fields)
        # had one hash, and an 83-word query spent 0.9 s comparing cache keys.
        key = repr(query)
        cached = self._queries.get_fresh(key)
        if cached is not None:
            return cached
        bits = self._evaluate(query)
        self._queries.put(key, bits)
        self.shared_cache("query-objects", lambda: Lru(QUERY_OBJECTS)).put(key, query)
        return bits

    def _evaluate(self, query: Q.Query, floor: int = 0, within: int | None = None) -> int:
        """A query's live documents. With `floor` (a segment boundary), only those from that
        docnum on (`within`: the live ones), nothing cached: the new part of a bitmap carried
        over from the previous generation (_carry)."""
        if floor:
            within = self.live >> floor << floor if within is None else within
            def part(child):
                return self._evaluate(child, floor, within)
        else:
            within, part = self.live, self.query_bits
        kind = type(query)
        if isinstance(query, Q.Every):
            return within
        if query is Q.NullQuery:
            return 0
        if kind is Q.Term:
            return self.term_bits(query.fieldname, query.text) & within
        if kind is Q.And:
            bits = within
            for child in query.subqueries:
                bits &= part(child)
                if not bits:
                    break
            return bits
        if kind is Q.Or and not getattr(query, "minmatch", 0):
            bits = 0
            for child in query.subqueries:
                bits |= part(child)
            return bits & within
        if kind is Q.AndNot:
            return part(query.a) & ~part(query.b) & within
        if kind is Q.Not:
            return within & ~part(query.query)
        if kind is Q.Phrase and query.slop == 1:
            return self._phrase_bits(query.fieldname, query.words, within)
        return bits_of(self._matching(query, floor)) & within

    def _matching(self, query: Q.Query, floor: int = 0):
        """The docnums Whoosh's matchers give for a query (deleted ones too), in the segments
        from docnum `floor` on, as Searcher.docs_for_query reads each segment."""
        if not floor:
            yield from self.searcher.docs_for_query(query)
            return
        for leaf, offset in self.searcher.leaf_searchers():
            if offset >= floor:
                for docnum in query.docs(leaf):
                    yield docnum + offset

    def _phrase_bits(self, fieldname: str, words, within: int | None = None) -> int:
        """The live documents with the words at consecutive positions: what
        Whoosh's Phrase (slop 1: its SpanNear2, ordered, each next word one
        position after the span so far) matches. Only documents having every
        word (their cached bitmaps) have positions read, each posting once;
        Whoosh's span matchers took 13 of 40 s of the 100k "facial…" typing
        profile computing the proximity pairs' and synonym phrases' bitmaps. `within`: of
        these live documents only."""
        candidates = self.live if within is None else within
        found = self._phrase_table(fieldname)
        if found is not None:
            postings, phrases = found
            numbers = [postings.find(word) for word in words]
            if min(numbers, default=-1) < 0 or not candidates:
                return 0
            first = (candidates & -candidates).bit_length() - 1   # where `within` starts (a carried bitmap's new part)
            return derived.bitmap(phrases.documents(numbers, first), 0) & candidates
        for word in words:
            candidates &= self.term_bits(fieldname, word)
            if not candidates:
                return 0
        found, every = [], docnums(candidates)
        for leaf, offset in self.searcher.leaf_searchers():
            reader = leaf.reader()
            end = offset + reader.doc_count_all()
            local = [d - offset for d in every if offset <= d < end]
            if not local:
                continue
            matchers = [reader.postings(fieldname, word) for word in words]
            for docnum in local:
                starts = None
                for n, matcher in enumerate(matchers):
                    matcher.skip_to(docnum)   # every word is in this document (the candidates' bitmaps)
                    positions = set(matcher.value_as("positions"))
                    starts = positions if n == 0 else {p for p in starts if p + n in positions}
                    if not starts:
                        break
                if starts:
                    found.append(docnum + offset)
        return bits_of(found)

    @staticmethod
    def _mapped(generation: Path | None, size: int) -> dict:
        """The generation's tables written at indexing (tables.py), memory-mapped: shared by every
        worker through the page cache, not computed by each. {} for a generation without them."""
        found = tables.load(generation)
        if any(len(values) != size for name, values in found.items() if name.split("-")[0] in tables.PER_DOCUMENT):
            return {}   # not this generation's documents: computed in memory instead
        if any(values.shape[1:] != ((size + 7) // 8,) for name, values in found.items() if name.startswith("dense-bits-")):
            return {}
        return found

    def _flags(self):
        """The live documents as a boolean array."""
        return flags_of(self.live, self.searcher.reader().doc_count_all())

    def order(self, sort: str):
        """Live docnums in date order ("newest" or "oldest"; undated last), ties by docnum (an array)."""
        key = "order-" + sort
        found = self._order.get(key)
        if found is None:   # the value itself is returned: a switch may empty this cache meanwhile
            found = self._order[key] = tables.order(tables.date_keys(self.searcher, sort), self._flags())
        return found

    def position(self, sort: str):
        """docnum -> its rank in a date order (an array; -1 for deleted documents)."""
        key = "position-" + sort
        found = self._order.get(key)
        if found is None:
            found = self._order[key] = tables.positions(self.order(sort), self.searcher.reader().doc_count_all())
        return found

    # -- scores: BM25F of bare words, computed once per word and generation

    def lengths(self, fieldname: str):
        """Each document's length in a field, as BM25F reads it (Whoosh keeps a byte), as float64."""
        key = "length-" + fieldname
        found = self._order.get(key)
        if found is None:
            found = self._order[key] = tables.lengths(self.searcher, fieldname)
        return found

    def word_scores(self, text: str) -> dict[int, float]:
        """docnum -> the score Whoosh's BM25F gives one bare word (its Or over
        the text fields), for every document that has it, one posting at a
        time: the reference that derived.word_arrays (what ranking reads)
        equals bit for bit. Not cached: a dict of ~100 B per posting."""
        searcher, weighting = self.searcher, self.searcher.weighting
        per_field = []
        for fieldname in TEXT_FIELDS:
            found: dict[int, float] = {}
            if (fieldname, text) in searcher.reader():
                idf = searcher.idf(fieldname, text)
                avgfl = searcher.avg_field_length(fieldname) or 1
                lengths = self.lengths(fieldname)
                B, K1 = weighting.B, weighting.K1
                for leaf, offset in searcher.leaf_searchers():
                    reader = leaf.reader()
                    if (fieldname, text) in reader:
                        for docnum, weight in reader.postings(fieldname, text).items_as("weight"):
                            docnum += offset
                            found[docnum] = scoring.bm25(idf, weight, lengths[docnum], avgfl, B, K1)
            per_field.append(found)
        title, excerpt, body, related = per_field
        scores = {}
        for docnum in set().union(*per_field):
            scores[docnum] = ((title.get(docnum, 0.0) + excerpt.get(docnum, 0.0))
                              + (body.get(docnum, 0.0) + related.get(docnum, 0.0)))
        return scores

    # -- stories: items of one story share a `story` value (singletons have none)

    def stories(self) -> tuple[int, Mapping[int, int], Mapping[int, tuple[int, ...]]]:
        """(bitmap of every story member but the first of each story, docnum ->
        story number, story number -> its live members), once per generation, as
        arrays (storytable.StoryTable). Only items with copies have a story."""
        found = self._order.get("stories")
        if found is None:
            found = self._story_table().mappings()
        # the value itself is returned: a switch may empty this generation's caches meanwhile
        # (a request still reading it then got a KeyError, a 500, in a review's live-refresh run)
        self._order["stories"] = found
        return found

    def _story_table(self) -> StoryTable:
        """From the generation's story table (tables.story_table) without a Python step per
        document (0.39 s at 100k); without the table (a generation written before it, or caches
        a switch emptied), from the story column, one pass."""
        of = self._order.get("story-of")
        if of is not None:
            return StoryTable(of, self._flags())
        values: list = []
        for leaf, _ in self.searcher.leaf_searchers():
            reader = leaf.reader()
            count = reader.doc_count_all()
            if reader.has_column("story"):
                column = reader.column_reader("story")
                values += (column[docnum] for docnum in range(count))
            else:   # a segment where no item has copies
                values += [None] * count
        return StoryTable.from_values(values, self._flags())

    def decay(self):
        """docnum -> the recency factor of "relevance + recency" (an array), once per generation."""
        found = self._order.get("decay")
        if found is None:
            found = self._order["decay"] = tables.decay(tables.date_keys(self.searcher, "newest"))[0]
        return found

    def recency_searcher(self):
        """A second searcher on the same reader whose scores decay with age."""
        if not hasattr(self, "_recency"):
            from whoosh.searching import Searcher

            self._recency = Searcher(self.searcher.reader(), weighting=_RecencyBM25F(self.decay()),
                                     closereader=False, fromindex=self.index)
            compat.share_idf(self._recency, self._shared.setdefault("idf", {}))
        return self._recency

    def close(self) -> None:
        """Close the searcher (its files); closing again does nothing (a switch may close an
        idle thread's snapshot before the thread itself moves on)."""
        if not self._closed:
            self._closed = True
            self.searcher.close()

    # ---------------------------------------------------------------- the protocol

    @property
    def doc_count(self) -> int:
        return self.searcher.doc_count()

    # The module's function itself, the same object for every snapshot: the service keys its compiled
    # synonym table (lru_cache) on it. A bound method was a new key per snapshot, so every server
    # thread recompiled the table (0.4 s) on its first request after each switch, and the cache held
    # the last four snapshots, their searchers and files, alive.
    analyze = staticmethod(analyze)

    def matches(self, tree) -> int:
        """The live documents matching a query tree, as a bitmap."""
        if type(tree) is ast.Everything:
            return self.live
        return self.query_bits(_compiled(tree))

    def matches_own_text(self, tree) -> int:
        """The live documents whose own text (not the titles of the items they
        list) matches a query tree: what an item is about, for coverage."""
        return self.query_bits(_compiled_own_text(tree))

    def filter_bits(self, filters: Filters) -> dict[str, int]:
        """One bitmap per active filter group (a facet's values, or the dates)."""
        groups: dict[str, int] = {}
        for facet, fieldname in FACET_FIELDS.items():
            values = filters.values(facet)
            if values:
                groups[facet] = self.query_bits(Q.Or([Q.Term(fieldname, v) for v in values]))
        if filters.date_from or filters.date_to:
            groups["date"] = self.dated_between(filters.date_from, filters.date_to)
        return groups

    def dated_between(self, first: dt.date | None, last: dt.date | None) -> int:
        """The live documents published on or after `first` and on or before `last` (UTC days;
        None: no bound), undated ones never: a slice of the oldest-first order, found by binary
        search in its sorted date keys (the `oldest_key` column; see schema.date_key)."""
        start = dt.datetime.combine(first, dt.time.min) if first else None
        end = dt.datetime.combine(last, dt.time.max) if last else None
        if "published" in self.searcher.schema:   # written before round 14: its keys were
            # int(timestamp()), a second off for fractions of a second before 1970 (review 14)
            return self.query_bits(Q.DateRange("published", start, end))
        key = f"dates {start} {end}"
        cached = self._queries.get_fresh(key)
        if cached is not None:
            return cached
        keys = self.sorted_dates()
        low = int(np.searchsorted(keys, date_key(start), "left")) if start else 0
        high = int(np.searchsorted(keys, date_key(end) if end else NO_DATE_KEY - 1, "right"))
        bits = derived.bitmap(np.asarray(self.order("oldest")[low:high]), 0)
        self._queries.put(key, bits)
        return bits

    def sorted_dates(self):
        """The date keys of the oldest-first order, in its order (ascending; undated: NO_DATE_KEY).
        The table written at indexing when it fits the order (review 14: a damaged one, cut
        short or stored as int32, answered wrong dates); else computed from the column."""
        found = self._shared.get("dates-oldest")
        if found is None:
            found = self._order.get("dates-oldest")
            if not tables.fits_order(found, self.order("oldest")):
                found = tables.date_keys(self.searcher, "oldest")[self.order("oldest")]
            found = self._shared["dates-oldest"] = found
        return found

    def facet_values(self, facet: str) -> list[str]:
        return self.values(_FACET_FIELD[facet])

    def value_bits(self, facet: str, value: str) -> int:
        return self.term_bits(_FACET_FIELD[facet], value)

    def value_counts(self, facet: str, scope: int) -> list[int]:
        """Each of facet_values(facet)'s number of live items in `scope`, in that order."""
        fieldname = _FACET_FIELD[facet]
        values = self.values(fieldname)
        scope &= self.live
        counter = self._field_counter(fieldname)
        if counter is None:   # no postings table: a bitmap per value
            return [(scope & self.term_bits(fieldname, v)).bit_count() if scope else 0 for v in values]
        return counter.counts(scope, lambda n: self.term_bits(fieldname, values[n])).tolist()

    def _field_counter(self, fieldname: str) -> FieldCounter | None:
        """A facet field's counter (facetcount.py), once per generation; None without its postings table."""
        # not shared_cache: warm() asks for it with the generation's lock held (setdefault is atomic);
        # nothing is kept once a switch emptied this generation's caches (a request still on it)
        counters = self._shared.setdefault("facet-counters", {}) if "live" in self._shared else {}
        if fieldname not in counters:
            table = self._postings_table(fieldname)
            counters[fieldname] = None if table is None else FieldCounter(
                table.starts, table.docs, self.searcher.reader().doc_count_all(), self.values(fieldname))
        return counters[fieldname]

    def _pinned(self, fieldname: str, value: str) -> bool:
        """Whether a term's bitmap is kept for the generation's life: a facet value's, when the
        value is common (facetcount.is_common) or the generation has no postings table for its
        field; the rest go to the bounded LRU with the words' (a filter on a rare value)."""
        if fieldname not in _PINNED_FIELDS:
            return False
        counter = self._field_counter(fieldname)
        return counter is None or value in counter.common_values

    def ranked(self, tree, bits: int, limit: int, sort: str, restricted: bool,
               boosts: tuple[tuple[int, float], ...] = ()) -> list[tuple[float | None, int]]:
        """The first `limit` documents of `bits` as (score, docnum). By date:
        straight from a presorted order (no scoring). By relevance: bare words
        from the cached per-word BM25F scores, anything else by Whoosh's BM25F
        with an exact collector; `restricted` when `bits` is narrower than the
        query's own matches (filters, or a second tier). "recent" decays each
        score by age. `boosts`: (bitmap, factor) pairs multiplying the scores
        of the documents in the bitmap."""
        if sort in ("newest", "oldest"):
            return [(None, d) for d in self.first_by_date(bits, sort, limit)]
        concepts = word_concepts(tree, analyze)
        if concepts is not None:
            return self._top_by_word_scores(concepts, bits, limit, sort == "recent", boosts)
        # scored from the terms' arrays, not by Whoosh's matchers (derived.py): "facial
        # recognition ba" at 100k items had Whoosh score 23,000 matches for 10 hits
        top = derived.modelled_top(self, _compiled(tree), bits, limit, boosts, sort == "recent")
        if top is not None:
            return top
        searcher = self.recency_searcher() if sort == "recent" else self.searcher
        # restricted: only the documents of `bits` are visited (skip_to), not every match of the
        # query ("gdpr" with its synonym phrases over 23 candidates: 1.1 s -> a few ms). A query
        # with ANDNOT always is: Whoosh's AndNot matcher let through an item its negative part
        # matches ("antitrust ANDNOT FTC" ranked the FTC story our bitmaps had left out).
        within = docnums(bits) if restricted or _negated(tree) else None
        query = self.scored_query(_compiled(tree), searcher)
        if not boosts:
            return list(compat.exact_top(searcher, query, limit, None, None, within).top_n)
        everything = compat.exact_top(searcher, query, bits.bit_count(), None, None, within).top_n
        return _boosted(everything, boosts, limit)

    def scored_query(self, query: Q.Query, searcher) -> Q.Query:
        """The query as Whoosh scores it for `searcher` (this generation's, or its recency
        searcher), each phrase matched from its bitmap rather than its positions
        (compat.KnownPhrase): the same scores, without Whoosh's span matchers."""
        size = self.searcher.reader().doc_count_all()
        return compat.known_phrases(query, searcher,
                                    lambda phrase: np.flatnonzero(flags_of(self.query_bits(phrase), size)).tolist())

    def _top_by_word_scores(self, concepts, bits, limit, recent, boosts=()):
        """The exact top `limit` of `bits` by the sum of weight x BM25F score
        of the words each document has, ties by docnum (in arrays: derived.word_top)."""
        return derived.word_top(self, [(t, w) for c in concepts for t, w in c], bits, limit, recent, boosts)

    def first_by_date(self, bits: int, sort: str, limit: int) -> list[int]:
        """The first `limit` documents of a bitmap in date order, without scoring."""
        if limit <= 0 or not bits:
            return []
        if bits.bit_count() <= 2000:  # few: sort them by their ranks
            found = docnum_array(bits)
            return found[np.argsort(self.position(sort)[found], kind="stable")][:limit].tolist()
        order = self.order(sort)   # many: walk the order a slice at a time
        flags = flags_of(bits, self.searcher.reader().doc_count_all())
        top: list[int] = []
        for start in range(0, order.size, 4096):
            part = order[start:start + 4096]
            top += part[flags[part]][:limit - len(top)].tolist()
            if len(top) >= limit:
                break
        return top

    def record(self, docnum: int) -> dict:
        """What the index stored for a document (see backends/whoosh/schema.stored_doc)."""
        return self.stored(docnum)["doc"]

    def stored(self, docnum: int) -> dict:
        """A document's stored fields, kept for the generation (bounded by their text's size): the
        same items are listed and highlighted keystroke after keystroke, and reading one cost
        1.6 ms at 10k items (13 of 152 s of the typing profile), 20 ms at 100k."""
        cache = self.shared_cache("stored", lambda: Lru(STORED_CACHE_BYTES, weigh=_stored_size))
        found = cache.get_fresh(docnum)
        if found is None:
            found = self.searcher.stored_fields(docnum)
            cache.put(docnum, found)
        return found

    def title(self, docnum: int) -> tuple[str, str]:
        """(item id, title) of a document: from the generation's table, without reading the
        stored document (its body included); what suggestions list for every keystroke."""
        found = self.shared_cache("texts", lambda: (tables.texts(self._order, "ids"),
                                                    tables.texts(self._order, "titles")))
        if found[0] is None or found[1] is None:
            doc = self.record(docnum)
            return doc["id"], doc["title"]
        return found[0][docnum], found[1][docnum]

    def document(self, item_id: str) -> dict | None:
        found = self.searcher.document(id=item_id)
        return found["doc"] if found is not None else None

    def highlights(self, tree, docnum: int, score) -> tuple[dict, str, str]:
        """(the stored record, the title as HTML, a snippet as HTML): everything
        escaped, the query's words in <mark>; the excerpt, else the best
        passages of the body, else the start of the excerpt or body."""
        hit = compat.results(self.searcher, _compiled(tree), [(score, docnum)], _WHOLE)[0]
        stored = self.stored(docnum)   # texts are given to the highlighter: the hit's own fields are never read
        doc = stored["doc"]
        title_html = _WHOLE.highlight_hit(hit, "title", text=doc["title"], top=1, minscore=1)
        snippet = _WHOLE.highlight_hit(hit, "excerpt", text=doc["excerpt"], top=1, minscore=1)
        if not snippet:
            body = stored.get("body") or ""
            if body:
                snippet = _CONTEXT.highlight_hit(hit, "body", text=body, top=2, minscore=1)
        if not snippet:
            snippet = html.escape(_shorten(doc["excerpt"] or stored.get("body", "")), quote=True)
        return doc, title_html or html.escape(doc["title"], quote=True), snippet

    # -- words: spelling and completion

    def known(self, word: str) -> bool:
        """Whether the index has the word anywhere: a title or excerpt word as
        written, or its stem in any text field (a word only in bodies is no typo)."""
        reader = self.searcher.reader()
        # the cached vocabulary, not the term files (a 30-word query of unknown words: 30 lookups each)
        if word and any(word in self._vocabulary(field, word[:1]).get(len(word), ()) for field in self.spelling):
            return True
        terms = analyze(None, word)
        return bool(terms) and all(any(self._has(reader, field, t) for field in TEXT_FIELDS) for t in terms)

    def _has(self, reader, fieldname: str, text: str) -> bool:
        """Whether a field has a term: from its postings table when it has one (Whoosh's term
        dictionary is read from disk, 11 of 41 s of the 10k suggestion profile in spelling)."""
        table = self._postings_table(fieldname)
        return table.find(text) >= 0 if table is not None else (fieldname, text) in reader

    def neighbours(self, word: str, maxdist: int) -> dict[str, int]:
        """Indexed words (unstemmed, titles and excerpts) within `maxdist`
        edits of `word`, sharing its first letter, with their document counts."""
        reader = self.searcher.reader()
        # Whoosh measures as its terms_within does: one segment walks a Levenshtein automaton,
        # several compare each word by Damerau-Levenshtein (a swap is one edit; Whoosh's is the
        # restricted kind, optimal string alignment). rapidfuzz computes the same distances in C
        # over the whole list: Whoosh's pure-Python ones took 92 of 153 ms of the slowest
        # suggestions at 10k (3,389 comparisons); tests/test_spelling_distance.py checks they agree.
        scorer = Levenshtein.distance if reader.is_atomic() else OSA.distance
        candidates: dict[str, int] = {}
        for field in self.spelling:
            # what reader.terms_within(field, word, maxdist, prefix=1) yields, without decoding the
            # letter's terms on every call, and measuring only words whose length is within
            # maxdist (no closer word can differ more in length): a unique typo 140 -> 30 ms
            by_length = self._vocabulary(field, word[:1])
            table = tables.words(self._order, field)   # the counts written at indexing, else Whoosh's
            frequency = table.count if table is not None else (lambda term: reader.doc_frequency(field, term))
            for size in range(len(word) - maxdist, len(word) + maxdist + 1):
                terms = by_length.get(size)
                if not terms:
                    continue
                for term, _, _ in rf_process.extract_iter(word, terms, scorer=scorer, score_cutoff=maxdist):
                    candidates[term] = candidates.get(term, 0) + frequency(term)
        return candidates

    def _vocabulary(self, field: str, letter: str) -> dict[int, list[str]]:
        """A spelling field's words starting with `letter`, by length; once per generation."""
        cache = self.shared_cache("vocabulary", dict)
        found = cache.get((field, letter))
        if found is None:
            fieldobj, found = self.index.schema[field], {}
            table = tables.words(self._order, field)
            if table is not None:   # the word table, not the term dictionary on disk
                words = (word for word, _ in table.prefixed(letter, table.size))
            else:
                words = (fieldobj.from_bytes(term) for term in self.searcher.reader().expand_prefix(field, letter))
            for word in words:
                found.setdefault(len(word), []).append(word)
            cache[(field, letter)] = found
        return found

    def completions(self, prefix: str, limit: int = 300) -> dict[str, int]:
        """Indexed words (unstemmed) starting with `prefix`, with their document counts
        (a copy of the generation's cached answer)."""
        cache = self.shared_cache("completions", lambda: Lru(COMPLETION_CACHE_WORDS, weigh=lambda c: max(1, len(c))))
        found = cache.get_fresh((prefix, limit))
        if found is None:
            found = self._completions(prefix, limit)
            cache.put((prefix, limit), found)
        return dict(found)

    def _completions(self, prefix: str, limit: int) -> dict[str, int]:
        reader = self.searcher.reader()
        counts: dict[str, int] = {}
        for field in self.spelling:
            table = tables.words(self._order, field)
            if table is not None:   # written at indexing: the same words and counts, found faster
                for word, count in table.prefixed(prefix, limit):
                    counts[word] = counts.get(word, 0) + count
                continue
            for n, term in enumerate(reader.expand_prefix(field, prefix)):
                if n >= limit:
                    break
                word = term.decode("utf-8") if isinstance(term, bytes) else term
                counts[word] = counts.get(word, 0) + reader.doc_frequency(field, word)
        return counts

    def head_scores(self, term: str, docnums: list[int]) -> list[float]:
        """The BM25F score of an indexed term in the title and excerpt of each
        document (0 without it), from the cached per-term arrays."""
        table = derived.arrays(self)
        wanted = np.asarray(docnums, dtype=np.int64)
        total = np.zeros(wanted.size)
        for fieldname in ("title", "excerpt"):
            docs, scores = table.term(self, fieldname, term)
            if docs.size:
                at = np.minimum(np.searchsorted(docs, wanted), docs.size - 1)
                total += np.where(docs[at] == wanted, scores[at], 0.0)
        return total.tolist()

    def word_bits(self, word: str) -> int:
        """The documents with this word (stemmed) in the title or excerpt."""
        stem = _stem(word)
        return self.term_bits("title", stem) | self.term_bits("excerpt", stem)

    def title_bits(self, word: str) -> int:
        return self.term_bits("title", _stem(word))

    def stem(self, word: str) -> str:
        return _stem(word)

    def shared_cache(self, name: str, factory):
        """A cache kept with this generation's bitmaps, shared by every thread reading it."""
        cache = self._shared.get(name)
        if cache is None:
            with self._shared["lock"]:
                cache = self._shared.get(name)   # again: another thread may have built it meanwhile
                if cache is None:
                    cache = self._shared[name] = factory()
        return cache
