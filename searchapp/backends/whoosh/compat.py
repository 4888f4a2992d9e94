"""Every use of Whoosh's private internals, checked when the package loads.

searchapp relies on details of whoosh-reloaded that are not public API. Each
one is named here, with the check that it still holds. On a Whoosh version
that was not verified, or when a check fails, importing the backend raises
WhooshIncompatible with a message that says what changed; nothing runs on
silently different ranking or escaping.

Verified: whoosh-reloaded 2.7.5 (pyproject.toml pins it to this range).
"""

from __future__ import annotations

import bisect
import copy
import html
import inspect
import os
import struct
from array import array
from pathlib import Path

import whoosh
from whoosh import collectors, columns, highlight
from whoosh import query as Q
from whoosh.analysis import Token
from whoosh.codec.whoosh3 import W3LeafMatcher, W3PerDocReader
from whoosh.filedb.filestore import FileStorage
from whoosh.index import TOC, FileIndex
from whoosh.matching import IntersectionMatcher, NullMatcher, WrappingMatcher
from whoosh.query.spans import SpanNear2, SpanWrappingMatcher
from whoosh.searching import Results, Searcher
from whoosh.util import make_binary_tree

VERIFIED_VERSIONS = ("2.7.5",)


class WhooshIncompatible(ImportError):
    pass


def _fail(what: str) -> None:
    raise WhooshIncompatible(
        f"searchapp's Whoosh backend was verified with whoosh-reloaded {', '.join(VERIFIED_VERSIONS)}; "
        f"installed: {_installed()}. {what}. Install a verified version: pip install 'whoosh-reloaded==2.7.5'")


def _installed() -> str:
    # The version of the module actually imported (whoosh-reloaded sets it; the last
    # original Whoosh is 2.7.4). Not importlib.metadata: reading the distribution's
    # metadata imported email and urllib, 15 ms of every `searchapp index` run (round 22).
    return ".".join(map(str, whoosh.__version__))


def _params(function) -> list[str]:
    return list(inspect.signature(function).parameters)


def check() -> None:
    """Each private detail we use, as it was verified."""
    if _installed() not in VERIFIED_VERSIONS:
        _fail("This version was not verified")
    # 1. The reader's per-field column cache we patch (remember_missing_columns).
    if _params(W3PerDocReader._cached_reader) != ["self", "fieldname", "column"]:
        _fail("W3PerDocReader._cached_reader changed its signature")
    # 2. The table of contents we write by hand for builds on every core.
    if _params(TOC.__init__)[:4] != ["self", "schema", "segments", "generation"] or not hasattr(TOC, "write"):
        _fail("whoosh.index.TOC changed")
    # 3. The formatter hook that escapes the text between highlighted words (XSS guard).
    if not callable(getattr(highlight.Formatter, "_text", None)):
        _fail("highlight.Formatter._text is gone (the snippet escaping depends on it)")
    # 4. Results built by hand from our own top-N.
    if _params(Results.__init__)[:4] != ["self", "searcher", "q", "top_n"]:
        _fail("searching.Results changed its constructor")
    # 5. The collector options that make the top-N exact.
    if "usequality" not in _params(collectors.TopCollector.__init__):
        _fail("collectors.TopCollector lost usequality")
    # 7. highlight_hit, as CachingHighlighter repeats it with cached tokens.
    if _params(highlight.Highlighter.highlight_hit) != ["self", "hitobj", "fieldname", "text", "top", "minscore",
                                                         "strict_phrase"] or not all(
            callable(getattr(highlight, name, None)) for name in ("set_matched_filter", "top_fragments")):
        _fail("highlight.Highlighter.highlight_hit changed")
    # 6. A posting list's blocks, read whole (posting_blocks).
    block = set(W3LeafMatcher._goto.__code__.co_names) if hasattr(W3LeafMatcher, "_goto") else set()
    if not callable(getattr(W3LeafMatcher, "_next_block", None)) or not {"_ids", "_weights", "_i"} <= block:
        _fail("W3LeafMatcher's posting blocks changed (_goto, _ids, _weights, _i, _next_block)")
    if not {"_values", "_i", "_read_values"} <= set(W3LeafMatcher.value.__code__.co_names):   # posting_positions
        _fail("W3LeafMatcher.value no longer reads the block's _values")
    # 8. A generation's TOC read once (ReadOnceIndex), and idf values shared by its searchers (share_idf).
    if not callable(getattr(FileIndex, "_read_toc", None)) or not isinstance(FileIndex.__dict__.get("schema"), property):
        _fail("whoosh.index.FileIndex no longer reads its schema through _read_toc")
    if "_idf_cache" not in Searcher.idf.__code__.co_names:
        _fail("Searcher.idf no longer caches in _idf_cache")
    # 9. A variable-length column's offsets and lengths, read from its file instead of copied (offsets_from_column_files).
    reader = columns.VarBytesColumn.Reader
    if (not callable(getattr(reader, "_read_offsets_and_lengths", None))
            or _params(reader.__init__) != ["self", "dbfile", "basepos", "length", "doccount"]
            or not {"_offsets", "_lengths", "_basepos", "_dbfile"} <= set(reader.__getitem__.__code__.co_names)):
        _fail("columns.VarBytesColumn.Reader changed (_read_offsets_and_lengths, _offsets, _lengths)")
    # 10. A phrase scored as its words' intersection (KnownPhrase): Phrase.matcher builds a SpanNear2 of
    # Term queries, whose matcher wraps a binary tree of IntersectionMatchers and scores as that tree does.
    near = SpanNear2.SpanNear2Matcher
    if (not {"SpanNear2", "Term"} <= set(Q.Phrase.matcher.__code__.co_names)
            or not {"make_binary_tree", "IntersectionMatcher"} <= set(near.__init__.__code__.co_names)
            or "score" in vars(near) or "score" in vars(SpanWrappingMatcher)
            or not issubclass(near, WrappingMatcher) or "score" in vars(Q.Phrase)):
        _fail("query.Phrase is no longer scored as its words' intersection (SpanNear2)")


