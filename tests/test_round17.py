"""Round 17 (issue 15, after a switch): a new generation takes over the previous one's
bitmaps for the documents both hold unchanged (the same leading segments), computing only
the new segments' bits; with every segment the same, score arrays and idf values too."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import write_news
from whoosh import query as Q

from searchapp.backends.whoosh import derived, tables
from searchapp.backends.whoosh.compile import analyze
from searchapp.backends.whoosh.snapshot import _shared_documents, open_snapshot
from searchapp.backends.whoosh.writer import segment_count
from searchapp.bitmaps import bits_of
from searchapp.core import service
from searchapp.core.service import SearchEngine
from searchapp.indexing import update_index
from searchapp.store import generations
from searchapp.store.generations import current_generation

# Whoosh queries of every kind the bitmap evaluation knows, and one it leaves to Whoosh's matchers
# (Prefix, DateRange-like TermRange): each must come out the same carried over as computed afresh.
QUERIES = [
    Q.Phrase("title", ["regul", "fine"]),
    Q.Phrase("excerpt", ["data", "transfer"]),
    Q.Or([Q.Phrase("title", ["privaci", "ban"]), Q.Term("excerpt", "court")]),
    Q.And([Q.Term("title", "regul"), Q.Not(Q.Term("title", "privaci"))]),
    Q.AndNot(Q.Term("excerpt", "camera"), Q.Phrase("title", ["regul", "fine"])),
    Q.Prefix("title", "priv"),
    Q.TermRange("title", "a", "m"),
    Q.And([Q.Prefix("excerpt", "cam"), Q.Or([Q.Term("title", "ban"), Q.Term("title", "fine")])]),
]
WORDS = ["regul", "fine", "privaci", "ban", "stori"]
PROJECT = Path(__file__).resolve().parents[1]


def _file(n: int, words: str, excerpt: str, year: int = 2024) -> dict:
    return dict(title=f"{words} story {n}", excerpt=excerpt, topics=["AI"],
                provider={"name": "Wire", "domain": "example.org"},
                publishedDateTime=f"{year}-0{1 + n % 3}-1{n % 10}T10:00:00Z")


def _first(corpus):
    for n in range(8):
        words = ["regulator fine", "privacy ban", "regulator privacy"][n % 3]
        excerpt = ["data transfer camera court", "camera court", "data transfer"][n % 3]
        write_news(corpus, f"a{n}.md", **_file(n, words, excerpt))


def _added(corpus):   # dated after every other item: an append (a new segment on the previous ones)
    write_news(corpus, "b0.md", **_file(0, "regulator fine privacy", "camera data transfer", year=2025))
    write_news(corpus, "b1.md", **_file(1, "ban", "court priv", year=2025))


def _open(generation, key, previous=None):
    shared = {"lock": threading.Lock()}
    if previous is not None:
        shared["previous"] = previous
    return open_snapshot(generation, key, shared)


def _used(snapshot):
    """Fill a generation's caches as requests would: query and word bitmaps, scores, stored documents."""
    for query in QUERIES:
        snapshot.query_bits(query)
    for word in WORDS:
        snapshot.term_bits("title", word)
        derived.word_arrays(snapshot, word)
        derived.arrays(snapshot).term(snapshot, "excerpt", word)
        snapshot.searcher.idf("title", word)
    for docnum in range(snapshot.searcher.reader().doc_count_all()):
        snapshot.stored(docnum)
    snapshot._vocabulary(snapshot.spelling[0], "r")   # a spelling correction's candidates
    return snapshot._shared


def _link_copy(index_dir):
    """The current generation's files hard-linked under a new generation (bench/switch.py --link)."""
    old = current_generation(index_dir)
    name, _ = generations.new_generation_name()
    new = index_dir / name
    new.mkdir()
    for path in old.iterdir():
        if path.is_file():
            os.link(path, new / path.name)
        else:
            shutil.copytree(path, new / path.name)
    generations.switch_current(index_dir, new)
    return new


