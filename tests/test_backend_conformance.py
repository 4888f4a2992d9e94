"""The backend conformance suite: what the search core relies on, checked
against every backend on a corpus generated from the in-repo sample (so it
never skips). Whoosh is the one backend today; a second one is added to
BACKENDS and must pass the same tests.
"""

from __future__ import annotations

import datetime as dt
import math
import sys
from pathlib import Path

import pytest

from searchapp.backends.whoosh.backend import WhooshBackend
from searchapp.bitmaps import docnums
from searchapp.core.service import SearchEngine, read_query
from searchapp.indexing import update_index
from searchapp.model import FACETS, RECENCY_HALF_LIFE_DAYS, Filters
from searchapp.query import ast
from searchapp.query.expand import relax

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT / "bench"))
from make_corpus import generate  # noqa: E402

BACKENDS = {"whoosh": WhooshBackend}
ITEMS = 2200   # past 2,000 matches the date path changes


@pytest.fixture(scope="module", params=sorted(BACKENDS))
def generated(request, tmp_path_factory):
    root = tmp_path_factory.mktemp("generated")
    generate(ITEMS, root / "corpus", PROJECT / "corpus", 7)
    update_index(root / "corpus", root / "index", full=True)
    engine = SearchEngine(root / "index", backend=BACKENDS[request.param]())
    yield engine, engine._snapshot()
    engine.close()


def _records(snapshot):
    return {d: snapshot.record(d) for d in docnums(snapshot.live)}


def test_every_generated_item_is_live_and_has_its_record(generated):
    engine, snapshot = generated
    records = _records(snapshot)
    assert snapshot.doc_count == len(records) >= ITEMS
    assert all(snapshot.document(r["id"])["id"] == r["id"] for r in list(records.values())[:50])


def test_facet_bitmaps_equal_the_stored_tags(generated):
    _, snapshot = generated
    records = _records(snapshot)
    stored = {"topic": "topics", "jurisdiction": "jurisdictions", "regulator": "regulators"}
    for facet, key in stored.items():
        for value in snapshot.facet_values(facet)[:20]:
            expected = {d for d, r in records.items() if value in r[key]}
            assert set(docnums(snapshot.value_bits(facet, value))) == expected
    for value in snapshot.facet_values("year"):
        expected = {d for d, r in records.items() if r["published"] and r["published"][:4] == value}
        assert set(docnums(snapshot.value_bits("year", value))) == expected


def test_matches_agree_with_the_words_of_the_records(generated):
    engine, snapshot = generated
    records = _records(snapshot)
    # words from titles, searched in the title field only: the stored titles say which items have them
    counts = {}
    for record in records.values():
        for word in set(record["title"].lower().split()):
            if word.isalpha() and len(word) > 4:
                counts[word] = counts.get(word, 0) + 1
    for word in sorted(counts, key=lambda w: (-counts[w], w))[:5]:
        tree = read_query(f"title:{word}", snapshot.analyze)
        found = set(docnums(snapshot.matches(tree)))
        terms = snapshot.analyze("title", word)
        expected = {d for d, r in records.items() if set(terms) <= set(snapshot.analyze("title", r["title"]))}
        assert found == expected and found


@pytest.mark.parametrize("text", ["recognition ban", "police", "china consent rules", "fine OR court",
                                  "data protection zebra", "facial recognition ban", "ai act"])
def test_relevance_ranking_is_the_exact_bm25f_top(generated, text):
    """Ranked by the backend's scores, best first, ties by docnum: the same as
    scoring every match and sorting (no pruning may drop a better document)."""
    engine, snapshot = generated
    tree = read_query(text, snapshot.analyze)
    for query in {tree, relax(tree, snapshot.analyze) or tree}:
        bits = snapshot.matches(query)
        everything = snapshot.ranked(query, bits, bits.bit_count(), "relevance", False)
        top = snapshot.ranked(query, bits, 50, "relevance", False)
        assert len(top) == min(50, bits.bit_count())
        assert [d for _, d in top] == [d for _, d in everything[:50]]
        assert all(a >= b for (a, _), (b, _) in zip(top, top[1:]))


