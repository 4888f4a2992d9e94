"""Review of "Story counts on arrays" / "Story arrays in int32" (core/grouping.py); fixed since.

The per-generation StoryArrays table is meant to be built once and shared by
every thread reading a generation (`snapshot.shared_cache("story-arrays", ...)`).
But shared_cache evaluates `self._shared.setdefault(name, factory())`: a thread
that found no table and waited for the lock builds the table again (under the
generation's lock) and throws it away. Several requests arriving together on a
fresh generation (every request calls results_count) therefore build it once
each, one after another, each waiting for the others' builds: N threads -> N
builds instead of 1. Results stay correct; the cost is wasted, serialised work
on the first requests after a switch. (Fixed: shared_cache looks again under the lock.)
"""

from __future__ import annotations

import threading
import time

import pytest
from conftest import write_news

from searchapp.core import grouping
from searchapp.core.service import SearchEngine
from searchapp.indexing import update_index

PROVIDERS = ["reuters.com", "apnews.com", "bbc.co.uk"]


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    corpus = tmp_path_factory.mktemp("review10b") / "corpus"
    for story in range(3):
        for n, domain in enumerate(PROVIDERS):
            write_news(corpus, f"s{story}-{n}.md",
                       title=f"Regulator {story} fines carrier over location data sharing in case {story}",
                       excerpt=f"The regulator number {story} said the carrier shared customers' location data.",
                       topics=["Privacy"], webUrl=f"https://{domain}/story-{story}-{n}",
                       publishedDateTime=f"2024-03-{story + 1:02d}T{10 + n}:00:00Z")
    index = corpus.parent / "index"
    update_index(corpus, index, full=True)
    return index


def test_concurrent_first_calls_on_a_generation_build_story_arrays_once(index, monkeypatch):
    """Four threads count results at once on a generation whose StoryArrays is not built
    yet: the table is built once and shared (it was built four times)."""
    built = []

    class Counted(grouping.StoryArrays):
        def __init__(self, snapshot):
            built.append(threading.get_ident())
            time.sleep(0.2)   # a build at 300k items takes tens of ms; long enough for the others to arrive
            super().__init__(snapshot)

    monkeypatch.setattr(grouping, "StoryArrays", Counted)
    with SearchEngine(index) as engine:
        threads_n = 4
        barrier = threading.Barrier(threads_n)
        counts, errors = [], []

        def work():
            try:
                snapshot = engine._snapshot()   # each thread's own snapshot, one shared dict per generation
                barrier.wait()
                counts.append(grouping.results_count(snapshot, snapshot.live))
            except Exception as error:   # pragma: no cover - reported below
                errors.append(repr(error))

        threads = [threading.Thread(target=work) for _ in range(threads_n)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert not errors
    assert counts == [3] * threads_n        # results are right ...
    assert len(built) == 1, f"StoryArrays built {len(built)} times for one generation"   # ... but built once each
