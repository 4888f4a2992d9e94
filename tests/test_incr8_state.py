"""Round 8 (issue 15): an append reads every item's story input from the state when
asked, streamed, instead of holding them all (100 MB of a 100k append's peak), and
lets the run's corpus-wide bookkeeping go before it writes."""

from __future__ import annotations

import pytest
from conftest import dated_index, write_news

from searchapp.indexing import update_index
from searchapp.ingest.reader import NewsItem
from searchapp.store.state import StateReader


def _index(tmp_path, count=8):
    return dated_index(tmp_path, count, date="2024-01-{day}T10:00:00Z")


def test_story_inputs_behave_as_the_dict_of_them_would(tmp_path):
    corpus, _, generation = _index(tmp_path)
    reader = StateReader(generation, str(corpus.resolve()))
    try:
        expected = reader.items()[3]
        prints, stories, parts, lazy = reader.item_rows()
        assert (prints, stories, parts) == reader.items()[:3]
        assert list(lazy) == list(expected) and list(lazy.items()) == list(expected.items())
        ids = list(expected)
        new = NewsItem(id="new", url="https://example.org/new", title="New")
        changed = NewsItem(id=ids[2], url="https://example.org/2", title="Changed")
        for inputs in (expected, lazy):
            assert inputs.pop(ids[1], None) is not None and inputs.pop("absent", None) is None
            inputs[ids[2]] = changed     # in place
            inputs["new"] = new          # at the end
            del inputs[ids[4]]
            inputs[ids[4]] = new         # removed, then set again: at the end
        assert list(lazy.items()) == list(expected.items())
        assert list(lazy.values()) == list(expected.values()) and len(lazy) == len(expected)
        assert ids[1] not in lazy and ids[2] in lazy and "new" in lazy and lazy[ids[2]] == changed
        with pytest.raises(KeyError):
            lazy[ids[1]]
        kept = lazy.without({"new"})
        assert list(kept.items()) == [(i, x) for i, x in expected.items() if i != "new"]
        assert "new" not in kept and ids[0] in kept
    finally:
        reader.close()


def test_an_append_never_holds_every_story_input(tmp_path, monkeypatch):
    corpus, index_dir, _ = _index(tmp_path)

    def refuse(self):
        raise AssertionError("an append read every item's story input into memory")

    monkeypatch.setattr(StateReader, "items", refuse)
    write_news(corpus, "9.md", title="Story 9 about the regulator", publishedDateTime="2024-01-30T10:00:00Z")
    info = update_index(corpus, index_dir)
    assert info.mode == "incremental" and info.added == 1
