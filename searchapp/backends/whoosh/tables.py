"""Per-generation tables computed once, at indexing, and memory-mapped by every reader.

Each server worker used to build these for itself on every new generation:
the date orders and each document's rank in them (Python lists and dicts,
~36 and ~100 B a document), the field lengths BM25F reads and the recency
factors; each spelling field's words with their counts (completions), each
document's id and title (suggestions). They are written into the
generation as one file, `tables.<generation>.bin` (the length of a JSON
index of the arrays, the index, then each array, 64-byte aligned; listed in
its manifest like every other file), and mapped with `np.memmap`, so the
workers share the operating system's page cache instead of holding private
copies, and a new generation starts with them ready.

A generation written before these files existed (or a reader given no
generation folder) computes the same arrays in memory: `compute`.

The name carries the generation's name: an incremental build starts from hard
links to the previous generation's files, so the tables are never rewritten in
place (that would change the previous generation's file too), and a file of
the same name and size would keep its old checksum in the new manifest.
"""

from __future__ import annotations

import bisect
import itertools
import json
import os
import time
from collections.abc import Mapping
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import numpy as np

from searchapp.backends.whoosh import compat
from searchapp.backends.whoosh.schema import NO_DATE_KEY, SPELLING_FIELDS, TEXT_FIELDS
from searchapp.model import RECENCY_HALF_LIFE_DAYS

PREFIX = "tables."
ALIGN = 64            # each table starts at a multiple of this many bytes
SORTS = ("newest", "oldest")
PER_DOCUMENT = ("length", "position", "decay", "story")   # tables with one value per document
# Fields whose every term's postings are tables: suggestions read a dozen completions' title and
# excerpt documents per keystroke (3.5 of 4.0 s of suggest time at 100k went to Whoosh
# unpickling their posting blocks), and a new generation's first requests read them again;
# every facet value's bitmap is computed when a generation opens (0.73 of its 1.5 s at 100k).
# The body and the listed items' titles too: a bare word's bitmap and score arrays read all four
# text fields, and a new generation read them from Whoosh again (at 10k generated items their
# postings are 1.3x the title's and excerpt's).
POSTING_FIELDS = ("title", "excerpt", "body", "related_text",
                  "f_topic", "f_jurisdiction", "f_regulator", "f_provider", "f_year", "f_month")
_POSTING_TABLES = ("terms", "term-offsets", "term-starts", "term-docs", "term-weights")
# Fields whose words are also kept in order (`tokens-<field>`, `token-starts-<field>`), so that a
# phrase's documents are found by scanning an array: the proximity pairs ("facial recognition")
# are title and excerpt phrases, a phrase or synonym phrase is looked for in the listed items'
# titles too, and Whoosh's matchers read and unpickled every candidate's positions (at 300k
# items, 90% of the slowest search: "facial recognit" 1.2 s of CPU warm, 3.6 s after a switch,
# its query bitmaps not staying cached; "facial recognition" in the listed titles alone 662 ms).
# Not the body: a real article's body is hundreds of words, and its phrases are rarely asked for.
PHRASE_FIELDS = ("title", "excerpt", "related_text")
PARALLEL_PHRASES_MIN = 5_000   # documents from which a build computes them in another process (starting one: ~1 s)
# Fields whose common terms are also kept as bitmaps (`dense-bits-<field>`: a row of packed bits,
# bit d for document d, per term in at least 1/DENSE_SHARE of the documents; `dense-terms-<field>`:
# those terms' numbers in the field's postings table). A suggestion counts a dozen completions of
# the last word together with the earlier words; after a space and a letter or two ("children o")
# those are the index's commonest words, and building each one's bitmap from its postings, in
# every worker, was half of the slowest 5% of the typing workload's suggestions at 100k (round 23).
# The same threshold as a suggestion's count from postings (scopecount.SPARSE_SHARE): rarer
# terms are counted from their postings, which costs less than a row.
DENSE_FIELDS = ("title", "excerpt")
DENSE_SHARE = 32


def _name(generation_name: str) -> str:
    return f"{PREFIX}{generation_name}.bin"


def generation_name(folder: Path) -> str:
    """A generation's name, also while it is built (`.building-gen-…~pid`)."""
    return folder.name.removeprefix(".building-").split("~")[0]


def lengths(searcher, fieldname: str) -> np.ndarray:
    """Each document's length in a field, as BM25F reads it (Whoosh keeps a byte), as float64."""
    out = []
    for leaf, _ in searcher.leaf_searchers():
        reader = leaf.reader()
        out.extend(reader.doc_field_length(d, fieldname, 1) or 1 for d in range(reader.doc_count_all()))
    return np.asarray(out, dtype=np.float64)


def date_keys(searcher, sort: str) -> np.ndarray:
    """Each document's key for a date order (schema.item_document), read from its column."""
    column = searcher.reader().column_reader("newest_key" if sort == "newest" else "oldest_key")
    return np.fromiter((column[d] for d in range(searcher.reader().doc_count_all())), dtype=np.int64)


def newest_keys(oldest: np.ndarray) -> np.ndarray:
    """The `newest_key` column's values from the `oldest_key` column's: every dated document's
    key negated, undated ones' (NO_DATE_KEY) kept, as schema.item_document writes them (round
    15: reading one column instead of two, Whoosh's reader a value at a time, was a tenth of
    an append's time at 10k)."""
    return np.where(oldest == NO_DATE_KEY, oldest, -oldest)


def _date_tables(oldest: np.ndarray, live: np.ndarray, size: int):
    """The date orders, their positions, the sorted dates and the recency factors, from the
    documents' `oldest_key` values."""
    for sort in SORTS:
        keys = newest_keys(oldest) if sort == "newest" else oldest
        ordered = order(keys, live)
        yield f"order-{sort}", ordered
        yield f"position-{sort}", positions(ordered, size)
        if sort == "oldest":
            yield "dates-oldest", keys[ordered]
        if sort == "newest":
            factors, lasting = decay(keys)
            if lasting:
                yield "decay", factors


