"""End to end over HTTP: `searchapp serve` running for real, checked like a client."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from urllib.parse import parse_qs, quote, urlencode, urlsplit

import pytest
from bs4 import BeautifulSoup

from conftest import running_server, write_news
from searchapp.indexing import update_index
from searchapp.ingest.reader import read_corpus

ATOM = "{http://www.w3.org/2005/Atom}"


def counts(page, facet):
    return {v["value"]: v["count"] for v in page["facets"][facet]}


def test_serve_builds_a_missing_index_and_reports_health(sample_server, sample_corpus):
    status, health = sample_server.json("/healthz")
    assert status == 200 and health["status"] == "ok"
    assert health["items"] == len(sample_corpus.items)
    assert health["built_at"].endswith("Z") and health["generation"].startswith("gen-")


def test_json_api_shape(shared_server):
    status, page = shared_server.json("/api/search?q=facial+recognition&per_page=5")
    assert status == 200
    assert {"query", "total", "page", "per_page", "results", "facets", "did_you_mean"} <= set(page)
    assert (page["query"], page["page"], page["per_page"]) == ("facial recognition", 1, 5)
    assert len(page["results"]) == 5 and page["total"] > 5
    for hit in page["results"]:
        assert set(hit) >= {"id", "url", "title", "excerpt", "snippet", "published", "provider", "topics", "score"}
        assert set(hit["provider"]) == {"name", "domain"}
        assert isinstance(hit["topics"], list) and isinstance(hit["score"], float)
    assert [h["score"] for h in page["results"]] == sorted((h["score"] for h in page["results"]), reverse=True)
    assert list(page["facets"]) == ["topic", "jurisdiction", "regulator", "provider", "year", "month"]
    assert all(set(h) >= {"jurisdictions", "regulators", "also_reported_by"} for h in page["results"])
    assert all(set(v) == {"value", "count", "selected"} for vs in page["facets"].values() for v in vs)


def test_disjunctive_facet_counts_over_http(shared_server):
    _, base = shared_server.json("/api/search?q=facial+recognition")
    years = counts(base, "year")
    two = sorted(years)[-2:]
    _, picked = shared_server.json("/api/search?" + urlencode([("q", "facial recognition"), ("year", two[0])]))
    assert counts(picked, "year") == years                      # siblings keep their counts
    assert picked["total"] == years[two[0]]
    _, both = shared_server.json("/api/search?" + urlencode(
        [("q", "facial recognition"), ("year", two[0]), ("year", two[1])]))
    assert both["total"] == years[two[0]] + years[two[1]]       # one facet: any value
    topic, topic_count = next(iter(counts(picked, "topic").items()))
    _, across = shared_server.json("/api/search?" + urlencode(
        [("q", "facial recognition"), ("year", two[0]), ("topic", topic)]))
    assert across["total"] == topic_count                       # across facets: all
    assert all(topic in h["topics"] and h["published"].startswith(two[0]) for h in across["results"])


def test_sort_and_pagination(shared_server):
    _, newest = shared_server.json("/api/search?q=privacy&sort=newest&per_page=20")
    dates = [h["published"] for h in newest["results"]]
    assert dates == sorted(dates, reverse=True)
    _, oldest = shared_server.json("/api/search?q=privacy&sort=oldest&per_page=20")
    assert [h["published"] for h in oldest["results"]] == sorted(h["published"] for h in oldest["results"])
    _, p1 = shared_server.json("/api/search?q=privacy&per_page=7")
    _, p2 = shared_server.json("/api/search?q=privacy&per_page=7&page=2")
    _, both = shared_server.json("/api/search?q=privacy&per_page=14")
    assert [h["id"] for h in p1["results"] + p2["results"]] == [h["id"] for h in both["results"]]
    _, beyond = shared_server.json("/api/search?q=privacy&page=1000")
    assert beyond["results"] == [] and beyond["total"] == p1["total"]


@pytest.mark.parametrize("query", [
    "per_page=0", "per_page=101", "page=0", "page=1001", "page=abc", "sort=random", "from=2020-13-01",
    "to=yesterday", "q=%22unclosed", "q=" + "x" * 501, "from=2024-01-01&to=2020-01-01", "page=%C2%B2",
    "from=20240101", "from=2024-W01-1", "q=*e*+*a*", "q=NOT+AND+-"])
def test_bad_parameters_are_400_with_a_json_error(shared_server, query):
    status, body = shared_server.json("/api/search?" + query)
    assert status == 400 and body["status"] == 400 and body["error"]
    assert "Traceback" not in body["error"]


def test_bad_parameters_on_the_page_are_400_with_the_message(shared_server):
    status, headers, body = shared_server.get("/search?q=%3Cb%3E%22x&per_page=5")
    assert status == 400 and headers["Content-Type"].startswith("text/html")
    html = body.decode()
    assert "unclosed quote" in html and "<b>" not in html and "&lt;b&gt;" in html


def test_a_bad_query_keeps_the_valid_filters_and_past_the_end_says_so(shared_server):
    status, _, body = shared_server.get("/search?q=%22unclosed&topic=AI&sort=newest")
    soup = BeautifulSoup(body, "html.parser")
    assert status == 400
    assert soup.find("input", attrs={"type": "hidden", "name": "topic"})["value"] == "AI"
    assert soup.find("input", attrs={"type": "hidden", "name": "sort"})["value"] == "newest"
    status, _, body = shared_server.get("/search?q=privacy&page=1000")
    soup = BeautifulSoup(body, "html.parser")
    last = shared_server.json("/api/search?q=privacy")[1]["pages"]
    assert status == 200 and "past the last page" in soup.find(class_="empty").get_text()
    assert soup.find(class_="empty").a["href"] == f"/search?q=privacy&page={last}"


def test_boost_syntax_is_plain_text_not_a_crash(shared_server):
    status, page = shared_server.json("/api/search?q=ai%5E0")   # once a ZeroDivisionError in Whoosh
    assert status == 200 and page["total"] == shared_server.json("/api/search?q=ai")[1]["total"]


def test_control_characters_never_break_the_feed(shared_server):
    status, _, body = shared_server.get("/feed.atom?q=ai%01%08&topic=%1F")
    assert status == 200
    assert ET.fromstring(body).find(f"{ATOM}title").text == "searchapp: ai"  # parsed: well-formed


def test_filters_date_range_and_browse(sample_server, sample_corpus):
    _, page = sample_server.json("/api/search?from=2023-01-01&to=2023-12-31&per_page=100")
    expected = {i.id for i in sample_corpus.items if i.published and i.published.year == 2023}
    assert {h["id"] for h in page["results"]} == expected and page["total"] == len(expected)
    assert [v for v in page["facets"]["year"]] == [{"value": "2023", "count": len(expected), "selected": False}]


def test_atom_feed_is_valid_and_newest_first(shared_server):
    status, headers, body = shared_server.get("/feed.atom?q=facial+recognition&topic=AI")
    assert status == 200 and headers["Content-Type"].startswith("application/atom+xml")
    feed = ET.fromstring(body)
    assert feed.tag == f"{ATOM}feed"
    for required in ("id", "title", "updated"):
        assert feed.find(f"{ATOM}{required}").text
    assert feed.find(f"{ATOM}link[@rel='self']").get("href").startswith(shared_server.base + "/feed.atom?")
    entries = feed.findall(f"{ATOM}entry")
    assert len(entries) == 30
    ids = [e.find(f"{ATOM}id").text for e in entries]
    assert len(set(ids)) == len(ids)
    updated = [e.find(f"{ATOM}updated").text for e in entries]
    assert updated == sorted(updated, reverse=True)
    for entry in entries:
        assert entry.find(f"{ATOM}title").text
        assert entry.find(f"{ATOM}link[@rel='alternate']").get("href").startswith("http")
        assert entry.find(f"{ATOM}author/{ATOM}name").text
        assert "AI" in [c.get("term") for c in entry.findall(f"{ATOM}category")]
    # the page links its feed
    _, _, page = shared_server.get("/search?q=facial+recognition&topic=AI")
    link = BeautifulSoup(page, "html.parser").find("link", rel="alternate", type="application/atom+xml")
    assert parse_qs(urlsplit(link["href"]).query) == {"q": ["facial recognition"], "topic": ["AI"]}


def test_item_page_shows_relations_both_ways(shared_server):
    _, page = shared_server.json("/api/search?q=" + quote('title:"Draft Rules Would Force User Consent"'))
    cpo = page["results"][0]
    assert cpo["provider"]["domain"] == "cpomagazine.com"
    status, _, body = shared_server.get(f"/item/{cpo['id']}")
    assert status == 200
    soup = BeautifulSoup(body, "html.parser")
    assert soup.h1.get_text() == cpo["title"]
    assert soup.find("a", class_="original")["href"] == cpo["url"]
    listed = soup.select("#lists a")
    assert len(listed) == 10
    # follow one related item: its page lists the seed among "articles that list this one"
    status, _, body = shared_server.get(listed[0]["href"])
    back = [a["href"] for a in BeautifulSoup(body, "html.parser").select("#listed-by a")]
    assert f"/item/{cpo['id']}" in back
    _, api = shared_server.json(f"/api/item/{cpo['id']}")
    assert len(api["lists"]) == 10 and api["item"]["id"] == cpo["id"] and "secured" not in api["item"]


@pytest.mark.parametrize("path", ["/item/nothere", "/item/0123456789abcdef", "/item/..%2F..%2Fetc%2Fpasswd",
                                  "/static/..%2F..%2Fpyproject.toml", "/api/item/zzz"])
def test_unknown_items_and_paths_are_404(shared_server, path):
    status, _, body = shared_server.get(path)
    assert status == 404 and b"Traceback" not in body


def test_security_headers_and_suggest_and_openapi(shared_server):
    _, headers, _ = shared_server.get("/")
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert headers["X-Content-Type-Options"] == "nosniff" and headers["Referrer-Policy"] == "same-origin"
    _, suggest = shared_server.json("/api/suggest?q=facial+rec")
    assert suggest["suggestions"][0] == {"text": "facial recognition", "kind": "query", "id": None,
                                         "facet": None, "value": None, "url": "/search?q=facial+recognition"}
    assert any(s["kind"] == "item" and s["url"] == f"/item/{s['id']}" for s in suggest["suggestions"])
    _, spec = shared_server.json("/api/openapi.json")
    assert spec["openapi"].startswith("3.") and "/api/search" in spec["paths"]
    _, corrected = shared_server.json("/api/search?q=facal+recogniton")   # nothing as typed: the correction answers
    assert corrected["corrected_from"] == "facal recogniton" and corrected["query"] == "facial recognition"
    assert corrected["total"] > 100 and corrected["did_you_mean"] is None


@pytest.fixture(scope="module")
def hostile_server(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    write_news(root, "xss.md", title="&lt;script&gt;alert('t')&lt;/script&gt; payload title",
               excerpt="&lt;img src=x onerror=alert('e')&gt; payload excerpt",
               webUrl="javascript:alert('url')", topics=['"><script>alert(1)</script>'],
               provider={"name": "<svg onload=alert(2)>", "domain": "evil.example"})
    index_dir = tmp_path_factory.mktemp("hostile-index")
    update_index(root, index_dir, full=True)
    with running_server(index_dir) as server:
        yield server


def test_corpus_text_is_escaped_and_bad_urls_are_not_links(hostile_server):
    for path in ("/search?q=payload", "/search?q=payload&topic=%22%3E%3Cscript%3Ealert(1)%3C%2Fscript%3E"):
        status, _, body = hostile_server.get(path)
        html = body.decode()
        assert status == 200
        soup = BeautifulSoup(html, "html.parser")
        assert [s.get("src") for s in soup.find_all("script")] == ["/static/app.js"]
        assert not soup.find_all(["img", "svg"])
        assert "javascript:" not in " ".join(a.get("href", "") for a in soup.find_all("a"))
        assert "alert(1)</script>" not in html
    assert "alert(1)&lt;/script&gt;" in html  # the echoed filter, escaped
    status, _, body = hostile_server.get("/search?q=payload")
    assert "&lt;script&gt;alert(&#x27;t&#x27;)&lt;/script&gt; <mark>payload</mark> title" in body.decode()
    assert "&lt;img src=x onerror=alert(&#x27;e&#x27;)&gt; <mark>payload</mark> excerpt" in body.decode()
    _, _, body = hostile_server.get("/feed.atom?q=payload")
    entry = ET.fromstring(body).find(f"{ATOM}entry")
    assert entry.find(f"{ATOM}link[@rel='alternate']").get("href").startswith(hostile_server.base + "/item/")


def test_jurisdiction_regulator_filters_and_timeline_over_http(shared_server):
    _, base = shared_server.json("/api/search?q=privacy")
    jurisdictions, regulators = counts(base, "jurisdiction"), counts(base, "regulator")
    place, regulator = next(iter(jurisdictions)), next(iter(regulators))
    _, picked = shared_server.json("/api/search?" + urlencode([("q", "privacy"), ("jurisdiction", place)]))
    assert picked["total"] == jurisdictions[place] and picked["filters"]["jurisdiction"] == [place]
    assert counts(picked, "jurisdiction") == jurisdictions            # disjunctive, like the others
    assert all(place in h["jurisdictions"] for h in picked["results"])
    _, both = shared_server.json("/api/search?" + urlencode(
        [("q", "privacy"), ("jurisdiction", place), ("regulator", regulator)]))
    assert both["total"] == counts(picked, "regulator").get(regulator, 0)
    months = counts(base, "month")
    assert sum(months.values()) <= base["total"] and all(len(m) == 7 for m in months)
    # the HTML page draws the same months as bars, each a link to its period
    status, _, body = shared_server.get("/search?q=privacy")
    soup = BeautifulSoup(body, "html.parser")
    bars = soup.select(".timeline a.bar")
    assert status == 200 and bars
    drawn = {b["data-period"]: int(b["data-count"]) for b in bars}
    if all(len(p) == 7 for p in drawn):            # per month
        assert {p: c for p, c in drawn.items() if c} == months
    else:                                           # per year, for long spans
        assert {p: c for p, c in drawn.items() if c} == {y: c for y, c in counts(base, "year").items() if c}
    label = soup.select_one(".timeline svg")["aria-labelledby"]
    assert "in all" in soup.find(id=label).get_text()        # the text alternative
    first = parse_qs(urlsplit(bars[0]["href"]).query)
    assert first["q"] == ["privacy"] and first["from"][0] <= first["to"][0]
    facet_names = [f["data-facet"] for f in soup.select("fieldset.facet[data-facet]")]
    assert facet_names[:3] == ["topic", "jurisdiction", "regulator"]


def test_story_copies_show_once_over_http(tmp_path):
    root = tmp_path / "corpus"
    story = dict(title="Dutch regulator fines Uber 290 million euros over driver data transfers",
                 excerpt="The Autoriteit Persoonsgegevens says Uber moved European drivers' data to the US.")
    write_news(root, "a.md", **story, provider={"name": "Wire & <Sons>", "domain": "wire.example"},
               publishedDateTime="2024-08-26T09:00:00Z")
    write_news(root, "b.md", **story, provider={"name": "Daily", "domain": "daily.example"},
               publishedDateTime="2024-08-26T15:00:00Z", webUrl="javascript:alert(1)")
    index_dir = tmp_path / "index"
    update_index(root, index_dir, full=True)
    with running_server(index_dir) as server:
        _, page = server.json("/api/search?q=uber+fine")
        assert page["total"] == 2 and page["grouped_total"] == 1 and len(page["results"]) == 1
        (hit,) = page["results"]
        assert len(hit["also_reported_by"]) == 1
        _, _, body = server.get("/search?q=uber+fine")
        soup = BeautifulSoup(body, "html.parser")
        also = soup.select_one(".hit .also")
        assert also is not None and "Daily" in also.get_text()          # the newer copy is the one listed
        assert [a["href"] for a in also.select("a")] == [f"/item/{hit['also_reported_by'][0]['id']}"]  # not javascript:
        assert "<Sons>" not in body.decode() and "Wire &amp;" in body.decode()   # escaped (the reader drops the tag)


def test_walking_the_pages_shows_every_item_once_copies_included(shared_server, shared_corpus):
    seen, page = [], 1
    while True:
        _, data = shared_server.json(f"/api/search?sort=oldest&per_page=100&page={page}")
        seen += [h["id"] for h in data["results"]]
        seen += [c["id"] for h in data["results"] for c in h["also_reported_by"]]
        assert data["total"] == len(shared_corpus.items)
        if page >= data["pages"]:
            break
        page += 1
    assert len(seen) == len(set(seen)) == len(shared_corpus.items)
    assert data["grouped_total"] < data["total"]           # the real corpus has copies: they were grouped
