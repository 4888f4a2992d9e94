"""Worker memory: per-generation tables written at indexing and memory-mapped
(shared page cache, not private copies), caches bounded by bytes, and an old
generation's caches emptied at a switch even while idle threads hold it."""

from __future__ import annotations

import random
import threading

import numpy as np
import pytest

from conftest import write_news
from searchapp.backends.whoosh import snapshot as snapshot_module
from searchapp.backends.whoosh import tables
from searchapp.bitmaps import bits_of, docnums
from searchapp.core.service import SearchEngine
from searchapp.indexing import update_index
from searchapp.lru import Lru
from searchapp.store.generations import current_generation, damaged_files, read_manifest


def _corpus(root, n: int = 40, marker: str = "") -> None:
    for i in range(n):
        write_news(root, f"item-{i}.md", title=f"Privacy regulator fines company {i} {marker}",
                   excerpt="The data protection authority fined it." + " again" * (i % 7),
                   publishedDateTime=f"20{10 + i % 13}-0{1 + i % 9}-{1 + i % 28:02d}T10:00:00Z" if i % 5 else None)


def _built(tmp_path, n: int = 40):
    corpus, index_dir = tmp_path / "corpus", tmp_path / "index"
    _corpus(corpus, n)
    update_index(corpus, index_dir, full=True)
    return corpus, index_dir


def test_tables_are_written_into_the_generation_and_mapped_not_copied(tmp_path):
    _, index_dir = _built(tmp_path)
    generation = current_generation(index_dir)
    names = {p.name for p in generation.glob(tables.PREFIX + "*")}
    assert names == {f"tables.{generation.name}.bin"}         # one file
    assert names <= set(read_manifest(generation))          # checksummed like every other file
    with SearchEngine(index_dir) as engine:
        snapshot = engine._snapshot()
        for table in ("order-newest", "position-oldest", "length-title", "decay"):
            assert isinstance(snapshot._order[table], np.memmap), table
        # the same arrays as computed in memory (a generation written before tables existed)
        computed = tables.compute(snapshot.searcher, snapshot._flags())
        assert set(computed) <= set(snapshot._order)
        for name, values in computed.items():
            assert np.array_equal(values, snapshot._order[name]), name
        assert snapshot.order("newest").tolist() == sorted(
            docnums(snapshot.live), key=lambda d: (snapshot.searcher.reader().column_reader("newest_key")[d], d))


def test_an_incremental_build_writes_new_tables_and_leaves_the_old_generations_intact(tmp_path):
    corpus, index_dir = _built(tmp_path)
    first = current_generation(index_dir)
    write_news(corpus, "item-3.md", title="Antitrust court ruling", publishedDateTime="2030-01-01T00:00:00Z")
    update_index(corpus, index_dir)
    second = current_generation(index_dir)
    assert second != first
    assert damaged_files(first, full=True) == []     # its tables were linked, never written through
    assert damaged_files(second, full=True) == []
    assert not list(second.glob(f"tables.{first.name}.*"))
    with SearchEngine(index_dir) as engine:
        snapshot = engine._snapshot()
        assert isinstance(snapshot._order["order-newest"], np.memmap)
        assert snapshot.record(snapshot.first_by_date(snapshot.live, "newest", 1)[0])["title"] == "Antitrust court ruling"


def test_recency_factors_are_not_kept_when_an_item_is_dated_in_the_future(tmp_path):
    keys = np.asarray([-2_000_000_000, -1_000, tables.NO_DATE_KEY], dtype=np.int64)
    _, lasting = tables.decay(keys, now=1_500_000_000)   # an item dated after "now"
    assert not lasting
    factors, lasting = tables.decay(keys, now=2_100_000_000)
    assert lasting and factors[0] == 1.0


