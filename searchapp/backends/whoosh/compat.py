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
import html
import inspect
from importlib import metadata
from pathlib import Path

import whoosh
from whoosh import collectors, highlight
from whoosh.analysis import Token
from whoosh.codec.whoosh3 import W3LeafMatcher, W3PerDocReader
from whoosh.filedb.filestore import FileStorage
from whoosh.index import TOC
from whoosh.searching import Results

VERIFIED_VERSIONS = ("2.7.5",)


class WhooshIncompatible(ImportError):
    pass


def _fail(what: str) -> None:
    raise WhooshIncompatible(
        f"searchapp's Whoosh backend was verified with whoosh-reloaded {', '.join(VERIFIED_VERSIONS)}; "
        f"installed: {_installed()}. {what}. Install a verified version: pip install 'whoosh-reloaded==2.7.5'")


def _installed() -> str:
    try:
        return metadata.version("whoosh-reloaded")
    except metadata.PackageNotFoundError:
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
    MAX_TOKENS = 100_000         # cached tokens in all (~200 B each: a tuple of values, the text)

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

    def collect_matches(self):
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