def _first_generation_used(tmp_path):
    """(corpus, index folder, a snapshot of the first generation, its caches filled by _used)."""
    corpus, index_dir = tmp_path / "corpus", tmp_path / "index"
    _first(corpus)
    update_index(corpus, index_dir)
    old = _open(current_generation(index_dir), "a")
    return corpus, index_dir, old, _used(old)


def test_an_append_takes_over_the_previous_bitmaps_and_computes_only_the_new_documents_bits(tmp_path):
    corpus, index_dir, old, previous = _first_generation_used(tmp_path)
    _added(corpus)
    assert update_index(corpus, index_dir).mode == "incremental"
    generation = current_generation(index_dir)
    carried, fresh = _open(generation, "b"), _open(generation, "c")
    try:
        assert _shared_documents(previous, carried._shared) == 8   # the first generation's documents
        taken = carried._carry(previous)
        assert {("query", repr(q)) for q in QUERIES} <= taken
        assert {("bits", ("title", w)) for w in WORDS} <= taken
        assert {("stored", d) for d in range(8)} <= taken
        assert not any(kind in ("word", "term", "idf") for kind, _ in taken)   # new statistics: computed again
        new_docs = (1 << 10) - (1 << 8)
        for query in QUERIES:
            got = carried._queries.get(repr(query))
            assert got == fresh.query_bits(query), query
        assert any(carried._queries.get(repr(q)) & new_docs for q in QUERIES)   # the new documents' bits are there
        assert any(previous["queries"][repr(q)] != carried._queries.get(repr(q)) for q in QUERIES)
        for word in WORDS:
            assert carried._terms.get(("title", word)) == fresh.term_bits("title", word)
        for docnum in range(8):
            assert carried.stored(docnum) == fresh.stored(docnum)
    finally:
        for snapshot in (old, carried, fresh):
            snapshot.close()


def test_a_generation_of_the_same_segments_takes_over_scores_and_idf_too(tmp_path):
    corpus, index_dir, old, previous = _first_generation_used(tmp_path)
    generation = _link_copy(index_dir)
    carried, fresh = _open(generation, "b"), _open(generation, "c")
    try:
        taken = carried._carry(previous)
        assert {("word", w) for w in WORDS} <= taken and {("idf", ("title", w)) for w in WORDS} <= taken
        assert ("vocabulary", (carried.spelling[0], "r")) in taken
        assert {("term", ("excerpt", w)) for w in WORDS} <= taken
        for word in WORDS:
            got, want = carried.shared_cache("word-arrays", dict).get(word), derived.word_arrays(fresh, word)
            assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])
            assert carried._shared["idf"][("title", word)] == fresh.searcher.idf("title", word)
        for query in QUERIES:
            assert carried._queries.get(repr(query)) == fresh.query_bits(query)
        field = carried.spelling[0]
        assert carried.shared_cache("vocabulary", dict)[(field, "r")] == fresh._vocabulary(field, "r")
    finally:
        for snapshot in (old, carried, fresh):
            snapshot.close()


@pytest.mark.parametrize("change", ["full rebuild", "edit (a deletion merges the segments)"])
def test_a_rebuild_or_a_merge_takes_over_nothing(tmp_path, change):
    corpus, index_dir, old, previous = _first_generation_used(tmp_path)
    if change == "full rebuild":
        update_index(corpus, index_dir, full=True)
    else:
        write_news(corpus, "a3.md", **_file(3, "regulator fine", "an edited excerpt"))
        update_index(corpus, index_dir)
    carried = _open(current_generation(index_dir), "b")
    try:
        assert _shared_documents(previous, carried._shared) == 0
        assert carried._carry(previous) == frozenset()
    finally:
        old.close()
        carried.close()