def test_first_by_date_is_the_walk_of_the_order(tmp_path):
    _, index_dir = _built(tmp_path, 60)
    with SearchEngine(index_dir) as engine:
        snapshot = engine._snapshot()
        every = docnums(snapshot.live)
        rng = random.Random(7)
        for sort in ("newest", "oldest"):
            order = snapshot.order(sort).tolist()
            for _ in range(30):
                chosen = set(rng.sample(every, rng.randint(1, len(every))))
                bits = bits_of(chosen)
                limit = rng.randint(1, 70)
                expected = [d for d in order if d in chosen][:limit]
                assert snapshot.first_by_date(bits, sort, limit) == expected
                assert all(type(d) is int for d in snapshot.first_by_date(bits, sort, limit))


def test_bitmap_caches_are_bounded_by_bytes(tmp_path, monkeypatch):
    monkeypatch.setattr(snapshot_module, "TERM_CACHE_BYTES", 2_000)
    _, index_dir = _built(tmp_path)
    with SearchEngine(index_dir) as engine:
        snapshot = engine._snapshot()
        for word in ("privacy", "regulator", "fines", "company", "data", "protection", "authority", "fined"):
            for field in ("title", "excerpt"):
                snapshot.term_bits(field, word)
        terms = snapshot._terms
        assert 1 <= len(terms) < 16 and terms.weight <= 2_000


def test_lru_clear_and_discard_keep_its_weight():
    cache = Lru(100, weigh=len)
    cache.put("a", "x" * 30)
    cache.put("b", "y" * 30)
    cache.discard("a")
    assert cache.weight == 30
    cache.clear()
    assert cache.weight == 0 and not cache
    for n in range(5):
        cache.put(n, "z" * 30)
    assert len(cache) == 3   # a cleared cache holds as much as a new one


def test_a_switch_empties_the_old_generations_caches_even_if_a_thread_still_holds_it(tmp_path):
    corpus, index_dir = _built(tmp_path)
    engine = SearchEngine(index_dir, warm_switch=True)
    held = []

    def idle_reader():   # a server thread that answered once, then waits for its next request
        engine.search("privacy")
        held.append(engine._local.snapshot)

    thread = threading.Thread(target=idle_reader)
    thread.start()
    thread.join()
    old = held[0]
    assert old._order and len(old._terms) and old._shared.get("live")
    engine.search("privacy fines")
    _corpus(corpus, marker="Livemarker")
    update_index(corpus, index_dir)
    deadline = 200
    while engine.search("livemarker").total == 0 and deadline:   # warmed in the background, then switched
        threading.Event().wait(0.05)
        deadline -= 1
    assert engine.search("livemarker").total > 0
    engine._emptying.join(10)   # emptied in the background, not in the request that saw the switch
    assert not old._order and not len(old._terms) and not old._facet_terms
    assert set(old._shared) == {"lock"}
    assert all(key[:2] == engine._ready for key in engine._results)   # the old generation's pages went too
    # the old snapshot still answers (recomputing what it needs) if its thread wakes before moving on
    assert old.first_by_date(old.live, "newest", 3)
    engine.close()


def test_completions_from_the_word_table_are_the_term_dictionarys(sample_index):
    with SearchEngine(sample_index) as engine:
        snapshot = engine._snapshot()
        assert tables.words(snapshot._order, "spell_title") is not None   # written at indexing
        prefixes = ["a", "pr", "priv", "fac", "gdp", "z", "zzz", "ü", "data", "re"]
        mapped = {p: snapshot.completions(p) for p in prefixes} | {"limited": snapshot.completions("p", 5)}
        words = {n: snapshot._order.pop(n) for n in list(snapshot._order) if n.startswith("word")}
        try:
            walked = {p: snapshot.completions(p) for p in prefixes} | {"limited": snapshot.completions("p", 5)}
        finally:
            snapshot._order.update(words)
        assert list(mapped.items()) == list(walked.items())
        assert sum(bool(found) for found in walked.values()) >= 7


