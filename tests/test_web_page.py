"""The search page's server side over HTTP: facet options, export, gzip, error
states that keep the user's state, the item page's way back, labels."""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
import urllib.request
from urllib.parse import parse_qs, quote, urlencode, urlsplit

import pytest
from bs4 import BeautifulSoup

from conftest import running_server, write_news
from searchapp.indexing import update_index


def soup_of(server, path):
    status, headers, body = server.get(path)
    return status, BeautifulSoup(body, "html.parser")


def get_raw(server, path, headers=None):
    request = urllib.request.Request(server.base + path, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


# ---------------------------------------------------------------- facets: show more, search within

def test_facet_limit_and_facet_query_on_the_api(sample_server):
    _, full = sample_server.json("/api/search?facet_limit=1000")
    places = full["facets"]["jurisdiction"]
    assert full["facet_more"]["jurisdiction"] == 0 and len(places) > 3
    _, two = sample_server.json("/api/search?facet_limit=2")
    assert len(two["facets"]["jurisdiction"]) == 2
    assert two["facet_more"]["jurisdiction"] == len(places) - 2
    _, found = sample_server.json("/api/search?" + urlencode({"facet_query.jurisdiction": "cal", "facet_limit": 1000}))
    assert found["facets"]["jurisdiction"] and all("cal" in v["value"].lower() for v in found["facets"]["jurisdiction"])
    assert found["total"] == full["total"]                      # a facet search never filters the results


@pytest.mark.parametrize("query", ["facet_limit=0", "facet_limit=1001", "facet_limit=x", "facet_query.nope=x",
                                   "typed=maybe", "format=xml", "facet_query.provider=" + "x" * 101])
def test_bad_facet_options_are_400(sample_server, query):
    status, body = sample_server.json("/api/search?" + query)
    assert status == 400 and body["error"]
    if not query.startswith("format"):                       # the page has no format parameter
        status, _, page = sample_server.get("/search?" + query)
        assert status == 400 and b"Traceback" not in page


def test_typed_requests_are_accepted(sample_server):
    status, typed = sample_server.json("/api/search?q=garante&typed=1")
    _, plain = sample_server.json("/api/search?q=garante")
    assert status == 200 and typed["total"] >= plain["total"] > 0


def test_page_facets_show_more_and_a_search_box_without_scroll_boxes(sample_server):
    status, soup = soup_of(sample_server, "/search?q=facial+recognition")
    places = soup.select_one("fieldset[data-facet=jurisdiction]")
    _, api = sample_server.json("/api/search?q=facial+recognition&facet_limit=12")
    more = api["facet_more"]["jurisdiction"]
    assert more > 0, "the sample needs more than 12 places for this test"
    assert len(places.select("input[type=checkbox]")) == 12
    link = places.select_one("a.more")
    assert link.get_text(strip=True) == f"Show {more} more {'place' if more == 1 else 'places'}"
    assert parse_qs(urlsplit(link["href"]).query)["facet_limit"] == ["1000"]
    box = places.select_one("input.facet-search")
    assert box["name"] == "facet_query.jurisdiction" and box["aria-label"] == "Search places"
    # without JavaScript: the link shows every value, the box narrows the list
    _, soup = soup_of(sample_server, link["href"])
    assert len(soup.select("fieldset[data-facet=jurisdiction] input[type=checkbox]")) == 12 + more
    _, soup = soup_of(sample_server, "/search?q=facial+recognition&facet_query.jurisdiction=cal")
    names = [s.get_text() for s in soup.select("fieldset[data-facet=jurisdiction] .name")]
    assert names and all("cal" in n.lower() for n in names)
    # the script's fragment: one facet alone
    status, soup = soup_of(sample_server, "/search?q=facial+recognition&fragment=facet&facet=jurisdiction&facet_limit=1000")
    assert status == 200 and len(soup.select("fieldset")) == 1
    assert len(soup.select("input[type=checkbox]")) == 12 + more
    css = sample_server.get("/static/app.css")[2].decode()
    assert "max-height: 17rem" not in css                           # no small scroll boxes cutting rows


# ---------------------------------------------------------------- labels

def test_chips_name_their_facet_and_clear_all(sample_server):
    _, soup = soup_of(sample_server, "/search?q=fine&topic=Antitrust&from=2020-01-01&to=2023-12-31")
    chips = soup.select(".chips .chip")
    assert chips[0].get_text(" ", strip=True).startswith("Topic: Antitrust")
    assert chips[0]["aria-label"] == "Remove filter Topic: Antitrust"
    dates = chips[1]
    visible = dates.get_text(" ", strip=True).replace("×", "").strip()
    assert visible == "Published: 2020-01-01 – 2023-12-31"
    assert visible in dates["aria-label"]                    # the label is part of the accessible name
    clear = soup.select_one("a.clear-all")
    assert clear["href"] == "/search?q=fine"


def test_cached_answers_never_say_zero_ms_and_home_sort_says_newest(sample_server):
    for _ in range(3):
        _, soup = soup_of(sample_server, "/search?q=privacy+fine")
        assert " 0 ms" not in soup.select_one("#status").get_text()
    _, soup = soup_of(sample_server, "/")
    select = soup.select_one("select[name=sort]")
    chosen = select.select_one("option[selected]")
    assert chosen.get_text(strip=True).lower().startswith("newest") and select["data-implied"] == "newest"
    assert chosen["value"] == ""      # implied: sent blank, so words typed later rank by relevance
    dates = [t["datetime"] for t in soup.select(".hit time")]
    assert dates == sorted(dates, reverse=True)
    _, soup = soup_of(sample_server, "/search?q=fine")
    assert soup.select_one("select[name=sort] option[selected]")["value"] == "relevance"


def test_grouped_copies_are_explained(shared_server):
    _, api = shared_server.json("/api/search?q=facial+recognition")
    assert api["grouped_total"] < api["total"]
    _, soup = soup_of(shared_server, "/search?q=facial+recognition")
    count = soup.select_one("p.count").get_text(" ", strip=True)
    assert f"of {api['grouped_total']:,} results" in count and f"{api['total']:,} articles" in count
    assert "same story" in count
    status_line = soup.select_one("#status").get_text()
    assert f"{api['total']:,} results" in status_line and f"{api['grouped_total']:,} after grouping" in status_line
    pager = soup.select_one(".pager")
    assert f"Page 1 of {api['pages']}" in pager.get_text()
    last = pager.select_one("a.last")
    assert parse_qs(urlsplit(last["href"]).query)["page"] == [str(api["pages"])]
    assert urlsplit(last["href"]).fragment == "results-start"      # without JavaScript too, a page starts at its results


# ---------------------------------------------------------------- errors keep the state

def test_from_after_to_keeps_every_filter_and_the_date_boxes(sample_server):
    status, soup = soup_of(sample_server, "/search?q=fine&topic=Antitrust&jurisdiction=European+Union"
                                          "&from=2024-01-01&to=2020-01-01&sort=newest")
    assert status == 400
    message = soup.select_one("#error-message").get_text()
    assert "“From” date (2024-01-01) is after the “To” date (2020-01-01)" in message
    assert "Change the “From” date to 2020-01-01 or earlier" in message          # which box, and to what
    assert soup.select_one("input[name=from]")["value"] == "2024-01-01"
    assert soup.select_one("input[name=to]")["value"] == "2020-01-01"
    assert soup.select_one("input[name=from]")["aria-invalid"] == "true"
    assert soup.select_one("#q")["value"] == "fine"
    # Review: the bad dates showed as a "Published" chip, as if applied. Chips show only what is
    # applied: the other filters, searched without the dates, with their results.
    chips = [c.get_text(" ", strip=True) for c in soup.select(".chips .chip")]
    assert chips == ["Topic: Antitrust ×", "Jurisdiction: European Union ×"]
    checked = {(i["name"], i["value"]) for i in soup.select(".facet input[type=checkbox][checked]")}
    assert checked == {("topic", "Antitrust"), ("jurisdiction", "European Union")}
    assert soup.select_one("select[name=sort] option[selected]")["value"] == "newest"
    _, without_dates = sample_server.json("/api/search?q=fine&topic=Antitrust&jurisdiction=European+Union&sort=newest")
    titles = [h.get_text(" ", strip=True) for h in soup.select(".hit .title")]
    assert titles and titles == [h["title"] for h in without_dates["results"]]
    # a date box that is not a date: the other date still applies, and is the one date chip
    status, soup = soup_of(sample_server, "/search?q=fine&topic=Antitrust&from=2024-13-45&to=2020-01-01")
    assert status == 400 and "“From” date" in soup.select_one("#error-message").get_text()
    chips = [c.get_text(" ", strip=True) for c in soup.select(".chips .chip")]
    assert chips == ["Topic: Antitrust ×", "Published: any date – 2020-01-01 ×"]
    assert soup.select_one("input[name=from]")["value"] == "2024-13-45"


def test_an_unclosed_quote_shows_the_active_filters_as_chips(sample_server):
    status, soup = soup_of(sample_server, "/search?q=%22fine&topic=AI")
    assert status == 400
    assert "unclosed quote" in soup.select_one("#error-message").get_text()
    assert [c["aria-label"] for c in soup.select(".chips .chip")] == ["Remove filter Topic: AI"]
    assert soup.select_one("#q")["aria-invalid"] == "true"
    # a bad page number keeps the filters too
    status, soup = soup_of(sample_server, "/search?q=fine&topic=AI&page=0")
    assert status == 400 and [c["aria-label"] for c in soup.select(".chips .chip")] == ["Remove filter Topic: AI"]


def test_404_page_has_the_header_and_a_search_box(sample_server):
    status, soup = soup_of(sample_server, "/item/0123456789abcdef")
    assert status == 404
    assert soup.select_one("header.masthead form[role=search] input[name=q]") is not None
    assert soup.select_one("main h1").get_text().startswith("404")
    status, soup = soup_of(sample_server, "/no/such/page")
    assert status == 404 and soup.select_one("header.masthead input#q") is not None


# ---------------------------------------------------------------- item page: the way back

def test_item_page_links_back_to_the_search(sample_server):
    _, soup = soup_of(sample_server, "/search?q=fine&topic=Antitrust&page=1&sort=newest")
    details = soup.select_one("a.details")["href"]
    back_qs = parse_qs(urlsplit(details).query)["back"][0]
    assert parse_qs(back_qs) == {"q": ["fine"], "topic": ["Antitrust"], "sort": ["newest"]}
    status, item = soup_of(sample_server, details)
    assert status == 200
    back = item.select_one("#back-to-results")
    assert back["href"] == "/search?q=fine&topic=Antitrust&sort=newest"
    assert "“fine”" in back.get_text() and item.select_one("#q")["value"] == "fine"
    # anything else in `back` is rebuilt as a same-origin /search URL, or dropped
    item_path = urlsplit(details).path
    for hostile in ("//evil.example/x", "https://evil.example/?q=x", "javascript:alert(1)", "q=%22x&topic=<b>",
                    "q=a&page=99999", "\x00\x01"):
        status, item = soup_of(sample_server, item_path + "?" + urlencode({"back": hostile}))
        assert status == 200
        link = item.select_one("#back-to-results")
        if link is not None:
            assert link["href"].startswith("/search") and "//" not in link["href"]
            assert not link["href"].lower().startswith("/search?javascript")
    status, item = soup_of(sample_server, item_path)
    assert status == 200 and item.select_one("#back-to-results") is None


# ---------------------------------------------------------------- export

@pytest.fixture(scope="module")
def export_server(tmp_path_factory):
    root = tmp_path_factory.mktemp("export-corpus")
    write_news(root, "a.md", title="=HYPERLINK(\"http://evil.example\",\"click\") export story",
               excerpt="+cmd|' /C calc'!A0 export, with \"quotes\", commas\nand a new line",
               provider={"name": "@SUM(1+1)", "domain": "evil.example"}, topics=["-2+3"],
               publishedDateTime="2024-01-02T00:00:00Z")
    for n in range(24):
        write_news(root, f"n{n:02d}.md", title=f"export neighbour number {n}", topics=["AI"],
                   publishedDateTime=f"2023-01-{n + 1:02d}T00:00:00Z")
    index_dir = tmp_path_factory.mktemp("export-index")
    update_index(root, index_dir, full=True)
    with running_server(index_dir) as server:
        yield server


def test_csv_export_is_safe_and_complete(export_server):
    status, headers, body = export_server.get("/search.csv?q=export")
    assert status == 200 and headers["Content-Type"].startswith("text/csv")
    assert "attachment" in headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(body.decode("utf-8"))))
    assert rows[0][:4] == ["rank", "id", "title", "url"]
    assert len(rows) - 1 == export_server.json("/api/search?q=export")[1]["grouped_total"] == 25
    evil = next(r for r in rows[1:] if "HYPERLINK" in r[2])
    assert evil[2].startswith("'=HYPERLINK")
    assert evil[5] == "'@SUM(1+1)" and evil[7] == "'-2+3"
    assert evil[10].startswith("'+cmd") and "\"quotes\", commas" in evil[10]
    for row in rows[1:]:
        assert all(not cell.startswith(("=", "+", "-", "@")) for cell in row)
    # the same through the API, and filters apply
    _, _, api_csv = export_server.get("/api/search?q=export&topic=AI&format=csv")
    assert len(list(csv.reader(io.StringIO(api_csv.decode())))) - 1 == 24


