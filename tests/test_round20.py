"""Round 20: suggestions counted without building rare terms' bitmaps (see README, "Round 20")."""

from __future__ import annotations

import random

import numpy as np
import pytest
from conftest import write_news

from searchapp.backends.whoosh import scopecount
from searchapp.bitmaps import bits_of, docnum_array, docnums
from searchapp.core import service
from searchapp.core.service import SearchEngine
from searchapp.core.suggest import facet_suggestions


def test_docnums_of_sparse_dense_and_empty_bitmaps():
    rng = random.Random(20)
    cases = [[], [0], [7], [8], [0, 1, 2, 3, 4, 5, 6, 7], list(range(0, 5000, 3)), list(range(1000))]
    cases += [sorted(rng.sample(range(size), rng.randint(1, size))) for size in (9, 64, 1000, 70_000) for _ in range(5)]
    for expected in cases:
        bits = bits_of(expected) if expected else 0
        assert docnums(bits) == expected
        array = docnum_array(bits)
        assert array.dtype == np.int64 and array.tolist() == expected


def _brute_facets(snapshot, head, prefix, scope, limit, floor):
    """The suggestion's facet values by counting every value having a word with the prefix."""
    found = []
    for facet in ("regulator", "jurisdiction"):
        for value in snapshot.facet_values(facet):
            folded = value.casefold()
            if any(w.startswith(prefix) for w in folded.replace("(", " ").split()):
                count = (scope & snapshot.value_bits(facet, value)).bit_count()
                if count and count >= floor:
                    found.append((not folded.startswith(prefix), -count, value, facet))
    found.sort()
    return [(facet, value) for _, _, value, facet in found[:limit]]


HEADS = ["", "privacy ", "data protection ", "facial ", "ai ", "the ", "commission ", "court "]
PREFIXES = ["c", "co", "e", "eu", "u", "un", "n", "f", "fr", "s", "i", "in", "ca", "a", "b", "g", "m", "p"]


@pytest.mark.parametrize("limit", [1, 3, 8])
def test_facet_suggestions_counted_only_while_they_can_place_are_the_same_as_counting_all(sample_index, limit):
    """Values are counted in the order of their items and skipped once they cannot reach the
    top (their items under the earlier words are at most their items): the same values,
    in the same order, as counting every one."""
    with SearchEngine(sample_index) as engine:
        snapshot = engine._snapshot()
        compared = 0
        for head in HEADS:
            scope = snapshot.matches(service.read_query(head, snapshot.analyze)) if head.strip() else snapshot.live
            for prefix in PREFIXES:
                for floor in (1, 2, 5):
                    got = [(s.facet, s.value) for s in facet_suggestions(snapshot, head, prefix, scope, limit, floor)]
                    assert got == _brute_facets(snapshot, head, prefix, scope, limit, floor), (head, prefix, floor)
                    compared += bool(got)
        assert compared > 50   # not a comparison of empty lists