def order(keys: np.ndarray, live: np.ndarray) -> np.ndarray:
    """Live docnums by (date key, docnum): what sorted(live, key=lambda d: (key[d], d)) gives."""
    docs = np.flatnonzero(live)
    return docs[np.lexsort((docs, keys[docs]))].astype(np.int32)


def fits_order(dates, ordered) -> bool:
    """Whether `dates` can be a date order's sorted keys: one int64 a document of `ordered`,
    never decreasing (a check of what a damaged table would break, not of every value:
    `--verify` compares the columns with the stored dates)."""
    return (isinstance(dates, np.ndarray) and dates.dtype == np.int64 and dates.ndim == 1
            and dates.shape == np.shape(ordered) and bool(np.all(dates[1:] >= dates[:-1])))


def positions(ordered: np.ndarray, size: int) -> np.ndarray:
    """docnum -> its rank in a date order (-1: deleted)."""
    out = np.full(size, -1, dtype=np.int32)
    out[ordered] = np.arange(ordered.size, dtype=np.int32)
    return out


def decay(newest_keys: np.ndarray, now: float | None = None) -> tuple[np.ndarray, bool]:
    """docnum -> the recency factor of "relevance + recency" (see snapshot._RecencyBM25F),
    and whether it holds for good: ages count from the newest item, or from now
    when an item claims a later date (then the factors change as time passes)."""
    keys = newest_keys.tolist()
    now = int(time.time()) if now is None else int(now)
    dated = [-k for k in keys if k != NO_DATE_KEY]
    newest = max(dated) if dated else 0
    reference = min(newest, now)
    half_life = RECENCY_HALF_LIFE_DAYS * 86400
    # Python's float power, document by document: numpy's may differ in the last bit
    factors = [0.5 ** min(1000.0, (10 * 365 * 86400 if k == NO_DATE_KEY else max(0, reference + k)) / half_life)
               for k in keys]
    return np.asarray(factors, dtype=np.float64), newest <= now


def spelling_words(reader, fieldname: str) -> dict[str, np.ndarray]:
    """A spelling field's words in the term dictionary's order (UTF-8 bytes), as
    one UTF-8 blob and offsets, with each word's document frequency."""
    blob, offsets, counts = bytearray(), [0], []
    for term in reader.lexicon(fieldname):
        blob += term
        offsets.append(len(blob))
        counts.append(reader.doc_frequency(fieldname, term))
    return {f"words-{fieldname}": np.frombuffer(bytes(blob), dtype=np.uint8),
            f"word-offsets-{fieldname}": np.asarray(offsets, dtype=np.int64),
            f"word-counts-{fieldname}": np.asarray(counts, dtype=np.int64)}


class Words:
    """Words starting with a prefix, with their document counts, from a spelling field's
    table: a binary search and a slice, instead of walking Whoosh's term dictionary and
    a hash lookup per word (14 of 22 s of suggestions in the 10k typing profile)."""

    def __init__(self, blob: np.ndarray, offsets: np.ndarray, counts: np.ndarray):
        # plain views of the mapped arrays: slicing a memmap makes a memmap object each time
        self.blob, self.offsets, self.counts = np.asarray(blob), np.asarray(offsets), np.asarray(counts)
        self.size = len(self.counts)

    def _word(self, n: int) -> bytes:
        return self.blob[self.offsets[n]:self.offsets[n + 1]].tobytes()

    def prefixed(self, prefix: str, limit: int):
        """(word, count) of the first `limit` words starting with `prefix`, in term order."""
        wanted = prefix.encode("utf-8")
        n = bisect.bisect_left(range(self.size), wanted, key=self._word)
        while n < self.size and limit > 0:
            word = self._word(n)
            if not word.startswith(wanted):
                break
            yield word.decode("utf-8"), int(self.counts[n])
            n += 1
            limit -= 1


    def count(self, word: str) -> int:
        """A word's document count (0 when the field does not have it)."""
        wanted = word.encode("utf-8")
        n = bisect.bisect_left(range(self.size), wanted, key=self._word)
        return int(self.counts[n]) if n < self.size and self._word(n) == wanted else 0


def words(found: dict[str, np.ndarray], fieldname: str) -> Words | None:
    try:
        return Words(found[f"words-{fieldname}"], found[f"word-offsets-{fieldname}"],
                     found[f"word-counts-{fieldname}"])
    except KeyError:
        return None


def term_postings(searcher, fieldname: str, live: np.ndarray) -> dict[str, np.ndarray]:
    """Every term of a field with its postings, as CSR: the terms (term order, UTF-8 blob and
    offsets), then per term a slice `starts[n]:starts[n + 1]` of the live docnums (ascending,
    uint32) and of their weights (what Whoosh's postings give: frequency x field boost; float32
    when that is exact, as for the title's 3 and the excerpt's 1.5, else float64: a posting kept
    inline in its term's info gives 0.3, not float32's 0.30000001). What derived.postings reads."""
    per_term: dict[bytes, list[tuple[np.ndarray, np.ndarray]]] = {}
    for leaf, offset in searcher.leaf_searchers():
        reader = leaf.reader()
        if fieldname not in reader.schema:
            continue
        for term in reader.lexicon(fieldname):
            ids, weights = compat.posting_blocks(reader, fieldname, term)
            ids = np.asarray(ids, dtype=np.int64) + offset
            keep = live[ids]
            per_term.setdefault(term, []).append((ids[keep].astype(np.uint32),
                                                  np.asarray(weights, dtype=np.float64)[keep]))
    terms = sorted(per_term)
    blob = b"".join(terms)
    offsets = np.zeros(len(terms) + 1, dtype=np.int64)
    np.cumsum([len(t) for t in terms], out=offsets[1:])
    chunks = [chunk for t in terms for chunk in per_term[t]]
    starts = np.zeros(len(terms) + 1, dtype=np.int64)
    np.cumsum([sum(len(ids) for ids, _ in per_term[t]) for t in terms], out=starts[1:])
    empty = (np.zeros(0, dtype=np.uint32), np.zeros(0, dtype=np.float64))
    weights = np.concatenate([w for _, w in chunks] or [empty[1]])
    if np.array_equal(weights.astype(np.float32).astype(np.float64), weights):
        weights = weights.astype(np.float32)   # half the bytes, the same values
    return {f"terms-{fieldname}": np.frombuffer(blob, dtype=np.uint8),
            f"term-offsets-{fieldname}": offsets, f"term-starts-{fieldname}": starts,
            f"term-docs-{fieldname}": np.concatenate([ids for ids, _ in chunks] or [empty[0]]),
            f"term-weights-{fieldname}": weights}


