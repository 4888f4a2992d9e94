"""Per-generation numpy arrays behind ranking without Whoosh's matchers.

Profile of the typing workload at 100k items: "facial recognit…" (a synonym
group with a phrase, plus proximity boosts) spent 81 of 99 s in Whoosh's
matchers, walking all ~46,000 matches to score them, when the page shows 10.

Every term's BM25F scores are computed once per generation as arrays (cached
per term), and a query's scores are summed from them the way Whoosh's
matchers score it: a document scores the sum of its matching leaves' term
scores (Or and And sum their matching children, a phrase sums its terms,
boosts multiply), then the recency factor and the proximity boosts. Bare
words (word_top) give Whoosh's scores bit for bit; a compiled query
(modelled_top) gives them up to its last bits, since Whoosh sums in the order
of matcher trees it builds per segment. A query the model does not cover (a
prefix, a wildcard, minmatch, a NOT) returns None: the caller has Whoosh
score it.

Until round 19 these sums were only upper bounds, and Whoosh scored the
best-bounded candidates: at 300k items, 7.9 of the typing workload's 29.6 s
under the profiler, in 70 of its 845 requests, for the same ranks.
"""

from __future__ import annotations

import heapq

import numpy as np
from whoosh import query as Q

from searchapp.backends.whoosh import compat
from searchapp.backends.whoosh.schema import SCORED_TAG_FIELDS, TEXT_FIELDS
from searchapp.bitmaps import bits_of_flags, flags_of
from searchapp.lru import Lru

TERM_CACHE_ENTRIES = 1_000_000   # postings kept as (docnums, scores) arrays per generation, each cache (16 B each: 16 MB)



class Arrays:
    """One generation's arrays, shared by its threads (kept in the snapshot's shared dict)."""

    def __init__(self, snapshot):
        self.size = snapshot.searcher.reader().doc_count_all()
        self._lengths: dict[str, np.ndarray] = {}
        self._decay: np.ndarray | None = None

    def lengths(self, snapshot, fieldname: str) -> np.ndarray:
        found = self._lengths.get(fieldname)
        if found is None:
            found = self._lengths[fieldname] = np.asarray(snapshot.lengths(fieldname), dtype=np.float64)
        return found

    def decay(self, snapshot) -> np.ndarray:
        if self._decay is None:
            self._decay = np.asarray(snapshot.decay(), dtype=np.float64)
        return self._decay

    def term(self, snapshot, fieldname: str, text) -> tuple[np.ndarray, np.ndarray]:
        """(docnums, BM25F scores) of one term's postings, as Whoosh's scorer computes them."""
        cache = snapshot.shared_cache("term-arrays", lambda: Lru(TERM_CACHE_ENTRIES, weigh=entries))
        key = (fieldname, text)
        found = cache.get_fresh(key)
        if found is not None:
            return found
        searcher = snapshot.searcher
        docs, tf = snapshot.postings(fieldname, text) or _NONE
        tf = np.asarray(tf, dtype=np.float64)
        if docs.size and snapshot.index.schema[fieldname].scorable:
            weighting = searcher.weighting   # BM25F (the recency searcher's too, before its final factor)
            idf = searcher.idf(fieldname, text)
            avgfl = searcher.avg_field_length(fieldname) or 1
            B, K1 = weighting.B, weighting.K1   # as word_scores (no field has its own B)
            fl = self.lengths(snapshot, fieldname)[docs]
            scores = idf * ((tf * (K1 + 1)) / (tf + K1 * ((1 - B) + B * fl / avgfl)))
        elif fieldname in SCORED_TAG_FIELDS:   # a named place's or body's tag: its IDF (snapshot._BM25F)
            scores = tf * searcher.idf(fieldname, text)
        else:   # another field without lengths: Whoosh scores the posting's weight
            scores = tf
        found = (docs, scores)
        cache.put(key, found)
        return found