def test_json_export_and_the_page_links(export_server):
    status, data = export_server.json("/search.json?q=export&topic=AI&page=3")
    assert status == 200 and data["rows"] == 24 == len(data["results"]) and data["truncated"] is False
    assert data["filters"]["topic"] == ["AI"] and data["max_rows"] == 1000
    _, soup = soup_of(export_server, "/search?q=export&topic=AI&page=2")
    links = {a.get_text(): a["href"] for a in soup.select(".export a")}
    assert links["CSV"] == "/search.csv?q=export&topic=AI" and links["JSON"] == "/search.json?q=export&topic=AI"
    status, body = export_server.json("/search.json?from=2024-01-01&to=2020-01-01")
    assert status == 400
    assert export_server.get("/search.csv?q=%22x")[0] == 400


def test_exports_are_bounded(shared_server, shared_corpus):
    _, _, body = shared_server.get("/search.csv?sort=oldest")
    rows = list(csv.reader(io.StringIO(body.decode())))
    assert len(rows) - 1 == 1000 < len(shared_corpus.items)
    _, data = shared_server.json("/search.json?sort=oldest")
    assert data["rows"] == 1000 and data["truncated"] is True


# ---------------------------------------------------------------- compression

def test_as_you_type_answers_are_gzipped_when_accepted(shared_server):
    path = "/search?q=clearview+fi&fragment=1&typed=1"
    _, plain_headers, plain = get_raw(shared_server, path)
    assert "Content-Encoding" not in plain_headers and "Accept-Encoding" in plain_headers["Vary"]
    status, headers, packed = get_raw(shared_server, path, {"Accept-Encoding": "gzip, deflate"})
    assert status == 200 and headers["Content-Encoding"] == "gzip"
    timing = re.compile(rb" in [0-9,]+ ms")
    assert timing.sub(b"", gzip.decompress(packed)) == timing.sub(b"", plain)
    assert len(packed) * 3 < len(plain), (len(plain), len(packed))
    _, refused, _ = get_raw(shared_server, path, {"Accept-Encoding": "gzip;q=0"})
    assert "Content-Encoding" not in refused
    _, api_headers, api = get_raw(shared_server, "/api/search?q=privacy", {"Accept-Encoding": "gzip"})
    assert api_headers["Content-Encoding"] == "gzip" and json.loads(gzip.decompress(api))["total"] > 0