def test_relevance_plus_recency_is_bm25f_times_the_documented_decay(generated):
    engine, snapshot = generated
    tree = read_query("police", snapshot.analyze)
    bits = snapshot.matches(tree)
    plain = dict((d, s) for s, d in snapshot.ranked(tree, bits, bits.bit_count(), "relevance", False))
    recent = snapshot.ranked(tree, bits, 20, "recent", False)
    records = _records(snapshot)
    newest = max(dt.datetime.fromisoformat(r["published"].replace("Z", "+00:00"))
                 for r in records.values() if r["published"])
    for score, d in recent:
        published = dt.datetime.fromisoformat(records[d]["published"].replace("Z", "+00:00"))
        age_days = (newest - published).total_seconds() / 86400
        assert math.isclose(score, plain[d] * 0.5 ** (age_days / RECENCY_HALF_LIFE_DAYS), rel_tol=1e-6)


@pytest.mark.parametrize("sort", ["newest", "oldest"])
def test_date_order_beyond_two_thousand_hits(generated, sort):
    """Past 2,000 matches the first page is read off the presorted order; under
    it the matches are sorted. Both give the date order, undated items last,
    ties by docnum."""
    _, snapshot = generated
    records = _records(snapshot)

    def stamp(d):
        published = records[d]["published"]
        if not published:
            return math.inf
        seconds = dt.datetime.fromisoformat(published.replace("Z", "+00:00")).timestamp()
        return -seconds if sort == "newest" else seconds

    order = sorted(records, key=lambda d: (stamp(d), d))
    assert snapshot.live.bit_count() > 2000
    assert snapshot.first_by_date(snapshot.live, sort, 30) == order[:30]
    some = sum(1 << d for d in order[::7])                         # under 2,000 matches
    assert snapshot.first_by_date(some, sort, 30) == order[::7][:30]


def test_stories_group_items_sharing_a_stored_story(generated):
    _, snapshot = generated
    copies, story_of, members = snapshot.stories()
    for story, docs in members.items():
        assert len(docs) > 1 and list(docs) == sorted(docs)
        assert all(story_of[d] == story for d in docs)
    assert set(docnums(copies)) == {d for docs in members.values() for d in docs[1:]}


def test_highlights_escape_everything_and_mark_the_words(generated):
    engine, snapshot = generated
    tree = read_query("police", snapshot.analyze)
    score, d = snapshot.ranked(tree, snapshot.matches(tree), 1, "relevance", False)[0]
    record, title, snippet = snapshot.highlights(tree, d, score)
    assert "<mark>" in title + snippet
    assert "<" not in title.replace("<mark>", "").replace("</mark>", "")


def test_the_service_answers_through_the_protocol(generated):
    engine, _ = generated
    page = engine.search("police", Filters(), per_page=5)
    assert page.total > 0 and len(page.hits) == 5
    assert set(page.facets) == {*FACETS, "month"}
    assert engine.search("", sort="newest").hits[0].published >= engine.search("", sort="oldest").hits[0].published


def test_a_documents_title_is_its_records(generated):
    _, snapshot = generated
    for docnum in docnums(snapshot.live)[::97]:
        record = snapshot.record(docnum)
        assert snapshot.title(docnum) == (record["id"], record["title"])


def test_scope_counts_equal_the_bitmaps_popcounts(generated):
    """counter(scope): what a suggestion ranks its completions and places by."""
    _, snapshot = generated
    scopes = [snapshot.live, snapshot.matches(read_query("data", snapshot.analyze)),
              snapshot.matches(read_query("privacy regulator", snapshot.analyze))]
    words = sorted(snapshot.completions("c"))[:60] + sorted(snapshot.completions("pr"))[:60]
    values = [(f, v) for f in ("regulator", "jurisdiction") for v in snapshot.facet_values(f)[:80]]
    for scope in scopes:
        counter = snapshot.counter(scope)
        assert [counter.word(w) for w in words] == [(scope & snapshot.word_bits(w)).bit_count() for w in words]
        assert ([counter.value(f, v) for f, v in values]
                == [(scope & snapshot.value_bits(f, v)).bit_count() for f, v in values])
