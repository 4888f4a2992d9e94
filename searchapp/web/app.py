"""Web face: a Flask app factory, thin views over the search API.

Every view parses and bounds its request parameters, calls `SearchEngine`,
and renders HTML (Jinja, autoescaped), JSON or Atom. No view reads a path
from the request; item ids are checked against their fixed shape.
"""

from __future__ import annotations

import datetime as dt
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, replace
from urllib.parse import urlencode, urlsplit

from flask import Flask, Response, abort, jsonify, render_template, request, url_for
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import HTTPException

from searchapp.core.service import MAX_PAGE, MAX_PER_PAGE, MAX_QUERY_CHARS, RECENCY_HALF_LIFE_DAYS, SORTS, SearchEngine
from searchapp.errors import QueryError
from searchapp.store.generations import serving_generation
from searchapp.web.security import CSP, SECURITY_HEADERS, SecurityHeaders, bounded_int, safe_link
from searchapp.model import FACETS, FacetValue, Filters, ResultsPage
from searchapp.web.openapi import openapi_spec

ITEM_ID = re.compile(r"^[0-9a-f]{16}$")
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
CONTROLS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffe\uffff]")
DEFAULT_PER_PAGE = 10
FEED_ENTRIES = 30
ATOM = "http://www.w3.org/2005/Atom"
FACET_LABELS = {"topic": "Topic", "jurisdiction": "Jurisdiction", "regulator": "Regulator", "provider": "Provider",
                "year": "Year"}
SORT_LABELS = {"relevance": "Relevance", "recent": "Relevance + recency", "newest": "Newest", "oldest": "Oldest"}



@dataclass(frozen=True)
class SearchParams:
    """A search state as it lives in a URL."""

    query: str = ""
    filters: Filters = Filters()
    sort: str = "relevance"
    page: int = 1
    per_page: int = DEFAULT_PER_PAGE

    def pairs(self, **changes) -> list[tuple[str, str]]:
        state = replace(self, **changes) if changes else self
        pairs: list[tuple[str, str]] = []
        if state.query:
            pairs.append(("q", state.query))
        for facet in FACETS:
            pairs += [(facet, v) for v in state.filters.values(facet)]
        if state.filters.date_from:
            pairs.append(("from", state.filters.date_from.isoformat()))
        if state.filters.date_to:
            pairs.append(("to", state.filters.date_to.isoformat()))
        if state.sort != "relevance":
            pairs.append(("sort", state.sort))
        if state.page != 1:
            pairs.append(("page", str(state.page)))
        if state.per_page != DEFAULT_PER_PAGE:
            pairs.append(("per_page", str(state.per_page)))
        return pairs

    def url(self, endpoint: str = "/search", **changes) -> str:
        pairs = self.pairs(**changes)
        return endpoint + ("?" + urlencode(pairs) if pairs else "")

    def toggle(self, facet: str, value: str) -> str:
        """The URL with one facet value added or removed (back to page 1)."""
        values = self.filters.values(facet)
        values = tuple(v for v in values if v != value) if value in values else values + (value,)
        return self.url(filters=replace(self.filters, **{facet: values}), page=1)

    def without_dates(self) -> str:
        return self.url(filters=replace(self.filters, date_from=None, date_to=None), page=1)

    def period(self, start: dt.date, end: dt.date) -> str:
        """The URL filtered to one period of the timeline (back to page 1)."""
        return self.url(filters=replace(self.filters, date_from=start, date_to=end), page=1)


@dataclass(frozen=True)
class Bar:
    label: str          # "2023-08" or "2023"
    count: int
    start: dt.date
    end: dt.date
    selected: bool      # the date filter is exactly this period


@dataclass(frozen=True)
class Timeline:
    unit: str           # "month" or "year"
    bars: tuple[Bar, ...]
    peak: int

    def describe(self) -> str:
        """The chart's text alternative, in one sentence."""
        first, last = self.bars[0].label, self.bars[-1].label
        top = max(self.bars, key=lambda b: b.count)
        total = sum(b.count for b in self.bars)
        return (f"Matching items per {self.unit}, {first} to {last}: {total:,} in all; "
                f"the most, {top.count:,}, in {top.label}.")


