"""Speed without changed answers. A server's engine warms a new generation
in the background (its tables, and this process's recent requests replayed)
while the old one answers, and moves to it when it is ready; scores
restricted to a few candidates are the scores of the whole query; spelling
neighbours from the cached vocabulary are Whoosh's own."""

from __future__ import annotations

import threading
import time

from conftest import write_news
from searchapp.backends.whoosh import compat
from searchapp.backends.whoosh.snapshot import _compiled
from searchapp.bitmaps import bits_of, docnums
from searchapp.core.service import SearchEngine
from searchapp.indexing import update_index
from searchapp.query.parser import parse


def _corpus(root, marker: str | None = None):
    for n in range(30):
        write_news(root, f"item-{n}.md", title=f"Privacy regulator fines company {n}",
                   excerpt="The data protection authority fined it.", publishedDateTime=f"2023-01-{n % 28 + 1:02d}T10:00:00Z")
    if marker:
        write_news(root, "marker.md", title=f"{marker} regulation story")


def _wait(condition, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def test_new_generation_serves_only_once_warm_and_old_answers_meanwhile(tmp_path, monkeypatch):
    corpus, index_dir = tmp_path / "corpus", tmp_path / "index"
    _corpus(corpus)
    update_index(corpus, index_dir, full=True)
    engine = SearchEngine(index_dir, warm_switch=True)
    assert engine.search("privacy").total == 30
    engine.suggest("regul")
    before = engine.search("privacy").took_ms

    _corpus(corpus, marker="Livemarker")
    update_index(corpus, index_dir)
    # Hold the warming thread: until it finishes, requests get the old generation, at once.
    release = threading.Event()
    replayed = []
    original = engine._answer

    def slow_answer(snapshot, *args, **kwargs):
        if threading.current_thread().name == "searchapp-warm":
            replayed.append(args[0])
            release.wait(20)
        return original(snapshot, *args, **kwargs)

    monkeypatch.setattr(engine, "_answer", slow_answer)
    started = time.perf_counter()
    assert engine.search("livemarker").total == 0          # the old generation, not a stall
    assert time.perf_counter() - started < 5
    _wait(lambda: replayed)
    assert replayed[0] in ("privacy", "livemarker")        # recent requests are replayed on the new one
    assert engine.search("livemarker").total == 0          # still warming: still the old one
    release.set()
    _wait(lambda: engine.search("livemarker").total == 1)  # switched once warm
    assert engine.search("privacy").total == 30
    assert before is not None
    engine.close()


def test_without_warm_switch_a_reindex_is_seen_by_the_next_request(tmp_path):
    corpus, index_dir = tmp_path / "corpus", tmp_path / "index"
    _corpus(corpus)
    update_index(corpus, index_dir, full=True)
    with SearchEngine(index_dir) as engine:
        assert engine.search("livemarker").total == 0
        _corpus(corpus, marker="Livemarker")
        update_index(corpus, index_dir)
        assert engine.search("livemarker").total == 1


def test_scores_within_candidates_equal_the_whole_querys(sample_index):
    """The collector that visits only the candidates (skip_to) gives each the
    score, and the top-N the order, that collecting every match and filtering gives."""
    with SearchEngine(sample_index) as engine:
        snapshot = engine._snapshot()
        for text in ("facial recognition ban", '"data protection" OR privacy', "gdpr", "ai act"):
            query = _compiled(engine.read(text))
            every = snapshot.matches(engine.read(text))
            candidates = bits_of(d for n, d in enumerate(docnums(every)) if n % 3 != 1)
            if not candidates:
                continue
            allow = set(docnums(candidates))
            for limit in (3, 10, 10_000_000):
                filtered = compat.exact_top(snapshot.searcher, query, limit, allow, None).top_n
                within = compat.exact_top(snapshot.searcher, query, limit, None, None, docnums(candidates)).top_n
                assert within == filtered, (text, limit)
                assert len(within) == min(limit, len(allow))


def test_neighbours_are_what_whooshs_terms_within_finds(sample_index):
    """The spelling neighbours, from the per-generation vocabulary by length,
    are the words (and counts) Whoosh's own terms_within gives."""
    with SearchEngine(sample_index) as engine:
        snapshot = engine._snapshot()
        reader = snapshot.searcher.reader()
        for word in ("facal", "recgnition", "privcy", "reglator", "gdrp", "qwxyz", "clearvew", "ai"):
            for maxdist in (1, 2):
                expected: dict[str, int] = {}
                for field in snapshot.spelling:
                    for term in reader.terms_within(field, word, maxdist, prefix=1):
                        expected[term] = expected.get(term, 0) + reader.doc_frequency(field, term)
                assert snapshot.neighbours(word, maxdist) == expected, (word, maxdist)
                if word == "facal" and maxdist == 2:
                    assert expected   # the check compares something