def remember_missing_columns() -> None:
    """Whoosh asks the file system whether a length column exists for every
    posting it writes (and every length it reads) of a field that has none,
    and never remembers the answer: a stat() per posting, a fifth of a
    build's time. A segment's files never change once written, so the
    answer can be kept."""
    if getattr(W3PerDocReader, "_searchapp_patched", False):
        return
    original = W3PerDocReader._cached_reader

    def cached_reader(self, fieldname, column):
        readers = self._readers
        if fieldname in readers:
            return readers[fieldname]
        reader = original(self, fieldname, column)
        readers[fieldname] = reader  # None too: no column now means none ever
        return reader

    W3PerDocReader._cached_reader = cached_reader
    W3PerDocReader._searchapp_patched = True


def offsets_from_column_files() -> None:
    """Each thread's searcher reads stored documents through its own column
    reader, and Whoosh copies a segment's whole offset and length arrays into
    that reader (6 bytes a document: 0.9 MB per 150,000-document segment, 30 MB
    for a server worker's 16 threads at 300k items). Where the segment wrote its
    offsets (over 32,768 documents), a document's offset and length are read
    from the column file when asked instead (`_FileInts`: one positional read
    each, a few microseconds, for a stored document the cache lacks). Smaller
    segments derive their offsets and keep Whoosh's own arrays.

    Not a memory map: a file truncated under a mapping kills the process with
    SIGBUS when a page past its end is read (review 16: the server went down);
    a short read is an error the damage checks see."""
    reader = columns.VarBytesColumn.Reader
    if getattr(reader, "_searchapp_from_file", False):
        return
    original = reader._read_offsets_and_lengths

    def read_offsets_and_lengths(self):
        found = _file_offsets(self._dbfile, self._basepos, self._length, self._doccount)
        if found is None:
            original(self)
        else:
            self._offsets, self._lengths = found
            self.had_stored_offsets = True

    reader._read_offsets_and_lengths = read_offsets_and_lengths
    reader._searchapp_from_file = True


class ColumnFileDamaged(ValueError):
    """A column's offsets or lengths could not be read whole: the file is shorter than written."""


class _FileInts:
    """A big-endian array in a column file, read an item at a time with pread (no
    shared file position, so threads may share it) as Python ints, what Whoosh's
    array.array gave. The descriptor is asked of the file each time: once the
    file is closed that fails, where a kept number could name another file."""

    __slots__ = ("_file", "_start", "_code", "_size", "_count")

    def __init__(self, file, start: int, typecode: str, count: int):
        self._size = array(typecode).itemsize    # Whoosh wrote array.array's items, byte-swapped
        standard = {1: "b", 2: "h", 4: "i", 8: "q"}[self._size]
        self._code = ">" + (standard.upper() if typecode.isupper() else standard)
        self._file, self._start, self._count = file, start, count

    def __getitem__(self, index: int) -> int:
        if not 0 <= index < self._count:
            raise IndexError(index)
        data = os.pread(self._file.fileno(), self._size, self._start + index * self._size)
        if len(data) != self._size:
            raise ColumnFileDamaged(f"column file ends before item {index} of {self._count}")
        return struct.unpack(self._code, data)[0]

    def __len__(self) -> int:
        return self._count

    def __iter__(self):
        length = self._size * self._count
        data = os.pread(self._file.fileno(), length, self._start)
        if len(data) != length:
            raise ColumnFileDamaged(f"column file ends inside an array of {self._count} items")
        return iter(struct.unpack(f">{self._count}{self._code[1]}", data))


_WHOOSH_TYPECODES = frozenset("bBhHiIlLqQ")   # what Whoosh's arrays (array.array) can hold


def _file_offsets(dbfile, basepos: int, length: int, doccount: int):
    """(offsets, lengths) of a VarBytesColumn written with its offsets, read from its file on
    demand (`_FileInts`); None when the column has no offsets, its typecodes are not array typecodes of the
    size Whoosh reads, or it is no real file (Whoosh's own reading then, errors included).
    The layout is Whoosh 2.7.5's (VarBytesColumn.Writer.finish): lengths, then offsets,
    then the lengths' and offsets' typecodes and "X", all big-endian."""
    if not getattr(dbfile, "is_real", False) or doccount <= 0 or length < 3:
        return None
    last = basepos + length - 1
    try:
        if dbfile.get(last, 1) != b"X":
            return None
        lens_code, offsets_code = chr(dbfile.get_byte(last - 2)), chr(dbfile.get_byte(last - 1))
        if not {lens_code, offsets_code} <= _WHOOSH_TYPECODES or any(
                array(code).itemsize != struct.calcsize(code) for code in (lens_code, offsets_code)):
            return None
        dbfile.fileno()
    except (OSError, ValueError, struct.error):
        return None
    offsets_start = (last - 2) - doccount * struct.calcsize(offsets_code)
    lens_start = offsets_start - doccount * struct.calcsize(lens_code)
    if lens_start < basepos:
        return None
    return (_FileInts(dbfile, offsets_start, offsets_code, doccount),
            _FileInts(dbfile, lens_start, lens_code, doccount))


