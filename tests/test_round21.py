"""Round 21: a new generation computes the serving one's per-prefix suggestion
tables before it serves."""

from __future__ import annotations

import os

from conftest import thirty_fines
from searchapp.core import service
from searchapp.core.service import SearchEngine
from searchapp.indexing import update_index
from searchapp.lru import Lru
from searchapp.store import generations


def test_a_switch_computes_the_serving_generation_s_prefixes_first(tmp_path, monkeypatch):
    """The prefixes suggested on the serving generation have their best completions and
    facet values computed on the next one before it serves, most recent first; the first
    suggestion of each after the switch computes nothing. Beyond the last requests of the
    process, which are replayed too (one here)."""
    monkeypatch.setattr(service, "RECENT_REQUESTS", 1)
    corpus, index_dir = tmp_path / "corpus", tmp_path / "index"
    thirty_fines(corpus)
    update_index(corpus, index_dir, full=True)
    engine = SearchEngine(index_dir, warm_switch=True)
    try:
        typed = ["pr", "priv", "privacy r", "da", "data p"]
        before = {text: engine.suggest(text) for text in typed}
        # as another process's server: the build waits for it to warm the new generation
        foreign = index_dir / generations.SERVERS / "1-foreign"
        os.rename(engine._registration.path, foreign)
        engine._registration.path = foreign
        thirty_fines(corpus, marker="Livemarker")
        update_index(corpus, index_dir)
        assert engine.search("livemarker").total == 1      # the new generation serves
        assert engine._ready[0] == generations.current_generation(index_dir)
        shared = engine._shared[engine._ready]
        assert set(shared["suggest-candidates"]) >= {"pr", "priv", "r", "da", "p"}
        assert set(shared["facet-prefixes"]) >= {"pr", "priv", "r", "da", "p"}
        assert "facet-totals" in shared and "facet-words" in shared

        computed = []
        real = Lru.put
        monkeypatch.setattr(Lru, "put", lambda self, key, value: (computed.append(key), real(self, key, value)))
        after = {text: engine.suggest(text) for text in typed}
        assert not {"pr", "priv", "r", "da", "p"} & set(computed)   # nothing computed again per prefix
        assert after == before                                      # the same suggestions (the marker is rare)
    finally:
        engine.close()


def test_the_newest_prefixes_are_computed_first(tmp_path):
    cache = Lru(10)
    for key in ("a", "b", "c"):
        cache.put(key, 1)
    cache.get_fresh("a")
    assert cache.newest_keys() == ["a", "c", "b"]
    assert service._newest_keys(cache) == ["a", "c", "b"]
    assert service._newest_keys(None) == [] and service._newest_keys({"x": 1}) == []
