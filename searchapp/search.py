"""Search: a query string and filters -> a ResultsPage of ranked, faceted,
highlighted hits. Owns query parsing, facet counting, highlighting and the
lifetime of Whoosh searchers. Knows nothing of HTTP.

Facet counts are disjunctive: the counts of one facet are taken under the
query and the filters of the *other* facets, so picking a value keeps its
siblings' counts (what a user would get by adding that value).

Speed comes from bitmaps (Python ints, one bit per document) cached per index
generation and shared by threads: a query's boolean structure is evaluated on
per-term bitmaps, facet counts are popcounts, date-sorted pages are read off a
presorted order; only relevance ranking scores documents (Whoosh's BM25F).
Whole results pages are cached too, keyed on the generation.
"""

from __future__ import annotations

import datetime as dt
import html
import os
import re
import threading
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from whoosh import highlight, query as Q
from whoosh.analysis import STOP_WORDS
from whoosh.fields import Schema
from whoosh.qparser import AndGroup, MultifieldParser, plugins
from whoosh.searching import Results

from whoosh import index as whoosh_index

from searchapp.indexer import (CURRENT, FACET_FIELDS, SPELLING_FIELDS, TEXT_FIELDS, BuildInfo, NoIndex,
                               current_generation, make_schema, read_build_info)
from searchapp.reader import Provider, NewsItem

MAX_QUERY_CHARS = 500
MAX_PER_PAGE = 100
MAX_PAGE = 1000
MAX_FILTER_VALUES = 50
RELAX_BELOW = 10          # fewer items than this match all words -> list those matching some too
SUGGEST_CANDIDATES = 12   # completions ranked by co-occurrence with the earlier words
RESULT_CACHE_SIZE = 512   # results pages kept per engine (a page with facets is ~10-20 kB)
FACET_LIMIT = 30          # values shown per facet (selected values always are)
SORTS = ("relevance", "newest", "oldest")
QUERY_FIELDS = ("title", "excerpt", "body", "related_text", "provider", "topic")


class QueryError(ValueError):
    """A query or parameter the engine cannot answer; the message is for people."""


@dataclass(frozen=True)
class Filters:
    """Several values of one facet = any of them; different facets = all."""

    topic: tuple[str, ...] = ()
    provider: tuple[str, ...] = ()
    year: tuple[str, ...] = ()
    date_from: dt.date | None = None
    date_to: dt.date | None = None

    def values(self, facet: str) -> tuple[str, ...]:
        return getattr(self, facet)

    def to_dict(self) -> dict:
        return {
            "topic": list(self.topic),
            "provider": list(self.provider),
            "year": list(self.year),
            "from": self.date_from.isoformat() if self.date_from else None,
            "to": self.date_to.isoformat() if self.date_to else None,
        }


@dataclass(frozen=True)
class Hit:
    id: str
    url: str
    title: str
    title_html: str          # HTML-escaped, query words in <mark>
    excerpt: str
    snippet: str             # HTML-escaped, query words in <mark>
    published: str | None    # ISO 8601 UTC
    provider: Provider
    topics: tuple[str, ...]
    score: float | None
    matched_all: bool        # False for items listed because they match only some words

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "url": self.url,
            "title": self.title,
            "excerpt": self.excerpt,
            "snippet": self.snippet,
            "published": self.published,
            "provider": {"name": self.provider.name, "domain": self.provider.domain},
            "topics": list(self.topics),
            "score": self.score,
            "matched_all": self.matched_all,
        }


@dataclass(frozen=True)
class FacetValue:
    value: str
    count: int
    selected: bool


