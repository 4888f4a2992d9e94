"""Round 18 (issue 15, the heaviest search after an append): a phrase is scored as Whoosh
scores it, its words' intersection, but moved only to the documents its bitmap holds
(compat.KnownPhrase), never through Whoosh's span matchers."""

from __future__ import annotations

import os
import queue
import random
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import thirty_fines
from whoosh import query as Q
from whoosh.query.spans import SpanNear2

from searchapp import processes
from searchapp.backends.whoosh import compat
from searchapp.backends.whoosh.compile import analyze
from searchapp.backends.whoosh.schema import TEXT_FIELDS
from searchapp.backends.whoosh.snapshot import open_snapshot
from searchapp.backends.whoosh.writer import segment_count
from searchapp.bitmaps import docnums
from searchapp.core import service
from searchapp.core.service import SearchEngine
from searchapp.indexing import update_index
from searchapp.ingest.reader import read_corpus
from searchapp.store import generations
from searchapp.store.generations import current_generation

PROJECT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def appended(tmp_path_factory) -> Path:
    """A generated corpus of 600 items, built, then 25 more appended: two segments."""
    root = tmp_path_factory.mktemp("round18")
    corpus, index_dir = root / "corpus", root / "index"
    subprocess.run([sys.executable, str(PROJECT / "bench" / "make_corpus.py"), "600", str(corpus),
                    "--source", str(PROJECT / "corpus")], check=True, capture_output=True, timeout=600)
    update_index(corpus, index_dir, full=True)
    sys.path.insert(0, str(PROJECT / "bench"))
    from make_corpus import add_new
    add_new(corpus, 25, PROJECT / "corpus")
    assert update_index(corpus, index_dir).added == 25
    assert segment_count(current_generation(index_dir)) == 2
    bodies.extend(item.body for item in read_corpus(corpus).items)
    return index_dir


bodies: list[str] = []   # the corpus's bodies (not stored in the index), filled by `appended`


def _phrases(snapshot, fieldname: str, rng: random.Random, count: int) -> list[list[str]]:
    """Runs of 2-4 consecutive stems of random documents' texts, and as many drawn at random."""
    source = "title" if fieldname == "related_text" else fieldname
    texts = bodies if fieldname == "body" else [
        snapshot.stored(d)["doc"].get(source) or "" for d in range(snapshot.searcher.reader().doc_count_all())]
    assert sum(bool(t) for t in texts) > 5   # the generator gives few items a body
    found: list[list[str]] = []
    while len(found) < count:
        stems = analyze(fieldname, rng.choice(texts))
        if len(stems) >= 2:
            size = rng.randint(2, min(4, len(stems)))
            at = rng.randrange(len(stems) - size + 1)
            found.append(list(stems[at:at + size]))
            found.append([rng.choice(stems) for _ in range(rng.randint(2, 3))])
    return found


def _top(searcher, query, within=None):
    return list(compat.exact_top(searcher, query, 10_000_000, None, None, within).top_n)


@pytest.mark.parametrize("fieldname", TEXT_FIELDS)
def test_a_known_phrase_scores_as_whooshs_phrase_bit_for_bit(appended, fieldname):
    snapshot = open_snapshot(current_generation(appended), "r18", {"lock": threading.Lock()})
    try:
        rng, matched = random.Random(18), 0
        for words in _phrases(snapshot, fieldname, rng, 60):
            for boost in (1.0, 0.4):
                phrase = Q.Phrase(fieldname, words, boost=boost)
                either = Q.Or([phrase, Q.Term(fieldname, words[0], boost=0.7)])
                either.matcher_type = Q.Or.DEFAULT_MATCHER   # as compile._union_trees sets it
                for query in (phrase, either, Q.And([Q.Term(fieldname, words[-1]), phrase])):
                    for searcher in (snapshot.searcher, snapshot.recency_searcher()):
                        scored = snapshot.scored_query(query, searcher)
                        assert scored is not query   # its phrase replaced ...
                        expected = _top(searcher, query)
                        assert _top(searcher, scored) == expected, (query, searcher)   # ... same scores
                        some = sorted({d for _, d in expected[::2]} | set(docnums(snapshot.query_bits(phrase))[:3]))
                        assert _top(searcher, scored, some) == _top(searcher, query, some)
                matched += bool(snapshot.query_bits(phrase))
        assert matched > 40   # most runs of a text's words are phrases it holds
    finally:
        snapshot.close()