class ReadOnceIndex(FileIndex):
    """A generation's index: its table of contents (schema, segments) read once per object.
    Whoosh reads the TOC file again (a listdir, an open, an unpickling) on every `ix.schema`,
    which the backend asks for per term scored (1,600 reads in a warm typing pass at 10k items,
    twice that after a switch); a generation's files never change once published."""

    def _read_toc(self):
        toc = self.__dict__.get("_searchapp_toc")
        if toc is None:
            toc = self.__dict__["_searchapp_toc"] = super()._read_toc()
        return toc


def open_generation(folder: Path) -> ReadOnceIndex:
    """whoosh.index.open_dir(folder), as a ReadOnceIndex (its big columns' offsets read from their files)."""
    offsets_from_column_files()
    return ReadOnceIndex(FileStorage(str(folder)), indexname="MAIN")


def share_idf(searcher, cache: dict) -> None:
    """Make a searcher keep its idf values in `cache`, shared by every searcher of the same
    generation (each thread has its own searcher, and each worked them out again after a
    switch). Whoosh's idf depends only on the term's document frequency and the document
    count (WeightingModel.idf, which BM25F keeps), so every searcher of a generation has
    the same values."""
    searcher._idf_cache = cache


def read_segments(folder: Path) -> list:
    """The segments of the index in `folder`, in order."""
    return list(TOC.read(FileStorage(str(folder)), "MAIN").segments)


def write_segments_toc(folder: Path, schema, segments: list) -> None:
    """Make `folder`'s index consist of these segments, in this order."""
    TOC(schema, segments, 1).write(FileStorage(str(folder)), "MAIN")


class CachingHighlighter(highlight.Highlighter):
    """Whoosh's Highlighter, keeping the analysed tokens of short texts
    (titles, excerpts): Whoosh re-analyses and stems the text of every hit it
    highlights (a third of the typing profile's highlighting), and while a
    query is typed the same items are highlighted keystroke after keystroke.
    highlight_hit is Whoosh 2.7.5's own for fragmenters that retokenize
    (check() verifies its signature), with the analyser's tokens replayed
    from the cache as fresh copies: the same tokens, so the same snippets."""

    MAX_CHARS = 2_000            # longer texts (bodies) are analysed each time, as before
    # cached tokens in all (~190 B each: a tuple of values, the text). 100,000 held 19 MB per worker
    # at 300k items; a typed query's results are highlighted again within a few hundred items
    MAX_TOKENS = 25_000

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        from searchapp.lru import Lru
        self._tokens = Lru(self.MAX_TOKENS, weigh=lambda tokens: max(1, len(tokens[1])))

    def _analysed(self, field, fieldname: str, text: str):
        key = (fieldname, text)
        found = self._tokens.get_fresh(key)
        if found is None:
            # each token's attribute values, with its names shared when every token has the same
            # (a tuple of (name, value) pairs per token took ~800 B)
            tokens = [t.__dict__.copy() for t in field.analyzer(
                text, positions=True, chars=True, mode="index", removestops=False)]
            names = tuple(tokens[0]) if tokens else ()
            if all(tuple(t) == names for t in tokens):
                found = (names, tuple(tuple(t.values()) for t in tokens))
            else:
                found = (None, tuple(tuple(t.items()) for t in tokens))
            self._tokens.put(key, found)
        names, values = found
        if names is None:
            return (Token(**dict(items)) for items in values)
        return (Token(**dict(zip(names, row))) for row in values)

    def highlight_hit(self, hitobj, fieldname, text=None, top=3, minscore=1, strict_phrase=False):
        results = hitobj.results
        if (strict_phrase or text is None or len(text) > self.MAX_CHARS or results.has_matched_terms()
                or self.can_load_chars(results, fieldname)):
            return super().highlight_hit(hitobj, fieldname, text, top, minscore, strict_phrase)
        field = results.searcher.schema[fieldname]
        bterms = results.query_terms(expand=True, fieldname=fieldname)
        words = frozenset(field.from_bytes(term[1]) for term in bterms)
        tokens = highlight.set_matched_filter(self._analysed(field, fieldname, text), words)
        tokens = self._merge_matched_tokens(tokens)
        fragments = self.fragmenter.fragment_tokens(text, tokens)
        fragments = highlight.top_fragments(fragments, top, self.scorer, self.order, minscore=minscore)
        return self.formatter.format(fragments)


class EscapingFormatter(highlight.Formatter):
    """Matched words in <mark>, everything else HTML-escaped (Formatter._text is
    the hook for the text between matches; check() verifies it exists)."""

    between = " … "

    def _text(self, text: str) -> str:
        return html.escape(text, quote=True)

    def format_token(self, text, token, replace=False):
        return "<mark>%s</mark>" % html.escape(highlight.get_text(text, token, replace), quote=True)


def results(searcher, query, top_n, highlighter) -> Results:
    """Whoosh Results from a top-N we computed ourselves ((score, docnum) pairs)."""
    return Results(searcher, query, top_n, highlighter=highlighter)


def exact_top(searcher, query, limit, allow, restrict, within=None):
    """The true top `limit` by score. Whoosh's default collector prunes with
    per-block and per-matcher score bounds that are not upper bounds here
    (field boosts): for "power apps" its top 60 missed 53 of the 60
    best-scoring items. Scoring every match costs no more on our query mix.
    `within`: sorted docnums, the only documents looked at (see _Within)."""
    if limit >= searcher.doc_count():
        collector = collectors.UnlimitedCollector()
    else:
        collector = collectors.TopCollector(limit, usequality=False, replace=0)
    if within is not None:
        collector = _Within(collector, within)
    elif allow is not None or restrict is not None:
        collector = collectors.FilterCollector(collector, allow, restrict)
    searcher.search_with_collector(query, collector)
    return collector.results()