@dataclass(frozen=True)
class ResultsPage:
    query: str
    total: int               # items listed: all words first, then (if relaxed) some words
    total_all_words: int     # items matching every word
    relaxed: bool            # True when items matching only some words are listed too
    page: int
    per_page: int
    sort: str
    filters: Filters
    hits: tuple[Hit, ...]
    facets: dict[str, tuple[FacetValue, ...]]
    did_you_mean: str | None = None
    took_ms: float = 0.0

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    def to_dict(self) -> dict:
        return {
            "query": self.query,
            "total": self.total,
            "total_all_words": self.total_all_words,
            "relaxed": self.relaxed,
            "page": self.page,
            "per_page": self.per_page,
            "pages": self.pages,
            "sort": self.sort,
            "filters": self.filters.to_dict(),
            "results": [h.to_dict() for h in self.hits],
            "facets": {name: [asdict(v) for v in values] for name, values in self.facets.items()},
            "did_you_mean": self.did_you_mean,
            "took_ms": self.took_ms,
        }


@dataclass(frozen=True)
class Suggestion:
    text: str                # what the box would hold, or the title
    kind: str                # "query" (complete the words) or "item" (open that article)
    id: str | None = None    # the item's id, for kind "item"


@dataclass(frozen=True)
class ItemPage:
    """One article with its related coverage in both directions."""

    item: dict                       # the stored record (see indexer.stored_doc)
    lists: tuple[dict, ...]          # items this one lists as related
    listed_by: tuple[dict, ...]      # items whose files list this one


# ---------------------------------------------------------------- parsing

_SCHEMA = make_schema()
_PARSE_SCHEMA = Schema(**{name: _SCHEMA[name] for name in QUERY_FIELDS})
_QUOTED = re.compile(r'("[^"]*")')
_MINUS = re.compile(r"(^|(?<=[\s(]))-(?=[^\s\-])")
_WORD = re.compile(r"(?<![\w:*])([^\W\d_][\w'’-]*)(?![\w:*])")
_OPERATORS = frozenset({"AND", "OR", "NOT"})
_EMPTY_FIELD = re.compile(r"\b(title|provider|topic):(?=\s|$|\))")


def _make_parser(group) -> MultifieldParser:
    parser = MultifieldParser(list(TEXT_FIELDS), schema=_PARSE_SCHEMA, group=group)
    # Only what the README documents: words, "phrases", AND/OR/NOT, field:, word*.
    # No 'single quotes' ("China's rules"), no *:*, no ranges (a [a TO z] took
    # 5 s), no boosts (ai^0 divided by zero inside Whoosh).
    for plugin in (plugins.SingleQuotePlugin, plugins.EveryPlugin, plugins.RangePlugin, plugins.BoostPlugin):
        parser.remove_plugin_class(plugin)
    return parser


_PARSER = _make_parser(AndGroup)
_EXPLICIT_AND = re.compile(r"\bAND\b")
_OPERATOR_WORDS = ("AND", "OR", "NOT", "ANDNOT", "ANDMAYBE")
_FIELD_NAME = re.compile(r"\b(title|provider|topic):", re.I)
_WILDCARD_TERM = re.compile(r"[^\s()\"]*\*[^\s()\"]*")
MAX_WILDCARDS = 3


def _stem(word: str) -> str:
    tokens = [t.text for t in _SCHEMA["title"].analyzer(word)]
    return tokens[0] if tokens else word