def test_ranking_synonym_phrases_builds_no_span_matcher(appended, monkeypatch):
    """Whoosh's span matchers are not asked for while ranking: the same hits and scores without them."""
    texts = ["gdpr fine", "facial recognition ban", "gdpr fi", "police facial recognit", "data protection authority"]
    with SearchEngine(appended) as engine:
        expected = {t: [(h.id, h.score) for h in engine.search(t, typed=True, per_page=20).hits] for t in texts}
    assert sum(len(hits) for hits in expected.values()) > 40

    def refuse(*args, **kwargs):
        raise AssertionError("a span matcher was built")

    monkeypatch.setattr(SpanNear2.SpanNear2Matcher, "__init__", refuse)
    with SearchEngine(appended) as engine:
        for text in texts:
            assert [(h.id, h.score) for h in engine.search(text, typed=True, per_page=20).hits] == expected[text]


def test_a_phrase_under_a_query_kept_whole_is_left_to_whoosh(appended):
    """Only Ands and Ors are looked into: a phrase under a Not stays Whoosh's."""
    snapshot = open_snapshot(current_generation(appended), "r18b", {"lock": threading.Lock()})
    try:
        phrase = Q.Phrase("title", ["data", "protect"])
        negated = Q.AndNot(Q.Term("title", "data"), phrase)
        assert snapshot.scored_query(negated, snapshot.searcher) is negated
        replaced = snapshot.scored_query(Q.Or([phrase, negated]), snapshot.searcher)
        assert type(replaced.subqueries[0]) is compat.KnownPhrase and replaced.subqueries[1] is negated
    finally:
        snapshot.close()


def test_compat_refuses_a_whoosh_whose_phrase_scores_otherwise(monkeypatch):
    """KnownPhrase repeats how Whoosh scores a phrase (its words' intersection): a Whoosh whose span
    matcher scores by itself is refused at import rather than ranked differently."""
    monkeypatch.setattr(SpanNear2.SpanNear2Matcher, "score", lambda self: 1.0, raising=False)
    with pytest.raises(compat.WhooshIncompatible, match="Phrase"):
        compat.check()


# ---------------------------------------------------------------- snapshots opened ahead of the switch

_news = thirty_fines


def _serving(tmp_path):
    """(corpus, a server's engine, warm_switch, on its index, built in full)."""
    corpus, index_dir = tmp_path / "corpus", tmp_path / "index"
    _news(corpus)
    update_index(corpus, index_dir, full=True)
    return corpus, SearchEngine(index_dir, warm_switch=True)


def _as_a_server(engine, index_dir):
    """The engine's registration renamed as another process's: the build waits for it to warm NEXT."""
    foreign = index_dir / generations.SERVERS / "1-foreign"
    os.rename(engine._registration.path, foreign)
    engine._registration.path = foreign


class _Readers:
    """Persistent threads, as a server's, each answering the requests given to it."""

    def __init__(self, engine, count: int):
        self.engine, self.jobs = engine, [queue.Queue() for _ in range(count)]
        self.threads = [threading.Thread(target=self._serve, args=(jobs,), daemon=True) for jobs in self.jobs]
        for thread in self.threads:
            thread.start()

    def _serve(self, jobs):
        while (job := jobs.get()) is not None:
            function, answer = job
            answer.put(function())

    def each(self, function) -> list:
        answers = [queue.Queue() for _ in self.jobs]
        for jobs, answer in zip(self.jobs, answers):
            jobs.put((function, answer))
        return [answer.get(timeout=60) for answer in answers]

    def stop(self):
        for jobs in self.jobs:
            jobs.put(None)
        for thread in self.threads:
            thread.join(10)