def postings(searcher, fieldname: str, text) -> tuple[np.ndarray, np.ndarray]:
    """(docnums, weights) of a term's postings in every segment (deleted documents included)."""
    ids, weights = [np.zeros(0, dtype=np.int64)], [np.zeros(0)]
    for leaf, offset in searcher.leaf_searchers():
        reader = leaf.reader()
        if (fieldname, text) in reader:
            found, weight = compat.posting_blocks(reader, fieldname, text)
            ids.append(np.asarray(found, dtype=np.int64) + offset)
            weights.append(np.asarray(weight, dtype=np.float64))
    return np.concatenate(ids), np.concatenate(weights)


_NONE = (np.zeros(0, dtype=np.int64), np.zeros(0))


def bitmap(docs: np.ndarray, size: int) -> int:
    """Docnums (an array) -> a bitmap int, as bitmaps.bits_of, without a Python loop per document."""
    flags = np.zeros(max(size, int(docs.max()) + 1 if docs.size else 0), dtype=bool)
    flags[docs] = True
    return bits_of_flags(flags)


def entries(value) -> int:
    return max(1, len(value[0]))


def arrays(snapshot) -> Arrays:
    return snapshot.shared_cache("derived-arrays", lambda: Arrays(snapshot))


def modelled_top(snapshot, query, bits: int, limit: int, boosts=(), recent: bool = False):
    """The top `limit` of `bits` for a compiled query as (score, docnum), ties
    by docnum, scored with numpy from the terms' cached BM25F arrays as
    Whoosh's matchers score it, times the recency factor, then each boost in
    turn; None for a query the model does not cover (the caller lets Whoosh
    score it). The sums run in another order than Whoosh's matcher trees
    (which follow each segment's term sizes), so a score may differ from
    Whoosh's in its last bits: 5e-16 of it at most, with the same ranks, on
    the 482 scored rankings of the typing workload at 10k and 300k items and
    of the judged queries (round 19). At 300k items Whoosh scoring only the
    candidates took 9.7 s over those 141 rankings of the typing workload (a
    matcher tree built per segment, then skipping through posting blocks);
    these sums took 1.6 s."""
    if limit <= 0 or not bits:
        return []
    table = arrays(snapshot)
    total = np.zeros(table.size)
    if not _add_scores(snapshot, table, query, total, 1.0):
        return None
    # only the documents the query matches: a caller's bitmap may hold others
    return _top(snapshot, table, total, bits & snapshot.query_bits(query), limit, recent, boosts)


def _add_scores(snapshot, table: Arrays, query, out: np.ndarray, factor: float) -> bool:
    """Add `factor` x each document's score for `query` into `out`; False for
    a query the model does not cover. Whoosh scores a document as the sum of
    its matching leaves' term scores: an Or sums the parts that match, an And
    and a phrase sum theirs where all match, a boost multiplies."""
    kind = type(query)
    if query is Q.NullQuery or kind is Q.NullQuery.__class__:
        return True
    union = isinstance(query, Q.Or) and kind is not Q.DisjunctionMax
    if union or kind is Q.And:
        if not query.subqueries:   # Whoosh matches nothing; our bitmaps read an empty And as everything
            return False
        if len(query.subqueries) == 1:   # Whoosh scores the part alone, without the compound's boost
            return _add_scores(snapshot, table, query.subqueries[0], out, factor)
    factor *= getattr(query, "boost", 1.0)
    if kind is Q.Term:
        if query.fieldname not in snapshot.index.schema:
            return False
        docs, scores = table.term(snapshot, query.fieldname, query.text)
        out[docs] += scores * factor if factor != 1.0 else scores
        return True
    if kind is Q.Phrase:
        if query.fieldname not in snapshot.index.schema:
            return False
        inside = flags_of(snapshot.query_bits(query), table.size)
        for word in query.words:
            docs, scores = table.term(snapshot, query.fieldname, word)
            keep = inside[docs]
            out[docs[keep]] += scores[keep] * factor if factor != 1.0 else scores[keep]
        return True
    if union:
        if getattr(query, "minmatch", 0) or getattr(query, "scale", None):
            return False
        return all(_add_scores(snapshot, table, part, out, factor) for part in query.subqueries)
    if kind is Q.And:
        inside = np.zeros(table.size)
        if not all(_add_scores(snapshot, table, part, inside, factor) for part in query.subqueries):
            return False
        inside *= flags_of(snapshot.query_bits(query), table.size)
        out += inside
        return True
    return False


