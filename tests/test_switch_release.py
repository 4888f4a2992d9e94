"""The request that first sees a switch does not pay for emptying the old generation's
caches: at 10k that took 23-30 ms, plus 5-11 ms giving the heap back, and it was the
first suggestion after every switch (40-60 ms against 4 ms warm, bench/switch.py)."""

from __future__ import annotations

import threading

from conftest import small_index
from test_memory import _built, _corpus

from searchapp.core import service
from searchapp.core.service import SearchEngine
from searchapp.indexing import update_index


def test_the_old_caches_are_emptied_in_the_background_a_few_entries_at_a_time(tmp_path, monkeypatch):
    corpus, index_dir = _built(tmp_path)
    emptied_in, trims = [], []
    real_empty = service._empty

    def recording(dropped, trim=True):
        emptied_in.append((threading.current_thread().name, sum(len(s) - 1 for s in dropped)))
        real_empty(dropped, trim)

    monkeypatch.setattr(service, "_empty", recording)
    monkeypatch.setattr(service, "trim_heap", lambda: trims.append(threading.current_thread().name))
    monkeypatch.setattr(service, "EMPTY_CHUNK", 3)
    engine = SearchEngine(index_dir, warm_switch=True)
    try:
        for query in ("privacy", "privacy fines", "data protection", "regulator", "authority fined"):
            engine.search(query)
        old = engine._local.snapshot
        cached = len(old._shared["terms"]) + len(old._shared.get("word-arrays", ()))
        assert cached > 3   # more than one chunk to free
        _corpus(corpus, marker="Livemarker")
        update_index(corpus, index_dir)
        for _ in range(200):   # warmed in the background, then switched by a request
            if engine.search("livemarker").total:
                break
            threading.Event().wait(0.05)
        assert engine.search("livemarker").total > 0
        engine._emptying.join(10)
        assert emptied_in and all(name == "searchapp-release" for name, _ in emptied_in)
        assert max(n for _, n in emptied_in) >= 3          # the old generation's caches were handed over
        assert trims and set(trims) == {"searchapp-release"}   # the heap given back there, once emptied
        assert set(old._shared) == {"lock"} and not len(old._terms)
    finally:
        engine.close()


def test_emptying_frees_every_entry_of_every_cache():
    from searchapp.lru import Lru

    lru = Lru(1000)
    for n in range(700):
        lru.put(n, "x")
    plain = {n: [n] for n in range(1000)}
    shared = {"lock": threading.Lock(), "terms": lru, "idf": plain, "live": 12345}
    service._empty([shared], trim=False)
    assert set(shared) == {"lock"} and not lru and not plain and lru.weight == 0


def test_a_switch_warms_the_old_generations_query_bitmaps_first(tmp_path):
    """warm_like computes what the old generation cached within a budget; the query bitmaps
    (phrases, synonym groups, prefixes) come first, most recent first, because each costs tens
    of milliseconds at 100k items where a word's arrays cost one or two (the first suggestion
    after a switch, "gdpr fin", waited 111 ms for "gdpr"'s synonym phrases). Round 11 took the
    kinds in turn, so a query key came seventh."""
    from searchapp.backends.whoosh import snapshot as S

    _, index_dir, _ = small_index(tmp_path, count=6, title="Story {n} on general data protection regulation")
    with SearchEngine(index_dir) as engine:
        for text in ("gdpr fine", "story regulation", "gdpr"):
            engine.search(text)
            engine.suggest(text)
        shared = engine._snapshot()._shared
        keys = S._cached_keys(shared)
    kinds = [kind for kind, _ in keys]
    assert "query" in kinds and {"word", "bits"} & set(kinds)
    first_other = next(n for n, kind in enumerate(kinds) if kind != "query")
    assert set(kinds[first_other:]) - {"query"} == set(kinds[first_other:])   # no query key after the others
    recent = [k for k in reversed(list(shared["queries"])) if k in shared["query-objects"]]
    assert [repr(key) for _, key in keys[:first_other]] == recent


def test_the_release_thread_is_published_only_once_started(sample_index, monkeypatch):
    """CI, round 19: a test joined `_emptying` between its assignment and its start
    ("cannot join thread before it is started"); anything that joins it sees a started thread."""
    seen = []
    start = threading.Thread.start

    def observed(thread):
        seen.append(getattr(engine, "_emptying", None) is thread)
        start(thread)

    monkeypatch.setattr(threading.Thread, "start", observed)
    engine = SearchEngine(sample_index)
    try:
        engine._empty_later([{"lock": threading.Lock()}])
        assert seen == [False]   # not yet visible when it starts
        engine._emptying.join(10)
        assert not engine._emptying.is_alive()
    finally:
        engine.close()
