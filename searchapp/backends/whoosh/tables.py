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
import json
import os
import time
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
    column = searcher.reader().column_reader("newest_key" if sort == "newest" else "oldest_key")
    return np.fromiter((column[d] for d in range(searcher.reader().doc_count_all())), dtype=np.int64)


def order(keys: np.ndarray, live: np.ndarray) -> np.ndarray:
    """Live docnums by (date key, docnum): what sorted(live, key=lambda d: (key[d], d)) gives."""
    docs = np.flatnonzero(live)
    return docs[np.lexsort((docs, keys[docs]))].astype(np.int32)


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


def compute(searcher, live: np.ndarray) -> dict[str, np.ndarray]:
    """Every table of a generation, from its Whoosh searcher and live-document flags."""
    size = searcher.reader().doc_count_all()
    found = {f"length-{f}": lengths(searcher, f) for f in TEXT_FIELDS if f in searcher.schema}
    for fieldname in SPELLING_FIELDS:
        if fieldname in searcher.schema:
            found.update(spelling_words(searcher.reader(), fieldname))
    found.update(titles(searcher, live))
    for fieldname in POSTING_FIELDS:
        if fieldname in searcher.schema:
            found.update(term_postings(searcher, fieldname, live))
    if "story" in searcher.schema:
        found.update(story_table(searcher))
    for sort in SORTS:
        keys = date_keys(searcher, sort)
        found[f"order-{sort}"] = order(keys, live)
        found[f"position-{sort}"] = positions(found[f"order-{sort}"], size)
        if sort == "newest":
            factors, lasting = decay(keys)
            if lasting:
                found["decay"] = factors
    return found


def write(folder: Path) -> str:
    """Compute a just-written generation's tables and save them into it, as one file; its
    name. Tables of earlier generations (hard links) are removed."""
    from whoosh import index as whoosh_index

    for old in folder.glob(PREFIX + "*"):
        old.unlink()   # links to the previous generation's tables: never written through
    ix = whoosh_index.open_dir(str(folder))
    try:
        with ix.searcher() as searcher:
            reader = searcher.reader()
            live = np.zeros(reader.doc_count_all(), dtype=bool)
            live[list(reader.all_doc_ids())] = True
            found = compute(searcher, live)
    finally:
        ix.close()
    return save(folder, found)


def save(folder: Path, found: dict[str, np.ndarray]) -> str:
    """Write tables into a generation folder as its one tables file; the file's name."""
    # One file, not one per table: a file per table took a page each on a small index
    # (a 3 MiB disk-full test no longer had the room it expected).
    index, offset = {}, 0
    for table, values in found.items():
        values = np.ascontiguousarray(values)
        index[table] = [values.dtype.str, list(values.shape), offset]
        offset += -(-values.nbytes // ALIGN) * ALIGN
    header = json.dumps(index).encode("utf-8")
    start = -(-(8 + len(header)) // ALIGN) * ALIGN
    target = folder / _name(generation_name(folder))
    temporary = target.with_name(target.name + ".tmp")
    with open(temporary, "wb") as out:
        out.write(len(header).to_bytes(8, "little") + header + b"\0" * (start - 8 - len(header)))
        for table, values in found.items():
            data = np.ascontiguousarray(values).tobytes()
            out.write(data + b"\0" * (-(-len(data) // ALIGN) * ALIGN - len(data)))
    os.replace(temporary, target)
    return target.name


def load(generation: Path | None) -> dict[str, np.ndarray]:
    """A generation's tables, memory-mapped (read-only, shared page cache); {} when it has none."""
    if generation is None:
        return {}
    path = generation / _name(generation_name(generation))
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