def test_after_an_append_switch_a_server_answers_as_a_fresh_engine(tmp_path, monkeypatch):
    monkeypatch.setattr(service, "REPLAY_SECONDS", 0.0)   # only what the caches held: carried or computed
    corpus, index_dir = tmp_path / "corpus", tmp_path / "index"
    _first(corpus)
    update_index(corpus, index_dir)
    searches = ['"regulator fine"', "privacy -regulator", "camera OR court", "regulator fine privacy", "priv"]
    engine = SearchEngine(index_dir, warm_switch=True)
    try:
        for text in searches:
            engine.search(text)
        queries = set(engine._snapshot()._shared["queries"])   # the old generation's caches are emptied at the switch
        assert len(queries) >= 3
        _added(corpus)
        update_index(corpus, index_dir)
        generation = current_generation(index_dir)
        deadline = time.monotonic() + 30
        while engine._snapshot().generation != generation and time.monotonic() < deadline:
            engine.search("ban")
        assert engine._snapshot().generation == generation
        assert queries <= set(engine._snapshot()._shared["queries"])
        fresh = SearchEngine(index_dir)
        try:
            for text in searches:
                for typed in (False, True):
                    ours, theirs = engine.search(text, typed=typed).to_dict(), fresh.search(text, typed=typed).to_dict()
                    ours.pop("took_ms", None)
                    theirs.pop("took_ms", None)
                    assert ours == theirs, text
        finally:
            fresh.close()
    finally:
        engine.close()


# ---------------------------------------------------------------- phrases from the words kept in order

def _generated(tmp_path, count: int = 600):
    corpus = tmp_path / "corpus"
    subprocess.run([sys.executable, str(PROJECT / "bench" / "make_corpus.py"), str(count), str(corpus),
                    "--source", str(PROJECT / "corpus")], check=True, capture_output=True, timeout=600)
    return corpus


def _phrases_of(snapshot, fieldname: str, rng: random.Random, count: int) -> list[list[str]]:
    """Phrases to look for: runs of 1-4 consecutive words of random documents' texts (their stems,
    as the query compiler gives them), and as many made of words drawn at random."""
    source = "title" if fieldname == "related_text" else fieldname   # not stored: it is the listed items' titles
    texts = [snapshot.stored(d)["doc"].get(source) or "" for d in range(snapshot.searcher.reader().doc_count_all())]
    found = []
    while len(found) < count:
        stems = analyze(fieldname, rng.choice(texts))
        if len(stems) >= 1:
            size = rng.randint(1, min(4, len(stems)))
            at = rng.randrange(len(stems) - size + 1)
            found.append(stems[at:at + size])
            found.append([rng.choice(stems) for _ in range(rng.randint(2, 3))])
    return found


def _whoosh_phrase(snapshot, fieldname: str, words: list[str]) -> int:
    return bits_of(snapshot.searcher.docs_for_query(Q.Phrase(fieldname, words))) & snapshot.live


@pytest.mark.parametrize("fieldname", tables.PHRASE_FIELDS)
def test_a_phrases_documents_from_the_words_in_order_are_whooshs_before_and_after_an_append(tmp_path, fieldname):
    corpus, index_dir = _generated(tmp_path), tmp_path / "index"
    update_index(corpus, index_dir, full=True)
    rng = random.Random(17)
    for round_ in range(2):
        generation = current_generation(index_dir)
        snapshot = _open(generation, round_)
        try:
            assert snapshot._phrase_table(fieldname) is not None   # the table, not Whoosh's matchers
            phrases = _phrases_of(snapshot, fieldname, rng, 150)
            found = [snapshot._phrase_bits(fieldname, words) for words in phrases]
            runs, draws = [bool(bits) for bits in found[::2]], [bool(bits) for bits in found[1::2]]
            assert (all(runs) if fieldname != "related_text" else sum(runs) > 50) and not all(draws)
            for words, bits in zip(phrases, found):
                assert bits == _whoosh_phrase(snapshot, fieldname, words), words
            assert snapshot._phrase_bits(fieldname, ["nosuchword", phrases[0][0]]) == 0
        finally:
            snapshot.close()
        if round_ == 0:   # news arriving: the words of new segments after the previous ones, terms renumbered
            sys.path.insert(0, str(PROJECT / "bench"))
            from make_corpus import add_new
            add_new(corpus, 25, PROJECT / "corpus")
            info = update_index(corpus, index_dir)
            assert (info.mode, info.added) == ("incremental", 25)
            assert segment_count(current_generation(index_dir)) == 2


