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
import heapq
import html
import os
import re
import threading
import time
from functools import lru_cache
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from whoosh import highlight, query as Q, scoring
from whoosh.analysis import STOP_WORDS
from whoosh.fields import Schema
from whoosh.qparser import AndGroup, MultifieldParser, plugins

from whoosh import index as whoosh_index

from searchapp.backends.whoosh.schema import FACET_FIELDS, NO_DATE_KEY, SPELLING_FIELDS, TEXT_FIELDS, make_schema
from searchapp.backends.whoosh import compat
from searchapp.errors import NoIndex, QueryError
from searchapp.model import FACETS, FacetValue, Filters, Hit, ItemPage, Provider, Report, ResultsPage, Suggestion
from searchapp.store.generations import CURRENT, BuildInfo, current_generation, read_build_info
from searchapp.enrich.synonyms import synonym_groups

MAX_QUERY_CHARS = 500
MAX_PER_PAGE = 100
MAX_PAGE = 1000
MAX_FILTER_VALUES = 50
RELAX_BELOW = 10          # fewer items than this match all words -> list those matching some too
SUGGEST_CANDIDATES = 12   # completions ranked by co-occurrence with the earlier words
SUGGEST_MIN_SHARE = 0.05  # a completion needs 5% of the best one's count ("facial reckless" is junk)
SUGGEST_TYPED_SHARE = 0.25  # ... and a quarter of the typed word's, when that is a word ("eu aim")
SUGGEST_FACETS = 3        # regulators and places offered
RESULT_CACHE_SIZE = 512   # results pages kept per engine (a page with facets is ~10-20 kB)
TERM_CACHE_SIZE = 2048    # word bitmaps kept per generation (N/8 bytes each: 37 kB at 300,000 items)
SCORE_CACHE_SIZE = 2_000_000  # documents in the words' score maps kept per generation (~100 B each: ~200 MB)
FACET_LIMIT = 30          # values shown per facet by default (selected values always are)
MAX_FACET_LIMIT = 1000    # facet_limit's upper bound (347 providers in the real corpus)
MAX_FACET_QUERY_CHARS = 100
SORTS = ("relevance", "recent", "newest", "oldest")
RECENCY_HALF_LIFE_DAYS = 180  # "recent": a BM25 score halves for every 180 days of age
QUERY_FIELDS = ("title", "excerpt", "body", "related_text", "provider", "topic")


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
    groups: dict[int, tuple[Q.Query, ...]] = {}
    strict = _expand_synonyms(strict, groups)
    if not isinstance(strict, Q.And) or _EXPLICIT_AND.search(_QUOTED.sub("", normalized)):
        return strict, strict
    words = [q for q in strict.subqueries if _is_plain_word(q) or id(q) in groups]
    required = [q for q in strict.subqueries if not (_is_plain_word(q) or id(q) in groups)]
    if len(words) < 2:
        return strict, strict
    # A plain Or: BM25 sums the words matched. (Or's `scale` coordination bonus
    # breaks Whoosh's top-N pruning: a top-1 differed from the top of a top-10.)
    # A synonym group relaxes into its words and its other forms.
    some = Q.Or([piece for q in words for piece in groups.get(id(q), (q,))])
    return strict, (Q.And([some, *required]) if required else some)


@lru_cache(maxsize=1)
def _synonym_table() -> dict[Q.Query, list[tuple[tuple[Q.Query, ...], tuple[Q.Query, ...]]]]:
    """First word -> [(a form as the parser reads it from bare words, the
    group's other forms as queries)], longest forms first. Queries compare by
    structure, so a form is found in a parsed query by equality of its words."""
    table = {}
    for group in synonym_groups():
        forms = {}
        for form in group:
            bare = _PARSER.parse(form)
            if bare is Q.NullQuery:
                continue
            key = tuple(bare.subqueries) if isinstance(bare, Q.And) else (bare,)
            forms.setdefault(key, bare if _is_plain_word(bare) else _PARSER.parse(f'"{form}"'))
        for key in forms:
            others = tuple(query for other, query in forms.items() if other != key)
            if others:
                table.setdefault(key, others)  # a form in two groups: the first group wins
    by_first: dict[Q.Query, list] = {}
    for key, others in sorted(table.items(), key=lambda entry: -len(entry[0])):
        by_first.setdefault(key[0], []).append((key, others))
    return by_first