def test_a_new_generation_computes_what_the_serving_one_had_cached_before_it_serves(tmp_path, monkeypatch):
    from searchapp.core import service
    monkeypatch.setattr(service, "REPLAY_SECONDS", 0.0)   # no request replayed: only the caches' keys
    corpus, index_dir = _built(tmp_path)
    engine = SearchEngine(index_dir, warm_switch=True)
    engine.search("privacy authority")
    engine.search("data protection fined")
    old = engine._snapshot()
    words = set(old._shared["word-arrays"])
    assert {"privaci", "author"} <= words
    _corpus(corpus, marker="Livemarker")
    update_index(corpus, index_dir)
    deadline = 200
    while engine.search("livemarker").total == 0 and deadline:
        threading.Event().wait(0.05)
        deadline -= 1
    fresh = engine._snapshot()
    assert fresh.generation != old.generation
    assert words <= set(fresh._shared["word-arrays"])       # computed before the switch, not by a user
    assert "previous" not in fresh._shared                  # the old caches are not kept alive by the new
    engine.close()


def test_titles_come_from_the_table_without_reading_stored_documents(tmp_path, monkeypatch):
    _, index_dir = _built(tmp_path)
    with SearchEngine(index_dir) as engine:
        snapshot = engine._snapshot()
        expected = {d: (snapshot.record(d)["id"], snapshot.record(d)["title"]) for d in docnums(snapshot.live)}
        monkeypatch.setattr(snapshot, "stored", lambda docnum: (_ for _ in ()).throw(AssertionError("read")))
        assert {d: snapshot.title(d) for d in expected} == expected
        assert [s.text for s in engine.suggest("privacy") if s.kind == "item"]   # listed from the table


def test_what_was_not_warmed_before_the_switch_is_warmed_while_the_new_generation_serves(tmp_path, monkeypatch):
    from searchapp.core import service
    monkeypatch.setattr(service, "REPLAY_SECONDS", 0.0)
    monkeypatch.setattr(snapshot_module, "WARM_LIKE_SECONDS", 0.0)   # nothing before it serves
    corpus, index_dir = _built(tmp_path)
    engine = SearchEngine(index_dir, warm_switch=True)
    engine.search("privacy authority")
    words = set(engine._snapshot()._shared["word-arrays"])
    _corpus(corpus, marker="Livemarker")
    update_index(corpus, index_dir)
    for _ in range(200):
        fresh = engine._snapshot()
        if engine.search("livemarker").total and words <= set(fresh._shared.get("word-arrays", ())):
            break
        threading.Event().wait(0.05)
    assert words <= set(engine._snapshot()._shared["word-arrays"])
    engine.close()


def test_a_switch_gives_freed_memory_back(tmp_path, monkeypatch):
    from searchapp.core import service
    trimmed = []
    monkeypatch.setattr(service, "trim_heap", lambda: trimmed.append(1))
    corpus, index_dir = _built(tmp_path)
    engine = SearchEngine(index_dir, warm_switch=True)
    engine.search("privacy")
    before = len(trimmed)
    _corpus(corpus, marker="Livemarker")
    update_index(corpus, index_dir)
    for _ in range(200):
        if engine.search("livemarker").total:
            break
        threading.Event().wait(0.05)
    for _ in range(200):   # at the first quiet moment after the switch (round 18), not inside a request
        if len(trimmed) > before:
            break
        threading.Event().wait(0.05)
    assert len(trimmed) > before
    engine.close()


ARENAS_PROBE = """
import ctypes, sys, threading
from searchapp.processes import limit_malloc_arenas
if sys.argv[1] == "capped":
    assert limit_malloc_arenas(2)
start = threading.Barrier(8)
def work():
    start.wait()
    kept = [bytearray(300_000) for _ in range(20)]   # each thread allocates at once
    start.wait()
threads = [threading.Thread(target=work) for _ in range(8)]
for t in threads: t.start()
for t in threads: t.join()
ctypes.CDLL(None).malloc_stats()   # one "Arena N:" block per arena, on stderr
"""


def _arenas(mode: str) -> int:
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", ARENAS_PROBE, mode], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return sum(line.startswith("Arena ") for line in done.stderr.splitlines())


