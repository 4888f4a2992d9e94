"""Round 8, issue 15: no stall after a reindex switch.

A build announces its generation as NEXT and waits (boundedly) while running servers warm it,
then renames NEXT to CURRENT; idle threads' snapshots of old generations are closed at the
switch; what a typing pass found cold on a new generation is computed before it serves."""

from __future__ import annotations

import gc
import os
import threading
import weakref

from conftest import write_news
from searchapp.backends.whoosh import snapshot as snapshot_module
from searchapp.core import reading, service
from searchapp.core.service import SearchEngine
from searchapp.indexing import update_index
from searchapp.store import generations
from searchapp.store.generations import (CURRENT, NEXT, live_servers, register_server, server_ready, switch_current,
                                         unregister_server)


def _corpus(root, marker: str | None = None, n: int = 30):
    for i in range(n):
        write_news(root, f"item-{i}.md", title=f"Privacy regulator fines company {i}",
                   excerpt="The data protection authority fined it.", publishedDateTime=f"2023-01-{i % 28 + 1:02d}T10:00:00Z")
    if marker:
        write_news(root, "marker.md", title=f"{marker} regulation story")


def _built(tmp_path):
    corpus, index_dir = tmp_path / "corpus", tmp_path / "index"
    _corpus(corpus)
    update_index(corpus, index_dir, full=True)
    return corpus, index_dir


def _as_another_process(handle, index_dir):
    """A registration of this process, renamed as if another process (a server) held it:
    switch_current does not wait for engines of its own process."""
    foreign = index_dir / generations.SERVERS / "1-foreign"
    os.rename(handle.path, foreign)
    handle.path = foreign
    return handle


def _until(condition, tries: int = 400):
    for _ in range(tries):
        if condition():
            return True
        threading.Event().wait(0.025)
    return False


# ---------------------------------------------------------------- the announced switch

def test_a_switch_waits_for_a_running_server_to_warm_next_then_renames_next_to_current(tmp_path):
    index_dir = tmp_path / "index"
    index_dir.mkdir()
    (index_dir / CURRENT).write_text("gen-20260101T000000000000-aaaaaa\n")
    handle = _as_another_process(register_server(index_dir), index_dir)
    new = index_dir / "gen-20260102T000000000000-bbbbbb"
    seen = {}

    def server():
        assert _until(lambda: (index_dir / NEXT).exists())
        seen["next"] = os.stat(index_dir / NEXT).st_ino
        seen["current while warming"] = (index_dir / CURRENT).read_text().strip()
        server_ready(handle, new.name)

    thread = threading.Thread(target=server)
    thread.start()
    switch_current(index_dir, new, wait=60)
    thread.join()
    assert seen["current while warming"] == "gen-20260101T000000000000-aaaaaa"   # the old one served meanwhile
    assert (index_dir / CURRENT).read_text().strip() == new.name
    assert os.stat(index_dir / CURRENT).st_ino == seen["next"]   # the very file (and key) the server warmed for
    assert not (index_dir / NEXT).exists()
    unregister_server(handle)
    assert live_servers(index_dir) == []


def test_a_switch_waits_for_no_dead_server_and_at_most_its_bound_for_a_silent_one(tmp_path):
    index_dir = tmp_path / "index"
    (index_dir / generations.SERVERS).mkdir(parents=True)
    (index_dir / generations.SERVERS / "2-dead").write_text("")   # nobody holds its lock
    assert live_servers(index_dir) == []
    assert not (index_dir / generations.SERVERS / "2-dead").exists()
    switch_current(index_dir, index_dir / "gen-20260101T000000000000-aaaaaa", wait=60)
    assert not (index_dir / NEXT).exists()   # no server: CURRENT written straight away
    silent = _as_another_process(register_server(index_dir), index_dir)
    switch_current(index_dir, index_dir / "gen-20260102T000000000000-bbbbbb", wait=0.2)   # never says ready
    assert (index_dir / CURRENT).read_text().strip() == "gen-20260102T000000000000-bbbbbb"
    unregister_server(silent)


def test_the_first_request_after_a_build_returns_is_answered_from_the_new_generation(tmp_path):
    corpus, index_dir = _built(tmp_path)
    engine = SearchEngine(index_dir, warm_switch=True)
    try:
        assert engine.search("privacy").total == 30
        engine.suggest("regul")
        _as_another_process(engine._registration, index_dir)   # the build waits for it, as for a server's
        _corpus(corpus, marker="Livemarker")
        update_index(corpus, index_dir)   # returns once the engine has warmed the generation NEXT named
        fresh = engine._prepared
        assert fresh is not None and fresh[0] == generations.current_generation(index_dir)
        assert engine.search("livemarker").total == 1   # the very first request: new generation, no warm-up left
        assert engine._ready == fresh and engine._preparing is None
    finally:
        engine.close()
    assert live_servers(index_dir) == []   # close() unregisters


