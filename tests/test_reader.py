"""Reader: files -> NewsItems and Problems, on real and hand-made files."""

from __future__ import annotations

import datetime as dt

import pytest

from conftest import SAMPLE_CORPUS, need_shared, related, write_news
from searchapp.ingest.reader import item_id, list_news_files, read_corpus

UTC = dt.timezone.utc


def by_url(corpus, url):
    matches = [i for i in corpus.items if i.url == url]
    assert len(matches) == 1, f"{len(matches)} items for {url}"
    return matches[0]


def test_seed_files_read_with_their_fields_and_related_items():
    seeds = read_corpus(need_shared() / "seeds")
    assert seeds.problems == () and seeds.files_read == 2
    cpo = by_url(seeds, "https://www.cpomagazine.com/data-protection/chinas-draft-rules-would-force-user-consent-for-facial-recognition-technology-with-expected-government-exceptions/")
    assert cpo.title.startswith("China’s Draft Rules Would Force User Consent for Facial Recognition")
    assert cpo.published == dt.datetime(2023, 8, 17, 11, 0, tzinfo=UTC)
    assert (cpo.provider.name, cpo.provider.domain) == ("CPO Magazine", "cpomagazine.com")
    assert cpo.topics == ("Computer Vision", "AI")
    assert (cpo.quality, cpo.heat, cpo.is_published, cpo.type) == (0, -1, False, "article")
    assert len(cpo.related_ids) == 10

    tc = by_url(seeds, "https://techcrunch.com/2023/08/07/chinas-draft-measures-demand-individual-consent-for-facial-recognition-use/")
    assert tc.title == "China’s draft measures demand ‘individual consent’ for facial recognition use"
    assert tc.published == dt.datetime(2023, 8, 8, 4, 25, tzinfo=UTC)
    assert (tc.provider.name, tc.quality, tc.heat, tc.is_published) == ("TechCrunch", 86, 126, True)
    assert len(tc.related_ids) == 4
    # 2 own items + 10 + 4 related entries, all distinct articles
    assert len(seeds.items) == 16
    # Related items take the topics of the file that lists them and point back at it.
    forbes = by_url(seeds, "https://www.forbes.com/sites/forbestechcouncil/2023/08/18/14-intriguing-new-and-potential-uses-for-facial-recognition-technology/")
    assert forbes.topics == ("Computer Vision", "AI")
    assert forbes.related_by_ids == (cpo.id,)
    assert forbes.provider.name == "Forbes" and forbes.quality == 89
    assert forbes.image_url.startswith("https://imageio.forbes.com/")
    assert not forbes.has_own_file and forbes.body == ""


def test_secured_blob_is_never_read(tmp_path):
    write_news(tmp_path, "a.md", title="Alpha", secured="SECRETBLOBxyz==", topics=["AI"])
    item = read_corpus(tmp_path).items[0]
    assert "SECRETBLOBxyz" not in repr(item)


def test_item_listed_by_several_files_is_one_item_with_merged_topics(tmp_path):
    shared = related("shared-story", title="Shared story about drones", provider={"name": "Wire", "domain": "wire.example"})
    write_news(tmp_path, "a.md", title="File A", topics=["AI", "Drones"], related=[shared])
    write_news(tmp_path, "b.md", title="File B", topics=["Privacy", "AI"], related=[dict(shared, excerpt="Second copy")])
    corpus = read_corpus(tmp_path)
    story = by_url(corpus, "https://example.org/shared-story")
    assert story.topics == ("AI", "Drones", "Privacy")
    assert story.related_by_ids == (item_id("https://example.org/a.md"), item_id("https://example.org/b.md"))
    assert story.excerpt == "Second copy"          # gaps are filled from other copies
    assert story.source_files == ("a.md", "b.md")
    assert len(corpus.items) == 3


def test_own_file_wins_over_related_copies(tmp_path):
    write_news(tmp_path, "a.md", title="Lister", topics=["AI"],
               related=[related("b.md", title="Stale title from a related list", quality=1)])
    write_news(tmp_path, "b.md", title="Own title", topics=["Antitrust"], quality=70, body="Own body text.")
    corpus = read_corpus(tmp_path)
    own = by_url(corpus, "https://example.org/b.md")
    assert (own.title, own.quality, own.topics, own.body) == ("Own title", 70, ("Antitrust",), "Own body text.")
    assert own.has_own_file and own.related_by_ids == (item_id("https://example.org/a.md"),)
    lister = by_url(corpus, "https://example.org/a.md")
    assert lister.related_ids == (own.id,)
    assert "Own title" in lister.related_text and "Stale" not in lister.related_text


def test_url_identity_falls_back_to_original_url_then_path(tmp_path):
    write_news(tmp_path, "a.md", title="Only original", webUrl=None, originalUrl="https://Example.org/x#frag")
    write_news(tmp_path, "sub/b.md", title="No URL at all", webUrl=None)
    corpus = read_corpus(tmp_path)
    urls = sorted(i.url for i in corpus.items)
    assert urls == ["file:sub/b.md", "https://Example.org/x#frag"]
    assert item_id("https://Example.org/x#frag") == item_id("https://example.org/x")


