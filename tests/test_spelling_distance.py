"""Did-you-mean's neighbour search measures edit distance with rapidfuzz (C) instead of
Whoosh's pure-Python functions: the same words must come back, on one segment (Levenshtein,
what Whoosh's automaton walks) and on several (Damerau-Levenshtein of the restricted kind,
optimal string alignment, a swap of neighbours being one edit)."""

from __future__ import annotations

from hypothesis import given, settings, strategies as st
from rapidfuzz.distance import OSA, Levenshtein
from whoosh.support import levenshtein as whoosh_distance

from searchapp.backends.whoosh.schema import SPELLING_FIELDS
from searchapp.core.service import SearchEngine

WORDS = st.text(alphabet="abcdeéü", min_size=0, max_size=9)


@settings(max_examples=3000, deadline=None)
@given(WORDS, WORDS, st.integers(min_value=1, max_value=3))
def test_rapidfuzz_agrees_with_whoosh_within_the_limit(a, b, limit):
    """What neighbours asks (distance within `limit`) has the same answer both ways."""
    assert (Levenshtein.distance(a, b, score_cutoff=limit) <= limit) == \
        (whoosh_distance.levenshtein(a, b, limit=limit) <= limit)
    assert (OSA.distance(a, b, score_cutoff=limit) <= limit) == \
        (whoosh_distance.damerau_levenshtein(a, b, limit=limit) <= limit)
    # and the exact distances, without a limit
    assert Levenshtein.distance(a, b) == whoosh_distance.levenshtein(a, b)
    assert OSA.distance(a, b) == whoosh_distance.damerau_levenshtein(a, b)


def test_a_swap_is_one_edit_only_across_segments():
    """The two measures differ where they should: "gdrp" is 1 swap, or 2 edits, from "gdpr"."""
    assert OSA.distance("gdrp", "gdpr") == 1 and Levenshtein.distance("gdrp", "gdpr") == 2
    assert OSA.distance("ca", "abc") == 3   # restricted: no edit inside a swapped pair (true Damerau: 2)


TYPOS = ["privcy", "facal", "recgnition", "gdrp", "cour", "polce", "regulaton", "biometirc",
         "clearviw", "fnie", "dta", "zzzz", "proivacy", "survelance"]


def _whoosh_neighbours(reader, word: str, maxdist: int) -> set[str]:
    """Whoosh's own answer: terms_within over the spelling fields, first letter fixed."""
    found = set()
    for field in SPELLING_FIELDS:
        for term in reader.terms_within(field, word, maxdist, prefix=1):
            found.add(term.decode("utf-8") if isinstance(term, bytes) else term)
    return found


def test_neighbours_are_whooshs_terms_within(sample_index):
    with SearchEngine(sample_index) as engine:
        snapshot = engine._snapshot()
        reader = snapshot.searcher.reader()
        hits = 0
        for word in TYPOS:
            for maxdist in (1, 2):
                ours = set(snapshot.neighbours(word, maxdist))
                assert ours == _whoosh_neighbours(reader, word, maxdist), (word, maxdist, reader.is_atomic())
                hits += bool(ours)
        assert hits >= 10   # the typos do have neighbours: the comparison is not of empty sets


def test_neighbours_on_several_segments(tmp_path):
    """An index grown by an incremental run has several segments: Damerau-Levenshtein there."""
    import shutil

    from conftest import SAMPLE_CORPUS, write_news
    from searchapp.indexing import update_index

    corpus, index = tmp_path / "corpus", tmp_path / "index"
    shutil.copytree(SAMPLE_CORPUS, corpus)
    update_index(corpus, index, full=True)
    write_news(corpus, "zzzz-added.md",   # sorts after every file: appended as a segment
               title="Privacy regulator fines a polling firm",
               excerpt="The gdpr survelance case: a regulaton on biometric data.")
    update_index(corpus, index)
    with SearchEngine(index) as engine:
        snapshot = engine._snapshot()
        reader = snapshot.searcher.reader()
        assert not reader.is_atomic()
        for word in TYPOS + ["polng", "survelanse"]:
            for maxdist in (1, 2):
                assert set(snapshot.neighbours(word, maxdist)) == _whoosh_neighbours(reader, word, maxdist), (word, maxdist)