# ---------------------------------------------------------------- files of old generations

def test_idle_threads_snapshots_of_an_old_generation_are_closed_at_the_switch_busy_ones_are_not(tmp_path):
    corpus, index_dir = _built(tmp_path)
    engine = SearchEngine(index_dir, warm_switch=True)
    held, go_on, done = {}, threading.Event(), threading.Event()

    def idle():   # answered once, then waits for its next request
        engine.search("privacy")
        held["idle"] = weakref.ref(engine._local.snapshot)
        done.wait(30)

    def busy():   # in the middle of a request when the switch happens
        snapshot = engine._snapshot()
        held["busy"] = weakref.ref(snapshot)   # only this request's variable holds it
        go_on.wait(30)
        held["read after the switch"] = snapshot.first_by_date(snapshot.live, "newest", 3)
        held["moved to"] = engine._snapshot().generation

    threads = [threading.Thread(target=idle), threading.Thread(target=busy)]
    for thread in threads:
        thread.start()
    try:
        assert _until(lambda: len(held) == 2)
        old = generations.current_generation(index_dir)
        _corpus(corpus, marker="Livemarker")
        update_index(corpus, index_dir)
        assert _until(lambda: engine.search("livemarker").total == 1)   # warmed, then switched
        idle_snapshot = held["idle"]()
        assert idle_snapshot is not None and idle_snapshot._closed        # its files closed at the switch
        busy_snapshot = held["busy"]()
        assert not busy_snapshot._closed                                  # the busy one is left to its thread
        go_on.set()
        threads[1].join()
        assert len(held["read after the switch"]) == 3
        assert held["moved to"] != old and busy_snapshot._closed         # its next request moved it on
    finally:
        go_on.set()
        done.set()
        for thread in threads:
            thread.join()
        engine.close()


def test_no_module_cache_keeps_an_old_snapshot_alive(tmp_path):
    """The service's compiled synonym table is keyed on snapshot.analyze: as a bound method it
    was a new key per snapshot (the table compiled again by every thread after every switch,
    0.4 s) and the cache kept the last four snapshots, with their searchers, alive."""
    corpus, index_dir = _built(tmp_path)
    engine = SearchEngine(index_dir)
    try:
        engine.search("data protection")
        old = weakref.ref(engine._snapshot())
        compiled = reading.synonyms_of.cache_info().misses
        _corpus(corpus, marker="Livemarker")
        update_index(corpus, index_dir)
        assert engine.search("livemarker").total == 1 and engine.search("data protection").total
        assert reading.synonyms_of.cache_info().misses == compiled   # not compiled again
        gc.collect()
        assert old() is None
    finally:
        engine.close()


# ---------------------------------------------------------------- what is warmed before serving

def test_a_new_generation_computes_the_old_ones_query_bitmaps_idf_spelling_and_stored_documents(tmp_path, monkeypatch):
    monkeypatch.setattr(service, "REPLAY_SECONDS", 0.0)   # nothing replayed: only what the caches held
    corpus, index_dir = _built(tmp_path)
    engine = SearchEngine(index_dir, warm_switch=True)
    try:
        engine.search('"data protection" authority')   # a phrase: a query bitmap, Whoosh-scored
        engine.search("privasy regulator")             # a typo: a spelling answer
        old = engine._snapshot()._shared
        queries, idf = set(old["queries"]), set(old["idf"])
        closest, stored = set(old["closest"]), set(old["stored"])
        assert queries and idf and "privasy" in closest and stored
        _corpus(corpus, marker="Livemarker")
        update_index(corpus, index_dir)
        assert _until(lambda: engine.search("livemarker").total == 1)
        fresh = engine._snapshot()._shared
        assert queries <= set(fresh["queries"]) and idf <= set(fresh["idf"])
        assert "privasy" in fresh["closest"] and stored <= set(fresh["stored"])
    finally:
        engine.close()


def test_a_generations_searchers_share_idf_values_and_read_its_schema_once(tmp_path):
    _, index_dir = _built(tmp_path)
    engine = SearchEngine(index_dir)
    try:
        engine.search("privacy authority")
        mine = engine._snapshot()
        other = {}
        thread = threading.Thread(target=lambda: other.setdefault("s", engine._snapshot()))
        thread.start()
        thread.join()
        assert mine.searcher is not other["s"].searcher
        assert mine.searcher._idf_cache is other["s"].searcher._idf_cache
        assert mine.searcher._idf_cache is mine.recency_searcher()._idf_cache
        fresh = snapshot_module.compat.open_generation(mine.generation).searcher()
        assert all(fresh.idf(*term) == value for term, value in mine.searcher._idf_cache.items())
        assert mine.index.schema is mine.index.schema   # Whoosh read its TOC file on every .schema
        other["s"].close()
        fresh.close()
    finally:
        engine.close()
