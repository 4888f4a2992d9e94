"""The plain data passed between stages: frozen dataclasses, no behaviour beyond shaping.

ingest produces NewsItem and Problem; the search service answers with
ResultsPage (of Hit, FacetValue, Report), Suggestion and ItemPage. The JSON
API, the CLI's --json and the OpenAPI document are all derived from these.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field, fields
from typing import get_type_hints

import re as _re
from urllib.parse import urlsplit

# C0/C1 controls and non-characters: invalid in XML (Atom) and meaningless in text; read and web both drop them
CONTROLS = _re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffe\uffff]")
# Bidi overrides, embeddings and isolates, zero-width characters: they let a
# title display as something other than what it is (U+202E reverses text).
INVISIBLE = _re.compile("[\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")
# Never in a URL we hand out: C0/C1 controls, whitespace, invisible characters and
# what XML cannot hold (a control character in an Atom href makes the feed ill-formed).
BAD_IN_URL = _re.compile("[\x00-\x20\x7f-\x9f\ufffe\uffff\ud800-\udfff\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]")


def public_url(url: str | None) -> str | None:
    """The one rule for every URL from the corpus that we show or serve (page
    links, Atom, JSON, CSV): an http(s) URL with a host and without control,
    space or invisible characters, else None. Never javascript:, data:, file:."""
    if not url:
        return None
    url = url.strip()
    if BAD_IN_URL.search(url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:   # "http://[x" and the like
        return None
    return url if parts.scheme.lower() in ("http", "https") and parts.netloc else None


# Served as public_url(url): null unless an http(s) link (the OpenAPI document says so)
_PUBLIC_URL = {"type": str | None, "description": "the original article: an http(s) URL, or null when the corpus "
                                                  "gives none that is safe to link (javascript:, control characters)"}

FACETS = ("topic", "jurisdiction", "regulator", "provider", "year")   # filterable facets, in display order
TIMELINE_FACET = "month"                                            # counted, never a filter (dates are)
SORTS = ("relevance", "recent", "newest", "oldest")
RECENCY_HALF_LIFE_DAYS = 180  # "recent": a BM25 score halves for every 180 days of age


@dataclass(frozen=True)
class Provider:
    name: str = ""
    domain: str = ""


@dataclass(frozen=True)
class NewsItem:
    """One distinct article. `related_ids` are the items this one lists;
    `related_by_ids` the items whose files list this one. `source_files`:
    its own files, then the files listing it; `own_files` the former.
    `lists_from`: for an item with two or more own files, per entry of
    `related_ids`, the own files listing it (empty otherwise)."""

    id: str
    url: str
    title: str
    excerpt: str = ""
    body: str = ""
    published: dt.datetime | None = None
    provider: Provider = Provider()
    topics: tuple[str, ...] = ()
    type: str = ""
    quality: int | None = None
    heat: int | None = None
    is_published: bool | None = None
    image_url: str = ""
    source_files: tuple[str, ...] = ()
    has_own_file: bool = False
    related_ids: tuple[str, ...] = ()
    related_by_ids: tuple[str, ...] = ()
    related_text: str = ""
    own_files: tuple[str, ...] = ()
    lists_from: tuple[tuple[str, ...], ...] = ()


@dataclass(frozen=True)
class Problem:
    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


@dataclass(frozen=True)
class Filters:
    """Several values of one facet = any of them; different facets = all."""

    topic: tuple[str, ...] = ()
    provider: tuple[str, ...] = ()
    year: tuple[str, ...] = ()
    jurisdiction: tuple[str, ...] = ()
    regulator: tuple[str, ...] = ()
    date_from: dt.date | None = field(default=None, metadata={"json": "from", "type": str | None, "format": "date"})
    date_to: dt.date | None = field(default=None, metadata={"json": "to", "type": str | None, "format": "date"})

    def values(self, facet: str) -> tuple[str, ...]:
        return getattr(self, facet)

    def to_dict(self) -> dict:
        return {
            **{facet: list(self.values(facet)) for facet in FACETS},
            "from": self.date_from.isoformat() if self.date_from else None,
            "to": self.date_to.isoformat() if self.date_to else None,
        }


@dataclass(frozen=True)
class Report:
    """Another outlet's (or file's) copy of a hit's story."""

    id: str
    title: str
    url: str = field(metadata=_PUBLIC_URL)
    provider: str
    published: str | None

    def to_dict(self) -> dict:
        return {"id": self.id, "title": self.title, "url": public_url(self.url), "provider": self.provider,
                "published": self.published}


@dataclass(frozen=True)
class Hit:
    id: str
    url: str = field(metadata=_PUBLIC_URL)
    title: str
    title_html: str = field(metadata={"json": False})  # HTML-escaped, query words in <mark>
    excerpt: str
    snippet: str = field(metadata={"description": "HTML: everything escaped, only <mark> is markup"})
    published: str | None = field(metadata={"format": "date-time"})    # ISO 8601 UTC
    provider: Provider
    topics: tuple[str, ...]
    score: float | None
    matched_all: bool        # False for items listed because they match only some words
    jurisdictions: tuple[str, ...] = ()
    regulators: tuple[str, ...] = ()
    also_reported_by: tuple[Report, ...] = ()   # the story's other matching items, newest first
    related: bool = False    # listed because it shares the words of the results, not the query's (few results)

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "url": public_url(self.url),
            "title": self.title,
            "excerpt": self.excerpt,
            "snippet": self.snippet,
            "published": self.published,
            "provider": {"name": self.provider.name, "domain": self.provider.domain},
            "topics": list(self.topics),
            "jurisdictions": list(self.jurisdictions),
            "regulators": list(self.regulators),
            "score": self.score,
            "matched_all": self.matched_all,
            "related": self.related,
            "also_reported_by": [r.to_dict() for r in self.also_reported_by],
        }