class _Within(collectors.WrappingCollector):
    """Collects only the given documents, moving the query's matcher straight
    to each with skip_to instead of stepping through every match: scores are
    the same matcher's, so identical, and a phrase or a synonym group that
    matches 20,000 items costs what the 23 candidates cost (1.1 s -> ms)."""

    def __init__(self, child, docnums):
        super().__init__(child)
        self.docnums = docnums
        self._skipped = False

    def set_subsearcher(self, subsearcher, offset):
        """No matcher for a segment holding none of the documents: at 300k items after six
        appends of 10 files, building one in each 10-document segment took 2-7 ms."""
        first = bisect.bisect_left(self.docnums, offset)
        self._skipped = first == len(self.docnums) or self.docnums[first] >= offset + subsearcher.reader().doc_count_all()
        if not self._skipped:
            self.child.set_subsearcher(subsearcher, offset)

    def collect_matches(self):
        if self._skipped:
            return
        leaf = self.child
        matcher, offset = leaf.matcher, leaf.offset
        docnums = self.docnums
        first = bisect.bisect_left(docnums, offset)
        last = bisect.bisect_left(docnums, offset + leaf.subsearcher.reader().doc_count_all())
        collect = leaf.collect
        for docnum in docnums[first:last]:
            if not matcher.is_active():
                break
            sub = docnum - offset
            if matcher.id() < sub:
                matcher.skip_to(sub)
                if not matcher.is_active():
                    break
            if matcher.id() == sub:
                collect(sub)


class KnownPhrase(Q.Phrase):
    """A phrase whose matching documents are known (the snapshot's bitmap, from the
    phrase tables), matched the way Whoosh's Phrase matches (check 10): its words'
    Term matchers in a binary tree of intersections, so the same scores bit for
    bit, but moved only to those documents. Whoosh's SpanNear2 decodes the
    positions of every document holding all the words on its way to the next
    match; building one per segment for "gdpr"'s synonym phrases cost 1.2 s at
    300k items after an append. `docs`: sorted docnums of the whole searcher;
    `spans`: id(leaf searcher) -> its (first, end) docnums (search_with_collector
    asks each leaf for a matcher)."""

    def __init__(self, phrase: Q.Phrase, docs: list[int], spans: dict[int, tuple[int, int]]):
        super().__init__(phrase.fieldname, phrase.words, slop=phrase.slop, boost=phrase.boost,
                         char_ranges=phrase.char_ranges)
        self._docs, self._spans = docs, spans

    def matcher(self, searcher, context=None):
        span = self._spans.get(id(searcher))
        if span is None or self.slop != 1:
            return super().matcher(searcher, context)   # not a leaf we know: Whoosh's own way
        reader, field = searcher.reader(), searcher.schema[self.fieldname]
        words = [field.to_bytes(word) for word in self.words]
        if any((self.fieldname, word) not in reader for word in words):
            return NullMatcher()
        start, end = span
        docs = self._docs
        local = [d - start for d in docs[bisect.bisect_left(docs, start):bisect.bisect_left(docs, end)]]
        if not local:
            return NullMatcher()
        terms = [Q.Term(self.fieldname, word).matcher(searcher, context) for word in words]
        m = _Listed(make_binary_tree(IntersectionMatcher, terms), local)
        return WrappingMatcher(m, boost=self.boost) if self.boost != 1.0 else m


class _Listed(WrappingMatcher):
    """The child's matches at the listed documents only (each one the child matches), scored by the child."""

    def __init__(self, child, docs: list[int], at: int = 0):
        super().__init__(child)
        self._docs, self._at = docs, at
        self._settle()

    def _settle(self) -> None:
        docs, child = self._docs, self.child
        while self._at < len(docs) and child.is_active():
            target = docs[self._at]
            if child.id() < target:
                child.skip_to(target)
                if not child.is_active():
                    break
            if child.id() == target:
                return
            self._at = bisect.bisect_left(docs, child.id(), self._at)   # a listed document it lacks
        self._at = len(docs)

    def copy(self):
        return _Listed(self.child.copy(), self._docs, self._at)

    def replace(self, minquality=0):
        return self if self.is_active() else NullMatcher()

    def is_active(self) -> bool:
        return self._at < len(self._docs)

    def id(self) -> int:
        return self._docs[self._at]

    def all_ids(self):
        while self.is_active():
            yield self.id()
            self.next()

    def next(self) -> None:
        self._at += 1
        self._settle()

    def skip_to(self, id) -> None:
        if self.is_active() and id > self.id():
            self._at = bisect.bisect_left(self._docs, id, self._at)
            self._settle()

    def supports_block_quality(self) -> bool:
        return False

    def score(self) -> float:
        return self.child.score()


def known_phrases(query, searcher, docs_of):
    """The query with each slop-1 Phrase under its Ands and Ors replaced by a KnownPhrase
    (`docs_of(phrase)`: its sorted live docnums). The Ors and Ands are copies that keep
    their own attributes (the matcher type compile._union_trees chose: another one sums
    in another order). Anything else is left whole, with Whoosh's own phrases: an Or with
    `scale` or `minmatch` (which compile.py never builds), a NOT, an AndMaybe."""
    spans = {id(leaf): (offset, offset + leaf.reader().doc_count_all()) for leaf, offset in searcher.leaf_searchers()}

    def swap(q):
        if type(q) is Q.Phrase and q.slop == 1:
            return KnownPhrase(q, docs_of(q), spans)
        if isinstance(q, (Q.And, Q.Or)) and not getattr(q, "scale", None) and not getattr(q, "minmatch", 0):
            # (an Or with a coordination scale scores through its parts' term matchers: review 18)
            children = [swap(c) for c in q.subqueries]
            if all(a is b for a, b in zip(children, q.subqueries)):
                return q
            copied = copy.copy(q)
            copied.subqueries = children
            return copied
        return q

    return swap(query)