def normalize_query(text: str) -> str:
    """Check the query, say what is wrong, and rewrite it for Whoosh's parser.

    Outside quotes: `-word`, `-"phrase"` and `-(group)` become NOT;
    `NOT(` gets its space; field names are lowercased; `?` is punctuation
    (people ask questions), not a one-letter wildcard."""
    text = " ".join(text.split())
    if len(text) > MAX_QUERY_CHARS:
        raise QueryError(f"query is too long ({len(text)} characters; the limit is {MAX_QUERY_CHARS})")
    if text.count('"') % 2:
        raise QueryError('unclosed quote: add the closing " or remove the opening one')
    parts = _QUOTED.split(text)
    for n in range(0, len(parts), 2):
        part = parts[n].replace("?", " ")
        part = _FIELD_NAME.sub(lambda m: m.group(1).lower() + ":", part)
        part = re.sub(r"\bNOT\(", "NOT (", part)
        if n + 1 < len(parts) and re.search(r"(^|[\s(])-$", part):
            part = part[:-1] + "NOT "          # -"phrase"
        parts[n] = _MINUS.sub(r"\1NOT ", part)
    # Phrases stand in as one word, so that operators next to them are checked right.
    masked = "".join(p if n % 2 == 0 else '"q"' for n, p in enumerate(parts))
    depth = 0
    for char in masked:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth < 0:
            raise QueryError("unbalanced parentheses: a ')' has no matching '('")
    if depth:
        raise QueryError("unbalanced parentheses: a '(' is not closed")
    words = masked.replace("(", " ").replace(")", " ").replace('"q"', ' "q" ').split()
    if words and words[0] in ("AND", "OR", "ANDNOT", "ANDMAYBE"):
        raise QueryError(f"'{words[0]}' needs a word before it")
    if words and words[-1] in _OPERATOR_WORDS:
        raise QueryError(f"'{words[-1]}' needs a word after it")
    for first, second in zip(words, words[1:]):
        if first in _OPERATOR_WORDS and second in ("AND", "OR", "ANDNOT", "ANDMAYBE"):
            raise QueryError(f"'{first} {second}': two operators in a row")
    empty = _EMPTY_FIELD.search(masked)
    if empty:
        raise QueryError(f"'{empty.group(0)}' needs a value, as in {empty.group(1)}:word")
    wildcards = _WILDCARD_TERM.findall(masked)
    if len(wildcards) > MAX_WILDCARDS:
        raise QueryError(f"at most {MAX_WILDCARDS} words with * in one query")
    for term in wildcards:
        literal = term.split(":", 1)[-1].lstrip("-").split("*", 1)[0]
        if len(literal) < 2:
            raise QueryError(f"'{term}': a * needs at least two letters before it, as in regul*")
    return "".join(parts)


def parse_query(text: str) -> tuple[Q.Query, Q.Query]:
    """(all words required, some words enough); equal when nothing can be relaxed.

    Only the implicit AND between bare words is relaxed: phrases, field:value,
    NOT and wildcards stay required, and an explicit AND is taken at its word.
    """
    normalized = normalize_query(text)
    try:
        strict = _PARSER.parse(normalized)
    except Exception:  # Whoosh's parser fails on some operator runs, e.g. 'NOT AND -'
        raise QueryError("the operators in this query do not fit together (check AND, OR, NOT and '-')") from None
    if not isinstance(strict, Q.And) or _EXPLICIT_AND.search(_QUOTED.sub("", normalized)):
        return strict, strict
    words = [q for q in strict.subqueries if _is_plain_word(q)]
    required = [q for q in strict.subqueries if not _is_plain_word(q)]
    if len(words) < 2:
        return strict, strict
    # A plain Or: BM25 sums the words matched. (Or's `scale` coordination bonus
    # breaks Whoosh's top-N pruning: a top-1 differed from the top of a top-10.)
    some = Q.Or(words)
    return strict, (Q.And([some, *required]) if required else some)


def _is_plain_word(query: Q.Query) -> bool:
    """A bare word searched in every text field (not a phrase, field:value, NOT or wildcard)."""
    subs = getattr(query, "subqueries", ())
    return (
        isinstance(query, Q.Or)
        and bool(subs)
        and all(type(s) is Q.Term for s in subs)
        and {s.fieldname for s in subs} == set(TEXT_FIELDS)
    )


def filter_queries(filters: Filters) -> dict[str, Q.Query]:
    """One Whoosh query per active filter group."""
    groups: dict[str, Q.Query] = {}
    for facet, fieldname in FACET_FIELDS.items():
        values = filters.values(facet)
        if values:
            groups[facet] = Q.Or([Q.Term(fieldname, v) for v in values])
    if filters.date_from or filters.date_to:
        start = dt.datetime.combine(filters.date_from, dt.time.min) if filters.date_from else None
        end = dt.datetime.combine(filters.date_to, dt.time.max) if filters.date_to else None
        groups["date"] = Q.DateRange("published", start, end)
    return groups


