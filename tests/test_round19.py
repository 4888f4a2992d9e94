"""Round 19's review findings, one test each (see README, "Round 19")."""

from __future__ import annotations

from searchapp.core import spelling
from searchapp.core.service import SearchEngine


def test_an_answer_made_without_its_spelling_lookup_is_not_kept(sample_index):
    """Review 19: spelling is skipped while another request of the process looks words up
    (a flood of typos must not queue requests). The answer made without it was cached, so
    every later "facal recgnition" got no correction until the next reindex."""
    with SearchEngine(sample_index) as engine:
        assert spelling._WORKING.acquire(blocking=False)   # another request is looking words up
        try:
            busy = engine.search("facal recgnition")
        finally:
            spelling._WORKING.release()
        assert busy.corrected_from is None
        assert spelling.skipped() >= 1
        calm = engine.search("facal recgnition")
        assert calm.corrected_from == "facal recgnition"
        assert calm.total > busy.total
        assert engine.search("facal recgnition").corrected_from == "facal recgnition"   # and that one is kept


def test_a_request_waits_for_anothers_spelling_lookup_before_going_without(sample_index, monkeypatch):
    """Review 19: skipping at once gave 8 threads asking the same typo two different
    answers; a request now waits up to WAIT_SECONDS for the lookup in progress."""
    import threading
    import time

    monkeypatch.setattr(spelling, "WAIT_SECONDS", 5.0)   # generous: the release below comes long before
    with SearchEngine(sample_index) as engine:
        answers = []
        assert spelling._WORKING.acquire(blocking=False)
        try:
            asking = threading.Thread(target=lambda: answers.append(engine.search("facal recgnition")))
            asking.start()
            time.sleep(0.05)
            assert not answers   # waiting, not answered without spelling
        finally:
            spelling._WORKING.release()
        asking.join(10)
        assert answers and answers[0].corrected_from == "facal recgnition"


def test_completions_are_kept_per_generation_and_handed_out_as_copies(sample_index):
    """Round 19: a prefix's completions (and the facet values having a word with it) are
    worked out once per generation; what a caller gets is its own copy."""
    with SearchEngine(sample_index) as engine:
        snapshot = engine._snapshot()
        first = snapshot.completions("pr")
        assert first == snapshot._completions("pr", 300) and first
        first.clear()   # a caller's change does not reach the cache
        again = snapshot.completions("pr")
        assert again == snapshot._completions("pr", 300)
        assert ("pr", 300) in snapshot.shared_cache("completions", dict)
        suggestions = engine.suggest("fr")   # "France", "fr..." words
        assert "fr" in snapshot.shared_cache("facet-prefixes", dict)
        assert suggestions == engine.suggest("fr")