# ---------------------------------------------------------------- suggestions with facets

def test_suggest_passes_facet_suggestions_through(sample_index):
    from searchapp.core.service import SearchEngine
    from searchapp.model import Suggestion
    from searchapp.web.app import create_app

    engine = SearchEngine(sample_index)
    real = engine.suggest

    def suggest(text, limit=8):
        found = real(text, limit)
        extra = Suggestion(text="CNIL", kind="facet", facet="regulator", value="CNIL", query="fine")
        return [s for s in found if s.kind == "query"] + [extra] + [s for s in found if s.kind == "item"]

    engine.suggest = suggest
    client = create_app(sample_index, engine=engine).test_client()
    data = client.get("/api/suggest?q=fine+cn").get_json()
    facet = next(s for s in data["suggestions"] if s["kind"] == "facet")
    assert facet["facet"] == "regulator" and facet["value"] == "CNIL"
    assert facet["url"] == "/search?q=fine&regulator=CNIL"
    engine.close()


def test_a_corrected_search_offers_to_search_instead(tmp_path):
    """The page says it corrected the query and links to the words as typed (autocorrect=0)."""
    from conftest import write_news
    from searchapp.indexing import update_index
    from searchapp.web import create_app

    write_news(tmp_path / "c", "a.md", title="Pangolin trafficking crackdown")
    update_index(tmp_path / "c", tmp_path / "ix", full=True)
    client = create_app(tmp_path / "ix").test_client()
    page = client.get("/search?q=pangolin+traficking").get_data(as_text=True)
    assert "Showing results for <strong><bdi>pangolin trafficking</bdi></strong>" in page
    assert 'href="/search?q=pangolin+traficking&amp;autocorrect=0"' in page
    exact = client.get("/api/search?q=pangolin+traficking&autocorrect=0").get_json()
    assert exact["corrected_from"] is None and exact["total_all_words"] == 0
    assert client.get("/api/search?q=x&autocorrect=maybe").status_code == 400


