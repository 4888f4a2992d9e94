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
from urllib.parse import urlencode

from markupsafe import Markup, escape
from flask import Flask, Response, abort, jsonify, redirect, render_template, request, url_for
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import HTTPException

from searchapp.core.service import (FACET_LIMIT, MAX_FACET_LIMIT, MAX_PAGE, MAX_PER_PAGE, MAX_QUERY_CHARS,
                                    RECENCY_HALF_LIFE_DAYS, SORTS, SearchEngine)
from searchapp.errors import QueryError
from searchapp.store.generations import read_build_info, serving_generation
from searchapp.web.fairness import ClientBudget
from searchapp.web.security import SECURITY_HEADERS, SecurityHeaders, bounded_int
from searchapp.model import CONTROLS, FACETS, INVISIBLE, FacetValue, Filters, ResultsPage, public_url
from searchapp.web import compress, export
from searchapp.web.openapi import openapi_spec

ITEM_ID = re.compile(r"^[0-9a-f]{16}$")
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
DEFAULT_PER_PAGE = 10
PAGE_FACET_LIMIT = 12      # values per facet on the HTML page ("Show more" and a search box reach the rest)
FACET_QUERY_PREFIX = "facet_query."   # facet_query.provider=text: list only providers containing "text"
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
    facet_limit: int | None = None             # None: the page's or the API's default
    facet_query: tuple[tuple[str, str], ...] = ()   # (facet, text): search within a facet
    typed: bool = False                        # an as-you-type request (never part of a URL shown)
    autocorrect: bool = True                   # False: search the words as typed ("Search instead for")

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
        if state.facet_limit is not None:
            pairs.append(("facet_limit", str(state.facet_limit)))
        pairs += [(FACET_QUERY_PREFIX + facet, text) for facet, text in state.facet_query]
        if not state.autocorrect:
            pairs.append(("autocorrect", "0"))
        return pairs

    def active_filters(self) -> list[tuple[str, str]]:
        """(facet, value) of every facet filter, in display order."""
        return [(facet, v) for facet in FACETS for v in self.filters.values(facet)]

    def unapplied(self, readings) -> list:
        """The query's readings as a place or body (`interpreted`) not already a filter: once
        applied, the note offering one would only take it off again (review 22)."""
        return [r for r in readings if r.value not in self.filters.values(r.facet)]

    def clear_all(self) -> str:
        """The URL with the words kept and every filter removed."""
        return self.url(filters=Filters(), page=1, facet_query=())

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


PHONE_BARS_MAX = 6   # a 320 px phone's chart (288 px) holds 6 tap targets of 48 px; 390 px holds 59 px ones


