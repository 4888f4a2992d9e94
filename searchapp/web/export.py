"""Export of any search as CSV or JSON, Datasette-style: the page's own URL
with `.csv` or `.json` (`/search.csv?q=…&topic=…`), or `/api/search?…&format=csv`.

Bounded: at most MAX_EXPORT_ROWS results (each story once, as the page lists
them), fetched 100 at a time in the page's order. CSV cells that a
spreadsheet would run as a formula (starting with = + - @, a tab or a carriage
return) are prefixed with a quote; quoting and newlines are the csv module's.
"""

from __future__ import annotations

import csv
import io
from dataclasses import replace

from flask import Flask, Response, jsonify, request

from searchapp.errors import QueryError
from searchapp.model import public_url

MAX_EXPORT_ROWS = 1000
CHUNK = 100   # the engine's largest page
COLUMNS = ("rank", "id", "title", "url", "published", "provider", "domain", "topics", "jurisdictions",
           "regulators", "excerpt", "score", "matched_all", "also_reported_by", "item_page")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value) -> str:
    """A value as CSV text a spreadsheet shows and never evaluates."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    if text.startswith(FORMULA_START):
        return "'" + text
    return text


def collect(run_search, params) -> tuple[object, list]:
    """(first results page, hits up to MAX_EXPORT_ROWS) for a search state."""
    first = None
    hits = []
    page = 1
    while len(hits) < MAX_EXPORT_ROWS:
        results = run_search(replace(params, page=page, per_page=CHUNK, typed=False), 1)
        first = first or results
        hits += [h for h in results.hits if not h.related]   # an export holds what matched
        if page >= results.pages or not results.hits:
            break
        page += 1
    return first, hits[:MAX_EXPORT_ROWS]


def rows(hits) -> list[list[str]]:
    out = []
    for rank, hit in enumerate(hits, 1):
        out.append([safe_cell(v) for v in (
            rank, hit.id, hit.title, public_url(hit.url), hit.published, hit.provider.name, hit.provider.domain,
            "; ".join(hit.topics), "; ".join(hit.jurisdictions), "; ".join(hit.regulators), hit.excerpt,
            None if hit.score is None else round(hit.score, 4), hit.matched_all,
            "; ".join(f"{r.provider} {public_url(r.url) or ''}".strip() for r in hit.also_reported_by), f"/item/{hit.id}")])
    return out


def csv_response(run_search, params) -> Response:
    first, hits = collect(run_search, params)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    writer.writerows(rows(hits))
    response = Response(buffer.getvalue(), mimetype="text/csv")
    response.headers["Content-Disposition"] = 'attachment; filename="search.csv"'
    response.headers["X-Total-Results"] = str(first.grouped_total if first.grouped_total >= 0 else first.total)
    response.headers["X-Exported-Rows"] = str(len(hits))
    return response


def json_response(run_search, params) -> Response:
    first, hits = collect(run_search, params)
    listed = first.grouped_total if first.grouped_total >= 0 else first.total
    return jsonify(
        query=first.query, filters=first.filters.to_dict(), sort=first.sort,
        total=first.total, grouped_total=listed, rows=len(hits), max_rows=MAX_EXPORT_ROWS,
        truncated=listed > len(hits), results=[h.to_dict() for h in hits],
    )


def register(app: Flask, run_search) -> None:
    from searchapp.web.app import read_params

    def state():
        params = read_params(request.args)
        dates = params.filters
        if dates.date_from and dates.date_to and dates.date_from > dates.date_to:
            raise QueryError("the 'from' date is after the 'to' date")
        return params

    @app.get("/search.csv")
    def search_csv():
        try:
            return csv_response(run_search, state())
        except QueryError as problem:
            return Response(f"Error: {problem}\n", status=400, mimetype="text/plain")

    @app.get("/search.json")
    def search_json():
        try:
            return json_response(run_search, state())
        except QueryError as problem:
            return jsonify(error=str(problem), status=400), 400
