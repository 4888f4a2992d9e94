"""Issue 16: every machine-readable output (the JSON API, the item API, the
CSV and JSON exports, suggestions, the CLI's --json) hands out a corpus URL
only when the page would link it: http(s), without control, space or
invisible characters (`searchapp.model.public_url`). Others are null in JSON
and empty in CSV. A real index of a generated corpus with hostile URLs."""

from __future__ import annotations

import csv
import io
import json

import jsonschema
import pytest
from click.testing import CliRunner

from conftest import related, write_news
from searchapp.indexing import update_index
from searchapp.model import public_url
from searchapp.web import create_app
from searchapp.web.openapi import openapi_spec

# As YAML double-quoted strings: the escapes become the real characters when read.
HOSTILE = {
    "js": "javascript:alert(1)",
    "ctl": "https://evil.example/a\\x01b",
    "vt": "https://evil.example/\\x0bvt",
    "space": "https://evil .example/sp",
    "bidi": "https://evil.example/\\u202eexe.txt",
    "data": "data:text/html,<script>alert(1)</script>",
}
GOOD = "https://good.example/fine"


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    corpus = tmp_path_factory.mktemp("hostile-urls")
    for name, url in HOSTILE.items():
        (corpus / f"{name}.md").write_text(
            f'---\ntitle: "hostileurl {name} story"\nwebUrl: "{url}"\ntopics: [AI]\n'
            f'publishedDateTime: "2024-01-0{len(name)}T00:00:00Z"\n---\nbody\n', encoding="utf-8")
    # a good item that lists a hostile one (the item API's `lists`) and copies of one story
    write_news(corpus, "good.md", title="hostileurl good story", webUrl=GOOD, topics=["AI"],
               related=[related("x", title="hostileurl listed entry", webUrl="javascript:alert('listed')")])
    index_dir = tmp_path_factory.mktemp("hostile-urls-index") / "index"
    update_index(corpus, index_dir, full=True)
    app = create_app(index_dir)
    app.testing = True
    app.config["INDEX_DIR"] = index_dir
    return app.test_client()


def every_url(value):
    """Every value under a key named url or image_url, however deep."""
    if isinstance(value, dict):
        for key, inner in value.items():
            if key in ("url", "image_url"):
                yield inner
            else:
                yield from every_url(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from every_url(inner)


def assert_public(urls):
    urls = list(urls)
    assert urls
    for url in urls:
        assert url is None or url == public_url(url), url
        assert url is None or url.startswith(("https://", "http://", "/")), url
        assert not url or not any(bad in url for bad in ("javascript", "data:", "\x01", "\x0b", " ", "\u202e"))


def test_the_rule():
    for url in ("javascript:alert(1)", "JAVASCRIPT:alert(1)", "data:text/html,x", "file:a.md", "https://e.org/a\x01b",
                "https://e.org/\x7f", "http://e.org/\u200b", "https://e .org/", "http://", "https://[x", "", None):
        assert public_url(url) is None, url
    assert public_url(" https://example.org/ok ") == "https://example.org/ok"
    assert public_url("HTTP://Example.org/x?a=b") == "HTTP://Example.org/x?a=b"


def test_search_api_returns_null_for_hostile_urls(client):
    data = client.get("/api/search?q=hostileurl&per_page=50").get_json()
    assert len(data["results"]) == len(HOSTILE) + 2
    by_title = {hit["title"]: hit["url"] for hit in data["results"]}
    assert by_title["hostileurl good story"] == GOOD
    for name in HOSTILE:
        assert by_title[f"hostileurl {name} story"] is None, name
    assert_public(every_url(data))
    jsonschema.validate(data, {**openapi_spec(), **openapi_spec()["paths"]["/api/search"]["get"]["responses"]["200"]
                               ["content"]["application/json"]["schema"]}, cls=jsonschema.Draft202012Validator)


def test_item_api_returns_null_for_hostile_urls(client):
    hits = client.get("/api/search?q=hostileurl&per_page=50").get_json()["results"]
    for hit in hits:
        data = client.get(f"/api/item/{hit['id']}").get_json()
        assert data["item"]["url"] == hit["url"]
        assert_public(every_url(data))
    good = next(h for h in hits if h["url"] == GOOD)
    listed = client.get(f"/api/item/{good['id']}").get_json()["lists"]
    assert [entry["url"] for entry in listed] == [None]          # the listed entry's javascript: URL
    back = client.get(f"/api/item/{listed[0]['id']}").get_json()
    assert back["item"]["url"] is None and [d["url"] for d in back["listed_by"]] == [GOOD]


def test_json_export_returns_null_for_hostile_urls(client):
    data = client.get("/search.json?q=hostileurl").get_json()
    assert data["rows"] == len(HOSTILE) + 2
    assert sum(hit["url"] is None for hit in data["results"]) == len(HOSTILE) + 1
    assert_public(every_url(data))


@pytest.mark.parametrize("path", ["/search.csv?q=hostileurl", "/api/search?q=hostileurl&format=csv"])
def test_csv_export_leaves_hostile_urls_empty(client, path):
    rows = list(csv.DictReader(io.StringIO(client.get(path).get_data(as_text=True))))
    assert len(rows) == len(HOSTILE) + 2
    urls = {row["title"]: row["url"] for row in rows}
    assert urls.pop("hostileurl good story") == GOOD
    assert set(urls.values()) == {""}
    text = "".join(row["url"] + row["also_reported_by"] for row in rows)
    assert "javascript" not in text and "data:" not in text and "\x01" not in text


def test_suggestions_never_carry_a_corpus_url(client):
    data = client.get("/api/suggest?q=hostileurl").get_json()
    items = [s for s in data["suggestions"] if s["kind"] == "item"]
    assert items
    for suggestion in data["suggestions"]:
        # the site's own link: the item page or a search, never the article's URL
        assert suggestion["url"].startswith(("/item/", "/search")), suggestion
    assert all(s["url"] == f"/item/{s['id']}" for s in items)


def test_cli_json_returns_null_for_hostile_urls(client, tmp_path):
    from searchapp.cli import main

    index_dir = client.application.config["INDEX_DIR"]
    result = CliRunner().invoke(main, ["search", "--index", str(index_dir), "--json", "--limit", "50", "hostileurl"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert sum(hit["url"] is None for hit in data["results"]) == len(HOSTILE) + 1   # and the listed entry
    assert_public(every_url(data))


def test_cli_plain_text_prints_only_public_urls(client):
    """Review of issue 14: the readable listing printed corpus URLs raw, so a
    control character (\\x01, \\x0b, U+202E) reached the terminal."""
    from searchapp.cli import main

    index_dir = client.application.config["INDEX_DIR"]
    result = CliRunner().invoke(main, ["search", "--index", str(index_dir), "--limit", "50", "hostileurl"])
    assert result.exit_code == 0, result.output
    assert GOOD in result.output
    for bad in ("javascript", "data:", "\x01", "\x0b", "\u202e", "evil.example/"):
        assert bad not in result.output, bad
    assert result.output.count("(no usable link)") == len(HOSTILE) + 1     # and the listed entry