def _expand_synonyms(query: Q.Query, groups: dict[int, tuple[Q.Query, ...]]) -> Q.Query:
    """Bare words that spell a synonym form become (those words OR the other
    forms). Phrases, field:value and wildcards are not bare words: never expanded.
    `groups` gets, per new group, the pieces it relaxes into."""
    table = _synonym_table()
    if isinstance(query, Q.And):
        children, out, n = list(query.subqueries), [], 0
        while n < len(children):
            for key, others in table.get(children[n], ()):
                if tuple(children[n:n + len(key)]) == key:
                    original = Q.And(list(key)) if len(key) > 1 else key[0]
                    group = Q.Or([original, *others])
                    groups[id(group)] = key + others
                    out.append(group)
                    n += len(key)
                    break
            else:
                out.append(_expand_synonyms(children[n], groups))
                n += 1
        return Q.And(out)
    for key, others in table.get(query, ()):
        if key == (query,):
            group = Q.Or([query, *others])
            groups[id(group)] = (query, *others)
            return group
    texts = _flat_words(query) or []
    if len(texts) > 1:
        # "gdpr OR ccpa": the parser flattened the words into one Or of terms
        words = [Q.Or([Q.Term(f, t) for f in TEXT_FIELDS]) for t in texts]
        expanded = [_expand_synonyms(word, groups) for word in words]
        return query if expanded == words else Q.Or(expanded)
    if isinstance(query, Q.Or) and not _is_plain_word(query):
        return Q.Or([_expand_synonyms(child, groups) for child in query.subqueries])
    if isinstance(query, Q.Not):
        return Q.Not(_expand_synonyms(query.query, groups))
    if isinstance(query, Q.AndNot):
        return Q.AndNot(_expand_synonyms(query.a, groups), _expand_synonyms(query.b, groups))
    return query


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


def check_facet_options(limit: int, search: dict[str, str] | None) -> dict[str, str]:
    if not 1 <= limit <= MAX_FACET_LIMIT:
        raise QueryError(f"facet_limit must be between 1 and {MAX_FACET_LIMIT}")
    search = {facet: " ".join(text.split()) for facet, text in (search or {}).items() if text and text.strip()}
    for facet, text in search.items():
        if facet not in FACETS:
            raise QueryError(f"facet_query: unknown facet {facet!r} (one of {', '.join(FACETS)})")
        if len(text) > MAX_FACET_QUERY_CHARS:
            raise QueryError(f"facet_query for {facet} is too long (the limit is {MAX_FACET_QUERY_CHARS} characters)")
    return search


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

_WHOLE = highlight.Highlighter(fragmenter=highlight.WholeFragmenter(), formatter=compat.EscapingFormatter())
_CONTEXT = highlight.Highlighter(
    fragmenter=highlight.ContextFragmenter(maxchars=240, surround=60), formatter=compat.EscapingFormatter()
)
SNIPPET_CHARS = 300


def _shorten(text: str, limit: int = SNIPPET_CHARS) -> str:
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + " …"


def _flat_words(query) -> list[str] | None:
    """The words of one bare word, or of "a OR b" that the parser flattened
    into a single Or of every word in every text field; None otherwise."""
    if not _is_plain_word(query):
        return None
    texts = list(dict.fromkeys(t.text for t in query.subqueries))
    return texts if query.subqueries == [Q.Term(f, t) for t in texts for f in TEXT_FIELDS] else None


def _bare_words(query) -> tuple[list[str], bool] | None:
    """(the words, whether all are required) when a query is only bare words
    joined by AND (typed) or OR (relaxed): those are scored from cached word
    scores. Anything else (phrases, fields, NOT, synonyms) goes to Whoosh."""
    texts = _flat_words(query)
    if texts is not None:
        return texts, len(texts) == 1
    subs = getattr(query, "subqueries", ())
    if subs and type(query) in (Q.And, Q.Or) and all(_is_plain_word(q) and len(q.subqueries) == len(TEXT_FIELDS)
                                                     and len({t.text for t in q.subqueries}) == 1 for q in subs):
        return [q.subqueries[0].text for q in subs], type(query) is Q.And
    return None