def check_paging(page: int, per_page: int, sort: str) -> None:
    if sort not in SORTS:
        raise QueryError(f"sort must be one of {', '.join(SORTS)}, not {sort!r}")
    if not 1 <= per_page <= MAX_PER_PAGE:
        raise QueryError(f"per_page must be between 1 and {MAX_PER_PAGE}")
    if not 1 <= page <= MAX_PAGE:
        raise QueryError(f"page must be between 1 and {MAX_PAGE}")


def check_filters(filters: Filters) -> None:
    for facet in FACET_FIELDS:
        values = filters.values(facet)
        if len(values) > MAX_FILTER_VALUES:
            raise QueryError(f"too many {facet} values (the limit is {MAX_FILTER_VALUES})")
        if any(len(v) > 200 for v in values):
            raise QueryError(f"a {facet} value is too long")
    if filters.date_from and filters.date_to and filters.date_from > filters.date_to:
        raise QueryError("the 'from' date is after the 'to' date")


# ---------------------------------------------------------------- highlighting

class MarkFormatter(highlight.Formatter):
    """Matched words in <mark>, everything else HTML-escaped."""

    between = " … "

    def _text(self, text: str) -> str:
        return html.escape(text, quote=True)

    def format_token(self, text, token, replace=False):
        return "<mark>%s</mark>" % html.escape(highlight.get_text(text, token, replace), quote=True)


_WHOLE = highlight.Highlighter(fragmenter=highlight.WholeFragmenter(), formatter=MarkFormatter())
_CONTEXT = highlight.Highlighter(
    fragmenter=highlight.ContextFragmenter(maxchars=240, surround=60), formatter=MarkFormatter()
)
SNIPPET_CHARS = 300


def _shorten(text: str, limit: int = SNIPPET_CHARS) -> str:
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + " …"


# ---------------------------------------------------------------- bitmaps

def _bits(docnums) -> int:
    """Docnums -> a bitmap int (bit n set = doc n)."""
    array = bytearray()
    for doc in docnums:
        byte = doc >> 3
        if byte >= len(array):
            array.extend(bytes(byte - len(array) + 1 + 64))
        array[byte] |= 1 << (doc & 7)
    return int.from_bytes(array, "little")