@pytest.mark.parametrize("share", [0, 10**9])   # every term from its postings; every term by popcount
def test_scope_counts_are_popcounts_by_either_path(sample_index, monkeypatch, share):
    monkeypatch.setattr(scopecount, "SPARSE_SHARE", share)
    with SearchEngine(sample_index) as engine:
        snapshot = engine._snapshot()
        words = sorted(snapshot.completions("c")) + sorted(snapshot.completions("pr")) + ["zzzunknown"]
        values = [(f, v) for f in ("regulator", "jurisdiction") for v in snapshot.facet_values(f)]
        rng = random.Random(share)
        scopes = [snapshot.live, 0] + [snapshot.live & bits_of(rng.sample(range(snapshot.doc_count), snapshot.doc_count // k))
                                       for k in (2, 5, 50)]
        for scope in scopes:
            snapshot._terms.clear()   # nothing at hand: each term is counted the path `share` picks
            counter = snapshot.counter(scope)
            for word in words * 2:   # twice: a count leaves the scope's flags as it found them
                assert counter.word(word) == (scope & snapshot.word_bits(word)).bit_count(), word
            for facet, value in values:
                assert counter.value(facet, value) == (scope & snapshot.value_bits(facet, value)).bit_count()


def test_scope_counts_leave_out_replaced_documents(tmp_path):
    """An append leaves a changed item's old document in the postings, deleted: it is not
    counted, by popcount or from the postings."""
    from searchapp.indexing import update_index

    corpus, index_dir = tmp_path / "corpus", tmp_path / "index"
    for n in range(40):
        write_news(corpus, f"{n}.md", title=f"Zebra crossing rules {n}", topics=["AI"])
    update_index(corpus, index_dir)
    for n in range(10):   # ten items lose the word "zebra"
        write_news(corpus, f"{n}.md", title=f"Pelican crossing rules {n}", topics=["AI"])
    update_index(corpus, index_dir)
    with SearchEngine(index_dir) as engine:
        snapshot = engine._snapshot()
        assert snapshot.doc_count == 40
        for share in (0, 10**9):
            scopecount.SPARSE_SHARE, saved = share, scopecount.SPARSE_SHARE
            try:
                snapshot._terms.clear()
                counter = snapshot.counter(snapshot.live)
                assert counter.word("zebra") == 30
                assert counter.word("pelican") == 10
                assert counter.word("crossing") == 40
            finally:
                scopecount.SPARSE_SHARE = saved
        assert [s.text for s in engine.suggest("crossing ze")][:1] == ["crossing zebra"]


def test_a_rare_completion_is_counted_without_building_its_bitmap(tmp_path):
    """The point of the counter: ranking a dozen completions does not build (and cache,
    pushing common words out) a bitmap per rare completion; a common one's is built and kept
    (since round 23 from its row of bits in the generation's tables: test_round23.py)."""
    from searchapp.indexing import update_index

    corpus, index_dir = tmp_path / "corpus", tmp_path / "index"
    for n in range(100):
        write_news(corpus, f"{n}.md", title=f"Privacy ruling {n}" + (" on pricing" if n == 7 else ""), topics=["AI"])
    update_index(corpus, index_dir)
    with SearchEngine(index_dir) as engine:
        snapshot = engine._snapshot()
        snapshot._terms.clear()
        counter = snapshot.counter(snapshot.live)
        assert counter.word("pricing") == 1 and counter.word("privacy") == 100
        assert snapshot.cached_bits("title", snapshot.stem("pricing")) is None
        assert snapshot.cached_bits("title", snapshot.stem("privacy")) is not None
        assert engine.suggest("ruling pric")[0].text == "ruling pricing"


def test_term_places_and_best_completions_are_kept_per_generation(sample_index):
    """A term's place in its postings table and a prefix's best completions are looked up once
    per generation; what is kept answers as the lookup does (an unknown term stays unknown)."""
    from searchapp.core.suggest import SUGGEST_CANDIDATES, candidates

    with SearchEngine(sample_index) as engine:
        snapshot = engine._snapshot()
        table = snapshot._postings_table("title")
        for _ in range(2):   # looked up, then kept
            docs, _weights = snapshot.postings("title", snapshot.stem("privacy"))
            assert docs.tolist() == table.postings(table.find(snapshot.stem("privacy")))[0].tolist()
            assert snapshot.postings("title", "zzzunknown") is None
        assert snapshot._shared["term-places"].get(("title", "zzzunknown")) == -1
        counts = snapshot.completions("pr")
        expected = sorted(counts, key=lambda w: (-counts[w], w))[:SUGGEST_CANDIDATES]
        first = candidates(snapshot, "pr")
        assert list(first) == expected and all(first[w] == counts[w] for w in expected)
        first.clear()   # a caller's change does not reach the cache
        assert list(candidates(snapshot, "pr")) == expected


@pytest.fixture
def requests_here(monkeypatch):
    """A request counter of the test's own (nothing another test left running counts)."""
    from searchapp import processes

    counter = processes.Activity()
    monkeypatch.setattr(processes, "REQUESTS", counter)
    monkeypatch.setattr(service, "REQUESTS", counter)
    return counter


def test_background_work_gives_way_to_a_request_in_progress(requests_here):
    """processes.give_way: background work (warming a served generation, emptying a dropped
    one's caches) waits while any request runs in the process, at most `most` seconds and
    never past its deadline."""
    import time

    from searchapp import processes

    started = time.perf_counter()
    processes.give_way(started + 5, 5)   # nothing running: at once
    assert time.perf_counter() - started < 0.5
    requests_here.begin()
    try:
        started = time.perf_counter()
        processes.give_way(started + 0.2, 5)   # a request runs: until the deadline
        assert time.perf_counter() - started >= 0.2
        started = time.perf_counter()
        processes.give_way(started + 5, 0.1)   # ... or for `most`
        assert 0.1 <= time.perf_counter() - started < 4
    finally:
        requests_here.end()


def test_warming_a_served_generation_waits_a_little_for_each_request(sample_index, requests_here, monkeypatch):
    """Round 20: after a switch at 300k, the warming thread's 20 ms slices held 2.5 ms
    suggestions up to 23 ms. Each key now waits while a request runs, at most
    WARM_GIVE_WAY_SECONDS, so typing without a gap still lets it go on (review 20b)."""
    import time

    from searchapp.backends.whoosh import snapshot as snapshot_module

    monkeypatch.setattr(snapshot_module, "WARM_GIVE_WAY_SECONDS", 0.05)
    with SearchEngine(sample_index) as engine:
        snapshot = engine._snapshot()
        keys = [("bits", ("title", snapshot.stem(w))) for w in ("privacy", "court", "data")]
        requests_here.begin()
        try:
            started = time.perf_counter()
            assert snapshot._warm_keys(keys, started + 5, give_way=True) == len(keys)
            assert time.perf_counter() - started >= 3 * 0.05
        finally:
            requests_here.end()
        assert snapshot._warm_keys(keys, time.perf_counter() + 5, give_way=True) == len(keys)


def test_waiting_for_a_request_is_not_counted_as_warming_work(sample_index, requests_here, monkeypatch):
    """Review 20b: the time waited counted as the slice's work, so warming then slept as long
    again, and could return past its deadline having warmed 1 key of 5,801."""
    import threading
    import time

    from searchapp.backends.whoosh import snapshot as snapshot_module

    monkeypatch.setattr(snapshot_module, "WARM_GIVE_WAY_SECONDS", 10.0)
    with SearchEngine(sample_index) as engine:
        snapshot = engine._snapshot()
        keys = [("bits", ("title", snapshot.stem(w))) for w in ("privacy", "court", "data")] * 50
        requests_here.begin()
        threading.Timer(0.5, requests_here.end).start()   # a request of 0.5 s
        started = time.perf_counter()
        assert snapshot._warm_keys(keys, started + 5, give_way=True) == len(keys)
        assert time.perf_counter() - started < 0.9   # not 0.5 waited + 0.5 slept
        started = time.perf_counter()
        requests_here.begin()
        try:
            assert snapshot._warm_keys(keys, started + 0.3, give_way=True) == 0   # the deadline holds
            assert time.perf_counter() - started < 2
        finally:
            requests_here.end()


def test_a_request_is_counted_in_progress_while_it_is_answered(sample_index, monkeypatch, requests_here):
    seen = []
    with SearchEngine(sample_index) as engine:
        real = service.suggesting.suggestions
        monkeypatch.setattr(service.suggesting, "suggestions",
                            lambda *a, **k: seen.append(requests_here.running) or real(*a, **k))
        engine.suggest("privacy co")
        assert seen == [1] and requests_here.running == 0


def test_emptying_dropped_caches_waits_a_little_for_requests_but_finishes(monkeypatch, requests_here):
    import time

    monkeypatch.setattr(service, "EMPTY_GIVE_WAY_SECONDS", 0.05)
    dropped = [{"lock": None, "terms": {n: n for n in range(3 * service.EMPTY_CHUNK)}}]
    requests_here.begin()
    try:
        started = time.perf_counter()
        service._empty(dropped, trim=False)
        took = time.perf_counter() - started
        assert 0.1 <= took < 2   # a wait between chunks, none after the last
    finally:
        requests_here.end()
    assert dropped == [{"lock": None}]