check()


def posting_blocks(reader, fieldname: str, text) -> tuple[list[int], list[float]]:
    """(docnums, weights) of one segment's postings of a term, a block of
    postings at a time instead of four Python calls per posting (a common
    word's bitmap at 100k items: ~20,000 postings). The weights are the
    block's (single precision), what Whoosh's scorer reads; `items_as("weight")`
    decodes them from the values instead (0.3, not 0.30000001192092896)."""
    matcher = reader.postings(fieldname, text)
    if type(matcher) is not W3LeafMatcher:   # postings kept inline in the term's info
        pairs = list(matcher.items_as("weight"))
        return [d for d, _ in pairs], [w for _, w in pairs]
    ids: list[int] = []
    weights: list[float] = []
    while matcher.is_active():
        matcher.id()        # loads the block's ids
        matcher.weight()    # ... and its weights
        ids.extend(matcher._ids[matcher._i:])
        weights.extend(matcher._weights[matcher._i:])
        matcher._next_block()
    return ids, weights


def posting_positions(reader, fieldname: str, text) -> tuple[list[int], list[list[int]]]:
    """(docnums, positions) of one segment's postings of a term, a block at a time, each
    block value decoded once per distinct value (most are one small position: at 300k items
    the title's and excerpt's 9.6 M postings have a few thousand distinct values; decoding
    each posting through the matcher took 24 s)."""
    matcher = reader.postings(fieldname, text)
    if type(matcher) is not W3LeafMatcher:   # postings kept inline in the term's info
        pairs = list(matcher.items_as("positions"))
        return [d for d, _ in pairs], [p for _, p in pairs]
    decode = matcher.format.decode_positions
    decoded: dict[bytes, list[int]] = {}
    ids: list[int] = []
    positions: list[list[int]] = []
    while matcher.is_active():
        matcher.id()        # loads the block's ids
        matcher.value()     # ... and its values
        ids.extend(matcher._ids[matcher._i:])
        for value in matcher._values[matcher._i:]:
            found = decoded.get(value)
            if found is None:
                found = decoded[value] = decode(value)
            positions.append(found)
        matcher._next_block()
    return ids, positions


# ---------------------------------------------------------------- the build's add_document
#
# Whoosh's SegmentWriter.add_document, repeated with the same postings, the
# same per-document writes in the same order, and three whole costs removed
# (profile of a 10k build in one process: add_document 41 of 130 s, and the
# per-posting length look-ups 8 s of the flush):
# - a StemmingAnalyzer field is analysed once, not twice: the spelling
#   field's unstemmed words come from the same pass (Whoosh runs the chain
#   again with no_morph), and the chain of generators (tokenizer, lowercase,
#   stop, stem, each a Python call per token) is one loop with an unbounded
#   stem cache (Whoosh's is an LFU of 50,000 words);
# - a word met once in a field (most words) takes its encoded positions from
#   a cache instead of pickling a one-element list;
# - at flush, each field's lengths are read once into a list instead of
#   through the column reader per posting;
# - a posting pool that spills to disk writes and reads its run files a chunk
#   of postings per marshal call, not one posting per call (profile of a 100k
#   build: the runs' per-posting dump and load were 28% of all samples).
# Anything not recognised takes Whoosh's own path. Tested byte for byte
# against Whoosh's writer (tests/test_fast_write.py).

from whoosh.analysis import (CompositeAnalyzer, LowercaseFilter, RegexTokenizer as _RegexTokenizer, StemFilter,
                             StopFilter)
from whoosh.codec.base import OutOfOrderError
from whoosh.codec.whoosh3 import LENGTHS_COLUMN, W3Codec, W3FieldWriter, W3PostingsWriter, _lenfield
from whoosh.formats import Positions
from whoosh.system import pack_uint
from whoosh.util.numeric import byte_to_length
from whoosh.externalsort import SortingPool
from whoosh.writing import PostingPool, SegmentWriter
import heapq
import marshal
import pickle

_STEM_CACHE_MAX = 500_000     # distinct words kept stemmed (about 60 MB); cleared when full
_ONE_POSITION: dict[int, bytes] = {}   # position -> pickled [position]
_ONE = pack_uint(1)


def _check_writer() -> None:
    source = inspect.getsource(SegmentWriter.add_document)
    for needle in ("field.index(value)", "field.spellable_words(value)", "add_post((spellfield, word, 0, 1, vbytes))",
                   "perdocwriter.add_field(fieldname, field, sv, length)", "self._doc_boost(fields)"):
        if needle not in source:
            _fail(f"SegmentWriter.add_document changed ({needle!r} is gone)")
    posting = inspect.getsource(W3PostingsWriter.add_posting)
    for needle in ("self._write_block()", "self._ids.append(id_)", "self._weights.append(weight)",
                   "if vbytes:", "self._values.append(vbytes)", "if length:"):
        if needle not in posting:
            _fail(f"W3PostingsWriter.add_posting changed ({needle!r} is gone)")
    if "dumps(deltas, 2)" not in inspect.getsource(Positions.encode):
        _fail("formats.Positions.encode changed")
    # GroupedPool: Whoosh's pool's fields, run files and merge of runs into runs
    for needle in ("self.limit = limitmb * 1024 * 1024", "self.fieldnames = set()", "self.currentsize = 0"):
        if needle not in inspect.getsource(PostingPool.__init__):
            _fail(f"writing.PostingPool.__init__ changed ({needle!r} is gone)")
    for method, needle in ((SortingPool.reduce_to, "self._write_run(f, self._merge_runs(tomerge))"),
                           (SortingPool._add_run, "self.runs.append(filename)"),
                           (SegmentWriter._close_segment, "self.pool.cleanup()")):
        if needle not in inspect.getsource(method):
            _fail(f"{method.__qualname__} changed ({needle!r} is gone)")


