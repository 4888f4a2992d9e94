"""Review 12: defects found by using the round-12 change (faf6d5b, dbd0b2c) as a user
and operator would. Each test fails on the code as reviewed."""

from __future__ import annotations

import json
import sqlite3

from conftest import dated_index, write_news

from searchapp.core.service import SearchEngine
from searchapp.indexing import update_index
from searchapp.store import generations as G
from searchapp.store.state import StateReader


def _dated_index(tmp_path, count=6):
    return dated_index(tmp_path, count)


def _damage_story_input(index_dir, generation, row: str, value: str) -> None:
    """Replace one stored story input (`row`: "first" by rowid, or the one whose input holds
    that text), then rewrite the generation's checksums, as a state written damaged by the
    writer itself would be."""
    db = sqlite3.connect(generation / "state.sqlite")
    try:
        if row == "first":
            [(rowid,)] = db.execute("SELECT rowid FROM items ORDER BY rowid LIMIT 1").fetchall()
        else:
            [(rowid,)] = db.execute("SELECT rowid FROM items WHERE instr(story_input, ?)", (row,)).fetchall()
        db.execute("UPDATE items SET story_input = ? WHERE rowid = ?", (value, rowid))
        db.commit()
    finally:
        db.close()
    G.write_manifest(generation)
    G.forget_verified(index_dir)


def _stories(corpus, index_dir) -> dict[str, str]:
    reader = StateReader(G.current_generation(index_dir), str(corpus.resolve()))
    try:
        return dict(reader.db.execute("SELECT id, story FROM items"))   # not decoding the inputs
    finally:
        reader.close()


def test_a_first_story_input_that_is_not_json_rebuilds_in_full_instead_of_raising(tmp_path):
    """Expected: a stored story input that is not JSON makes the append say the state is
    unreadable and rebuild in full, wherever the row is (the last row does: mode "full",
    repaired "... its incremental state is unreadable (malformed JSON)").
    Happened: when it is the first row, `StateReader.story_dates` takes SQLite's
    "malformed JSON" OperationalError (raised by execute, which steps the first row) for
    "an SQLite without JSON functions", falls back to decoding every input, and
    `update_index` raises json.JSONDecodeError."""
    corpus, index_dir, generation = _dated_index(tmp_path)
    _damage_story_input(index_dir, generation, "first", "not json")
    write_news(corpus, "new.md", title="Story 3 about the regulator", topics=["AI"],
               publishedDateTime="2023-04-11T10:00:00Z")
    info = update_index(corpus, index_dir)          # raises JSONDecodeError
    assert info.mode == "full" and "unreadable" in info.repaired
    assert _stories(corpus, index_dir) == _stories(corpus, _full_copy(tmp_path, corpus))


def test_a_story_input_of_another_shape_is_not_taken_for_an_undated_one(tmp_path):
    """Expected: a stored story input that is not the six-field array it should be (here
    two fields: its date and provider missing) is found unreadable and the append rebuilds
    in full (before this change decoding it raised), or at least groups as a full build.
    Happened: `json_extract(story_input, '$[3]')` gives NULL for it, read as "undated", so
    the append neither decodes nor regroups it: the new copy of that item is left a story
    of its own while a full build folds the two into one story; mode "incremental", no
    word of the damage (and the damaged input is carried into the new state)."""
    corpus, index_dir = tmp_path / "corpus", tmp_path / "index"
    story = dict(title="Court fines camera maker over privacy story", excerpt="data transfer camera court",
                 topics=["AI"], provider={"name": "Wire", "domain": "example.org"})
    write_news(corpus, "a0.md", **story, publishedDateTime="2024-01-10T10:00:00Z")
    write_news(corpus, "a1.md", title="Other news entirely about tariffs", excerpt="tariffs", topics=["AI"],
               publishedDateTime="2024-02-10T10:00:00Z")
    update_index(corpus, index_dir)
    generation = G.current_generation(index_dir)
    _damage_story_input(index_dir, generation, "a0.md", json.dumps(["https://example.org/a0.md", story["title"]]))
    write_news(corpus, "b0.md", **story, publishedDateTime="2024-01-11T10:00:00Z")
    info = update_index(corpus, index_dir)
    appended = _stories(corpus, index_dir)
    full = _stories(corpus, _full_copy(tmp_path, corpus))
    assert len(set(full.values())) == 2                      # a0 and its copy b0 are one story
    assert info.mode == "full" or appended == full, (info.mode, info.repaired, appended, full)


def _full_copy(tmp_path, corpus):
    index_dir = tmp_path / "full-index"
    update_index(corpus, index_dir, full=True)
    return index_dir


def test_notable_does_not_find_no_table(tmp_path):
    """Expected: "notable" finds the item that says notable, not one that says "no table"
    (before dbd0b2c, MIN_PART = 3, it did not). Happened: with two-letter halves, "no" (a
    function word missing from the analyzer's stop list, so not kept out as "on" is) makes
    "notable" split as "no table", verified as written, and the query also returns the
    item about "no table property changes". Seen on the shared corpus too: `notable`
    returns "Important Upcoming Change: Publishers can modify table properties ...",
    whose excerpt says "no table property changes"."""
    root = tmp_path / "corpus"
    for name, title, excerpt in [
            ("notable", "A notable fine for a drone maker", "The regulator fined the drone maker."),
            ("no-table", "Publishers can modify drone settings",
             "Check that you have no table property changes you do not want."),
            ("filler", "Drone rules in the city", "The city council wrote drone rules.")]:
        write_news(root, f"{name}.md", title=title, excerpt=excerpt, topics=["AI"],
                   publishedDateTime="2023-05-01T10:00:00Z")
    update_index(root, tmp_path / "index", full=True)
    with SearchEngine(tmp_path / "index") as engine:
        found = [hit.url.rsplit("/", 1)[1].removesuffix(".md") for hit in engine.search("notable").hits]
    assert found == ["notable"]