class Postings:
    """A field's terms -> their postings (docnums, weights), from the tables: a binary search in
    the terms, then two slices of the mapped arrays (nothing copied, nothing private)."""

    def __init__(self, blob, offsets, starts, docs, weights):
        self.blob, self.offsets = np.asarray(blob), np.asarray(offsets)
        self.starts, self.docs, self.weights = np.asarray(starts), np.asarray(docs), np.asarray(weights)
        self.size = len(self.offsets) - 1

    def term(self, n: int) -> bytes:
        return self.blob[self.offsets[n]:self.offsets[n + 1]].tobytes()

    def find(self, text) -> int:
        """The term's number, -1 when the field does not have it."""
        wanted = text if isinstance(text, bytes) else text.encode("utf-8")
        n = bisect.bisect_left(range(self.size), wanted, key=self.term)
        return n if n < self.size and self.term(n) == wanted else -1

    def postings(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        start, end = int(self.starts[n]), int(self.starts[n + 1])
        return self.docs[start:end], self.weights[start:end]


def phrase_tokens(leaves, fieldname: str, live: np.ndarray, numbers: dict[bytes, int]) -> dict[str, np.ndarray]:
    """A field's words in order, for the documents of `leaves` ((reader, offset) pairs, in
    docnum order): `tokens` holds each document's words as their numbers in the field's
    postings table (`numbers`), at their positions (Whoosh's: a gap where a word was dropped
    is -1), then one -1 after each document, so that no phrase runs into the next document;
    document d's words start at `token-starts[d]` (one start more than documents, the last
    the end). A deleted document has no words."""
    docs, places, terms, size = [], [], [], 0
    first = leaves[0][1] if leaves else 0
    for reader, offset in leaves:
        size += reader.doc_count_all()
        if fieldname not in reader.schema:
            continue
        for term in reader.lexicon(fieldname):
            # a term's postings as arrays, one entry per position (an array per posting: 5.5 GB at 300k)
            ids, positions = compat.posting_positions(reader, fieldname, term)
            counts = np.fromiter(map(len, positions), dtype=np.int64, count=len(positions))
            found = np.repeat(np.asarray(ids, dtype=np.int64) + offset, counts)
            keep = live[found]
            docs.append((found[keep] - first).astype(np.int32))   # int32: 12 B a word while they are gathered
            places.append(np.fromiter(itertools.chain.from_iterable(positions), dtype=np.int32,
                                      count=int(counts.sum()))[keep])
            terms.append(np.full(int(keep.sum()), numbers[term], dtype=np.int32))
    docs = np.concatenate(docs) if docs else np.zeros(0, dtype=np.int32)
    places = np.concatenate(places) if places else np.zeros(0, dtype=np.int32)
    last = np.full(size, -1, dtype=np.int64)
    np.maximum.at(last, docs, places)
    starts = np.zeros(size + 1, dtype=np.int64)
    np.cumsum(last + 2, out=starts[1:])   # positions 0..last, then the separator
    tokens = np.full(int(starts[-1]), -1, dtype=np.int32)
    tokens[starts[docs] + places] = np.concatenate(terms) if terms else np.zeros(0, dtype=np.int32)
    return {f"tokens-{fieldname}": tokens, f"token-starts-{fieldname}": starts}


def term_numbers(blob, offsets) -> dict[bytes, int]:
    """A postings table's terms -> their numbers."""
    data, ends = np.asarray(blob).tobytes(), np.asarray(offsets).tolist()
    return {data[ends[n]:ends[n + 1]]: n for n in range(len(ends) - 1)}


class Phrases:
    """The documents with given words at consecutive positions, from a field's words in order
    (phrase_tokens): one comparison over the array per word, not a matcher per document."""

    def __init__(self, tokens, starts):
        self.tokens, self.starts = np.asarray(tokens), np.asarray(starts)

    def documents(self, numbers: list[int], first: int = 0) -> np.ndarray:
        """Docnums (from `first` on; repeated when a phrase is there twice) whose words have
        these term numbers at consecutive positions."""
        base = int(self.starts[first])
        tokens = self.tokens[base:]
        hits = np.flatnonzero(tokens == numbers[0])
        for n, number in enumerate(numbers[1:], 1):
            # in bounds: a hit so far is a word, and the array ends with a separator after it
            hits = hits[tokens[hits + n] == number]
        return np.searchsorted(self.starts, hits + base, side="right") - 1


def phrases(found: dict[str, np.ndarray], fieldname: str, size: int, terms: int) -> Phrases | None:
    """A field's Phrases, None when the generation has none or they do not fit it (`size`
    documents, `terms` terms in its postings table): then Whoosh's matchers."""
    tokens, starts = found.get(f"tokens-{fieldname}"), found.get(f"token-starts-{fieldname}")
    if tokens is None or starts is None or starts.shape != (size + 1,) or tokens.ndim != 1:
        return None
    if int(starts[0]) != 0 or int(starts[-1]) != tokens.shape[0] or (tokens.size and int(tokens[-1]) != -1):
        return None
    # every number a term's, every document at least its separator and ending with it (a damaged
    # table: Whoosh's matchers; review 17: separators overwritten ran documents together)
    if tokens.size and (int(tokens.min()) < -1 or int(tokens.max()) >= terms) or np.any(np.diff(starts) < 1):
        return None
    if not np.all(tokens[starts[1:] - 1] == -1):
        return None
    return Phrases(tokens, starts)


def dense_bitmaps(found: dict[str, np.ndarray], fieldname: str, size: int) -> dict[str, np.ndarray]:
    """The rows of `DENSE_FIELDS`: the numbers of a field's terms with at least size / DENSE_SHARE
    postings (from its postings tables in `found`) and each one's documents as packed bits
    (little-endian bit order: bit d of the row, read as one integer, is document d)."""
    starts = np.asarray(found[f"term-starts-{fieldname}"])
    docs = np.asarray(found[f"term-docs-{fieldname}"])
    numbers = np.flatnonzero(np.diff(starts) * DENSE_SHARE >= max(size, 1)).astype(np.int32)
    width = (size + 7) // 8
    rows = np.zeros((len(numbers), width), dtype=np.uint8)
    flags = np.zeros(width * 8, dtype=bool)
    for row, n in zip(rows, numbers.tolist()):
        flags[:] = False
        flags[docs[starts[n]:starts[n + 1]]] = True
        row[:] = np.packbits(flags, bitorder="little")
    return {f"dense-terms-{fieldname}": numbers, f"dense-bits-{fieldname}": rows}


class Dense:
    """A field's common terms as rows of packed bits (dense_bitmaps), mapped: a term's row by its
    number in the field's postings table."""

    def __init__(self, numbers, rows):
        self.numbers, self.rows = np.asarray(numbers), np.asarray(rows)

    def row(self, n: int) -> np.ndarray | None:
        i = int(np.searchsorted(self.numbers, n))
        return self.rows[i] if i < len(self.numbers) and int(self.numbers[i]) == n else None


def dense(found: dict[str, np.ndarray], fieldname: str, postings: Postings | None = None) -> Dense | None:
    """A field's rows; None without them, or when they disagree with the field's `postings`
    (term numbers not increasing or out of range, a row's bits not its term's posting count:
    review 23 found damaged rows answering silently; the postings are used instead)."""
    try:
        found = Dense(found[f"dense-terms-{fieldname}"], found[f"dense-bits-{fieldname}"])
    except KeyError:
        return None
    if postings is not None:
        numbers = found.numbers.astype(np.int64)
        if (len(numbers) != len(found.rows) or (len(numbers) and (numbers[0] < 0 or numbers[-1] >= postings.size))
                or np.any(np.diff(numbers) <= 0)):
            return None
        counts = np.diff(postings.starts)[numbers]
        if not np.array_equal(np.unpackbits(found.rows, axis=1).sum(axis=1), counts):
            return None
    return found


def postings(found: dict[str, np.ndarray], fieldname: str) -> Postings | None:
    try:
        return Postings(*(found[f"{name}-{fieldname}"] for name in _POSTING_TABLES))
    except KeyError:
        return None


def _blob(name: str, texts: list[str]) -> dict[str, np.ndarray]:
    encoded = [t.encode("utf-8") for t in texts]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum([len(e) for e in encoded], out=offsets[1:])
    return {name: np.frombuffer(b"".join(encoded), dtype=np.uint8), f"{name}-offsets": offsets}


def titles(searcher, live: np.ndarray) -> dict[str, np.ndarray]:
    """Each document's item id and title (what a suggestion lists), as two UTF-8 blobs and
    offsets: reading a stored document decodes its body too (1.9 ms at random at 100k items)."""
    ids, found = [], []
    for docnum, alive in enumerate(live.tolist()):
        doc = (searcher.stored_fields(docnum).get("doc") or {}) if alive else {}
        ids.append(doc.get("id") or "")
        found.append(doc.get("title") or "")
    return {**_blob("ids", ids), **_blob("titles", found)}


def story_table(searcher) -> dict[str, np.ndarray]:
    """Each document's story (`story-of`: a number into the story ids' blob `story_ids`; -1 for
    an item without copies): opening a generation walked the story column document by document."""
    values = []
    for leaf, _ in searcher.leaf_searchers():
        reader = leaf.reader()
        column = reader.column_reader("story") if reader.has_column("story") else None
        values += [(column[d] if column is not None else None) or None for d in range(reader.doc_count_all())]
    names = sorted({v for v in values if v})
    number = {name: n for n, name in enumerate(names)}
    return {"story-of": np.asarray([number.get(v, -1) for v in values], dtype=np.int32), **_blob("story_ids", names)}


class Texts:
    """docnum -> its text, from a blob and offsets."""

    def __init__(self, blob: np.ndarray, offsets: np.ndarray):
        self.blob, self.offsets = np.asarray(blob), np.asarray(offsets)

    def __getitem__(self, n: int) -> str:
        return self.blob[self.offsets[n]:self.offsets[n + 1]].tobytes().decode("utf-8")


def texts(found: dict[str, np.ndarray], name: str) -> Texts | None:
    if name not in found or f"{name}-offsets" not in found:
        return None
    return Texts(found[name], found[f"{name}-offsets"])


def _phrase_tables_from(searcher, live: np.ndarray, fieldnames: list[str]) -> dict[str, np.ndarray]:
    """phrase_tokens of these fields, each numbered as term_postings numbers its terms (sorted)."""
    leaves = [(leaf.reader(), offset) for leaf, offset in searcher.leaf_searchers()]
    found = {}
    for fieldname in fieldnames:
        terms = sorted({term for reader, _ in leaves if fieldname in reader.schema for term in reader.lexicon(fieldname)})
        found.update(phrase_tokens(leaves, fieldname, live, {term: n for n, term in enumerate(terms)}))
    return found


def _phrase_tables(folder: str, live: np.ndarray, fieldnames: list[str]) -> dict[str, np.ndarray]:
    """_phrase_tables_from in a process of its own (compute)."""
    from whoosh import index as whoosh_index

    ix = whoosh_index.open_dir(folder)
    try:
        with ix.searcher() as searcher:
            return _phrase_tables_from(searcher, live, fieldnames)
    finally:
        ix.close()


def compute(searcher, live: np.ndarray, folder: Path | None = None) -> dict[str, np.ndarray]:
    """Every table of a generation, from its Whoosh searcher and live-document flags.

    With the generation's `folder`, a big index's phrase tables are computed in another process
    meanwhile: reading every position of three fields took 30 of a 300k build's ~480 s, on one
    core while the other waited. A process that dies starting (review 17: a library user's script
    without a `__main__` guard, which a spawned process runs again, hits the writer lock) leaves
    the work to this one."""
    size = searcher.reader().doc_count_all()
    phrase_fields = [f for f in PHRASE_FIELDS if f in searcher.schema]
    pool = background = None
    if folder is not None and phrase_fields and size >= PARALLEL_PHRASES_MIN and (os.cpu_count() or 1) > 1:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        from searchapp.processes import die_with_parent

        pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"), initializer=die_with_parent)
        background = pool.submit(_phrase_tables, str(folder), live, phrase_fields)
    try:
        return _compute(searcher, live, size, phrase_fields, background)
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)


