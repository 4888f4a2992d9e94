"""The incremental state: SQLite rows, read only for what changed; never code."""

from __future__ import annotations

import os
import pickle
import sqlite3

from conftest import small_index, write_news
from searchapp.indexing import update_index
from searchapp.store import generations as G
from searchapp.store.state import STATE


def _corpus(tmp_path, count=5):
    return small_index(tmp_path, count)


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_state_is_sqlite_with_one_row_per_file_and_item(tmp_path):
    _, _, generation = _corpus(tmp_path)
    assert not (generation / "files.pickle").exists()
    db = sqlite3.connect(generation / STATE)
    try:
        assert db.execute("SELECT count(*) FROM files").fetchone() == (5,)
        assert db.execute("SELECT count(*) FROM items").fetchone() == (5,)
    finally:
        db.close()
    # a read-only open leaves no journal or lock files in the generation
    assert sorted(p.name for p in generation.iterdir() if p.name.startswith(STATE)) == [STATE]


def test_a_pickle_in_place_of_the_state_is_never_run_and_means_a_full_rebuild(tmp_path):
    corpus, index_dir, generation = _corpus(tmp_path)
    marker = tmp_path / "code-ran"
    (generation / STATE).write_bytes(pickle.dumps(_Payload(marker)))
    G.write_manifest(generation)  # checksums that match: only the state's own check can refuse it
    write_news(corpus, "new.md", title="A new story")
    info = update_index(corpus, index_dir)
    assert not marker.exists()
    assert info.mode == "full" and info.items == 6
    assert "incremental state is unreadable" in info.repaired and "\n" not in info.repaired


def test_a_state_with_a_missing_record_rebuilds_in_full_saying_why(tmp_path):
    corpus, index_dir, generation = _corpus(tmp_path)
    db = sqlite3.connect(generation / STATE)
    db.execute("UPDATE files SET record = NULL WHERE path = '3.md'")  # a row damaged in place
    db.commit()
    db.close()
    G.write_manifest(generation)
    write_news(corpus, "new.md", title="A new story")
    (corpus / "2.md").unlink()  # a deletion: every kept record is read
    info = update_index(corpus, index_dir)
    assert info.mode == "full" and info.items == 5
    assert "incremental state" in info.repaired


def test_a_touched_file_is_hashed_once_then_its_new_stat_is_kept(tmp_path):
    corpus, index_dir, generation = _corpus(tmp_path)
    os.utime(corpus / "1.md", ns=(10**18, 10**18))
    write_news(corpus, "new.md", title="A new story")   # a change, so a new generation and state are written
    assert update_index(corpus, index_dir).files_parsed == 1
    db = sqlite3.connect(f"file:{G.current_generation(index_dir) / STATE}?mode=ro", uri=True)
    try:
        assert db.execute("SELECT mtime_ns FROM files WHERE path = '1.md'").fetchone() == (10**18,)
    finally:
        db.close()


def test_a_nothing_changed_run_stats_each_file_once(tmp_path, monkeypatch):
    corpus, index_dir, _ = _corpus(tmp_path, count=200)
    calls = []
    for name in ("stat", "lstat"):
        original = getattr(os, name)
        monkeypatch.setattr(os, name, lambda path, *a, _f=original, **k: (calls.append(str(path)), _f(path, *a, **k))[1])
    assert update_index(corpus, index_dir).mode == "unchanged"
    on_corpus = [c for c in calls if c.startswith(str(corpus)) and c.endswith(".md")]
    assert len(on_corpus) == 200, len(on_corpus)