def test_a_damaged_words_table_falls_back_to_whooshs_matchers(tmp_path):
    corpus, index_dir = tmp_path / "corpus", tmp_path / "index"
    _first(corpus)
    update_index(corpus, index_dir)
    snapshot = _open(current_generation(index_dir), "a")
    try:
        size, terms = snapshot.searcher.reader().doc_count_all(), snapshot._postings_table("title").size
        good = {k: np.array(v) for k, v in snapshot._order.items() if k.endswith("-title")}
        assert tables.phrases(good, "title", size, terms) is not None
        for name, damage in [("tokens-title", lambda a: a.__setitem__(0, terms)),
                             ("tokens-title", lambda a: a.__setitem__(-1, 0)),
                             ("token-starts-title", lambda a: a.__setitem__(2, a[1] - 1)),
                             ("token-starts-title", lambda a: a.__setitem__(-1, a[-1] + 1))]:
            damaged = {k: v.copy() for k, v in good.items()}
            damage(damaged[name])
            assert tables.phrases(damaged, "title", size, terms) is None, name
        assert tables.phrases(good, "title", size + 1, terms) is None   # another generation's
    finally:
        snapshot.close()


def test_a_big_builds_phrase_tables_from_another_process_are_the_same(tmp_path, monkeypatch):
    corpus, index_dir = tmp_path / "corpus", tmp_path / "index"
    _first(corpus)
    _added(corpus)
    monkeypatch.setattr(tables, "PARALLEL_PHRASES_MIN", 0)   # as from 5,000 items
    started = []
    real = tables._phrase_tables_from
    monkeypatch.setattr(tables, "_phrase_tables_from", lambda *a: started.append(a) or real(*a))
    update_index(corpus, index_dir)
    assert started == []   # computed in the other process (spawned: it runs the module's own function)
    generation = current_generation(index_dir)
    written = tables.load(generation)
    snapshot = _open(generation, "a")
    try:
        live = np.ones(snapshot.searcher.reader().doc_count_all(), dtype=bool)
        here = tables.compute(snapshot.searcher, live)
        assert list(here) == list(written)
        for name in here:
            assert np.array_equal(here[name], written[name]), name
        assert any(name.startswith("tokens-") for name in written)
    finally:
        snapshot.close()


def test_an_index_written_without_phrase_tables_verifies_reads_whoosh_and_an_append_adds_them(tmp_path, monkeypatch):
    from searchapp.backends.whoosh.trial import full_check

    corpus, index_dir = tmp_path / "corpus", tmp_path / "index"
    _first(corpus)
    with monkeypatch.context() as patch:   # a generation written by round 16
        patch.setattr(tables, "PHRASE_FIELDS", ())
        update_index(corpus, index_dir)
    old = current_generation(index_dir)
    assert not any(name.startswith("tokens-") for name in tables.load(old))
    assert full_check(old) is None   # not reported damaged for lacking them
    snapshot = _open(old, "a")
    try:
        assert snapshot._phrase_table("title") is None   # Whoosh's matchers
        assert snapshot.query_bits(QUERIES[0]) == _whoosh_phrase(snapshot, "title", ["regul", "fine"]) != 0
    finally:
        snapshot.close()
    _added(corpus)
    assert update_index(corpus, index_dir).mode == "incremental"
    appended = tables.load(current_generation(index_dir))
    update_index(corpus, tmp_path / "full", full=True)
    rebuilt = tables.load(current_generation(tmp_path / "full"))
    for name in [n for n in rebuilt if n.startswith(("tokens-", "token-starts-"))]:
        assert np.array_equal(appended[name], rebuilt[name]), name
    assert full_check(current_generation(index_dir)) is None