def _compute(searcher, live: np.ndarray, size: int, phrase_fields: list[str], background) -> dict[str, np.ndarray]:
    found = {f"length-{f}": lengths(searcher, f) for f in TEXT_FIELDS if f in searcher.schema}
    for fieldname in SPELLING_FIELDS:
        if fieldname in searcher.schema:
            found.update(spelling_words(searcher.reader(), fieldname))
    found.update(titles(searcher, live))
    for fieldname in POSTING_FIELDS:
        if fieldname in searcher.schema:
            found.update(term_postings(searcher, fieldname, live))
            if fieldname in DENSE_FIELDS:
                found.update(dense_bitmaps(found, fieldname, size))
    phrases = None
    if background is not None:
        try:
            phrases = background.result()
        except BrokenProcessPool:   # the process died starting: here instead (see compute)
            phrases = None
    found.update(phrases if phrases is not None else _phrase_tables_from(searcher, live, phrase_fields))
    if "story" in searcher.schema:
        found.update(story_table(searcher))
    found.update(_date_tables(date_keys(searcher, "oldest"), live, size))
    return found


# ---------------------------------------------------------------- appending (issue 15)
#
# An append (indexing.py: new documents on top of hard links to the previous
# generation's segments, none deleted) used to recompute every table from the
# whole index: at 10k items most of an append's time, growing with the index
# (every term's postings of ten fields, every stored title, every length).
# Here the previous generation's tables are the start, and only the new
# segments are read: per-document tables are extended, term tables get the
# new terms inserted in order and the new postings after the old ones of the
# same term (docnums ascending), counts add up, story numbers are renumbered
# into the merged sorted names. The date orders and recency factors depend on
# every date key (new items move the newest date), so they are computed as a
# full build does, from every document's key: the previous documents' come
# from the previous tables' sorted dates (round 15; reading them from the
# columns took 0.19 s of an append at 10k, and grows with the index). The
# result is byte for byte what `compute` gives (tests/test_incr8_tables.py compares the files).