def _top(snapshot, table: Arrays, total: np.ndarray, bits: int, limit: int, recent: bool, boosts):
    """The `limit` best documents of `bits` by `total` times the recency factor, then each
    boost in turn (Whoosh's order), as (score, docnum), ties by docnum. `total` is changed."""
    if recent:
        total *= table.decay(snapshot)
    for boost_bits, factor in boosts:
        total[flags_of(boost_bits, table.size)] *= factor
    docs = np.flatnonzero(flags_of(bits, table.size))
    values = total[docs]
    if values.size > limit:   # only those at or above the limit-th best can be in the top (ties kept)
        kth = np.partition(values, values.size - limit)[values.size - limit]
        keep = values >= kth
        docs, values = docs[keep], values[keep]
    top = heapq.nsmallest(limit, zip((-values).tolist(), docs.tolist()))
    return [(-negative, d) for negative, d in top]


def word_arrays(snapshot, text: str) -> tuple[np.ndarray, np.ndarray]:
    """A bare word's BM25F scores (its Or over the text fields) as (docnums,
    scores) arrays, cached per generation: bit for bit snapshot.word_scores
    (the per-posting Python loop, kept as the reference), from posting blocks
    and array arithmetic. Its dict cache held ~100 B per posting (up to
    200 MB per worker); these arrays hold 12."""
    cache = snapshot.shared_cache("word-arrays", lambda: Lru(TERM_CACHE_ENTRIES, weigh=entries))
    found = cache.get_fresh(text)
    if found is None:
        found = _word_arrays(snapshot, text)
        cache.put(text, found)
    return found


def _word_arrays(snapshot, text: str) -> tuple[np.ndarray, np.ndarray]:
    searcher, table = snapshot.searcher, arrays(snapshot)
    weighting, schema = searcher.weighting, snapshot.index.schema
    present = np.zeros(table.size, dtype=bool)
    per_field = []
    for fieldname in TEXT_FIELDS:
        out = np.zeros(table.size)
        found = snapshot.postings(fieldname, text)
        if found is not None:
            docs, block = found[0], np.asarray(found[1], dtype=np.float64)
            # word_scores reads weights as items_as("weight") does: the frequency
            # x the field's boost, in double precision; a block keeps that in single
            boost = schema[fieldname].format.field_boost
            tf = np.rint(block / boost) * boost
            idf = searcher.idf(fieldname, text)
            avgfl = searcher.avg_field_length(fieldname) or 1
            B, K1 = weighting.B, weighting.K1
            fl = table.lengths(snapshot, fieldname)[docs]
            out[docs] = idf * ((tf * (K1 + 1)) / (tf + K1 * ((1 - B) + B * fl / avgfl)))
            present[docs] = True
        per_field.append(out)
    title, excerpt, body, related = per_field
    total = (title + excerpt) + (body + related)   # word_scores' order of additions
    docs = np.flatnonzero(present)
    return docs.astype(np.int32), total[docs]


def word_top(snapshot, weighted: list[tuple[str, float]], bits: int, limit: int, recent: bool, boosts=()):
    """The exact top `limit` of `bits` by the sum of weight x word score, as
    (score, docnum), ties by docnum. The same floating-point operations, in the
    same order, as summing document by document in Python (0.0 + each word's
    term in turn, then the recency factor, then each boost in turn), so the
    same scores bit for bit; array arithmetic instead of a Python loop over
    every document of `bits` (5.9 s of the 100k typing profile)."""
    if limit <= 0 or not bits:
        return []
    table = arrays(snapshot)
    total = np.zeros(table.size)
    plain = all(w == 1.0 for _, w in weighted)
    for text, w in weighted:
        docs, scores = word_arrays(snapshot, text)
        total[docs] += scores if plain else w * scores
    return _top(snapshot, table, total, bits, limit, recent, boosts)