def test_html_and_entities_become_clean_text(tmp_path):
    page = """<html><head><title>T</title><style>.x{color:red}</style></head><body>
    <script>var leaked = 1;</script><!--[if mso]>hidden<![endif]-->
    {% raw %}<h1>Headline</h1>{% endraw %}<p>Fish &amp; chips {{ page.title }}</p></body></html>"""
    path = write_news(tmp_path, "n.html", title="Fines &amp; <b>bans</b>", excerpt="A&nbsp;B &lt;3")
    text = path.read_text()
    path.write_text(text + page)
    item = read_corpus(tmp_path).items[0]
    assert item.title == "Fines & bans"
    assert item.excerpt == "A B <3"
    assert item.body == "Headline Fish & chips"


def test_newsletter_html_bodies_are_clean(shared_corpus):
    letters = [i for i in shared_corpus.items if any(f.startswith("powerapps-newsletters/") for f in i.source_files)]
    assert len(letters) == 40
    for item in letters:
        assert item.body, item.url
        for junk in ("{%", "<td", "mso-", "!important", "{{"):
            assert junk not in item.body, (item.url, junk)


BAD_FILES = {
    "not-utf8.md": (b"---\ntitle: caf\xe9\n---\n", "not UTF-8"),
    "no-front-matter.md": (b"# Just markdown\n", "no YAML front matter"),
    "unclosed.md": (b"---\ntitle: x\n", "not closed"),
    "broken-yaml.md": (b"---\ntitle: [unclosed\n---\n", "broken YAML"),
    "list.md": (b"---\n- a\n- b\n---\n", "must be a YAML mapping, got list"),
    "scalar.md": (b"---\njust text\n---\n", "must be a YAML mapping, got str"),
    "topics-string.md": (b"---\ntitle: x\ntopics: AI\n---\n", "'topics' must be a list"),
    "provider-list.md": (b"---\ntitle: x\nprovider: [a, b]\n---\n", "'provider' must be a mapping"),
    "bad-date.md": (b"---\ntitle: x\npublishedDateTime: yesterday\n---\n", "'publishedDateTime' is not an ISO 8601 date"),
    "quality-text.md": (b"---\ntitle: x\nquality: high\n---\n", "'quality' must be an integer"),
    "related-bad.md": (b"---\ntitle: x\nrelated: [3]\n---\n", "'related[0]' must be a mapping"),
    "no-title.md": (b"---\nexcerpt: x\n---\n", "missing 'title'"),
    "empty.md": (b"", "file is empty"),
    "binary.html": (b"\x00\x01\x02binary", "binary file"),
}


def test_broken_files_are_reported_by_name_and_reason_and_the_rest_read(tmp_path):
    for name, (content, _) in BAD_FILES.items():
        (tmp_path / name).write_bytes(content)
    write_news(tmp_path, "good.md", title="Good item", topics=["AI"])
    (tmp_path / "notes.txt").write_text("not a news file")
    (tmp_path / "README.md").write_text("# about this folder")
    corpus = read_corpus(tmp_path)
    assert [i.title for i in corpus.items] == ["Good item"]
    reasons = {p.path: p.reason for p in corpus.problems}
    assert set(reasons) == set(BAD_FILES)
    for name, (_, expected) in BAD_FILES.items():
        assert expected in reasons[name], (name, reasons[name])
    assert corpus.files_read == len(BAD_FILES) + 1


def test_walks_recursively_and_skips_symlink_loops(tmp_path):
    write_news(tmp_path, "a/b/c/deep.md", title="Deep")
    (tmp_path / "a" / "loop").symlink_to(tmp_path, target_is_directory=True)
    files = [p.relative_to(tmp_path).as_posix() for p in list_news_files(tmp_path)]
    assert files == ["a/b/c/deep.md"]


def test_sample_corpus_is_complete_and_clean(sample_corpus):
    """Our own corpus: every file reads, >= 30 items, related lists, one HTML file."""
    assert sample_corpus.problems == ()
    own = [i for i in sample_corpus.items if i.has_own_file]
    assert len(own) >= 30
    assert any(i.related_ids for i in own)
    assert any(f.endswith(".html") for i in own for f in i.source_files)
    assert len({f.split("/")[0] for i in own for f in i.source_files}) >= 6  # jurisdiction folders
    assert all(i.published and i.provider.name and i.topics for i in own)