def _leaves(searcher, start: int) -> list | None:
    """The leaf readers and offsets of the documents from `start` on, or None when
    `start` is not a segment boundary (the segments are not the previous ones plus new)."""
    leaves = list(searcher.leaf_searchers())
    offsets = [offset for _, offset in leaves]
    if start not in offsets and start != searcher.reader().doc_count_all():
        return None
    return [(leaf.reader(), offset) for leaf, offset in leaves if offset >= start]


def _insertions(old_blob: np.ndarray, old_offsets: np.ndarray, new_terms: list[bytes]) -> tuple[list[int], list[bool]]:
    """Per new term (sorted): where it goes among the old terms (sorted), and whether it is one of them."""
    blob = old_blob.tobytes()
    offsets = old_offsets.tolist()
    size = len(offsets) - 1
    term = lambda n: blob[offsets[n]:offsets[n + 1]]   # noqa: E731
    places, same = [], []
    low = 0
    for text in new_terms:
        n = bisect.bisect_left(range(size), text, lo=low, key=term)
        places.append(n)
        same.append(n < size and term(n) == text)
        low = n
    return places, same


def _merged_terms(old_blob, old_offsets, new_terms, places, same) -> tuple[np.ndarray, np.ndarray]:
    """The merged sorted terms as a blob and offsets (old and new terms, each once)."""
    pieces, done = [], 0
    old_offsets = np.asarray(old_offsets)
    blob = np.asarray(old_blob)
    for text, place, known in zip(new_terms, places, same):
        if known:
            continue
        pieces.append(blob[old_offsets[done]:old_offsets[place]])
        pieces.append(np.frombuffer(text, dtype=np.uint8))
        done = place
    pieces.append(blob[old_offsets[done]:old_offsets[-1]])
    lengths = np.diff(old_offsets)
    fresh = [n for n, known in enumerate(same) if not known]
    lengths = np.insert(lengths, [places[n] for n in fresh], [len(new_terms[n]) for n in fresh])
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return np.concatenate(pieces).astype(np.uint8, copy=False), offsets


def _merged_counts(old_counts: np.ndarray, new_counts: list[int], places, same) -> np.ndarray:
    """Per merged term: its old count plus its new one."""
    counts = np.array(old_counts, dtype=old_counts.dtype)
    known = [n for n, k in enumerate(same) if k]
    np.add.at(counts, [places[n] for n in known], np.asarray([new_counts[n] for n in known], dtype=counts.dtype))
    fresh = [n for n, k in enumerate(same) if not k]
    return np.insert(counts, [places[n] for n in fresh], np.asarray([new_counts[n] for n in fresh], dtype=counts.dtype))


