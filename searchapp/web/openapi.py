"""The OpenAPI 3.1 document, generated from the model (searchapp.model.json_fields)
and the parameters the views read, so it cannot drift from what is served.
tests/test_openapi.py validates real responses of every endpoint against it."""

from __future__ import annotations

import dataclasses
import types
import typing

from searchapp.core.service import MAX_PAGE, MAX_PER_PAGE, MAX_QUERY_CHARS
from searchapp.model import (FACETS, SORTS, ApiError, Health, ItemPage, ResultsPage, SuggestPage, json_fields)

ITEM_ID_PATTERN = r"^[0-9a-f]{16}$"
MAX_FACET_LIMIT = 1000

_STRINGS = {"type": "array", "items": {"type": "string"}}
SEARCH_PARAMS = [
    {"name": "q", "in": "query", "schema": {"type": "string", "maxLength": MAX_QUERY_CHARS},
     "description": 'Words, "phrases", OR, NOT/-word, title:, provider:, topic:, word*'},
    *({"name": facet, "in": "query", "schema": _STRINGS, "explode": True,
       "description": f"Filter by {facet} (repeat for any of several values)"} for facet in FACETS),
    {"name": "from", "in": "query", "schema": {"type": "string", "format": "date"}},
    {"name": "to", "in": "query", "schema": {"type": "string", "format": "date"}},
    {"name": "sort", "in": "query", "schema": {"type": "string", "enum": list(SORTS)}},
    {"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE}},
    {"name": "per_page", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PER_PAGE}},
    {"name": "typed", "in": "query", "schema": {"type": "integer", "enum": [0, 1]},
     "description": "1 while the user is typing: the last word may be unfinished"},
    {"name": "autocorrect", "in": "query", "schema": {"type": "integer", "enum": [0, 1]},
     "description": "0: search the words as typed, even when a spelling correction would find more"},
    {"name": "facet_limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": MAX_FACET_LIMIT},
     "description": "values listed per facet (selected values always are); facet_more counts the rest"},
    {"name": "facet_query.{facet}", "in": "query", "schema": {"type": "string", "maxLength": 100},
     "description": "search within one facet: facet_query.provider=reu lists only the providers containing 'reu' "
                    "(any case); the results are not filtered. Facets: " + ", ".join(FACETS)},
]
EXPORT_ROWS = 1000   # searchapp.web.export.MAX_EXPORT_ROWS


def _schema(kind, components: dict) -> dict:
    """A JSON schema for a Python type of the model."""
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in args if a is not type(None)]
        inner = _schema(options[0], components) if len(options) == 1 else {"anyOf": [_schema(a, components)
                                                                                       for a in options]}
        if type(None) in args:
            if "type" in inner and isinstance(inner["type"], str):
                return {**inner, "type": [inner["type"], "null"]}
            return {"anyOf": [inner, {"type": "null"}]}
        return inner
    if origin in (tuple, list):
        return {"type": "array", "items": _schema(args[0], components) if args else {}}
    if origin is dict:
        return {"type": "object", "additionalProperties": _schema(args[1], components)}
    if dataclasses.is_dataclass(kind):
        _component(kind, components)
        return {"$ref": f"#/components/schemas/{kind.__name__}"}
    simple = {str: "string", int: "integer", float: "number", bool: "boolean", dict: "object"}
    if kind in simple:
        return {"type": simple[kind]}
    raise TypeError(f"no JSON schema for {kind!r}")


def _component(cls, components: dict) -> None:
    if cls.__name__ in components:
        return
    components[cls.__name__] = {}  # placeholder: recursive references
    properties = {}
    for name, (kind, extra) in json_fields(cls).items():
        schema = _schema(kind, components)
        if "enum" in extra:
            schema = {**schema, "enum": list(extra["enum"])}
        properties[name] = {**schema, **{k: v for k, v in extra.items() if k != "enum"}}
    components[cls.__name__] = {"type": "object", "required": sorted(properties), "properties": properties,
                                "additionalProperties": False}


def _json(cls, components: dict, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": _schema(cls, components)}}}


def openapi_spec() -> dict:
    components: dict = {}
    error = _json(ApiError, components, "Bad parameters: the message says what to change")
    paths = {
        "/api/search": {"get": {
            "summary": "Ranked, faceted, highlighted search", "parameters": SEARCH_PARAMS + [
                {"name": "format", "in": "query", "schema": {"type": "string", "enum": ["json", "csv"]},
                 "description": "csv: the export, as /search.csv"}],
            "responses": {"200": _json(ResultsPage, components, "A results page"), "400": error}}},
        "/search.csv": {"get": {
            "summary": f"A search as CSV (also /api/search?format=csv): up to {EXPORT_ROWS} results in the page's "
                       "order; cells starting with = + - @ are prefixed with a quote",
            "parameters": SEARCH_PARAMS[:9],
            "responses": {"200": {"description": "CSV", "content": {"text/csv": {}}},
                          "400": {"description": "Bad parameters", "content": {"text/plain": {}}}}}},
        "/search.json": {"get": {
            "summary": f"A search as JSON: up to {EXPORT_ROWS} results, with rows and truncated",
            "parameters": SEARCH_PARAMS[:9],
            "responses": {"200": {"description": "The export", "content": {"application/json": {}}},
                          "400": error}}},
        "/api/suggest": {"get": {
            "summary": "Completions, regulators and places, and matching titles for a partial query",
            "parameters": [{"name": "q", "in": "query", "schema": {"type": "string", "maxLength": MAX_QUERY_CHARS}}],
            "responses": {"200": _json(SuggestPage, components, "Suggestions, in sections"), "400": error}}},
        "/api/item/{id}": {"get": {
            "summary": "One item with its related coverage in both directions",
            "parameters": [{"name": "id", "in": "path", "required": True,
                            "schema": {"type": "string", "pattern": ITEM_ID_PATTERN}}],
            "responses": {"200": _json(ItemPage, components, "The item"),
                          "404": _json(ApiError, components, "No such item")}}},
        "/feed.atom": {"get": {
            "summary": "Atom feed of a search, newest first", "parameters": SEARCH_PARAMS[:8],
            "responses": {"200": {"description": "Atom 1.0", "content": {"application/atom+xml": {}}},
                          "400": error}}},
        "/healthz": {"get": {"summary": "Liveness, item count and build time",
                             "responses": {"200": _json(Health, components, "Serving (status ok or degraded)"),
                                           "503": _json(Health, components, "No generation can be served")}}},
        "/api/openapi.json": {"get": {"summary": "This document",
                                      "responses": {"200": {"description": "OpenAPI 3.1"}}}},
    }
    return {"openapi": "3.1.0", "info": {"title": "searchapp API", "version": "2"}, "paths": paths,
            "components": {"schemas": components}}