_RUN_CHUNK = 2048   # postings per record of a pool's run file (a merge holds one record per run)


class GroupedPool(PostingPool):
    """Whoosh's PostingPool with each term's postings kept together: field -> term -> list of
    (docnum, weight, value), the order Whoosh's sort of whole 5-tuples gives, made by sorting
    only the distinct terms. Whoosh appends every posting as (field, term, docnum, weight,
    value) and sorts them all at each spill (profile of a 100k build: the sort 7.5% of all
    samples, its run files 8%, and the flush compares field and term again per posting).

    It spills at the same size (Whoosh's estimate per posting) to run files of records, ended
    by a length of 0 so a file cut between records is an error, each its length and one
    `marshal.dumps` (version 2, as Whoosh's: no two values come back as one
    object, which pickle would write once) of up to _RUN_CHUNK postings as (field, term,
    postings) groups. A merge of runs joins a term's postings from each run; they are Whoosh's
    order when each run's docnums follow the previous run's (a writer's runs do), else they are
    sorted as whole postings. The segment's files are Whoosh's bytes (tests/test_fast_write.py)."""

    def __init__(self, pool: PostingPool):
        PostingPool.__init__(self, pool.tempstore, pool.segment)
        self.limit = pool.limit
        self.fields: dict[str, dict[bytes, list]] = {}
        # fields whose postings may arrive out of order within a term: the spelling fields
        # (docnum 0, ordered by value) and anything added through Whoosh's own add()
        self.unordered: set[str] = set()

    def terms(self, fieldname: str) -> dict[bytes, list]:
        found = self.fields.get(fieldname)
        if found is None:
            found = self.fields[fieldname] = {}
            self.fieldnames.add(fieldname)
        return found

    def add(self, item) -> None:   # Whoosh's own callers (add_document with boosts, merges)
        fieldname, tbytes, docnum, weight, vbytes = item
        self.currentsize += 28 + 4 * 5 + 21 + len(fieldname) + 26 + len(tbytes) * 2 + 18 + 16 + 21 + len(vbytes or "")
        if self.currentsize > self.limit:
            self.save()
        self.unordered.add(fieldname)
        postings = self.terms(fieldname).setdefault(tbytes, [])
        postings.append((docnum, weight, vbytes))

    def _groups(self):
        """(field, term, postings) in Whoosh's order: fields and terms sorted, each term's
        postings sorted where they may not have arrived in order."""
        for fieldname in sorted(self.fields):
            terms = self.fields[fieldname]
            unordered = fieldname in self.unordered
            for tbytes in sorted(terms):
                postings = terms[tbytes]
                if unordered:
                    postings.sort()
                yield fieldname, tbytes, postings

    def save(self) -> None:
        if self.fields:
            path, f = self._new_run()
            self._write_run(f, self._groups())
            self._add_run(path)
            self.fields = {}
        self.currentsize = 0

    def _write_run(self, f, groups) -> None:
        try:
            chunk, size = [], 0
            for group in groups:
                chunk.append(group)
                size += len(group[2])
                if size >= _RUN_CHUNK:
                    _dump(chunk, f)
                    chunk, size = [], 0
            if chunk:
                _dump(chunk, f)
            f.write(_RUN_END)
        finally:
            f.close()

    def _read_run(self, path):
        f = self._open_run(path)
        try:
            while True:
                head = _read_exactly(f, 8)
                if head == _RUN_END:
                    return
                size = int.from_bytes(head, "little")
                data = _read_exactly(f, size)
                if len(head) < 8 or len(data) < size:
                    # damage, never taken for the end of the run (review 12: a cut inside a
                    # record; review 13: a cut between records, hence the end mark)
                    raise EOFError(f"a posting pool's run file {path!r} is cut short")
                yield from marshal.loads(data)
        finally:
            f.close()
            self._remove_run(path)

    def _merge_runs(self, paths):
        """The runs' groups merged: one group per term, its postings from each run joined."""
        runs = [((fieldname, tbytes, n, postings) for fieldname, tbytes, postings in self._read_run(path))
                for n, path in enumerate(paths)]
        key = last = None
        for fieldname, tbytes, _, postings in heapq.merge(*runs):
            if (fieldname, tbytes) == key:
                if last[-1] > postings[0]:   # this run's postings are not all after the last's
                    last.extend(postings)
                    last.sort()
                else:
                    last.extend(postings)
                continue
            if key is not None:
                yield key[0], key[1], last
            key, last = (fieldname, tbytes), postings
        if key is not None:
            yield key[0], key[1], last

    def groups(self):
        """Every (field, term, postings) in Whoosh's order: from memory, or by merging runs."""
        if not self.runs:
            return self._groups()
        self.save()
        if len(self.runs) > _MAX_OPEN_RUNS:
            self.reduce_to(_MAX_OPEN_RUNS, _MAX_OPEN_RUNS)
        runs, self.runs = self.runs, []
        return self._merge_runs(runs)

    def items(self, maxfiles=128):   # Whoosh's interface: each posting as a 5-tuple
        return ((fieldname, tbytes, docnum, weight, vbytes) for fieldname, tbytes, postings in self.groups()
                for docnum, weight, vbytes in postings)

    def iter_postings(self):
        return self.items()


_MAX_OPEN_RUNS = 128   # Whoosh's items(maxfiles=128)
_RUN_END = bytes(8)     # a run's last 8 bytes: a record of length 0, which marshal never writes


def _dump(chunk: list, f) -> None:
    data = marshal.dumps(chunk, 2)
    f.write(len(data).to_bytes(8, "little") + data)