def _appended_words(previous, fieldname: str, leaves) -> dict[str, np.ndarray]:
    """spelling_words of the whole index: the previous words, with the new segments' words and counts."""
    counts: dict[bytes, int] = {}
    for reader, _ in leaves:
        if fieldname in reader.schema:
            for term in reader.lexicon(fieldname):
                counts[term] = counts.get(term, 0) + reader.doc_frequency(fieldname, term)
    new_terms = sorted(counts)
    blob, offsets = previous[f"words-{fieldname}"], previous[f"word-offsets-{fieldname}"]
    places, same = _insertions(blob, offsets, new_terms)
    merged_blob, merged_offsets = _merged_terms(blob, offsets, new_terms, places, same)
    return {f"words-{fieldname}": merged_blob, f"word-offsets-{fieldname}": merged_offsets,
            f"word-counts-{fieldname}": _merged_counts(previous[f"word-counts-{fieldname}"],
                                                       [counts[t] for t in new_terms], places, same)}


def _appended_postings(previous, fieldname: str, leaves) -> dict[str, np.ndarray]:
    """term_postings of the whole index: each term's previous postings, then the new segments' (higher docnums)."""
    new: dict[bytes, list[tuple[np.ndarray, np.ndarray]]] = {}
    for reader, offset in leaves:
        if fieldname not in reader.schema:
            continue
        for term in reader.lexicon(fieldname):
            ids, weights = compat.posting_blocks(reader, fieldname, term)
            new.setdefault(term, []).append(((np.asarray(ids, dtype=np.int64) + offset).astype(np.uint32),
                                             np.asarray(weights, dtype=np.float64)))
    new_terms = sorted(new)
    blob, offsets = previous[f"terms-{fieldname}"], previous[f"term-offsets-{fieldname}"]
    starts = np.asarray(previous[f"term-starts-{fieldname}"])
    old_docs = np.asarray(previous[f"term-docs-{fieldname}"])
    old_weights = np.asarray(previous[f"term-weights-{fieldname}"])
    # term_postings keeps float32 when every weight survives it: the old ones did when they are float32
    exact = old_weights.dtype == np.float32 and all(
        np.array_equal(w.astype(np.float32).astype(np.float64), w) for chunks in new.values() for _, w in chunks)
    kind = np.float32 if exact else np.float64
    old_weights = old_weights.astype(kind, copy=False)
    places, same = _insertions(blob, offsets, new_terms)
    merged_blob, merged_offsets = _merged_terms(blob, offsets, new_terms, places, same)
    docs, weights, done = [], [], 0
    for text, place, known in zip(new_terms, places, same):
        end = int(starts[place + 1] if known else starts[place])   # a known term's old postings come first
        docs.append(old_docs[done:end])
        weights.append(old_weights[done:end])
        docs += [ids for ids, _ in new[text]]
        weights += [w.astype(kind) for _, w in new[text]]
        done = end
    docs.append(old_docs[done:])
    weights.append(old_weights[done:])
    counts = _merged_counts(np.diff(starts), [sum(len(ids) for ids, _ in new[t]) for t in new_terms], places, same)
    merged_starts = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=merged_starts[1:])
    all_weights = np.concatenate(weights)
    if not exact and np.array_equal(all_weights.astype(np.float32).astype(np.float64), all_weights):
        all_weights = all_weights.astype(np.float32)   # as term_postings decides, on the whole array
    return {f"terms-{fieldname}": merged_blob, f"term-offsets-{fieldname}": merged_offsets,
            f"term-starts-{fieldname}": merged_starts,
            f"term-docs-{fieldname}": np.concatenate(docs).astype(np.uint32, copy=False),
            f"term-weights-{fieldname}": all_weights}


def _appended_blob(previous, name: str, texts: list[str]) -> dict[str, np.ndarray]:
    more = _blob(name, texts)
    offsets = np.asarray(previous[f"{name}-offsets"])
    return {name: np.concatenate([np.asarray(previous[name]), more[name]]),
            f"{name}-offsets": np.concatenate([offsets, offsets[-1] + more[f"{name}-offsets"][1:]])}


def _blob_texts(blob, offsets) -> list[str]:
    data, ends = np.asarray(blob).tobytes(), np.asarray(offsets).tolist()
    return [data[ends[n]:ends[n + 1]].decode("utf-8") for n in range(len(ends) - 1)]


def appended(searcher, live: np.ndarray, previous) -> dict[str, np.ndarray] | None:
    """`compute`'s tables for an index that is `previous`'s documents plus new
    segments after them (no document deleted), reading only the new segments;
    None when it is not that (then `compute`)."""
    tables = appending_tables(searcher, live, previous)
    return None if tables is None else dict(tables)


def appending_tables(searcher, live: np.ndarray, previous):
    """`appended` as (name, array) pairs in `compute`'s order, made one group at a time
    (`save_tables` writes each and lets it go); None when the index is not `previous` plus
    new segments. `previous`: a Mapping of the previous tables (`Stored`: each read when asked)."""
    schema = searcher.schema
    if not all(key in previous for key in _expected_keys(schema)) or not live.all():
        return None
    start = int(previous.shape("position-newest")[0] if isinstance(previous, Stored)
                else previous["position-newest"].shape[0])
    size = searcher.reader().doc_count_all()
    leaves = _leaves(searcher, start)
    if leaves is None or start > size:
        return None
    return _appending(searcher, live, previous, start, size, leaves)


