"""Round 12 (issue 15): what an append of a few files still paid for the whole corpus.
Each test fails on the code before it: the story window decoded every item's story input
to find the ones near the new items' dates."""

from __future__ import annotations

from conftest import dated_index, write_news

from searchapp.indexing import update_index
from searchapp.ingest.reader import NewsItem
from searchapp.store import state as S
from searchapp.store.state import StateReader


def _index(tmp_path, count=12):
    return dated_index(tmp_path, count)


def test_story_dates_are_the_inputs_dates_in_their_order(tmp_path):
    corpus, _, generation = _index(tmp_path)
    reader = StateReader(generation, str(corpus.resolve()))
    try:
        expected = reader.items()[3]
        lazy = reader.item_rows()[3]
        assert list(lazy.dates()) == [(i, x.published) for i, x in expected.items()]
        ids = list(expected)
        changed = NewsItem(id=ids[2], url="https://example.org/2", title="Changed")   # undated now
        for inputs in (expected, lazy):
            del inputs[ids[1]]
            inputs[ids[2]] = changed
            inputs["new"] = NewsItem(id="new", url="https://example.org/new", title="New")
        assert list(lazy.dates()) == [(i, x.published) for i, x in expected.items()]
        assert list(lazy.without({ids[0]}).dates()) == [(i, x.published) for i, x in expected.items() if i != ids[0]]
    finally:
        reader.close()


def test_an_append_decodes_only_the_story_inputs_near_its_items(tmp_path, monkeypatch):
    corpus, index_dir, _ = _index(tmp_path)
    decoded = []
    real = S.decode_story_input

    def counting(iid, text):
        decoded.append(iid)
        return real(iid, text)

    monkeypatch.setattr(S, "decode_story_input", counting)
    # dated a year after the others: no stored item lies in its story window
    write_news(corpus, "new.md", title="Story about the regulator, a year later", topics=["AI"],
               publishedDateTime="2025-06-10T10:00:00Z")
    info = update_index(corpus, index_dir)
    assert info.mode == "incremental" and info.added == 1
    assert decoded == []
    # one in the middle of them: only its neighbours are read
    write_news(corpus, "mid.md", title="Story 5 about the regulator", topics=["AI"],
               publishedDateTime="2023-06-11T10:00:00Z")
    decoded.clear()
    update_index(corpus, index_dir)
    assert 0 < len(set(decoded)) < 12