class _StemIndexer:
    """StemmingAnalyzer + Positions format of one field, in one pass."""

    def __init__(self, field):
        tokenizer, lower, stop, stem = field.analyzer.items
        self.finditer = tokenizer.expression.finditer
        self.stops, self.min, self.max, self.renumber = stop.stops, stop.min, stop.max, stop.renumber
        self.ignore = stem.ignore
        self.stemfn = stem.stemfn
        self.stemmed: dict[str, str] = {}
        self.field_boost = field.format.field_boost

    @staticmethod
    def usable(field) -> bool:
        analyzer = getattr(field, "analyzer", None)
        if not (type(field.format) is Positions and type(analyzer) is CompositeAnalyzer and len(analyzer.items) == 4):
            return False
        tokenizer, lower, stop, stem = analyzer.items
        return (type(tokenizer) is _RegexTokenizer and not tokenizer.gaps and type(lower) is LowercaseFilter
                and type(stop) is StopFilter and type(stem) is StemFilter and not stem.lang
                and not getattr(lower, "is_morph", False) and not getattr(stop, "is_morph", False)
                and getattr(stem, "is_morph", False))

    def analyse(self, text: str):
        """(Whoosh's index items, the spelling words): the same tuples in the same order."""
        stops, minsize, maxsize, renumber = self.stops, self.min, self.max, self.renumber
        stemmed, ignore = self.stemmed, self.ignore
        poses: dict[str, list[int]] = {}
        unstemmed = set()
        pos = None
        for i, match in enumerate(self.finditer(text)):
            word = match.group(0).lower()
            if len(word) < minsize or (maxsize is not None and len(word) > maxsize) or word in stops:
                continue
            if renumber:
                pos = i if pos is None else pos + 1
            else:
                pos = i
            unstemmed.add(word)
            if word not in ignore:
                stem = stemmed.get(word)
                if stem is None:
                    if len(stemmed) >= _STEM_CACHE_MAX:
                        stemmed.clear()
                    stem = stemmed[word] = self.stemfn(word)
                word = stem
            found = poses.get(word)
            if found is None:
                poses[word] = [pos]
            else:
                found.append(pos)
        fb = self.field_boost
        items = []
        for word, poslist in poses.items():
            count = len(poslist)
            if count == 1:
                first = poslist[0]
                tail = _ONE_POSITION.get(first)
                if tail is None:
                    tail = _ONE_POSITION[first] = pickle.dumps([first], 2)
                # a new bytes object each time, as Whoosh makes: a block pickles its values,
                # and pickle writes a shared object once (the file would differ)
                value = _ONE + tail
            else:
                deltas = [poslist[0]] + [b - a for a, b in zip(poslist, poslist[1:])]
                value = pack_uint(count) + pickle.dumps(deltas, 2)
            items.append((word.encode("utf-8"), count, float(count) * fb, value))  # Whoosh sums 1.0 per token
        return items, sorted(unstemmed)


def _read_exactly(f, size: int) -> bytes:
    """`size` bytes of a file, fewer only at its end (a raw file may return short reads)."""
    data = f.read(size)
    while len(data) < size:
        more = f.read(size - len(data))
        if not more:
            break
        data += more
    return data


def build_writer(writer: SegmentWriter) -> "FastAdder":
    return FastAdder(writer)


class FastAdder:
    """`add(fields)` = `writer.add_document(**fields)` with the costs above removed."""

    def __init__(self, writer: SegmentWriter):
        _check_writer()
        self.writer = writer
        self.whole = any(field.vector for _, field in writer.schema.items())   # term vectors: Whoosh's path
        self.indexers = {name: _StemIndexer(field) for name, field in writer.schema.items()
                         if _StemIndexer.usable(field)}
        self.spellnames = {name: field.spelling_fieldname(name) for name, field in writer.schema.items()
                           if field.separate_spelling()}
        writer._flush_segment = lambda: _flush_segment(writer)
        if type(writer.pool) is PostingPool and not writer.pool.fieldnames:   # a new writer's empty pool
            writer.pool = GroupedPool(writer.pool)
            self.pool = writer.pool
        else:
            self.pool = None   # someone else's pool: its own add()

    def add(self, fields: dict) -> None:
        w = self.writer
        if self.whole or any(name.startswith("_") for name in fields):   # boosts, custom stored values: Whoosh's
            w.add_document(**fields)
            return
        w._check_state()
        perdocwriter = w.perdocwriter
        schema = w.schema
        docnum = w.docnum
        pool = self.pool
        if pool is None:
            w.add_document(**fields)
            return
        limit = pool.limit
        indexers, spellnames = self.indexers, self.spellnames
        fieldnames = sorted(fields)
        w._check_fields(schema, fieldnames)
        perdocwriter.start_doc(docnum)
        try:
            for fieldname in fieldnames:
                value = fields[fieldname]
                if value is None:
                    continue
                field = schema[fieldname]
                length = 0
                spell = None
                vbytes = None
                if field.indexed:
                    indexer = indexers.get(fieldname) if isinstance(value, str) else None
                    if indexer is not None:
                        items, spell = indexer.analyse(value)
                    else:
                        items = field.index(value)
                    scorable = field.scorable
                    name_size = 28 + 4 * 5 + 21 + len(fieldname) + 26 + 18 + 16 + 21
                    terms = pool.terms(fieldname)
                    for tbytes, freq, weight, vbytes in items:
                        weight *= 1.0
                        if scorable:
                            length += freq
                        # PostingPool.add, inline: the same size estimate, so the same spills
                        pool.currentsize += name_size + len(tbytes) * 2 + len(vbytes or "")
                        if pool.currentsize > limit:
                            pool.save()
                            terms = pool.terms(fieldname)
                        # one posting per term and document, docnums rising: Whoosh's order
                        postings = terms.get(tbytes)
                        if postings is None:
                            terms[tbytes] = [(docnum, weight, vbytes)]
                        else:
                            if postings[-1][0] == docnum:   # a term twice in one document: sort at the spill
                                pool.unordered.add(fieldname)
                            postings.append((docnum, weight, vbytes))
                if fieldname in spellnames:
                    spellfield = spellnames[fieldname]
                    words = spell if spell is not None else field.spellable_words(value)
                    name_size = 28 + 4 * 5 + 21 + len(spellfield) + 26 + 18 + 16 + 21
                    pool.unordered.add(spellfield)   # all docnum 0: ordered by value at the spill
                    terms = pool.terms(spellfield)
                    for word in words:
                        word = word.encode("utf-8")
                        pool.currentsize += name_size + len(word) * 2 + len(vbytes or "")
                        if pool.currentsize > limit:
                            pool.save()
                            terms = pool.terms(spellfield)
                        postings = terms.get(word)
                        if postings is None:
                            terms[word] = [(0, 1, vbytes)]
                        else:
                            postings.append((0, 1, vbytes))
                sv = value if field.stored else None
                perdocwriter.add_field(fieldname, field, sv, length)
                column = field.column_type
                if column:
                    perdocwriter.add_column_value(fieldname, column, field.to_column_value(value))
        except Exception:
            perdocwriter.cancel_doc()
            raise
        perdocwriter.finish_doc()
        w._added = True
        w.docnum += 1