def test_related_items_are_listed_apart_and_not_counted(tmp_path):
    """A first page the matches leave short is completed under "Related
    articles"; the count says 1 result; the API flags them; an export holds
    only what matched."""
    from conftest import write_news
    from searchapp.indexing import update_index
    from searchapp.web import create_app

    write_news(tmp_path / "c", "a.md", title="Armadillo smuggling ring broken up in Lisbon harbour",
               excerpt="Customs officers dismantled a smuggling ring operating from Lisbon harbour.")
    write_news(tmp_path / "c", "b.md", title="Smuggling ring dismantled in Lisbon harbour",
               excerpt="Customs officers found the ring's warehouse.")
    for n in range(20):   # words in more than a tenth of the items say nothing of one story
        write_news(tmp_path / "c", f"other{n}.md", title=f"Tram fares in district {n}", excerpt=f"Fares rise {n}.")
    update_index(tmp_path / "c", tmp_path / "ix", full=True)
    client = create_app(tmp_path / "ix").test_client()
    soup = BeautifulSoup(client.get("/search?q=armadillo").get_data(as_text=True), "html.parser")
    assert soup.select_one(".count .range").get_text() == "1–1 of 1 result"
    assert [h.select_one(".title").get_text() for h in soup.select("ol.hits:not(.related) > li")] == [
        "Armadillo smuggling ring broken up in Lisbon harbour"]
    assert soup.select_one("h2.related-title").get_text() == "Related articles"
    related = soup.select("ol.hits.related > li")
    assert [h.select_one(".title").get_text() for h in related] == ["Smuggling ring dismantled in Lisbon harbour"]
    assert related[0].select_one(".badge").get_text() == "related"
    data = client.get("/api/search?q=armadillo").get_json()
    assert data["total"] == 1 and [r["related"] for r in data["results"]] == [False, True]
    rows = list(csv.reader(io.StringIO(client.get("/search.csv?q=armadillo").get_data(as_text=True))))
    assert [r[2] for r in rows[1:]] == ["Armadillo smuggling ring broken up in Lisbon harbour"]