def _docnums(bits: int) -> list[int]:
    """A bitmap int -> its docnums, ascending (skips empty bytes quickly)."""
    data = bits.to_bytes((bits.bit_length() + 7) // 8, "little")
    found = []
    start = 0
    while True:
        # Jump over runs of zero bytes with C-speed searching.
        stripped = data[start:].lstrip(b"\x00")
        if not stripped:
            return found
        index = len(data) - len(stripped)
        byte = data[index]
        base = index * 8
        for bit in range(8):
            if byte >> bit & 1:
                found.append(base + bit)
        start = index + 1


class _Lru(dict):
    """A small thread-safe LRU cache (GIL-atomic dict operations, a lock for eviction)."""

    def __init__(self, size: int):
        super().__init__()
        self.size = size
        self.lock = threading.Lock()

    def get_fresh(self, key):
        value = self.pop(key, None)
        if value is not None:
            self[key] = value  # most recently used last
        return value

    def put(self, key, value) -> None:
        with self.lock:
            self[key] = value
            while len(self) > self.size:
                try:
                    del self[next(iter(self))]
                except (KeyError, StopIteration, RuntimeError):
                    break


class _SearcherState:
    """A Whoosh searcher with the bitmaps computed for it (valid while it lives)."""

    def __init__(self, index, generation: Path | None, key=None, shared: dict | None = None):
        self.index = index
        self.generation = generation
        self.key = key
        self.searcher = index.searcher()
        reader = self.searcher.reader()
        # Bitmaps depend only on the generation's docnums: threads reading the
        # same generation share them (`shared`), so each is computed once.
        shared = {} if shared is None else shared
        if "live" not in shared:
            shared.update(live=_bits(reader.all_doc_ids()), terms={}, values={}, queries=_Lru(1024), order={})
        self.live: int = shared["live"]
        self._terms: dict[tuple[str, str], int] = shared["terms"]
        self._values: dict[str, list[str]] = shared["values"]
        self._queries: _Lru = shared["queries"]
        self._order: dict = shared["order"]
        # Spelling fields this index has (an index built by an older version may lack some).
        self.spelling = tuple(f for f in SPELLING_FIELDS if f in index.schema)

    def term_bits(self, fieldname: str, value: str) -> int:
        key = (fieldname, value)
        if key not in self._terms:
            reader = self.searcher.reader()
            if reader.has_deletions() or (fieldname, value) not in reader:
                ids = (d for d in self.searcher.docs_for_query(Q.Term(fieldname, value)))
            else:
                ids = reader.postings(fieldname, value).all_ids()
            self._terms[key] = _bits(ids) & self.live
        return self._terms[key]

    def values(self, fieldname: str) -> list[str]:
        if fieldname not in self._values:
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
        try:
            cached = self._queries.get_fresh(query)
        except TypeError:  # unhashable: never cached
            cached = None
        if cached is not None:
            return cached
        bits = self._evaluate(query)
        try:
            self._queries.put(query, bits)
        except TypeError:
            pass
        return bits

    def _evaluate(self, query: Q.Query) -> int:
        kind = type(query)
        if kind is Q.Term:
            return self.term_bits(query.fieldname, query.text)
        if kind is Q.And:
            bits = self.live
            for child in query.subqueries:
                bits &= self.query_bits(child)
                if not bits:
                    break
            return bits
        if kind is Q.Or and not getattr(query, "minmatch", 0):
            bits = 0
            for child in query.subqueries:
                bits |= self.query_bits(child)
            return bits & self.live
        if kind is Q.AndNot:
            return self.query_bits(query.a) & ~self.query_bits(query.b) & self.live
        if kind is Q.Not:
            return self.live & ~self.query_bits(query.query)
        return _bits(self.searcher.docs_for_query(query)) & self.live

    def order(self, sort: str) -> list[int]:
        """Live docnums in date order ("newest" or "oldest"; undated last), ties by docnum."""
        if sort not in self._order:
            column = self.searcher.reader().column_reader("newest_key" if sort == "newest" else "oldest_key")
            self._order[sort] = sorted(_docnums(self.live), key=lambda d: (column[d], d))
        return self._order[sort]

    def position(self, sort: str) -> dict[int, int]:
        """docnum -> its rank in a date order."""
        key = "position-" + sort
        if key not in self._order:
            self._order[key] = {d: n for n, d in enumerate(self.order(sort))}
        return self._order[key]

    def close(self) -> None:
        self.searcher.close()


# ---------------------------------------------------------------- engine

class SearchEngine:
    """Long-lived: one searcher per thread, reopened when the index changes."""

    def __init__(self, index_dir: str | Path):
        self.index_dir = Path(index_dir)
        self._local = threading.local()
        self._results = _Lru(RESULT_CACHE_SIZE)  # shared by threads; keyed on the index generation
        self._shared_lock = threading.Lock()
        self._shared_key, self._shared = None, {}
        self._state()  # fail now, with NoIndex, if there is no index

    def _state(self) -> _SearcherState:
        """This thread's searcher, reopened as soon as CURRENT names another generation.

        A stat() per request (CURRENT is replaced, so its inode changes) keeps
        every thread on the newest generation at negligible cost."""
        state: _SearcherState | None = getattr(self._local, "state", None)
        try:
            stamp = os.stat(self.index_dir / CURRENT)
            key = (stamp.st_ino, stamp.st_mtime_ns)
        except OSError:
            key = None
        if state is not None and state.key == key:
            return state
        generation = current_generation(self.index_dir)
        if generation is None:
            if state is not None:
                return state  # keep serving what we have
            raise NoIndex(f"no index in {self.index_dir}: build it with 'searchapp index --index {self.index_dir}'")
        try:
            fresh = _SearcherState(whoosh_index.open_dir(str(generation)), generation, key,
                                   self._shared_for(generation, key))
        except Exception:
            if state is not None:
                return state  # e.g. removed under us by a newer build: try again next request
            raise
        if state is not None:
            state.close()
        self._local.state = fresh
        return fresh

    def _shared_for(self, generation: Path, key) -> dict:
        """The bitmap caches of one generation (older generations' are dropped)."""
        with self._shared_lock:
            if self._shared_key != (generation, key):
                self._shared_key, self._shared = (generation, key), {}
            return self._shared

    def close(self) -> None:
        state = getattr(self._local, "state", None)
        if state is not None:
            state.close()
            self._local.state = None

    @property
    def doc_count(self) -> int:
        return self._state().searcher.doc_count()

    def search(
        self,
        query: str = "",
        filters: Filters = Filters(),
        sort: str = "relevance",
        page: int = 1,
        per_page: int = 10,
    ) -> ResultsPage:
        started = time.perf_counter()
        check_paging(page, per_page, sort)
        check_filters(filters)
        state = self._state()
        query = " ".join(query.split())
        key = (state.generation, state.key, query, filters, sort, page, per_page)
        cached = self._results.get_fresh(key) if state.key is not None else None
        if cached is not None:  # same index generation, same request: the same answer
            return replace(cached, took_ms=round((time.perf_counter() - started) * 1000, 2))
        answer = self._search(state, query, filters, sort, page, per_page, started)
        if state.key is not None:
            self._results.put(key, answer)
        return answer

    def _search(self, state, query, filters, sort, page, per_page, started) -> ResultsPage:
        if query:
            q_all, q_any = parse_query(query)
        else:
            q_all = q_any = Q.Every()
            if sort == "relevance":
                sort = "newest"

        groups = filter_queries(filters)
        group_bits = {name: state.query_bits(g) for name, g in groups.items()}
        filtered = state.live
        for bits in group_bits.values():
            filtered &= bits

        # Relaxing is decided on the query alone, so that a facet's count is
        # always the total a user gets by picking that value.
        base_all = state.query_bits(q_all)
        relaxed = q_any != q_all and base_all.bit_count() < RELAX_BELOW
        base = state.query_bits(q_any) if relaxed else base_all
        total_all = (base_all & filtered).bit_count()
        total = (base & filtered).bit_count()

        facets = self._facets(state, filters, base, group_bits)
        filtered_set = set(_docnums(filtered)) if groups and sort == "relevance" else None
        hits = self._hits(state, q_all, q_any, relaxed, base_all & filtered, base & filtered, filtered_set,
                          sort, page, per_page)
        return ResultsPage(
            query=query,
            total=total,
            total_all_words=total_all,
            relaxed=relaxed and total > total_all,
            page=page,
            per_page=per_page,
            sort=sort,
            filters=filters,
            hits=tuple(hits),
            facets=facets,
            did_you_mean=self._did_you_mean(state, query, total_all) if query else None,
            took_ms=round((time.perf_counter() - started) * 1000, 2),
        )

    # -- facets

    def _facets(self, state, filters, base, group_bits) -> dict[str, tuple[FacetValue, ...]]:
        facets = {}
        for facet, fieldname in FACET_FIELDS.items():
            scope = base & state.live
            for name, bits in group_bits.items():
                if name != facet:
                    scope &= bits
            selected = set(filters.values(facet))
            counted = []
            for value in state.values(fieldname):
                count = (scope & state.term_bits(fieldname, value)).bit_count() if scope else 0
                if count or value in selected:
                    counted.append(FacetValue(value, count, value in selected))
            if facet == "year":
                counted.sort(key=lambda v: v.value, reverse=True)
            else:
                counted.sort(key=lambda v: (-v.count, v.value.lower()))
            shown = counted[:FACET_LIMIT] + [v for v in counted[FACET_LIMIT:] if v.selected]
            facets[facet] = tuple(shown)
        return facets

    # -- hits

    def _hits(self, state, q_all, q_any, relaxed, all_bits, some_bits, filtered_set, sort, page, per_page) -> list[Hit]:
        """The page's hits: those matching all words first, then (relaxed) the others."""
        start, end = (page - 1) * per_page, page * per_page
        total_all = all_bits.bit_count()
        hits: list[Hit] = []
        if start < total_all:
            results = self._run(state, q_all, all_bits, filtered_set, None, sort, end)
            hits += [self._hit(h, q_all, True) for h in results[start:end]]
        if relaxed and end > total_all:
            skip = max(0, start - total_all)
            rest = some_bits & ~all_bits
            results = self._run(state, q_any, rest, filtered_set, set(_docnums(all_bits)), sort, end - total_all)
            hits += [self._hit(h, q_any, False) for h in results[skip : end - total_all]]
        return hits

    @staticmethod
    def _run(state, query, bits, filtered_set, mask, sort, limit):
        """Top `limit` documents of `bits`. By date: straight from a presorted
        docnum order (no scoring); by relevance: Whoosh's BM25F collector,
        which skips low-scoring blocks, restricted to the filtered documents."""
        searcher = state.searcher
        if sort != "relevance":
            top = SearchEngine._first_by_date(state, bits, sort, limit)
            return Results(searcher, query, [(None, d) for d in top], highlighter=_WHOLE)
        return searcher.search(query, filter=filtered_set, mask=mask, limit=limit)

    @staticmethod
    def _hit(hit, query, matched_all: bool) -> Hit:
        doc = hit["doc"]
        title_html = _WHOLE.highlight_hit(hit, "title", text=doc["title"], top=1, minscore=1)
        snippet = _WHOLE.highlight_hit(hit, "excerpt", text=doc["excerpt"], top=1, minscore=1)
        if not snippet:
            body = hit.get("body") or ""
            if body:
                snippet = _CONTEXT.highlight_hit(hit, "body", text=body, top=2, minscore=1)
        if not snippet:
            snippet = html.escape(_shorten(doc["excerpt"] or hit.get("body", "")), quote=True)
        score = hit.score
        return Hit(
            id=doc["id"],
            url=doc["url"],
            title=doc["title"],
            title_html=title_html or html.escape(doc["title"], quote=True),
            excerpt=doc["excerpt"],
            snippet=snippet,
            published=doc["published"],
            provider=Provider(**doc["provider"]),
            topics=tuple(doc["topics"]),
            score=round(score, 4) if isinstance(score, (int, float)) else None,
            matched_all=matched_all,
        )

    # -- spelling, suggestions, items

    DID_YOU_MEAN_BELOW = 3   # suggest a correction when fewer items match all words

    def _did_you_mean(self, state, query: str, total_all: int) -> str | None:
        """The query with unknown words replaced by the closest frequent indexed word."""
        if total_all >= self.DID_YOU_MEAN_BELOW:
            return None
        reader = state.searcher.reader()
        parts = _QUOTED.split(query)
        changed = False
        for n in range(0, len(parts), 2):  # outside quotes only
            def fix(match):
                nonlocal changed
                word = match.group(1)
                lower = word.lower()
                if word in _OPERATORS or len(lower) < 3 or lower in STOP_WORDS or self._known(state, lower):
                    return word
                best = self._closest(state, lower)
                if best is None:
                    return word
                changed = True
                return best
            parts[n] = _WORD.sub(fix, parts[n])
        if not changed:
            return None
        corrected = "".join(parts)
        try:
            better = state.query_bits(parse_query(corrected)[0]).bit_count()
        except QueryError:
            return None
        return corrected if better > total_all else None

    @staticmethod
    def _known(state, word: str) -> bool:
        reader = state.searcher.reader()
        return any((field, word) in reader for field in state.spelling)

    @staticmethod
    def _closest(state, word: str) -> str | None:
        reader = state.searcher.reader()
        maxdist = 1 if len(word) <= 4 else 2
        candidates: dict[str, int] = {}
        for field in state.spelling:
            for term in reader.terms_within(field, word, maxdist, prefix=1):
                candidates[term] = candidates.get(term, 0) + reader.doc_frequency(field, term)
        candidates = {t: n for t, n in candidates.items() if state.live & SearchEngine._word_bits(state, t)}
        if not candidates:
            return None
        from whoosh.support.levenshtein import distance

        return min(candidates, key=lambda t: (distance(word, t), -candidates[t], t))

    def suggest(self, text: str, limit: int = 8) -> list[Suggestion]:
        """Completions of the last word, then titles that match what is typed.

        With earlier words, a completion ranks by how many items contain it
        together with them (so "china fac" offers "facial", not "facebook").
        """
        text = " ".join(text.split())[:MAX_QUERY_CHARS]
        match = re.search(r"([^\W_][\w'’-]*)$", text)
        if not match or len(match.group(1)) < 2:
            return []
        state = self._state()
        reader = state.searcher.reader()
        head, prefix = text[: match.start()], match.group(1).lower()
        try:
            earlier = parse_query(head)[0] if head.strip() else None
        except QueryError:
            earlier = None
        if earlier is Q.NullQuery:
            earlier = None
        scope = state.query_bits(earlier) if earlier is not None else state.live
        counts: dict[str, int] = {}
        for field in state.spelling:
            for n, term in enumerate(reader.expand_prefix(field, prefix)):
                if n >= 300:
                    break
                word = term.decode("utf-8") if isinstance(term, bytes) else term
                counts[word] = counts.get(word, 0) + reader.doc_frequency(field, word)
        # With earlier words, rank the most frequent completions by how many live
        # items have them together with the earlier words (bitmap ANDs).
        best = sorted(counts, key=lambda w: (-counts[w], w))[:SUGGEST_CANDIDATES]
        if earlier is not None:
            together = {w: (scope & self._word_bits(state, w)).bit_count() for w in best}
            best = sorted((w for w in best if together[w]), key=lambda w: (-together[w], w))
        words = [w for w in best if w != prefix or head][: max(1, limit // 2)]
        found = [Suggestion(text=f"{head}{w}", kind="query") for w in words]
        # Newest titles having the earlier words and the best completion in the title.
        if best:  # the best completion, even when it is the typed word itself
            titles = scope & state.term_bits("title", _stem(best[0]))
            seen = set()
            for docnum in self._first_by_date(state, titles, "newest", 4 * limit):
                doc = state.searcher.stored_fields(docnum)["doc"]
                if doc["title"] not in seen:
                    seen.add(doc["title"])
                    found.append(Suggestion(text=doc["title"], kind="item", id=doc["id"]))
                if len(found) >= limit:
                    break
        return found[:limit]

    @staticmethod
    def _first_by_date(state, bits: int, sort: str, limit: int) -> list[int]:
        """The first `limit` documents of a bitmap in date order, without scoring."""
        if bits.bit_count() <= 2000:  # few: sort them
            return sorted(_docnums(bits), key=state.position(sort).__getitem__)[:limit]
        data = bits.to_bytes((bits.bit_length() + 7) // 8, "little")  # many: walk the order
        size = len(data) * 8
        top = []
        for d in state.order(sort):
            if d < size and data[d >> 3] >> (d & 7) & 1:
                top.append(d)
                if len(top) >= limit:
                    break
        return top

    @staticmethod
    def _word_bits(state, word: str) -> int:
        stem = _stem(word)
        return state.term_bits("title", stem) | state.term_bits("excerpt", stem)

    def get_item(self, item_id: str) -> ItemPage | None:
        searcher = self._state().searcher
        doc = searcher.document(id=item_id)
        if doc is None:
            return None
        item = doc["doc"]

        def fetch(ids):
            found = (searcher.document(id=i) for i in ids[:200])
            return tuple(d["doc"] for d in found if d is not None)

        return ItemPage(item=item, lists=fetch(item["related_ids"]), listed_by=fetch(item["related_by_ids"]))

    def info(self) -> BuildInfo | None:
        return read_build_info(self.index_dir)