TIMELINE_MONTHS_MAX = 36   # longer spans are drawn per year
TIMELINE_YEARS_MAX = 40    # and at most the 40 latest years (a stray year-1 date must not draw 2,000 bars)


def _month_end(year: int, month: int) -> dt.date:
    if (year, month) == (9999, 12):
        return dt.date.max
    following = dt.date(year + month // 12, month % 12 + 1, 1)
    return following - dt.timedelta(days=1)


def timeline(months: tuple[FacetValue, ...], filters: Filters) -> Timeline | None:
    """Bars for the month facet: one per month (empty months included, so the
    time axis is true), or one per year when the span is longer than three years."""
    counted = {}
    for value in months:
        if value.count and re.fullmatch(r"\d{4}-\d{2}", value.value):
            counted[(int(value.value[:4]), int(value.value[5:]))] = value.count
    if not counted:
        return None
    (y0, m0), (y1, m1) = min(counted), max(counted)
    span = (y1 - y0) * 12 + m1 - m0 + 1
    chosen = (filters.date_from, filters.date_to)
    bars = []
    if span <= TIMELINE_MONTHS_MAX:
        for n in range(span):
            year, month = y0 + (m0 - 1 + n) // 12, (m0 - 1 + n) % 12 + 1
            start, end = dt.date(year, month, 1), _month_end(year, month)
            bars.append(Bar(f"{year}-{month:02d}", counted.get((year, month), 0), start, end, chosen == (start, end)))
        unit = "month"
    else:
        for year in range(max(y0, y1 - TIMELINE_YEARS_MAX + 1), y1 + 1):
            count = sum(c for (y, _), c in counted.items() if y == year)
            start, end = dt.date(year, 1, 1), dt.date(year, 12, 31)
            bars.append(Bar(str(year), count, start, end, chosen == (start, end)))
        unit = "year"
    return Timeline(unit, tuple(bars), max(b.count for b in bars))


def _int(args, name: str, default: int, low: int, high: int) -> int:
    raw = args.get(name, "").strip()
    if not raw:
        return default
    value = bounded_int(raw, low, high)  # length-limited: 4,301 digits were a 500
    if value is None:
        raise QueryError(f"'{name}' must be a whole number from {low} to {high}")
    return value


def _date(args, name: str) -> dt.date | None:
    raw = args.get(name, "").strip()
    if not raw:
        return None
    if not ISO_DATE.match(raw):
        raise QueryError(f"'{name}' must be a date as YYYY-MM-DD")
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise QueryError(f"'{name}' must be a date as YYYY-MM-DD") from None


def read_params(args) -> SearchParams:
    """Request arguments -> SearchParams, or QueryError saying what is wrong."""
    query = CONTROLS.sub(" ", args.get("q", ""))
    if len(query) > MAX_QUERY_CHARS:
        raise QueryError(f"query is too long ({len(query)} characters; the limit is {MAX_QUERY_CHARS})")
    sort = args.get("sort", "").strip() or "relevance"
    if sort not in SORTS:
        raise QueryError(f"'sort' must be one of {', '.join(SORTS)}")
    values = {f: tuple(dict.fromkeys(CONTROLS.sub("", v) for v in args.getlist(f) if v.strip()))
              for f in FACETS}
    filters = Filters(**values, date_from=_date(args, "from"), date_to=_date(args, "to"))
    return SearchParams(
        query=" ".join(query.split()),
        filters=filters,
        sort=sort,
        page=_int(args, "page", 1, 1, MAX_PAGE),
        per_page=_int(args, "per_page", DEFAULT_PER_PAGE, 1, MAX_PER_PAGE),
    )


def status_text(results: ResultsPage | None, error: str | None) -> str:
    """The one line a screen reader announces after each search."""
    if error:
        return f"Error: {error}"
    if results is None:
        return ""
    found = f"{results.total:,} result{'' if results.total == 1 else 's'}"
    if results.query:
        found += f" for “{results.query}”"
    return f"{found} in {results.took_ms:.0f} ms"


def keep_what_is_valid(args) -> SearchParams:
    """After a bad parameter, the state that is still fine: the page keeps the
    filters while the user fixes an unclosed quote in the box."""
    query = " ".join(CONTROLS.sub(" ", args.get("q", "")).split())[:MAX_QUERY_CHARS]
    rest = MultiDict([(k, v) for k, v in args.items(multi=True) if k != "q"])
    try:
        return replace(read_params(rest), query=query)
    except QueryError:
        return SearchParams(query=query)


# ---------------------------------------------------------------- app

def create_app(index_dir="index", *, engine: SearchEngine | None = None, base_url: str | None = None) -> Flask:
    """`base_url`: the public address (feed ids and links, page URLs); the
    request's Host header is never used."""
    app = Flask(__name__)
    app.wsgi_app = SecurityHeaders(app.wsgi_app, base_url or "http://localhost")
    app.config["BASE_URL"] = app.wsgi_app.base_url
    app.json.sort_keys = False
    app.json.ensure_ascii = False
    engine = engine or SearchEngine(index_dir)
    app.extensions["searchapp.engine"] = engine
    app.jinja_env.filters["link"] = safe_link
    app.jinja_env.globals["MAX_QUERY_CHARS"] = MAX_QUERY_CHARS
    app.jinja_env.globals["status_text"] = status_text
    app.jinja_env.globals["timeline"] = timeline
    app.jinja_env.globals["FACET_LABELS"] = FACET_LABELS
    app.jinja_env.globals["SORT_LABELS"] = SORT_LABELS
    app.jinja_env.globals["RECENCY_HALF_LIFE_DAYS"] = RECENCY_HALF_LIFE_DAYS

    @app.after_request
    def security_headers(response: Response) -> Response:
        for name, value in SECURITY_HEADERS:
            response.headers[name] = value
        return response

    def wants_json() -> bool:
        return request.path.startswith("/api/") or request.path in ("/healthz",)

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        if wants_json():
            return jsonify(error=error.description, status=error.code), error.code
        return render_template("error.html", code=error.code, message=error.description), error.code

    @app.errorhandler(Exception)
    def server_error(error: Exception):
        app.logger.exception("request failed")
        if wants_json():
            return jsonify(error="internal error", status=500), 500
        return render_template("error.html", code=500, message="Something went wrong on our side."), 500

    def run_search(params: SearchParams) -> ResultsPage:
        return engine.search(params.query, params.filters, params.sort, params.page, params.per_page)

    @app.get("/")
    @app.get("/search")
    def search_page():
        error = None
        results = None
        try:
            params = read_params(request.args)
            results = run_search(params)
        except QueryError as problem:
            error = str(problem)
            params = keep_what_is_valid(request.args)
        template = "_results.html" if request.args.get("fragment") == "1" else "search.html"
        status = 400 if error else 200
        return render_template(template, params=params, results=results, error=error), status

    @app.get("/item/<item_id>")
    def item_page(item_id: str):
        page = engine.get_item(item_id) if ITEM_ID.match(item_id) else None
        if page is None:
            abort(404, "No news item with this id.")
        return render_template("item.html", page=page, params=SearchParams())

    @app.get("/api/search")
    def api_search():
        try:
            results = run_search(read_params(request.args))
        except QueryError as problem:
            return jsonify(error=str(problem), status=400), 400
        return jsonify(results.to_dict())

    @app.get("/api/suggest")
    def api_suggest():
        text = request.args.get("q", "")
        if len(text) > MAX_QUERY_CHARS:
            return jsonify(error="query is too long", status=400), 400
        suggestions = engine.suggest(text)
        return jsonify(
            query=text,
            suggestions=[
                {"text": s.text, "kind": s.kind, "id": s.id, "facet": s.facet, "value": s.value,
                 "url": url_for("item_page", item_id=s.id) if s.id else
                 SearchParams(query=s.query or "", filters=Filters(**{s.facet: (s.value,)})).url() if s.facet else
                 SearchParams(query=s.text).url()}
                for s in suggestions
            ],
        )

    @app.get("/api/item/<item_id>")
    def api_item(item_id: str):
        page = engine.get_item(item_id) if ITEM_ID.match(item_id) else None
        if page is None:
            abort(404, "No news item with this id.")
        return jsonify(item=page.item, lists=list(page.lists), listed_by=list(page.listed_by))

    @app.get("/api/openapi.json")
    def openapi():
        return jsonify(openapi_spec())

    @app.get("/feed.atom")
    def feed():
        try:
            params = replace(read_params(request.args), sort="newest", page=1, per_page=FEED_ENTRIES)
            results = run_search(params)
        except QueryError as problem:
            abort(400, str(problem))
        body = atom_feed(params, results, app.config["BASE_URL"])  # never from the Host header
        return Response(body, mimetype="application/atom+xml")

    @app.get("/healthz")
    def healthz():
        generation, degraded = serving_generation(engine.index_dir)
        try:
            items = engine.doc_count
        except Exception as error:  # nothing can be served: say why, as JSON
            app.logger.error("no index can be served: %s", degraded or error)
            return jsonify(status="unavailable", items=None, built_at=None, generation=None,
                           degraded=degraded or str(error)), 503
        info = engine.info()
        if degraded:
            app.logger.warning("index degraded: %s", degraded)
        return jsonify(
            status="degraded" if degraded else "ok",
            items=items,
            built_at=info.built_at if info else None,
            generation=info.generation if info else None,
            degraded=degraded,
        )

    return app


# ---------------------------------------------------------------- Atom

def _atom_time(value: str | None, fallback: str) -> str:
    return value or fallback


def atom_feed(params: SearchParams, results: ResultsPage, root: str) -> bytes:
    """A valid Atom 1.0 feed of a search, newest first."""
    ET.register_namespace("", ATOM)

    def sub(parent, tag, text=None, **attrs):
        element = ET.SubElement(parent, f"{{{ATOM}}}{tag}", attrs)
        if text is not None:
            element.text = text
        return element

    now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
    described = params.query or "all news"
    chosen = [v for f in FACETS for v in params.filters.values(f)]
    if chosen:
        described += " (" + ", ".join(chosen) + ")"
    feed = ET.Element(f"{{{ATOM}}}feed")
    sub(feed, "title", f"searchapp: {described}")
    search_url = root + params.url("/search", sort="newest", page=1, per_page=DEFAULT_PER_PAGE)
    sub(feed, "id", search_url)
    newest = next((h.published for h in results.hits if h.published), None)
    sub(feed, "updated", newest or now)
    sub(feed, "link", rel="self", type="application/atom+xml",
        href=root + params.url("/feed.atom", sort="relevance", page=1, per_page=DEFAULT_PER_PAGE))
    sub(feed, "link", rel="alternate", type="text/html", href=search_url)
    sub(feed, "generator", "searchapp")
    for hit in results.hits:
        entry = sub(feed, "entry")
        sub(entry, "id", f"{root}/item/{hit.id}")
        sub(entry, "title", hit.title)
        sub(entry, "updated", _atom_time(hit.published, now))
        if hit.published:
            sub(entry, "published", hit.published)
        link = safe_link(hit.url)
        sub(entry, "link", rel="alternate", type="text/html", href=link or f"{root}/item/{hit.id}")
        sub(entry, "link", rel="related", type="text/html", href=f"{root}/item/{hit.id}")
        author = sub(entry, "author")
        sub(author, "name", hit.provider.name or hit.provider.domain or "unknown")
        for topic in hit.topics:
            sub(entry, "category", term=topic)
        if hit.excerpt:
            sub(entry, "summary", hit.excerpt, type="text")
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(feed, encoding="utf-8", xml_declaration=False)


# ---------------------------------------------------------------- OpenAPI