def test_real_corpus_has_one_item_per_url_and_merged_topics(shared_corpus):
    from searchapp.ingest.reader import canonical_url

    urls = [canonical_url(i.url) for i in shared_corpus.items]
    assert len(urls) == len(set(urls))
    by_id = {i.id: i for i in shared_corpus.items}
    listed_by_several = [i for i in shared_corpus.items if len(i.related_by_ids) >= 2 and not i.has_own_file]
    assert listed_by_several
    for item in listed_by_several:
        assert set(item.topics) == set().union(*(by_id[x].topics for x in item.related_by_ids))
        for lister in item.related_by_ids:
            assert item.id in by_id[lister].related_ids
    assert not any("secured" in repr(i) for i in shared_corpus.items[:50])


def test_bad_dates_and_topic_commas_and_controls(tmp_path):
    (tmp_path / "feb30.md").write_text("---\ntitle: x\npublishedDateTime: 2023-02-30\n---\n")
    (tmp_path / "hour25.md").write_text("---\ntitle: x\npublishedDateTime: 2023-08-08 25:00:00\n---\n")
    (tmp_path / "year1.md").write_text('---\ntitle: x\npublishedDateTime: "0001-01-01T00:00:00+01:00"\n---\n')
    (tmp_path / "SOURCE.md").write_text("These files come from somewhere: folder documentation, not news.\n")
    write_news(tmp_path, "ok.md", title="Tab\x01and\x08bell", topics=["Privacy, Data", "AI"])
    corpus = read_corpus(tmp_path)
    reasons = {p.path: p.reason for p in corpus.problems}
    assert set(reasons) == {"feb30.md", "hour25.md", "year1.md"}
    assert "invalid value" in reasons["feb30.md"] and "out of range" in reasons["year1.md"]
    item = corpus.items[0]
    assert item.title == "Tab and bell" and item.topics == ("Privacy, Data", "AI")


def test_a_topic_with_a_comma_is_one_facet_value(tmp_path):
    from searchapp.indexing import update_index
    from searchapp.core.service import SearchEngine
    from searchapp.model import Filters

    write_news(tmp_path / "c", "ok.md", title="Comma topic", topics=["Privacy, Data", "AI"])
    update_index(tmp_path / "c", tmp_path / "ix")
    engine = SearchEngine(tmp_path / "ix")
    try:
        page = engine.search("")
        assert {v.value for v in page.facets["topic"]} == {"Privacy, Data", "AI"}
        assert engine.search("", Filters(topic=("Privacy, Data",))).total == 1
    finally:
        engine.close()


def _entry(url, title="", excerpt="", body="", **fields):
    from searchapp.ingest.reader import Entry
    from searchapp.model import Provider

    values = dict(published=None, provider=Provider(), topics=(), type="", quality=None, heat=None,
                  is_published=None, image_url="")
    values.update(fields)
    return Entry(url, title, excerpt, body, **values)


def test_a_streaming_merger_keeps_no_bodies_and_merges_like_merge_records():
    """A full build merges one record at a time and holds no body: each is
    read back (by the record's path) only when its item is written."""
    from searchapp.ingest.reader import FileRecord, Merger, merge_records
    from searchapp.model import Provider

    when = dt.datetime(2024, 5, 1, tzinfo=UTC)
    records = [
        # a copy of c seen before c's own file; its fields only fill gaps
        FileRecord("a.md", _entry("https://x/a", "A", "a lede", "body of a " * 50, topics=("AI",)),
                   (_entry("https://x/c", "copy title", "copy lede", quality=0, image_url="i.png"),
                    _entry("https://x/d", "D only listed", published=when))),
        FileRecord("b.md", _entry("https://x/b", "B", body="", topics=("Privacy",)),
                   (_entry("https://x/d", "D again", "d lede", provider=Provider("Wire", "wire.example")),
                    _entry("https://x/a", "a copy", "ignored lede"))),
        FileRecord("c.md", _entry("https://x/c", "", "own lede", "body of c", heat=3, is_published=False)),
        FileRecord("c2.md", _entry("https://x/c", "C later own", "", "second own body", topics=("Law",))),
    ]
    merger = Merger(keep_bodies=False)
    for record in records:
        merger.add(record)
    assert not any(isinstance(value, str) and "body of" in value
                   for slots in merger.slots.values() for value in slots)
    bodies = {r.path: r.own.body for r in records}
    asked = []

    def body(path):
        asked.append(path)
        return bodies[path]

    assert list(merger.items(body=body)) == merge_records(reversed(records))
    assert sorted(asked) == ["a.md", "c.md"]   # only the records that hold an item's body
    c = merger.item(item_id("https://x/c"), body)
    assert (c.title, c.excerpt, c.body, c.quality, c.image_url) == ("C later own", "own lede", "body of c", 0, "i.png")
    assert c.topics == ("Law",) and c.source_files == ("c.md", "c2.md", "a.md")
    d = merger.item(item_id("https://x/d"), body)
    assert (d.title, d.excerpt, d.published, d.provider.name) == ("D only listed", "d lede", when, "Wire")
    assert d.topics == ("AI", "Privacy") and d.related_by_ids == (item_id("https://x/a"), item_id("https://x/b"))
