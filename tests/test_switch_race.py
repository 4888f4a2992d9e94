"""A switch empties an old generation's caches while a request may still read it
(service._release): every per-generation cache accessor must return the value it
computed, not look it up again (a review's live-refresh run got a 500 from a
KeyError there)."""

from __future__ import annotations

from conftest import write_news
from searchapp.core.service import SearchEngine
from searchapp.indexing import update_index


class EmptiedRightAfterEachStore(dict):
    """The worst interleaving, made deterministic: the switch empties the cache the moment
    a request has stored a value in it, before the request reads it back."""

    def __setitem__(self, key, value):
        super().__setitem__(key, value)
        self.clear()


def test_caches_emptied_by_a_switch_mid_request_raise_nothing(tmp_path):
    for n in range(30):
        write_news(tmp_path / "corpus", f"{n:02d}.md", title=f"Court story {n % 7} privacy ruling",
                   excerpt=f"Regulators weigh rule {n}.", publishedDateTime=f"2023-0{1 + n % 9}-1{n % 10}T10:00:00Z")
    update_index(tmp_path / "corpus", tmp_path / "index", full=True)
    engine = SearchEngine(tmp_path / "index")
    try:
        snapshot = engine._snapshot()
        expected = (snapshot.order("newest").tolist(), snapshot.stories()[2])
        snapshot._order = EmptiedRightAfterEachStore()
        assert snapshot.order("newest").tolist() == expected[0]
        snapshot.position("oldest"), snapshot.lengths("title"), snapshot.decay()
        assert snapshot.stories()[2] == expected[1]   # from the story column: the tables went with the caches
    finally:
        engine.close()