def test_after_a_switch_each_reading_thread_finds_its_snapshot_opened_ahead(tmp_path):
    corpus, engine = _serving(tmp_path)
    index_dir = engine.index_dir
    readers = _Readers(engine, 3)
    opened_by: list[str] = []
    real_open = engine.backend.open

    def spy(*args, **kwargs):   # the real backend's open, noting the thread that asked
        opened_by.append(threading.current_thread().name)
        return real_open(*args, **kwargs)

    try:
        assert readers.each(lambda: engine.search("privacy").total) == [30, 30, 30]
        engine.backend.open = spy
        _as_a_server(engine, index_dir)
        for round_ in range(2):
            _news(corpus, marker=f"Livemarker{round_}")
            update_index(corpus, index_dir)   # returns once the engine warmed NEXT (and opened ahead)
            new = generations.current_generation(index_dir)
            assert readers.each(lambda r=round_: engine.search(f"livemarker{r}").total) == [1, 1, 1]
            assert opened_by and set(opened_by) <= {"searchapp-next", "searchapp-warm"}   # none in a request
            opened_by.clear()
            assert all(s.generation == new for s in readers.each(lambda: engine._local.snapshot))
            # one per thread that read the serving generation, the three taken; at the first switch that
            # was the main thread's too (SearchEngine() reads there), closed as idle at that switch
            assert len(engine._spares.get(engine._ready)) == (1 if round_ == 0 else 0)
        assert list(engine._spares) == [engine._ready]        # the first switch's left none behind
    finally:
        readers.stop()
        engine.close()


def test_spares_of_a_generation_never_served_are_closed(tmp_path):
    """A warmed generation superseded before any thread read it: its snapshots opened ahead are
    closed at the next switch, and by close()."""
    corpus, engine = _serving(tmp_path)
    index_dir = engine.index_dir
    readers = _Readers(engine, 2)
    try:
        readers.each(lambda: engine.search("privacy"))
        _as_a_server(engine, index_dir)
        _news(corpus, marker="Onemarker")
        update_index(corpus, index_dir)
        first = next(iter(engine._spares.values()))
        assert len(first) == 3 and not any(s._closed for s in first)   # the two threads and the main one read
        _news(corpus, marker="Twomarker")
        update_index(corpus, index_dir)   # nobody asked for the first generation meanwhile
        assert readers.each(lambda: engine.search("twomarker").total) == [1, 1]
        assert _until(lambda: all(s._closed for s in first))   # closed in the background after the switch
        left = [s for found in engine._spares.values() for s in found]
        engine.close()
        assert engine._spares == {} and all(s._closed for s in left)
    finally:
        readers.stop()
        engine.close()


def _until(condition, tries: int = 400) -> bool:
    for _ in range(tries):
        if condition():
            return True
        threading.Event().wait(0.025)
    return False


# ---------------------------------------------------------------- the heap trimmed when no request runs

def test_when_quiet_waits_for_no_request_in_progress():
    activity, ran = processes.Activity(), []
    activity.begin()
    assert not processes.when_quiet(activity, lambda: ran.append(1), quiet=0.0, wait=0.1)   # a request runs
    activity.end()
    assert not processes.when_quiet(activity, lambda: ran.append(1), quiet=5.0, wait=0.1)   # it just ended
    assert processes.when_quiet(activity, lambda: ran.append(1), quiet=0.02, wait=2.0) and ran == [1]


def _trimming(tmp_path, monkeypatch):
    """(corpus, a server's engine on its index, the times trim_heap was called)."""
    trimmed = []
    monkeypatch.setattr(service, "trim_heap", lambda: trimmed.append(time.monotonic()))
    return (*_serving(tmp_path), trimmed)


def test_a_switch_trims_the_heap_only_once_no_request_runs(tmp_path, monkeypatch):
    """Trimming holds the allocator's locks (24-31 ms at 300k): the first requests after a switch
    waited for it. It now runs at the first quiet moment."""
    corpus, engine, trimmed = _trimming(tmp_path, monkeypatch)
    index_dir = engine.index_dir
    try:
        engine.search("privacy")
        _news(corpus, marker="Livemarker")
        update_index(corpus, index_dir)
        engine._activity.begin()   # a request in progress (another thread's) ...
        assert _until(lambda: engine.search("livemarker").total == 1)   # ... while this one switches
        assert not _until(lambda: trimmed, tries=20)   # half a second: no trim beside it
        engine._activity.end()
        assert _until(lambda: trimmed)
        assert engine._activity.running == 0
    finally:
        engine.close()