def _appending(searcher, live, previous, start: int, size: int, leaves):
    schema = searcher.schema
    for fieldname in TEXT_FIELDS:
        if fieldname in schema:
            more = [reader.doc_field_length(d, fieldname, 1) or 1 for reader, _ in leaves
                    for d in range(reader.doc_count_all())]
            yield f"length-{fieldname}", np.concatenate([np.asarray(previous[f"length-{fieldname}"]),
                                                         np.asarray(more, dtype=np.float64)])
    for fieldname in SPELLING_FIELDS:
        if fieldname in schema:
            yield from _appended_words(previous, fieldname, leaves).items()
    ids, names = [], []
    for docnum in range(start, size):
        doc = searcher.stored_fields(docnum).get("doc") or {}
        ids.append(doc.get("id") or "")
        names.append(doc.get("title") or "")
    yield from _appended_blob(previous, "ids", ids).items()
    yield from _appended_blob(previous, "titles", names).items()
    merged_terms = {}
    for fieldname in POSTING_FIELDS:
        if fieldname in schema:
            appended_postings = _appended_postings(previous, fieldname, leaves)
            if fieldname in PHRASE_FIELDS:
                merged_terms[fieldname] = (appended_postings[f"terms-{fieldname}"],
                                           appended_postings[f"term-offsets-{fieldname}"])
            yield from appended_postings.items()
            if fieldname in DENSE_FIELDS:
                yield from dense_bitmaps(appended_postings, fieldname, size).items()
            del appended_postings
    for fieldname, (blob, offsets) in merged_terms.items():
        yield from _appended_phrases(searcher, previous, fieldname, leaves, term_numbers(blob, offsets))
    if "story" in schema:
        old_names = _blob_texts(previous["story_ids"], previous["story_ids-offsets"])
        values = []
        for reader, _ in leaves:
            column = reader.column_reader("story") if reader.has_column("story") else None
            values += [(column[d] if column is not None else None) or None for d in range(reader.doc_count_all())]
        merged = sorted(set(old_names) | {v for v in values if v})
        number = {name: n for n, name in enumerate(merged)}
        renumber = np.asarray([number[name] for name in old_names] + [-1], dtype=np.int32)   # -1 stays -1
        old_of = np.asarray(previous["story-of"])
        yield "story-of", np.concatenate([renumber[old_of], np.asarray([number.get(v, -1) for v in values],
                                                                       dtype=np.int32)]).astype(np.int32)
        yield from _blob("story_ids", merged).items()
    yield from _date_tables(_appended_dates(searcher, previous, start, size, leaves), live, size)


def _appended_phrases(searcher, previous, fieldname: str, leaves, numbers: dict[bytes, int]):
    """phrase_tokens of the whole index: the previous documents' words renumbered into the merged
    terms (new terms are inserted among the old ones), then the new segments'. From every segment
    when the previous tables have none (a generation written before round 17)."""
    names = [f"tokens-{fieldname}", f"token-starts-{fieldname}", f"terms-{fieldname}", f"term-offsets-{fieldname}"]
    if not all(name in previous for name in names):
        every = [(leaf.reader(), offset) for leaf, offset in searcher.leaf_searchers()]
        yield from phrase_tokens(every, fieldname, np.ones(searcher.reader().doc_count_all(), dtype=bool),
                                 numbers).items()
        return
    old_terms = term_numbers(previous[f"terms-{fieldname}"], previous[f"term-offsets-{fieldname}"])
    renumber = np.full(len(old_terms) + 1, -1, dtype=np.int32)   # the last: -1 (a gap or a separator) stays -1
    for term, n in old_terms.items():
        renumber[n] = numbers[term]
    old_tokens = renumber[np.asarray(previous[f"tokens-{fieldname}"])]
    old_starts = np.asarray(previous[f"token-starts-{fieldname}"])
    more = phrase_tokens(leaves, fieldname, np.ones(searcher.reader().doc_count_all(), dtype=bool), numbers)
    yield f"tokens-{fieldname}", np.concatenate([old_tokens, more[f"tokens-{fieldname}"]])
    yield f"token-starts-{fieldname}", np.concatenate([old_starts, old_starts[-1] + more[f"token-starts-{fieldname}"][1:]])


def _appended_dates(searcher, previous, start: int, size: int, leaves) -> np.ndarray:
    """Every document's `oldest_key`: the previous documents' from the previous tables (their
    date order and its sorted dates: `dates-oldest[i]` is the key of document `order-oldest[i]`),
    the new ones' from the new segments' column; from the whole column if the previous tables
    are not one key for each previous document, in date order (review 15: dates garbled under
    a rewritten manifest were carried into the append)."""
    ordered = np.asarray(previous["order-oldest"])
    dates = np.asarray(previous["dates-oldest"])
    if (ordered.shape != (start,) or not fits_order(dates, ordered)
            or sum(r.doc_count_all() for r, _ in leaves) != size - start
            or (start and (ordered.min() < 0 or ordered.max() >= start
                           or np.bincount(ordered, minlength=start).max() != 1))):
        return date_keys(searcher, "oldest")
    oldest = np.empty(size, dtype=np.int64)
    oldest[ordered] = dates
    for reader, offset in leaves:
        column = reader.column_reader("oldest_key")
        count = reader.doc_count_all()
        oldest[offset:offset + count] = np.fromiter((column[d] for d in range(count)), dtype=np.int64,
                                                    count=count)
    return oldest


def _expected_keys(schema) -> list[str]:
    """The tables `compute` makes for this schema (but the optional `decay`)."""
    keys = [f"length-{f}" for f in TEXT_FIELDS if f in schema]
    for fieldname in SPELLING_FIELDS:
        if fieldname in schema:
            keys += [f"words-{fieldname}", f"word-offsets-{fieldname}", f"word-counts-{fieldname}"]
    keys += ["ids", "ids-offsets", "titles", "titles-offsets"]
    for fieldname in POSTING_FIELDS:
        if fieldname in schema:
            keys += [f"{name}-{fieldname}" for name in _POSTING_TABLES]
            if fieldname in DENSE_FIELDS:
                keys += [f"dense-terms-{fieldname}", f"dense-bits-{fieldname}"]
    if "story" in schema:
        keys += ["story-of", "story_ids", "story_ids-offsets"]
    return keys + [f"{name}-{sort}" for sort in SORTS for name in ("order", "position")] + ["dates-oldest"]