def _top_by_word_scores(state, query, words, every, bits, limit, recent):
    """The exact top `limit` of `bits` by the sum of the words' BM25F scores
    (what Whoosh's And/Or of the words computes), ties by docnum."""
    maps = [state.word_scores(w) for w in words]
    docs = _docnums(bits)
    if every:
        scored = ((sum(m[d] for m in maps), d) for d in docs)
    else:
        scored = ((sum(m.get(d, 0.0) for m in maps), d) for d in docs)
    if recent:
        factors = state.decay()
        scored = ((score * factors[d], d) for score, d in scored)
    top = heapq.nsmallest(limit, ((-score, d) for score, d in scored))
    return compat.results(state.searcher, query, [(-negative, d) for negative, d in top], _WHOLE)


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


def _bytes(bits: int) -> bytes:
    """A bitmap as bytes, for testing many single bits (a shift of a big int costs its size)."""
    return bits.to_bytes((bits.bit_length() + 7) // 8, "little")


def _has(data: bytes, doc: int) -> bool:
    return doc >> 3 < len(data) and data[doc >> 3] >> (doc & 7) & 1


def _docnums(bits: int) -> list[int]:
    """A bitmap int -> its docnums, ascending (skips empty bytes quickly)."""
    data = _bytes(bits)
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
    """A small thread-safe LRU cache (GIL-atomic dict operations, a lock for
    eviction). `size` bounds the entries, or with `weigh` their total weight."""

    def __init__(self, size: int, weigh=None):
        super().__init__()
        self.size = size
        self.weigh = weigh
        self.weight = 0
        self.lock = threading.Lock()

    def get_fresh(self, key):
        value = self.pop(key, None)
        if value is not None:
            self[key] = value  # most recently used last
        return value

    def put(self, key, value) -> None:
        with self.lock:
            if self.weigh is None:
                self[key] = value
                while len(self) > self.size:
                    try:
                        del self[next(iter(self))]
                    except (KeyError, StopIteration, RuntimeError):
                        break
                return
            old = self.pop(key, None)
            self.weight += self.weigh(value) - (self.weigh(old) if old is not None else 0)
            self[key] = value
            while self.weight > self.size and len(self) > 1:
                try:
                    oldest = next(iter(self))
                    self.weight -= self.weigh(self.pop(oldest))
                except (KeyError, StopIteration, RuntimeError):
                    break


class _RecencyBM25F(scoring.BM25F):
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
        return score * self.factors[docnum]


_PINNED_FIELDS = frozenset((*FACET_FIELDS.values(), "f_month"))


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
        shared = {"lock": threading.Lock()} if shared is None else shared
        with shared["lock"]:  # the first thread of a generation sets it up; the others wait for it
            if "live" not in shared:
                shared.update(live=_bits(reader.all_doc_ids()), facet_terms={}, terms=_Lru(TERM_CACHE_SIZE),
                              values={}, queries=_Lru(1024), order={}, scores=_Lru(SCORE_CACHE_SIZE, weigh=len))
            self._setup(index, shared)
            if not shared.get("warm"):
                self.warm()
                shared["warm"] = True

    def _setup(self, index, shared: dict) -> None:
        self.live: int = shared["live"]
        # Facet values' bitmaps are kept for the generation's life; words' in an LRU (bounded memory).
        self._facet_terms: dict[tuple[str, str], int] = shared["facet_terms"]
        self._terms: _Lru = shared["terms"]
        self._values: dict[str, list[str]] = shared["values"]
        self._queries: _Lru = shared["queries"]
        self._order: dict = shared["order"]
        self._scores: _Lru = shared["scores"]
        # Spelling fields this index has (an index built by an older version may lack some).
        self.spelling = tuple(f for f in SPELLING_FIELDS if f in index.schema)

    def warm(self) -> None:
        """Compute, once per generation, what every search needs: the bitmap of
        each facet value, the date orders and the story table. Then no user's
        first query pays for them."""
        for fieldname in (*FACET_FIELDS.values(), "f_month"):
            for value in self.values(fieldname):
                self.term_bits(fieldname, value)
        self.position("newest")
        self.position("oldest")
        self.stories()
        for fieldname in TEXT_FIELDS:
            self.lengths(fieldname)

    def term_bits(self, fieldname: str, value: str) -> int:
        key = (fieldname, value)
        pinned = fieldname in _PINNED_FIELDS
        bits = self._facet_terms.get(key) if pinned else self._terms.get_fresh(key)
        if bits is None:
            reader = self.searcher.reader()
            if (fieldname, value) not in reader:
                return 0  # never pinned: a request may send any value
            if reader.has_deletions():
                ids = (d for d in self.searcher.docs_for_query(Q.Term(fieldname, value)))
            else:
                ids = reader.postings(fieldname, value).all_ids()
            bits = _bits(ids) & self.live
            if pinned:
                self._facet_terms[key] = bits
            else:
                self._terms.put(key, bits)
        return bits

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

    # -- scores: BM25F of bare words, computed once per word and generation

    def lengths(self, fieldname: str) -> list:
        """Each document's length in a field, as BM25F reads it (Whoosh keeps a byte)."""
        key = "length-" + fieldname
        if key not in self._order:
            lengths = []
            for leaf, _ in self.searcher.leaf_searchers():
                reader = leaf.reader()
                lengths.extend(reader.doc_field_length(d, fieldname, 1) or 1 for d in range(reader.doc_count_all()))
            self._order[key] = lengths
        return self._order[key]

    def word_scores(self, text: str) -> dict[int, float]:
        """docnum -> the score Whoosh's BM25F gives one bare word (its Or over
        the text fields), for every document that has it. Cached, so a word's
        postings are read once, not on every query that uses it."""
        scores = self._scores.get_fresh(text)
        if scores is not None:
            return scores
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
        self._scores.put(text, scores)
        return scores

    # -- stories: items of one story share a `story` value (singletons have none)

    def stories(self) -> tuple[int, dict[int, str], dict[str, tuple[int, ...]]]:
        """(bitmap of every story member but the first of each story, docnum ->
        story id, story id -> its live members), once per generation. One pass
        over the story column; only items with copies have a value."""
        if "stories" not in self._order:
            members: dict[str, list[int]] = {}
            live = _bytes(self.live)
            for leaf, offset in self.searcher.leaf_searchers():
                reader = leaf.reader()
                if not reader.has_column("story"):  # a segment where no item has copies
                    continue
                column = reader.column_reader("story")
                for docnum in range(reader.doc_count_all()):
                    story = column[docnum]
                    if story and _has(live, offset + docnum):
                        members.setdefault(story, []).append(offset + docnum)
            members = {story: tuple(docs) for story, docs in members.items() if len(docs) > 1}
            story_of = {d: story for story, docs in members.items() for d in docs}
            copies = _bits(d for docs in members.values() for d in docs[1:])
            self._order["stories"] = (copies, story_of, members)
        return self._order["stories"]

    def results_count(self, bits: int) -> int:
        """Matching items, each story's copies counted once."""
        copies, story_of, members = self.stories()
        matched_copies = bits & copies
        if not matched_copies:
            return bits.bit_count()
        matched = _bytes(bits)
        extra = {story_of[d] for d in _docnums(matched_copies) if not _has(matched, members[story_of[d]][0])}
        return (bits & ~copies).bit_count() + len(extra)

    def story_members(self, bits: int) -> int:
        """Every member of the stories that have a member in `bits`."""
        _, story_of, members = self.stories()
        found = {story_of[d] for d in _docnums(bits & self._story_docs()) if d in story_of}
        return _bits(d for story in found for d in members[story])

    def _story_docs(self) -> int:
        if "story-docs" not in self._order:
            self._order["story-docs"] = _bits(self.stories()[1])
        return self._order["story-docs"]

    def decay(self) -> list[float]:
        """docnum -> the recency factor of "relevance + recency", once per generation."""
        if "decay" not in self._order:
            column = self.searcher.reader().column_reader("newest_key")
            keys = [column[d] for d in range(self.searcher.reader().doc_count_all())]
            dated = [-k for k in keys if k != NO_DATE_KEY]
            reference = min(max(dated), int(time.time())) if dated else 0
            half_life = RECENCY_HALF_LIFE_DAYS * 86400
            self._order["decay"] = [
                0.5 ** min(1000.0, (10 * 365 * 86400 if k == NO_DATE_KEY else max(0, reference + k)) / half_life)
                for k in keys]
        return self._order["decay"]

    def recency_searcher(self):
        """A second searcher on the same reader whose scores decay with age."""
        if not hasattr(self, "_recency"):
            from whoosh.searching import Searcher

            self._recency = Searcher(self.searcher.reader(), weighting=_RecencyBM25F(self.decay()),
                                     closereader=False, fromindex=self.index)
        return self._recency

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
        _synonym_table()  # compiled once per process, not in a user's first query

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
            raise NoIndex(self.index_dir)
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
                self._shared_key, self._shared = (generation, key), {"lock": threading.Lock()}
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
        *,
        facet_limit: int = FACET_LIMIT,
        facet_query: dict[str, str] | None = None,
        typed: bool = False,
    ) -> ResultsPage:
        """`facet_limit`: values listed per facet (selected ones always are);
        `facet_query`: facet -> text, lists only that facet's values containing
        the text (any case); `typed`: the query is being typed, so its last word
        may be unfinished."""
        started = time.perf_counter()
        check_paging(page, per_page, sort)
        check_filters(filters)
        facet_query = check_facet_options(facet_limit, facet_query)
        state = self._state()
        query = " ".join(query.split())
        key = (state.generation, state.key, query, filters, sort, page, per_page, facet_limit,
               tuple(sorted(facet_query.items())), typed)
        cached = self._results.get_fresh(key) if state.key is not None else None
        if cached is not None:  # same index generation, same request: the same answer
            return replace(cached, took_ms=round((time.perf_counter() - started) * 1000, 2))
        answer = self._search(state, query, filters, sort, page, per_page, started, facet_limit, facet_query)
        if state.key is not None:
            self._results.put(key, answer)
        return answer

    def _search(self, state, query, filters, sort, page, per_page, started, facet_limit=FACET_LIMIT,
                facet_query=None) -> ResultsPage:
        if query:
            q_all, q_any = parse_query(query)
        else:
            q_all = q_any = Q.Every()
            if sort in ("relevance", "recent"):
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

        facets, facet_more = self._facets(state, filters, base, group_bits, facet_limit, facet_query or {})
        scored = sort in ("relevance", "recent")
        filtered_set = filtered if groups and scored else None   # a bitmap; a set only if Whoosh scores
        hits, grouped = self._hits(state, q_all, q_any, relaxed, base_all & filtered, base & filtered, filtered_set,
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
            grouped_total=grouped,
            facet_more=facet_more,
        )

    # -- facets

    def _facets(self, state, filters, base, group_bits, limit=FACET_LIMIT, search=None):
        """Each facet counted under the query and the other facets' filters;
        the month timeline under the query and every filter but the dates.
        Returns (facet -> values shown, facet -> values with a count not shown)."""
        facets, more = {}, {}
        search = search or {}
        for facet, fieldname in (*FACET_FIELDS.items(), ("month", "f_month")):
            scope = base & state.live
            for name, bits in group_bits.items():
                if name != facet and not (facet == "month" and name == "date"):
                    scope &= bits
            selected = set(filters.values(facet)) if facet in FACET_FIELDS else set()
            counted = []
            needle = search.get(facet, "").casefold()
            for value in state.values(fieldname):
                if needle and needle not in value.casefold() and value not in selected:
                    continue
                count = (scope & state.term_bits(fieldname, value)).bit_count() if scope else 0
                if count or value in selected:
                    counted.append(FacetValue(value, count, value in selected))
            if facet == "month":
                facets[facet] = tuple(sorted(counted, key=lambda v: v.value))
                continue
            if facet == "year":
                counted.sort(key=lambda v: v.value, reverse=True)
            else:
                counted.sort(key=lambda v: (-v.count, v.value.lower()))
            shown = counted[:limit] + [v for v in counted[limit:] if v.selected]
            facets[facet] = tuple(shown)
            more[facet] = sum(1 for v in counted[limit:] if not v.selected)
        return facets, more

    # -- hits

    def _hits(self, state, q_all, q_any, relaxed, all_bits, some_bits, filtered_set, sort, page, per_page):
        """The page's hits, each story once (its other matching items as
        also_reported_by): those matching all words first, then (relaxed) the
        others; and how many results there are in all."""
        start, end = (page - 1) * per_page, page * per_page
        groups_all = state.results_count(all_bits)
        # A story with a copy among the all-words items is listed there once,
        # with its other matching copies, and not again among the others.
        rest = some_bits & ~all_bits & ~state.story_members(all_bits) if relaxed else 0
        hits: list[Hit] = []
        if start < groups_all:
            leaders = self._leaders(state, q_all, all_bits, filtered_set, None, sort, end)
            hits += [self._hit(state, h, q_all, True, some_bits if relaxed else all_bits) for h in leaders[start:end]]
        groups_rest = state.results_count(rest) if rest else 0
        if rest and end > groups_all:
            skip = max(0, start - groups_all)
            leaders = self._leaders(state, q_any, rest, filtered_set, all_bits, sort, end - groups_all)
            hits += [self._hit(state, h, q_any, False, rest) for h in leaders[skip:end - groups_all]]
        return hits, groups_all + groups_rest

    @staticmethod
    def _leaders(state, query, bits, filtered_set, mask, sort, wanted):
        """The first `wanted` results of `bits`, one Whoosh hit per story (its
        best-ranked matching item); asks for more when copies took places."""
        copies, story_of, _ = state.stories()
        # Copies can take at most as many places as there are matching copies.
        limit = min(bits.bit_count(), wanted + (bits & copies).bit_count())
        results = SearchEngine._run(state, query, bits, filtered_set, mask, sort, limit)
        leaders, seen = [], set()
        for n in range(len(results.top_n)):
            story = story_of.get(results.top_n[n][1])
            if story is None or story not in seen:
                seen.add(story)
                leaders.append(results[n])
                if len(leaders) >= wanted:
                    break
        return leaders

    @staticmethod
    def _run(state, query, bits, filtered_set, mask, sort, limit):
        """Top `limit` documents of `bits`. By date: straight from a presorted
        docnum order (no scoring); by relevance: Whoosh's BM25F collector,
        which skips low-scoring blocks, restricted to the filtered documents;
        relevance + recency: every match scored, then decayed by age."""
        searcher = state.searcher
        if sort in ("newest", "oldest"):
            top = SearchEngine._first_by_date(state, bits, sort, limit)
            return compat.results(searcher, query, [(None, d) for d in top], _WHOLE)
        words = _bare_words(query)
        if words is not None:
            return _top_by_word_scores(state, query, *words, bits, limit, sort == "recent")
        if sort == "recent":
            searcher = state.recency_searcher()
        # Filtered or second-tier: `bits` is exactly the set to rank.
        allow = set(_docnums(bits)) if filtered_set is not None or mask is not None else None
        return compat.exact_top(searcher, query, limit, allow, None)

    @staticmethod
    def _hit(state, hit, query, matched_all: bool, bits: int) -> Hit:
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
            jurisdictions=tuple(doc.get("jurisdictions", ())),
            regulators=tuple(doc.get("regulators", ())),
            also_reported_by=SearchEngine._copies(state, hit.docnum, bits),
        )

    @staticmethod
    def _copies(state, docnum: int, bits: int) -> tuple[Report, ...]:
        """The other matching items of this hit's story, newest first."""
        _, story_of, members = state.stories()
        story = story_of.get(docnum)
        if story is None:
            return ()
        matched = _bytes(bits)
        others = _bits(d for d in members[story] if d != docnum and _has(matched, d))
        found = []
        for other in SearchEngine._first_by_date(state, others, "newest", 50):
            doc = state.searcher.stored_fields(other)["doc"]
            found.append(Report(id=doc["id"], title=doc["title"], url=doc["url"],
                                provider=doc["provider"]["name"] or doc["provider"]["domain"],
                                published=doc["published"]))
        return tuple(found)

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
        """Sections, in order: completions of the last word ("query"),
        regulators and places whose name starts with it ("facet"), then the
        newest articles that match what is typed ("item").

        With earlier words, a completion ranks by how many items contain it
        together with them (so "china fac" offers "facial", not "facebook").
        Completions far rarer than the best one (under 5%: "facial reckless")
        and inflections of a word already offered ("act", "acted") are left
        out; when the last word is itself a common word, it comes first and
        rarer completions must reach a quarter of its count ("eu ai", not "eu aim")."""
        text = " ".join(text.split())[:MAX_QUERY_CHARS]
        match = re.search(r"([^\W_][\w'’-]*)$", text)
        if not match:
            return []
        head, prefix = text[: match.start()], match.group(1).lower()
        if len(prefix) < (1 if head.strip() else 2):
            return []
        state = self._state()
        reader = state.searcher.reader()
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
        best = sorted(counts, key=lambda w: (-counts[w], w))[:SUGGEST_CANDIDATES]
        together = {w: (scope & self._word_bits(state, w)).bit_count() for w in best}
        best = sorted((w for w in best if together[w]), key=lambda w: (-together[w], -counts[w], w))
        if best:
            floor = together[best[0]] * SUGGEST_MIN_SHARE
            if prefix in together:
                floor = max(floor, together[prefix] * SUGGEST_TYPED_SHARE)
                best = [prefix] + [w for w in best if w != prefix]
            kept, stems = [], set()
            for w in best:
                stem = _stem(w)
                if (w == prefix or together[w] >= floor) and stem not in stems:
                    kept.append(w)
                    stems.add(stem)
            best = kept
        words = [w for w in best if w != prefix or head][: max(1, limit // 2)]
        found = [Suggestion(text=f"{head}{w}", kind="query") for w in words]
        found += self._facet_suggestions(state, head, prefix, scope, SUGGEST_FACETS)
        # Newest articles having the earlier words and the best completion in the title.
        if best:  # the best completion, even when it is the typed word itself
            titles = scope & state.term_bits("title", _stem(best[0]))
            seen = set()
            _, story_of, _ = state.stories()
            for docnum in self._first_by_date(state, titles, "newest", 4 * limit):
                doc = state.searcher.stored_fields(docnum)["doc"]
                title_key = " ".join(doc["title"].casefold().split())
                story = story_of.get(docnum)
                if title_key in seen or (story and story in seen):
                    continue
                seen.update({title_key, story} - {None})
                found.append(Suggestion(text=doc["title"], kind="item", id=doc["id"]))
                if len(found) >= limit:
                    break
        return found[:limit]

    @staticmethod
    def _facet_suggestions(state, head: str, prefix: str, scope: int, limit: int) -> list[Suggestion]:
        """Regulators and places with a word starting with the last word typed
        (the whole name starting with it first), most items under the earlier words first."""
        found = []
        for facet in ("regulator", "jurisdiction"):
            fieldname = FACET_FIELDS[facet]
            for value in state.values(fieldname):
                words = value.casefold().replace("(", " ").split()
                if not any(w.startswith(prefix) for w in words):
                    continue
                count = (scope & state.term_bits(fieldname, value)).bit_count()
                if count:
                    found.append((not value.casefold().startswith(prefix), -count, value, facet))
        found.sort()
        return [Suggestion(text=value, kind="facet", facet=facet, value=value, query=head.strip())
                for _, _, value, facet in found[:limit]]

    @staticmethod
    def _first_by_date(state, bits: int, sort: str, limit: int) -> list[int]:
        """The first `limit` documents of a bitmap in date order, without scoring."""
        if bits.bit_count() <= 2000:  # few: sort them
            return sorted(_docnums(bits), key=state.position(sort).__getitem__)[:limit]
        data = _bytes(bits)  # many: walk the order
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