def test_a_server_worker_caps_its_malloc_arenas():
    """Each thread of a worker got its own glibc arena, keeping its own freed pages (one
    worker after typing and 5 switches at 100k: 374 MB private, 319 MB with 2 arenas)."""
    import platform

    if platform.libc_ver()[0] != "glibc":
        pytest.skip("malloc arenas are glibc's")
    assert _arenas("free") > 2            # the probe does make arenas: 8 threads at once
    assert _arenas("capped") <= 2
    # and the server's workers set it before their threads start
    import inspect

    from searchapp import cli
    source = inspect.getsource(cli.serve_command.callback)
    assert "limit_malloc_arenas()" in source and "count_requests(app, IdleTrimmer().start())" in source


TRIM_PROBE = """
import sys
from searchapp.processes import IdleTrimmer
def anonymous_mb():
    fields = dict(l.split(":", 1) for l in open("/proc/self/smaps_rollup").read().splitlines()[1:])
    return int(fields["Anonymous"].split()[0]) / 1024
blocks = [bytearray(40_000) for _ in range(5_000)]     # 200 MB in bitmap-sized blocks
kept = blocks[99::100]                                  # one in a hundred stays (a cache's survivors)
del blocks
before = anonymous_mb()
trimmer = IdleTrimmer(check=0.05, quiet=0.2).start()
trimmer.begin(); trimmer.end()
import time; time.sleep(1.0)
print(before, anonymous_mb(), trimmer.trims)
"""


def test_a_quiet_worker_gives_a_bursts_freed_memory_back():
    """At 300k one engine held 274 MB after the typing workload and 206 MB once trimmed:
    glibc gives back only the top of its heap, and a survivor on top keeps the rest."""
    import platform
    import subprocess
    import sys

    if platform.libc_ver()[0] != "glibc":
        pytest.skip("malloc_trim is glibc's")
    done = subprocess.run([sys.executable, "-c", TRIM_PROBE], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    before, after, trims = done.stdout.split()
    assert float(before) > 150                       # the freed blocks were still held
    assert float(after) < float(before) - 100       # and the trim gave them back
    assert int(trims) == 1                           # once per quiet spell, not every check


def test_the_idle_trimmer_waits_for_quiet_and_for_requests(monkeypatch):
    from searchapp import processes

    trimmed = []
    monkeypatch.setattr(processes, "trim_heap", lambda: trimmed.append(1))
    now = [100.0]
    trimmer = processes.IdleTrimmer(quiet=1.0)
    trimmer._clock = lambda: now[0]
    assert not trimmer.trim_if_quiet()          # no request yet: nothing to give back
    trimmer.begin()
    trimmer.end()
    now[0] += 0.5
    assert not trimmer.trim_if_quiet()          # a burst still going on
    now[0] += 0.6
    assert trimmer.trim_if_quiet() and trimmed == [1]
    now[0] += 5
    assert not trimmer.trim_if_quiet()          # quiet since: once is enough
    # review 9: a slow request in progress, the others long finished: no trim beside it
    trimmer.begin()
    trimmer.begin()
    trimmer.end()
    now[0] += 5
    assert not trimmer.trim_if_quiet()
    trimmer.end()
    now[0] += 1.1
    assert trimmer.trim_if_quiet() and trimmed == [1, 1]


def test_a_served_request_is_counted_by_the_trimmer(tmp_path):
    """The server's wiring, through its real WSGI app: a request begins and ends counted,
    an error page too (teardown runs for it)."""
    import threading

    from searchapp import cli, processes
    from searchapp.web.app import create_app

    corpus, index_dir = _built(tmp_path)
    app = create_app(index_dir)
    trimmer = processes.IdleTrimmer()
    cli.count_requests(app, trimmer)
    seen = []
    app.before_request(lambda: seen.append(trimmer.running))
    client = app.test_client()
    assert client.get("/api/search?q=privacy").status_code == 200
    assert client.get("/api/search?q=" + "x" * 5000).status_code >= 400
    assert seen and all(n == 1 for n in seen)
    assert trimmer.running == 0 and trimmer.dirty