def test_no_junk_completions_from_the_issue(shared_server):
    """Issue 14 saw "facial reckless", "ai acted" and "eu aim" offered; a one-letter
    last word after another word got nothing."""
    def completions(text):
        _, data = shared_server.json("/api/suggest?" + urlencode({"q": text}))
        return [s["text"].lower() for s in data["suggestions"] if s["kind"] == "query"]

    assert "facial recognition" in completions("facial rec")
    assert "facial reckless" not in completions("facial rec")
    assert "ai acted" not in completions("ai ac") and "ai act" in completions("ai ac")
    assert "eu aim" not in completions("eu ai")
    assert completions("clearview f")                  # a one-letter last word is completed


# ---------------------------------------------------------------- review of issue 14 (second round)

@pytest.fixture(scope="module")
def client(sample_index):
    from searchapp.web import create_app
    app = create_app(sample_index)
    app.testing = True
    return app.test_client()


def test_a_query_that_cannot_run_offers_no_feed(client):
    """Finding 9: the error page's Atom link was a 400."""
    for path in ("/search?q=%22ai&topic=AI", "/search?q=AND+OR"):
        response = client.get(path)
        assert response.status_code == 400, path
        soup = BeautifulSoup(response.data, "html.parser")
        assert soup.select("link[rel=alternate], a.feed") == [], path
    # a search that runs (a bad date range runs without the dates) links a feed that answers
    for path in ("/search?q=fine&topic=AI", "/search?q=fine&from=2024-01-01&to=2020-01-01", "/"):
        soup = BeautifulSoup(client.get(path).data, "html.parser")
        feed = soup.select_one("link[rel=alternate]")["href"]
        assert client.get(feed).status_code == 200, (path, feed)