def write(folder: Path, appending: bool = False) -> str:
    """Compute a just-written generation's tables and save them into it, as one file; its
    name. Tables of earlier generations (hard links) are removed.

    `appending`: the folder holds the previous generation's segments (hard
    links) and new ones after them, nothing deleted; the previous
    generation's tables (linked in too) are extended with the new segments'
    (`appended`), not computed again from the whole index."""
    from whoosh import index as whoosh_index

    previous = None
    own = _name(generation_name(folder))
    try:
        for old in sorted(folder.glob(PREFIX + "*")):
            if appending and previous is None and old.name != own:
                previous = Stored.open(old)   # an open file: still readable once unlinked
            old.unlink()   # links to the previous generation's tables: never written through
        ix = whoosh_index.open_dir(str(folder))
        try:
            with ix.searcher() as searcher:
                reader = searcher.reader()
                live = np.zeros(reader.doc_count_all(), dtype=bool)
                live[list(reader.all_doc_ids())] = True
                pairs = appending_tables(searcher, live, previous) if previous is not None else None
                if pairs is not None:   # each table written as it is made: no copy of them all at once
                    return save_tables(folder, pairs)
                found = compute(searcher, live, folder)
        finally:
            ix.close()
    finally:
        if previous is not None:
            previous.close()
    return save(folder, found)


class Stored(Mapping):
    """A tables file's arrays, each read from the file when asked (into memory of its
    own, let go when dropped): an append reads the previous tables one at a time, where a
    memory map would keep every page it touched (90 MB at 100k items) in the process."""

    def __init__(self, handle, index: dict, start: int):
        self.handle, self.index, self.start = handle, index, start

    @classmethod
    def open(cls, path: Path) -> "Stored | None":
        handle = open(path, "rb")
        try:
            size = int.from_bytes(handle.read(8), "little")
            index = json.loads(handle.read(size))
            return cls(handle, index, -(-(8 + size) // ALIGN) * ALIGN)
        except (OSError, ValueError):
            handle.close()
            return None

    def shape(self, table: str) -> tuple[int, ...]:
        return tuple(self.index[table][1])

    def __getitem__(self, table: str) -> np.ndarray:
        dtype, shape, offset = self.index[table]
        dtype = np.dtype(dtype)
        count = int(np.prod(shape)) if shape else 1
        self.handle.seek(self.start + offset)
        data = self.handle.read(count * dtype.itemsize)
        if len(data) != count * dtype.itemsize:
            raise ValueError(f"tables file too short for {table}")
        return np.frombuffer(bytearray(data), dtype=dtype).reshape(shape)

    def __iter__(self):
        return iter(self.index)

    def __len__(self) -> int:
        return len(self.index)

    def close(self) -> None:
        self.handle.close()


def save(folder: Path, found: dict[str, np.ndarray]) -> str:
    """Write tables into a generation folder as its one tables file; the file's name."""
    return save_tables(folder, found.items())


def save_tables(folder: Path, pairs) -> str:
    """Write (name, array) pairs, in order, into a generation folder as its one tables file; its
    name. Each array is written as it comes (then let go); the index at the file's start is known
    only at the end, so the arrays go to a scratch file first, copied after the index."""
    # One file, not one per table: a file per table took a page each on a small index
    # (a 3 MiB disk-full test no longer had the room it expected).
    target = folder / _name(generation_name(folder))
    temporary = target.with_name(target.name + ".tmp")
    scratch = target.with_name(target.name + ".data.tmp")
    try:
        index, offset = {}, 0
        with open(scratch, "wb") as data:
            for table, values in pairs:
                values = np.ascontiguousarray(values)
                index[table] = [values.dtype.str, list(values.shape), offset]
                padded = -(-values.nbytes // ALIGN) * ALIGN
                data.write(values.data if values.size else b"")   # no copy of a big table as bytes
                data.write(b"\0" * (padded - values.nbytes))
                offset += padded
                del values
        header = json.dumps(index).encode("utf-8")
        start = -(-(8 + len(header)) // ALIGN) * ALIGN
        with open(temporary, "wb") as out, open(scratch, "rb") as data:
            out.write(len(header).to_bytes(8, "little") + header + b"\0" * (start - 8 - len(header)))
            out.flush()
            remaining = offset
            while remaining:
                sent = os.sendfile(out.fileno(), data.fileno(), None, min(remaining, 1 << 30))
                if sent == 0:
                    raise OSError("tables scratch file ended early")
                remaining -= sent
        os.replace(temporary, target)
    finally:
        for leftover in (scratch, temporary):
            try:
                leftover.unlink()
            except FileNotFoundError:
                pass
    return target.name


def load(generation: Path | None) -> dict[str, np.ndarray]:
    """A generation's tables, memory-mapped (read-only, shared page cache); {} when it has none."""
    if generation is None:
        return {}
    return _read(generation / _name(generation_name(generation)))


def _read(path: Path) -> dict[str, np.ndarray]:
    """One tables file, memory-mapped; {} when it is missing or unreadable."""
    try:
        if not path.is_file():
            return {}
        mapped = np.memmap(path, dtype=np.uint8, mode="r")
        size = int.from_bytes(mapped[:8].tobytes(), "little")
        index = json.loads(mapped[8:8 + size].tobytes())
        start = -(-(8 + size) // ALIGN) * ALIGN
        found = {}
        for table, (dtype, shape, offset) in index.items():
            dtype = np.dtype(dtype)
            count = int(np.prod(shape)) if shape else 1
            begin = start + offset
            found[table] = mapped[begin:begin + count * dtype.itemsize].view(dtype).reshape(shape)
        return found
    except (OSError, ValueError, KeyError, TypeError):
        return {}   # unreadable: computed in memory instead (the checksums report the damage)