# ---------------------------------------------------------------- segments without a candidate

class _CountedTerm(Q.Term):
    built = 0

    def matcher(self, searcher, context=None):
        _CountedTerm.built += 1
        return super().matcher(searcher, context)


def test_scoring_given_documents_builds_no_matcher_in_a_segment_without_one(appended):
    """exact_top(within=...) visits only the segments holding a listed document: the same scores
    as scoring every match, one matcher per segment visited."""
    snapshot = open_snapshot(current_generation(appended), "r18c", {"lock": threading.Lock()})
    try:
        (_, first), (_, second) = snapshot.searcher.leaf_searchers()
        assert first == 0 and second > 0
        for word in ("regul", "data", "privaci"):
            query = Q.Or([_CountedTerm("title", word), Q.Term("excerpt", word, boost=0.5)])
            everything = {d: score for score, d in _top(snapshot.searcher, query)}
            for within in ([d for d in sorted(everything) if d < second][:7], [d for d in sorted(everything) if d >= second][:7]):
                assert within, word
                _CountedTerm.built = 0
                found = _top(snapshot.searcher, query, within)
                assert sorted(found, key=lambda pair: pair[1]) == [(everything[d], d) for d in within]
                assert _CountedTerm.built == 1   # the other segment was not asked for a matcher
    finally:
        snapshot.close()


def test_spares_of_a_generation_removed_before_they_are_taken_are_not_served(tmp_path):
    """Found by CI: a spare opened before its generation was removed still reads its open files;
    taking it served an index that no longer exists, where opening one fails and the request
    falls back to the newest good generation (/healthz said 503 instead of "degraded")."""
    corpus, engine = _serving(tmp_path)
    index_dir = engine.index_dir
    old = current_generation(index_dir)
    readers = _Readers(engine, 2)
    try:
        readers.each(lambda: engine.search("privacy"))
        _as_a_server(engine, index_dir)
        _news(corpus, marker="Livemarker")
        update_index(corpus, index_dir)   # warmed, spares opened; no reader has moved yet
        new = current_generation(index_dir)
        spares = list(engine._spares[(new, engine._prepared[1])])
        assert new != old and spares
        shutil.rmtree(new)
        assert readers.each(lambda: engine.search("privacy").total) == [30, 30]
        assert all(s.generation == old for s in readers.each(lambda: engine._local.snapshot))
        assert all(s._closed for s in spares)
    finally:
        readers.stop()
        engine.close()


def test_an_or_with_a_coordination_scale_keeps_whooshs_phrases(appended):
    """Review 18: an Or with `scale` scores through its parts' term matchers (Whoosh's CoordMatcher);
    compile.py never builds one, and known_phrases leaves it whole."""
    snapshot = open_snapshot(current_generation(appended), "r18d", {"lock": threading.Lock()})
    try:
        phrase = Q.Phrase("title", ["data", "protect"])
        for odd in (Q.Or([phrase, Q.Term("title", "data")], scale=0.9), Q.Or([phrase, Q.Term("title", "data")], minmatch=1)):
            assert snapshot.scored_query(odd, snapshot.searcher) is odd
    finally:
        snapshot.close()


def test_switches_in_quick_succession_leave_one_trim_waiting(tmp_path, monkeypatch):
    """Review 18: under steady traffic each switch left a release thread waiting to trim, and all
    of them trimmed back to back at the first quiet moment (24-31 ms each at 300k). Now one waits."""
    corpus, engine, trimmed = _trimming(tmp_path, monkeypatch)
    index_dir = engine.index_dir
    try:
        engine.search("privacy")
        engine._activity.begin()   # traffic that never pauses
        for round_ in range(3):
            _news(corpus, marker=f"Marker{round_}")
            update_index(corpus, index_dir)
            assert _until(lambda r=round_: engine.search(f"marker{r}").total == 1)
        assert _until(lambda: sum(t.name == "searchapp-release" for t in threading.enumerate()) == 1)   # one waits
        assert trimmed == []
        engine._activity.end()
        assert _until(lambda: trimmed)
        threading.Event().wait(0.3)
        assert len(trimmed) == 1
    finally:
        engine.close()