@dataclass(frozen=True)
class FacetValue:
    value: str
    count: int
    selected: bool


@dataclass(frozen=True)
class Interpretation:
    """A place or public body the query names: it also finds items tagged with it."""

    text: str                # as typed: "NYC"
    facet: str = field(metadata={"enum": ("jurisdiction", "regulator")})
    value: str               # the tag: "New York City"

    def to_dict(self) -> dict:
        return {"text": self.text, "facet": self.facet, "value": self.value}


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
    hits: tuple[Hit, ...] = field(metadata={"json": "results"})
    facets: dict[str, tuple[FacetValue, ...]] = field(
        metadata={"description": 'FACETS, then "month" (YYYY-MM, ascending): the timeline'})
    did_you_mean: str | None = None
    took_ms: float = 0.0
    grouped_total: int = field(default=-1, metadata={
        "description": "results listed, each story once (pages count these)"})  # -1 in Python: as total
    facet_more: dict[str, int] = field(default_factory=dict)  # per facet: values with a count not shown (facet_limit)
    interpreted: tuple[Interpretation, ...] = field(default=(), metadata={
        "description": "places and bodies the query names; each also matches items tagged with it"})
    correction_edits: int = field(default=0, metadata={"json": False})  # edits did_you_mean took, at most
    corrected_from: str | None = field(default=None, metadata={
        "description": "the query as typed, when these are the results of its spelling correction (`query`)"})

    JSON_EXTRA = {"pages": int}

    @property
    def pages(self) -> int:
        shown = self.total if self.grouped_total < 0 else self.grouped_total
        return max(1, -(-shown // self.per_page))

    def to_dict(self) -> dict:
        return {
            "query": self.query,
            "total": self.total,
            "total_all_words": self.total_all_words,
            "grouped_total": self.grouped_total if self.grouped_total >= 0 else self.total,
            "relaxed": self.relaxed,
            "page": self.page,
            "per_page": self.per_page,
            "pages": self.pages,
            "sort": self.sort,
            "filters": self.filters.to_dict(),
            "results": [h.to_dict() for h in self.hits],
            "facets": {name: [asdict(v) for v in values] for name, values in self.facets.items()},
            "facet_more": {name: self.facet_more.get(name, 0) for name in self.facets if name in FACETS},
            "did_you_mean": self.did_you_mean,
            "corrected_from": self.corrected_from,
            "interpreted": [i.to_dict() for i in self.interpreted],
            "took_ms": self.took_ms,
        }


@dataclass(frozen=True)
class Suggestion:
    text: str                # what the box would hold, the facet value, or the title
    kind: str = field(metadata={"enum": ("query", "facet", "item")})
    id: str | None = None    # the item's id, for kind "item"
    facet: str | None = None   # for kind "facet": "regulator" or "jurisdiction"
    value: str | None = None   # for kind "facet": the value to filter by
    query: str | None = field(default=None, metadata={"json": False})  # kind "facet": the words typed before it

    JSON_EXTRA = {"url": str}   # where choosing it leads (added by the web layer)


@dataclass(frozen=True)
class ItemPage:
    """One article with its related coverage in both directions."""

    item: dict                       # the stored record (see backends/whoosh/schema.stored_doc)
    lists: tuple[dict, ...]          # items this one lists as related
    listed_by: tuple[dict, ...]      # items whose files list this one




@dataclass(frozen=True)
class SuggestPage:
    query: str
    suggestions: tuple[Suggestion, ...]


@dataclass(frozen=True)
class Health:
    status: str = field(metadata={"enum": ("ok", "degraded", "unavailable")})
    items: int | None
    built_at: str | None = field(default=None, metadata={"format": "date-time"})
    generation: str | None = None
    degraded: str | None = field(default=None, metadata={
        "description": "why an older good generation serves, when CURRENT's is damaged; with 503, why no "
                       "generation this worker serves can be named"})


@dataclass(frozen=True)
class ApiError:
    error: str
    status: int


def json_fields(cls) -> dict[str, tuple[object, dict]]:
    """The JSON object a class is served as: name -> (type, extra schema keys),
    from its dataclass fields (`metadata`: "json" renames or, False, hides a
    field; "type" overrides its type) plus JSON_EXTRA. The OpenAPI document is
    generated from this, and a test holds every to_dict() to it."""
    hints = get_type_hints(cls)
    out = {}
    for f in fields(cls):
        name = f.metadata.get("json", f.name)
        if name is False:
            continue
        extra = {k: v for k, v in f.metadata.items() if k in ("description", "format", "enum")}
        out[name] = (f.metadata.get("type", hints[f.name]), extra)
    for name, kind in getattr(cls, "JSON_EXTRA", {}).items():
        out[name] = (kind, {})
    return out