class _Lengths:
    """A per-document reader's doc_field_length, each field's column read once."""

    def __init__(self, pdr, doccount: int):
        self.pdr, self.doccount, self.fields = pdr, doccount, {}

    def column(self, fieldname: str):
        """The field's lengths by docnum (an array), or 0 when it has none."""
        found = self._load(fieldname, 0)
        return found if type(found) is array else 0

    def _load(self, fieldname: str, default):
        found = self.fields.get(fieldname)
        if found is None:
            reader = self.pdr._cached_reader(_lenfield(fieldname), LENGTHS_COLUMN)
            if reader is None:
                found = self.fields[fieldname] = default
            else:
                # an array, not a list of ints: 4 B a document (a writer holds 500k at 1M items)
                found = self.fields[fieldname] = array("I", (byte_to_length(reader[n])
                                                             for n in range(self.doccount)))
        return found

    def doc_field_length(self, docnum, fieldname, default=0):
        found = self._load(fieldname, default)
        if type(found) is array:
            if docnum > self.doccount:
                raise IndexError(f"Asked for docnum {docnum!r} of {self.doccount}")
            return found[docnum] or None   # Whoosh: None for a zero length byte
        return found


def _flush_segment(writer: SegmentWriter) -> None:
    """SegmentWriter._flush_segment with the lengths above and the postings
    loop below."""
    writer.perdocwriter.close()
    pdr = writer.per_document_reader() if writer.codec.length_stats else None
    fieldwriter = writer.fieldwriter
    lengths = _Lengths(pdr, pdr._doccount) if pdr else None
    if type(fieldwriter) is W3FieldWriter and type(writer.codec) is W3Codec and isinstance(writer.pool, GroupedPool):
        _add_groups(fieldwriter, writer.schema, lengths, writer.pool.groups())
    else:
        fieldwriter.add_postings(writer.schema, lengths, writer.pool.iter_postings())
    fieldwriter.close()
    if pdr:
        pdr.close()


def _add_groups(fw, schema, lengths, groups) -> None:
    """FieldWriter.add_postings over a GroupedPool's (field, term, postings): W3FieldWriter.add and
    W3PostingsWriter.add_posting inlined (three calls and four type asserts per posting), and
    fields and terms compared once per term, not per posting."""
    start_field, start_term, finish_term, finish_field = fw.start_field, fw.start_term, fw.finish_term, fw.finish_field
    lastfn = None
    lasttext = None
    lens = 0
    for fieldname, btext, postings in groups:
        if postings and postings[0][0] == -1:   # Whoosh's old spelling marks: never postings
            postings = [p for p in postings if p[0] != -1]
        if not postings:
            continue
        if fieldname != lastfn:
            if lastfn is not None and fieldname < lastfn:
                raise OutOfOrderError("Field %r .. %r" % (lastfn, fieldname))
            if lasttext is not None:
                finish_term()
            if lastfn is not None:
                finish_field()
            start_field(fieldname, schema[fieldname])
            lastfn = fieldname
            lasttext = None
            lens = lengths.column(fieldname) if lengths else 0
        if btext != lasttext:
            if lasttext and btext < lasttext:
                raise OutOfOrderError("Term %s:%r .. %s:%r" % (lastfn, lasttext, fieldname, btext))
            if lasttext is not None:
                finish_term()
            start_term(btext)
            lasttext = btext
        pw = fw._postwriter
        limit = pw._blocklimit
        ids, weights, values = pw._ids, pw._weights, pw._values
        for docnum, weight, value in postings:
            length = lens[docnum] if lens else 0
            # W3PostingsWriter.add_posting
            if len(ids) >= limit:
                pw._write_block()
                ids, weights, values = pw._ids, pw._weights, pw._values
            ids.append(docnum)
            weights.append(weight)
            if weight > pw._maxweight:
                pw._maxweight = weight
            if value:
                values.append(value)
            if length:
                minlength = pw._minlength
                if minlength is None or length < minlength:
                    pw._minlength = length
                if length > pw._maxlength:
                    pw._maxlength = length
    if lasttext is not None:
        finish_term()
    if lastfn is not None:
        finish_field()
