"""Review 11: rapidfuzz neighbours, deferred/frozen full collections, background emptying."""

from __future__ import annotations

import random
import subprocess
import sys
import threading

from rapidfuzz import process as rf_process
from rapidfuzz.distance import OSA, Levenshtein
from whoosh.support import levenshtein as whoosh_lev

from searchapp.core import service
from searchapp.lru import Lru


def test_rapidfuzz_filter_equals_whoosh_on_unicode_empty_and_zero_limit():
    """Held up: extract_iter(score_cutoff=maxdist) keeps exactly Whoosh's words, for combining
    marks, astral characters, NUL, empty word/terms, maxdist 0..3, duplicates kept in order."""
    rng = random.Random(11)
    alphabet = ["a", "b", "é", "e\u0301", "ß", "İ", "\U0001F600", "\x00", " ", "-"]
    for _ in range(400):
        word = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 5)))
        terms = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 6))) for _ in range(12)]
        terms.append(terms[0])
        for maxdist in (0, 1, 2, 3):
            for scorer, dist in ((Levenshtein.distance, whoosh_lev.levenshtein),
                                 (OSA.distance, whoosh_lev.damerau_levenshtein)):
                got = [t for t, _, _ in rf_process.extract_iter(word, terms, scorer=scorer, score_cutoff=maxdist)]
                assert got == [t for t in terms if dist(t, word, limit=maxdist) <= maxdist]


LEAK_PROBE = """
import gc, weakref
from searchapp import processes
processes.defer_full_collections()
t = processes.IdleTrimmer(check=3600)          # driven by hand, fake clock
now = [0.0]; t._clock = lambda: now[0]; t.last_collection = 0.0
class Held: pass
t.begin()                                       # a request always in progress: never quiet
held = Held(); held.me = held                   # e.g. a request's / generation's reference cycle
ref = weakref.ref(held)
now[0] += 31; assert t.collect_if_overdue()     # collected and frozen while still alive
del held                                        # now cyclic garbage
for _ in range(10):                             # five minutes more of uninterrupted load
    now[0] += 31; t.begin(); t.collect_if_overdue()
print("alive" if ref() is not None else "freed", t.collections)
"""


def test_cyclic_garbage_frozen_under_load_is_freed_by_a_later_overdue_collection():
    """Found: a cycle alive at a collection under load was frozen, and no later collection under
    load walked frozen objects (only a quiet worker's did): a worker never quiet kept such cycles
    for ever. Now every WALK_EVERYTHING_EVERY-th collection under load walks everything."""
    out = subprocess.run([sys.executable, "-c", LEAK_PROBE], capture_output=True, text=True, check=True).stdout.split()
    assert out[0] == "freed", out


def test_an_old_generations_snapshot_needs_no_cycle_collection(tmp_path):
    """Held up: the leak above does not hold an old generation: its snapshot and searcher are
    freed by reference counting once dropped, even while frozen."""
    probe = f"""
import gc, weakref, threading, pathlib, sys
sys.path.insert(0, {str(__import__('pathlib').Path(__file__).parent)!r})
from test_memory import _built, _corpus
from searchapp.core.service import SearchEngine
from searchapp.indexing import update_index
corpus, index_dir = _built(pathlib.Path({str(tmp_path)!r}))
engine = SearchEngine(index_dir, warm_switch=True)
for q in ("privacy", "data protection", "regulatr"):
    engine.search(q)
old = engine._local.snapshot
refs = [weakref.ref(old), weakref.ref(old.searcher)]
gc.collect(); gc.freeze()
_corpus(corpus, marker="Livemarker"); update_index(corpus, index_dir)
for _ in range(200):
    if engine.search("livemarker").total: break
    threading.Event().wait(0.05)
engine._emptying.join(10)
del old
gc.collect()
print(sum(r() is not None for r in refs))
engine.close()
"""
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.split()
    assert out[-1] == "0"


def test_the_non_warm_switch_path_empties_outside_the_engines_lock(tmp_path, monkeypatch):
    """Found: without warm_switch, _shared_for emptied the old caches inside _shared_lock, so
    every thread needing the lock waited through the whole chunked emptying. Now outside it."""
    from searchapp.core.service import SearchEngine
    from searchapp.indexing import update_index
    from test_memory import _built, _corpus

    corpus, index_dir = _built(tmp_path)
    engine = SearchEngine(index_dir)          # warm_switch=False: the CLI's and a library's engine
    try:
        for query in ("privacy", "data protection", "regulator fines"):
            engine.search(query)
        held_while_sleeping = []
        real_sleep = service.time.sleep
        monkeypatch.setattr(service, "EMPTY_CHUNK", 1)
        monkeypatch.setattr(service.time, "sleep",
                            lambda s: (held_while_sleeping.append(engine._shared_lock.locked()), real_sleep(s)))
        _corpus(corpus, marker="Livemarker")
        update_index(corpus, index_dir)
        assert engine.search("livemarker").total > 0      # the new generation, the old caches emptied
        assert held_while_sleeping and not any(held_while_sleeping)
    finally:
        engine.close()


def test_emptying_an_lru_that_a_reader_still_fills_ends_empty_and_consistent():
    """A request still writing to an old generation's Lru while it is popped neither raises nor
    keeps the emptier looping (found: it took 217 s against a writer that never stopped; now the
    emptier pops as many entries as the cache held, then clears); the weight ends at 0."""
    class Counting(Lru):
        pops = 0
        held = 0   # entries when the emptying began

        def popitem(self):
            if not Counting.pops:
                Counting.held = len(self)
            Counting.pops += 1
            return super().popitem()

    lru = Counting(10**9, weigh=lambda v: 100)
    for n in range(5000):
        lru.put(n, n)
    stop, errors = threading.Event(), []

    def writer():
        n = 10**6
        while not stop.is_set():
            try:
                lru.put(n, n); lru.get_fresh(n - 1); n += 1
            except Exception as e:   # pragma: no cover - the finding, if any
                errors.append(e)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        service._empty([{"lock": threading.Lock(), "terms": lru}], trim=False)
    finally:
        stop.set(); thread.join()
    assert not errors
    assert Counting.pops <= Counting.held + 2 * service.EMPTY_CHUNK   # what it held, whatever the writer adds
    lru.clear()
    assert lru.weight == 0 and not lru
