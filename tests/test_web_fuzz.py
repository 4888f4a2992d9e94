"""The web face against an attacker (issue 16): every repro a test, then a
small run of bench/fuzz.py against a real `searchapp serve`.

Every response, gunicorn's own error pages included, carries the security
headers; numbers are parsed with length limits; the Host header is never
reflected or parsed; URLs with control characters never become links."""

from __future__ import annotations

import importlib.util
import xml.etree.ElementTree as ET

import pytest
from click.testing import CliRunner

from conftest import PROJECT, write_news
from searchapp.cli import main
from searchapp.indexing import update_index
from searchapp.web import create_app
from searchapp.web.security import safe_link

_spec = importlib.util.spec_from_file_location("searchapp_bench_fuzz", PROJECT / "bench" / "fuzz.py")
fuzz = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fuzz)

REQUIRED = ("Content-Security-Policy", "X-Content-Type-Options", "Referrer-Policy")
ROUTES = ["/", "/search?q=facial", "/item/0000000000000000", "/api/search?q=facial", "/api/suggest?q=fa",
          "/api/item/0000000000000000", "/api/openapi.json", "/feed.atom?q=facial", "/healthz", "/nope"]


def secured(response) -> bool:
    return all(name in response.headers for name in REQUIRED)


@pytest.fixture(scope="module")
def client(sample_index):
    return create_app(sample_index).test_client()


@pytest.mark.parametrize("path", ["/api/search", "/search", "/feed.atom"])
@pytest.mark.parametrize("name", ["page", "per_page"])
def test_thousands_of_digits_are_a_400_not_a_500(client, path, name):
    """Issue 16: page= with 4,301 digits returned 500 (Python's int-string limit)."""
    for digits in (4301, 10_000, 20):
        response = client.get(path, query_string={name: "9" * digits})
        assert response.status_code == 400, (path, name, digits)
        assert secured(response)


@pytest.mark.parametrize("path", ROUTES)
def test_a_64_character_host_label_is_never_a_500(client, path):
    """Issue 16: a 64-character Host label made werkzeug raise BadHost, then url_for failed in the error page."""
    for host in ("a" * 64 + ".example", "a" * 300, "[::1", "é.example", "x:99999", ""):
        response = client.get(path, headers={"Host": host})
        assert response.status_code < 500, (path, host)
        assert secured(response)
        assert host.encode() not in response.data or not host


def test_feed_and_page_urls_come_from_the_base_url_never_the_host(sample_index):
    """Issue 16: `Host: evil.example` was reflected into the Atom feed's ids and links."""
    default = create_app(sample_index).test_client()
    body = default.get("/feed.atom", headers={"Host": "evil.example"}).data
    assert b"evil.example" not in body and b"http://localhost/item/" in body
    app = create_app(sample_index, base_url="https://news.example.org/")
    client = app.test_client()
    for headers in ({"Host": "evil.example"}, {"Host": "evil.example", "X-Forwarded-Host": "evil2.example"}, {}):
        feed = client.get("/feed.atom", headers=headers)
        assert feed.status_code == 200
        root = ET.fromstring(feed.data)
        ids = [e.text for e in root.iter("{http://www.w3.org/2005/Atom}id")]
        links = [e.get("href") for e in root.iter("{http://www.w3.org/2005/Atom}link")]
        assert ids and all(i.startswith("https://news.example.org/") for i in ids)
        assert all(not link.startswith("http://localhost") and "evil" not in link for link in links)
        page = client.get("/search?q=facial", headers=headers)
        assert b"evil" not in page.data
        assert b'href="/static/app.css"' in page.data


def test_invalid_base_url_is_a_usage_error():
    for bad in ("javascript:alert(1)", "ftp://x", "http://", "https://a b/", "http://x/?q=1", "http://x/news/"):
        result = CliRunner().invoke(main, ["serve", "--base-url", bad, "--index", "/nonexistent-index"])
        assert result.exit_code == 2, (bad, result.output)
        assert "Traceback" not in result.output


def test_urls_with_control_characters_are_never_links(tmp_path):
    """Issue 16: a control character in a webUrl was written raw into an Atom href: the feed was not XML."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for n, url in enumerate(["https://example.org/a\\x01b", "https://example.org/\\x0bvt", "https://exa mple.org/sp",
                             "https://example.org/\\u202eexe.txt", "javascript:alert(1)"]):
        (corpus / f"c{n}.md").write_text(f'---\ntitle: "controlled {n}"\nwebUrl: "{url}"\n---\nbody\n')
    write_news(corpus, "fine.md", title="controlled fine")
    update_index(corpus, tmp_path / "index")
    client = create_app(tmp_path / "index").test_client()
    feed = client.get("/feed.atom?q=controlled")
    assert feed.status_code == 200
    root = ET.fromstring(feed.data)   # well-formed XML
    entries = list(root.iter("{http://www.w3.org/2005/Atom}entry"))
    assert len(entries) == 6
    hrefs = [e.get("href") for e in root.iter("{http://www.w3.org/2005/Atom}link")]
    assert "https://example.org/fine.md" in hrefs
    assert not any(ch in href for href in hrefs for ch in "\x01\x0b \u202e") and "javascript:alert(1)" not in hrefs
    page = client.get("/search?q=controlled").data.decode()
    assert "\x01" not in page and 'href="javascript' not in page
    for url in ("https://example.org/a\x01b", "https://e.org/\x7f", "http://e.org/\u200b", " https://e.org/ x"):
        assert safe_link(url) is None
    assert safe_link(" https://example.org/ok ") == "https://example.org/ok"


# ---------------------------------------------------------------- a real server

def test_gunicorns_own_error_pages_carry_the_security_headers(sample_server):
    """Issue 16: gunicorn's 400, 414, 431 (and 500) answers had no CSP, nosniff or Referrer-Policy."""
    base = sample_server.base.removeprefix("http://")
    host, port = base.split(":")
    port = int(port)
    cases = {
        414: f"GET /search?q={'x' * 9000} HTTP/1.1\r\nHost: {base}\r\nConnection: close\r\n\r\n",
        431: f"GET / HTTP/1.1\r\nHost: {base}\r\n" + "".join(f"X-H{n}: v\r\n" for n in range(150))
             + "Connection: close\r\n\r\n",
        400: "GET / HTTP/1.1 extra words\r\nConnection: close\r\n\r\n",
    }
    for expected, raw in cases.items():
        status, headers, _ = fuzz.send(host, port, raw.encode())
        assert status == expected, (expected, status)
        assert all(name.lower() in headers for name in REQUIRED), (expected, headers)
        assert headers["x-content-type-options"] == "nosniff"
    status, headers, _ = fuzz.send(host, port, f"GET / HTTP/1.1\r\nHost: {'a' * 64}.example\r\n"
                                               "Connection: close\r\n\r\n".encode())
    assert status == 200 and "content-security-policy" in headers


def test_small_fuzz_run_has_no_5xx_and_every_response_has_the_headers(sample_server):
    """bench/fuzz.py in small (the full run sends 10,000 requests)."""
    summary = fuzz.fuzz(sample_server.base, requests=300, seconds=240, seed=7)
    assert summary["requests"] == 300
    assert summary["5xx"] == 0, summary["examples"]["5xx"]
    assert summary["missing_security_headers"] == 0, summary["examples"]["missing_headers"]
    assert summary["responses"] >= 290
