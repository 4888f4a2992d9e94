"""The OpenAPI document is generated from the model; every endpoint's real
responses (Flask's test client over a real index) validate against it, and
every model class's to_dict() has exactly the fields the document declares."""

from __future__ import annotations

import dataclasses

import jsonschema
import pytest

from searchapp.model import FacetValue, Filters, Hit, Provider, Report, ResultsPage, json_fields
from searchapp.web import create_app
from searchapp.web.openapi import openapi_spec


@pytest.fixture(scope="module")
def client(sample_index):
    app = create_app(sample_index)
    app.testing = True
    return app.test_client()


@pytest.fixture(scope="module")
def spec():
    document = openapi_spec()
    jsonschema.Draft202012Validator.check_schema({**document["components"]["schemas"]["ResultsPage"]})
    return document


def _validate(spec, path, status, body):
    response = spec["paths"][path]["get"]["responses"][str(status)]
    schema = response["content"]["application/json"]["schema"]
    jsonschema.validate(body, {**spec, **schema}, cls=jsonschema.Draft202012Validator)


@pytest.mark.parametrize("query", [
    "", "facial recognition", "china consent rules zebra", '"facial recognition"', "gdpr OR ccpa",
    "q=ai&topic=AI&jurisdiction=United+States&sort=newest&page=2&per_page=3",
    "q=police&sort=recent&facet_limit=2&from=2019-01-01&to=2024-12-31", "q=facal+recgnition",
])
def test_search_responses_follow_the_document(client, spec, query):
    url = "/api/search?" + (query if "=" in query else f"q={query}")
    response = client.get(url)
    assert response.status_code == 200
    _validate(spec, "/api/search", 200, response.get_json())


def test_errors_suggest_item_and_health_follow_the_document(client, spec):
    bad = client.get("/api/search?q=%22open")
    assert bad.status_code == 400
    _validate(spec, "/api/search", 400, bad.get_json())
    for text in ("fac", "china f", "ico", "x"):
        response = client.get(f"/api/suggest?q={text}")
        assert response.status_code == 200
        _validate(spec, "/api/suggest", 200, response.get_json())
    first = client.get("/api/search?q=police").get_json()["results"][0]["id"]
    item = client.get(f"/api/item/{first}")
    _validate(spec, "/api/item/{id}", 200, item.get_json())
    missing = client.get("/api/item/0000000000000000")
    assert missing.status_code == 404
    _validate(spec, "/api/item/{id}", 404, missing.get_json())
    _validate(spec, "/healthz", 200, client.get("/healthz").get_json())
    assert client.get("/api/openapi.json").get_json() == spec


def test_a_response_with_a_field_the_document_lacks_fails(client, spec):
    body = client.get("/api/search?q=police").get_json()
    body["results"][0]["surprise"] = 1
    with pytest.raises(jsonschema.ValidationError):
        _validate(spec, "/api/search", 200, body)


@pytest.mark.parametrize("value", [
    Filters(topic=("AI",)), Report("i", "t", "u", "p", None), FacetValue("v", 1, False),
    Hit("i", "u", "t", "<b>", "e", "s", None, Provider("n", "d"), ("AI",), 1.0, True),
])
def test_each_to_dict_has_exactly_the_declared_fields(value):
    assert set(value.to_dict() if hasattr(value, "to_dict") else dataclasses.asdict(value)) == set(json_fields(type(value)))


def test_results_page_to_dict_has_exactly_the_declared_fields(sample_engine):
    page = sample_engine.search("police")
    assert isinstance(page, ResultsPage)
    assert set(page.to_dict()) == set(json_fields(ResultsPage))
