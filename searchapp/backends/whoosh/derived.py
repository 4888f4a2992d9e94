"""Per-generation numpy arrays behind exact ranking without scoring every match.

Profile of the typing workload at 100k items: "facial recognit…" (a synonym
group with a phrase, plus proximity boosts) spent 81 of 99 s in Whoosh's
matchers, walking all ~46,000 matches to score them, when the page shows 10.

Here every match gets an upper bound on its score instead, computed with
array arithmetic from each term's BM25F scores (cached per term and
generation): Whoosh scores a document as the sum of its matching leaves'
term scores (Or and And sum their matching children, a phrase sums its
terms, boosts multiply), so the sum of those term scores over the matching
leaves, times the proximity boosts and the recency factor, bounds it.
Whoosh then scores exactly only the best-bounded candidates, in growing
batches, until the last of the top N scores more than any bound left: the
same scores and ranks as scoring every match (ties by docnum), at the cost
of the few candidates. A query the bound does not model (a prefix, a
wildcard, minmatch) returns None: the caller scores every match as before.
Any exact score above its bound (a model that no longer holds) does too.
"""

from __future__ import annotations

import heapq

import numpy as np
from whoosh import query as Q

from searchapp.backends.whoosh import compat
from searchapp.bitmaps import as_bytes, bits_of_flags, flags_of
from searchapp.lru import Lru

MARGIN = 1e-6           # bounds are raised by this share: summation order and rounding differ from Whoosh's
FIRST_BATCH = 32        # candidates scored exactly in the first round (then twice as many each round)
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
        else:   # a field without lengths (the tags): Whoosh scores the posting's weight
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


def bound(snapshot, query) -> np.ndarray | None:
    """Per document, an upper bound (up to rounding) of the score Whoosh gives
    it for `query`, 0 where it does not match; None for a query not modelled."""
    table = arrays(snapshot)
    return _bound(snapshot, table, query)


def _bound(snapshot, table: Arrays, query) -> np.ndarray | None:
    kind = type(query)
    if query is Q.NullQuery or kind is Q.NullQuery.__class__:
        return np.zeros(table.size)
    boost = getattr(query, "boost", 1.0)
    if kind is Q.Term:
        out = np.zeros(table.size)
        if query.fieldname not in snapshot.index.schema:
            return None
        docs, scores = table.term(snapshot, query.fieldname, query.text)
        out[docs] = scores
        return out * boost if boost != 1.0 else out
    if kind is Q.Phrase:
        if query.fieldname not in snapshot.index.schema:
            return None
        out = np.zeros(table.size)
        for word in query.words:
            docs, scores = table.term(snapshot, query.fieldname, word)
            out[docs] += scores
        out *= flags_of(snapshot.query_bits(query), table.size)
        return out * boost if boost != 1.0 else out
    if isinstance(query, Q.Or) and kind is not Q.DisjunctionMax:
        if getattr(query, "minmatch", 0) or getattr(query, "scale", None):
            return None
        parts = [_bound(snapshot, table, q) for q in query.subqueries]
        if any(p is None for p in parts):
            return None
        out = np.sum(parts, axis=0) if parts else np.zeros(table.size)
        return out * boost if boost != 1.0 else out
    if kind is Q.And:
        parts = [_bound(snapshot, table, q) for q in query.subqueries]
        if any(p is None for p in parts):
            return None
        out = np.sum(parts, axis=0) if parts else np.zeros(table.size)
        out *= flags_of(snapshot.query_bits(query), table.size)
        return out * boost if boost != 1.0 else out
    return None


def _boosted(score: float, docnum: int, marks) -> float:
    for data, factor in marks:   # as snapshot._boosted multiplies: in the boosts' order
        if docnum >> 3 < len(data) and data[docnum >> 3] >> (docnum & 7) & 1:
            score *= factor
    return score


def bounded_top(snapshot, searcher, query, bits: int, limit: int, boosts=(), recent: bool = False):
    """The exact top `limit` of `bits` for a Whoosh query as (score, docnum),
    score times the boosts of the boost bitmaps holding the document, ties by
    docnum; Whoosh scores only candidates whose bound could still enter the
    top. None when the query is not modelled or a bound does not hold."""
    if limit <= 0 or not bits:
        return []
    table = arrays(snapshot)
    upper = _bound(snapshot, table, query)
    if upper is None:
        return None
    candidates = np.flatnonzero(flags_of(bits, table.size))
    upper = upper[candidates]
    for boost_bits, factor in boosts:
        if factor > 1:
            upper = np.where(flags_of(boost_bits, table.size)[candidates], upper * factor, upper)
        elif factor < 1:
            return None
    if recent:
        upper = upper * table.decay(snapshot)[candidates]
    upper = upper * (1 + MARGIN)
    ranking = np.argsort(-upper, kind="stable")
    marks = [(as_bytes(b), factor) for b, factor in boosts]
    query = snapshot.scored_query(query, searcher)   # its phrases' bitmaps: _bound computed them
    scored: list[tuple[float, int]] = []    # (-final score, docnum)
    start, batch = 0, max(FIRST_BATCH, 2 * limit)
    while start < ranking.size:
        chosen = ranking[start:start + batch]
        start += batch
        ceiling = dict(zip(candidates[chosen].tolist(), upper[chosen].tolist()))
        within = sorted(ceiling)
        for score, docnum in compat.exact_top(searcher, query, len(within), None, None, within).top_n:
            final = _boosted(score, docnum, marks)
            if final > ceiling[docnum]:
                return None   # the model does not hold for this query: the caller scores every match
            scored.append((-final, docnum))
        if len(scored) >= limit and start < ranking.size:
            kth = heapq.nsmallest(limit, scored)[-1]
            if -kth[0] > upper[ranking[start]]:
                break
        batch *= 2
    top = heapq.nsmallest(limit, scored)
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
    from searchapp.backends.whoosh.schema import TEXT_FIELDS

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
    if recent:
        total *= table.decay(snapshot)
    for boost_bits, factor in boosts:
        chosen = flags_of(boost_bits, table.size)
        total[chosen] *= factor
    docs = np.flatnonzero(flags_of(bits, table.size))
    values = total[docs]
    if values.size > limit:   # only those at or above the limit-th best can be in the top (ties kept)
        kth = np.partition(values, values.size - limit)[values.size - limit]
        keep = values >= kth
        docs, values = docs[keep], values[keep]
    top = heapq.nsmallest(limit, zip((-values).tolist(), docs.tolist()))
    return [(-negative, d) for negative, d in top]