def grouped(chart: Timeline, filters: Filters, most: int = PHONE_BARS_MAX) -> Timeline | None:
    """The timeline in at most `most` bars, for narrow screens (each bar a tap
    target of 44 px or more): runs of k neighbouring periods summed, k as small
    as that allows. None when the chart already has few enough bars."""
    n = len(chart.bars)
    if n <= most:
        return None
    k = -(-n // most)
    chosen = (filters.date_from, filters.date_to)
    bars = []
    for at in range(0, n, k):
        run = chart.bars[at:at + k]
        start, end = run[0].start, run[-1].end
        label = run[0].label if len(run) == 1 else f"{run[0].label} to {run[-1].label}"
        bars.append(Bar(label, sum(b.count for b in run), start, end, chosen == (start, end)))
    unit = f"{k} {chart.unit}s"
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


def _flag(args, name: str, default: bool) -> bool:
    raw = args.get(name, "").strip().lower()
    if raw not in ("", "0", "1", "true", "false"):
        raise QueryError(f"'{name}' must be 1 or 0")
    return default if raw == "" else raw in ("1", "true")


def _typed(args) -> bool:
    return _flag(args, "typed", False)


def _facet_query(args) -> tuple[tuple[str, str], ...]:
    found = []
    for key in args:
        if key.startswith(FACET_QUERY_PREFIX):
            facet = key[len(FACET_QUERY_PREFIX):]
            if facet not in FACETS:
                raise QueryError(f"'{key}' is not a facet search: use facet_query.FACET with one of {', '.join(FACETS)}")
            text = " ".join(CONTROLS.sub(" ", args.get(key, "")).split())
            if text:
                found.append((facet, text))
    return tuple(found)


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
    limit = args.get("facet_limit", "").strip()
    return SearchParams(
        query=" ".join(query.split()),
        filters=filters,
        sort=sort,
        page=_int(args, "page", 1, 1, MAX_PAGE),
        per_page=_int(args, "per_page", DEFAULT_PER_PAGE, 1, MAX_PER_PAGE),
        facet_limit=_int(args, "facet_limit", FACET_LIMIT, 1, MAX_FACET_LIMIT) if limit else None,
        facet_query=_facet_query(args),
        typed=_typed(args),
        autocorrect=_flag(args, "autocorrect", True),
    )


def status_html(results: ResultsPage | None, error: str | None) -> Markup:
    """`status_text` with the user's words bidi-isolated (<bdi>): a U+202E in a
    query mirrored the rest of the line. The same text, so screen readers hear the same."""
    text = status_text(results, error)
    quoted = f"“{results.query}”" if results is not None and results.query and not error else ""
    if not quoted or quoted not in text:
        return escape(text)
    before, _, after = text.partition(quoted)
    return Markup("{}“<bdi>{}</bdi>”{}").format(before, results.query, after)


def title_text(query: str) -> str:
    """The tab title: the words without bidi controls (a <title> cannot hold <bdi>)."""
    words = " ".join(INVISIBLE.sub("", query).split())
    return f"{words} · searchapp" if words else "searchapp"


def canonical_args(args) -> list[tuple[str, str]] | None:
    """The arguments without empty fields and the default sort (what a form
    submitted without the script adds: `from=&to=&sort=relevance`), or None
    when there are none of those. Every reader takes a blank as absent, so the
    meaning is the same."""
    pairs = list(args.items(multi=True))
    kept = [(k, v) for k, v in pairs if v.strip() and not (k == "sort" and v.strip() == "relevance")]
    return kept if len(kept) < len(pairs) else None


def took_text(results: ResultsPage) -> str:
    """ "in 35 ms", or nothing for an answer from the results cache (which takes
    a few microseconds: "in 0 ms" would be untrue about the search)."""
    return f" in {results.took_ms:,.0f} ms" if results.took_ms >= 1 else ""


def status_text(results: ResultsPage | None, error: str | None) -> str:
    """The one line a screen reader announces after each search."""
    if error:
        return f"Error: {error}"
    if results is None:
        return ""
    found = f"{results.total:,} result{'' if results.total == 1 else 's'}"
    if results.query:
        found += f" for “{results.query}”"
    grouped = results.grouped_total
    if 0 <= grouped < results.total:
        found += f", {grouped:,} after grouping reports of the same story"
    return found + took_text(results)


def _keep(read, *args):
    try:
        return read(*args)
    except QueryError:
        return None


def keep_what_is_valid(args) -> SearchParams:
    """After a bad parameter, the state that is still fine, parameter by
    parameter: the page keeps the filters and the date boxes while the user
    fixes the one thing that is wrong."""
    query = " ".join(CONTROLS.sub(" ", args.get("q", "")).split())[:MAX_QUERY_CHARS]
    values = {f: tuple(dict.fromkeys(CONTROLS.sub("", v) for v in args.getlist(f) if v.strip()))
              for f in FACETS}
    filters = Filters(**values, date_from=_keep(_date, args, "from"), date_to=_keep(_date, args, "to"))
    sort = args.get("sort", "").strip()
    return SearchParams(query=query, filters=filters, sort=sort if sort in SORTS else "relevance",
                        per_page=_keep(_int, args, "per_page", DEFAULT_PER_PAGE, 1, MAX_PER_PAGE) or DEFAULT_PER_PAGE)


def raw_dates(args) -> dict[str, str]:
    """The date boxes as typed (even when not valid), to show them again."""
    return {name: CONTROLS.sub("", args.get(name, ""))[:20] for name in ("from", "to")}


def problem_field(message: str, args) -> str | None:
    """Which control a QueryError is about, so the page can mark it."""
    for name in ("from", "to", "sort", "page", "per_page", "facet_limit", "typed", "autocorrect"):
        if f"'{name}'" in message:
            return name
    if "facet_query" in message or "too many" in message or "value is too long" in message:
        return None
    return "q"


def explain(message: str, field: str | None) -> str:
    """The engine's message plus what to change."""
    message = message.rstrip(".")
    if field == "q":
        return f"{message}. Change the search words; your filters are kept."
    if field in ("from", "to"):
        return f"{message}. Fix the “{'From' if field == 'from' else 'To'}” date; the other filters are kept."
    return f"{message}."


def back_state(raw: str) -> SearchParams | None:
    """The search an item page was opened from, carried as its query string
    (`back=q%3D...`): parsed and rebuilt, so the link is always a same-origin
    /search URL, whatever was passed."""
    if not raw or len(raw) > 4000:
        return None
    from urllib.parse import parse_qsl
    try:
        args = MultiDict(parse_qsl(raw.lstrip("?"), keep_blank_values=False))
    except ValueError:
        return None
    params = _keep(read_params, args) or keep_what_is_valid(args)
    return replace(params, typed=False)


def item_link(item_id: str, params: "SearchParams | None" = None) -> str:
    """An item page's URL, carrying the search it was opened from (`back`)."""
    qs = urlencode(params.pairs(facet_limit=None, facet_query=())) if params else ""
    return f"/item/{item_id}" + ("?" + urlencode([("back", qs)]) if qs else "")


def public_record(doc: dict) -> dict:
    """A stored record as the API serves it: its URLs by the one rule
    (`public_url`: http(s) or null), like every other machine-readable output."""
    return {**doc, **{key: public_url(doc.get(key)) for key in ("url", "image_url") if key in doc}}


def bar_step(count: int, peak: int) -> int:
    """A timeline bar's height in twentieths of the chart (a CSS class: no inline style under the CSP)."""
    if not count or not peak:
        return 0
    return max(1, round(20 * count / peak))


# ---------------------------------------------------------------- app

def create_app(index_dir="index", *, engine: SearchEngine | None = None, base_url: str | None = None,
               client_budget: dict | None = None) -> Flask:
    """`base_url`: the public address (feed ids and links, page URLs); the
    request's Host header is never used.  `client_budget`: ClientBudget's
    settings (share, burst, max_wait, max_in_flight) to give each client
    address a CPU budget; None serves every client without one."""
    app = Flask(__name__)
    inner = ClientBudget(app.wsgi_app, **client_budget) if client_budget else app.wsgi_app
    app.wsgi_app = SecurityHeaders(inner, base_url or "http://localhost")
    app.config["BASE_URL"] = app.wsgi_app.base_url
    app.json.sort_keys = False
    app.json.ensure_ascii = False
    engine = engine or SearchEngine(index_dir)
    app.extensions["searchapp.engine"] = engine
    app.jinja_env.filters["link"] = public_url
    app.jinja_env.globals["MAX_QUERY_CHARS"] = MAX_QUERY_CHARS
    app.jinja_env.globals["status_text"] = status_text
    app.jinja_env.globals["status_html"] = status_html
    app.jinja_env.globals["title_text"] = title_text
    app.jinja_env.globals["timeline"] = timeline
    app.jinja_env.globals["grouped"] = grouped
    app.jinja_env.globals["FACET_LABELS"] = FACET_LABELS
    app.jinja_env.globals["SORT_LABELS"] = SORT_LABELS
    app.jinja_env.globals["RECENCY_HALF_LIFE_DAYS"] = RECENCY_HALF_LIFE_DAYS
    app.jinja_env.globals["took_text"] = took_text
    app.jinja_env.globals["PAGE_FACET_LIMIT"] = PAGE_FACET_LIMIT
    app.jinja_env.globals["item_link"] = item_link
    app.jinja_env.globals["bar_step"] = bar_step

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
        generation, why = serving_generation(engine.index_dir)
        if generation is None:   # the index is gone or damaged under us: unavailable, not our bug
            app.logger.error("no index can be served: %s (%s: %s)", why, type(error).__name__, error)
            message = "The search index is unavailable; it is being repaired."
            if wants_json():
                return jsonify(error=message, status=503), 503
            return render_template("error.html", code=503, message=message), 503
        app.logger.exception("request failed")
        if wants_json():
            return jsonify(error="internal error", status=500), 500
        return render_template("error.html", code=500, message="Something went wrong on our side."), 500

    def run_search(params: SearchParams, default_facet_limit: int = FACET_LIMIT) -> ResultsPage:
        limit = params.facet_limit if params.facet_limit is not None else default_facet_limit
        return engine.search(params.query, params.filters, params.sort, params.page, params.per_page,
                             facet_limit=limit, facet_query=dict(params.facet_query), typed=params.typed,
                             autocorrect=params.autocorrect)

    app.extensions["searchapp.run_search"] = run_search

    @app.get("/")
    @app.get("/search")
    def search_page():
        if not request.args.get("fragment"):
            tidy = canonical_args(request.args)
            if tidy is not None:   # a form sent without the script: its empty boxes and defaults leave the URL
                return redirect(request.path + ("?" + urlencode(tidy) if tidy else ""), 303)
        error = field = None
        results = None
        try:
            params = read_params(request.args)
        except QueryError as problem:
            field = problem_field(str(problem), request.args)
            error = explain(str(problem), field)
            params = keep_what_is_valid(request.args)
            if field != "q":   # a bad date, page...: what is still valid is searched, so its chips are applied
                results = _keep(run_search, params, PAGE_FACET_LIMIT)
        else:
            dates = params.filters
            if dates.date_from and dates.date_to and dates.date_from > dates.date_to:
                # The dates cannot apply: search without them, so the words and the other
                # filters still give results (and chips show only what is applied); the
                # date boxes keep what was typed, for correction.
                field = "from"
                error = (f"The “From” date ({dates.date_from}) is after the “To” date ({dates.date_to}). "
                         f"Change the “From” date to {dates.date_to} or earlier (or the “To” date to "
                         f"{dates.date_from} or later); until then the results are not filtered by date.")
                params = replace(params, filters=replace(dates, date_from=None, date_to=None), page=1)
            try:
                results = run_search(params, PAGE_FACET_LIMIT)
            except QueryError as problem:
                field = problem_field(str(problem), request.args)
                error, results = explain(str(problem), field), None
        fragment = request.args.get("fragment", "")
        status = 400 if error else 200
        context = dict(params=params, results=results, error=error, error_field=field,
                       dates=raw_dates(request.args))
        if fragment == "facet" and results is not None and request.args.get("facet") in FACETS:
            return render_template("_facet.html", facet=request.args["facet"], **context), status
        template = "_results.html" if fragment == "1" else "search.html"
        return render_template(template, **context), status

    @app.get("/item/<item_id>")
    def item_page(item_id: str):
        page = engine.get_item(item_id) if ITEM_ID.match(item_id) else None
        if page is None:
            abort(404, "No news item with this id.")
        back = back_state(request.args.get("back", ""))
        return render_template("item.html", page=page, params=SearchParams(), back=back)

    @app.get("/api/search")
    def api_search():
        fmt = request.args.get("format", "json")
        if fmt not in ("json", "csv"):
            return jsonify(error="'format' must be json or csv", status=400), 400
        try:
            params = read_params(request.args)
            if fmt == "csv":
                return export.csv_response(run_search, params)
            results = run_search(params)
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
        return jsonify(item=public_record(page.item), lists=[public_record(d) for d in page.lists],
                       listed_by=[public_record(d) for d in page.listed_by])

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

    export.register(app, run_search)
    compress.register(app)

    @app.get("/healthz")
    def healthz():
        """200 only when this worker serves a named generation that passes the
        checks (degraded: an older good one, CURRENT's being damaged); 503 with
        the reason whenever it cannot name what it serves (the index folder
        emptied or CURRENT's generation removed under it: its open files still
        answer, from an index that no longer exists)."""
        generation, degraded = serving_generation(engine.index_dir)   # stats the generation's files
        try:
            engine.follow()   # CURRENT unchanged, but its generation removed or damaged: serve the fallback
            items = engine.doc_count
            served = served_generation(engine)
        except Exception as error:  # nothing can be served: say why, as JSON
            served, problem = None, degraded or str(error)
        else:
            problem = unnamed(served, generation, degraded)
        if problem:
            app.logger.error("no index generation can be named: %s", problem)
            return jsonify(status="unavailable", items=None, built_at=None, generation=None,
                           degraded=problem), 503
        if degraded:
            app.logger.warning("index degraded: %s", degraded)
        info = read_build_info(engine.index_dir, generation)
        return jsonify(
            status="degraded" if degraded else "ok",
            items=items,
            built_at=info.built_at if info else None,
            generation=generation.name,
            degraded=degraded,
        )

    return app


def served_generation(engine: SearchEngine):
    """The generation this thread's searches read (SearchEngine has no public
    accessor for it; service.py was not ours to change in this round)."""
    return engine._snapshot().generation


def unnamed(served, generation, degraded: str | None) -> str | None:
    """Why /healthz cannot name the generation this worker serves, or None."""
    if generation is None:
        if degraded:
            return degraded
        return ("no index generation on disk (CURRENT and every generation are gone); this worker still "
                "answers from files it has open: run 'searchapp index'")
    if served != generation:
        shown = served.name if served is not None else "nothing"
        return f"{generation.name} should be served but could not be opened; this worker serves {shown}"
    return None


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
        link = public_url(hit.url)
        sub(entry, "link", rel="alternate", type="text/html", href=link or f"{root}/item/{hit.id}")
        sub(entry, "link", rel="related", type="text/html", href=f"{root}/item/{hit.id}")
        author = sub(entry, "author")
        sub(author, "name", hit.provider.name or hit.provider.domain or "unknown")
        for topic in hit.topics:
            sub(entry, "category", term=topic)
        if hit.excerpt:
            sub(entry, "summary", hit.excerpt, type="text")
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(feed, encoding="utf-8", xml_declaration=False)