@pytest.mark.parametrize("path, canonical", [
    ("/search?q=fine&facet_query.jurisdiction=&topic=AI&from=&to=&sort=relevance", "/search?q=fine&topic=AI"),
    ("/search?q=fine&from=2020-01-01&to=&sort=newest&facet_limit=", "/search?q=fine&from=2020-01-01&sort=newest"),
    ("/search?q=&sort=relevance", "/search"),
    ("/?q=+", "/"),
    ("/search?q=%22fine&topic=&topic=AI", "/search?q=%22fine&topic=AI"),     # an error's meaning is kept too
])
def test_a_form_sent_without_the_script_redirects_to_its_tidy_url(client, path, canonical):
    """Finding 10: empty boxes and the default sort made a noisy URL."""
    response = client.get(path)
    assert response.status_code == 303
    assert response.headers["Location"] == canonical
    assert client.get(canonical).status_code in (200, 400)


def test_tidy_urls_and_the_scripts_fragments_are_not_redirected(client):
    for path in ("/search?q=fine&topic=AI", "/search?q=fine&sort=newest", "/search?q=fine&from=&fragment=1",
                 "/search?q=fine&facet_query.topic=&fragment=facet&facet=topic"):
        assert client.get(path).status_code == 200, path


def test_user_text_is_bidi_isolated_and_kept_out_of_the_title(client):
    """Finding 5: a U+202E in the words mirrored the status line and the tab title."""
    soup = BeautifulSoup(client.get("/search?q=%E2%80%AEfine+privacy").data, "html.parser")
    assert "\u202e" not in soup.title.get_text() and "fine privacy" in soup.title.get_text()
    assert soup.select_one("#status bdi").get_text() == "\u202efine privacy"
    soup = BeautifulSoup(client.get("/search?q=%E2%80%AEqqzzxx").data, "html.parser")
    assert soup.select_one(".empty bdi").get_text() == "\u202eqqzzxx"
    soup = BeautifulSoup(client.get("/search?q=fine&facet_query.regulator=%E2%80%AEqqzzxx").data, "html.parser")
    assert soup.select_one("fieldset[data-facet=regulator] .none bdi").get_text() == "\u202eqqzzxx"
    for element in soup.find_all(string=re.compile("\u202e")):
        assert element.find_parent("bdi") is not None, element


def test_show_more_says_one_value_in_the_singular(client):
    """Finding 8: "Show 1 more places"."""
    from searchapp.web.app import SearchParams
    with client.application.test_request_context():
        macro = client.application.jinja_env.get_template("_facet.html").module.facet_fieldset
        one = BeautifulSoup(str(macro("jurisdiction", "Jurisdiction", [], 1, SearchParams())), "html.parser")
        two = BeautifulSoup(str(macro("provider", "Provider", [], 2, SearchParams())), "html.parser")
    assert one.select_one("a.more").get_text(strip=True) == "Show 1 more place"
    assert two.select_one("a.more").get_text(strip=True) == "Show 2 more providers"
