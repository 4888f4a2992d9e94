"""Round 23 (issue 15, suggestions): the common terms of the title and excerpt are written at
indexing as rows of bits, so counting a completion together with the earlier words builds
no bitmap in any worker (see README, "Round 23")."""

from __future__ import annotations

import random
import threading

import numpy as np
from conftest import write_news

from searchapp.backends.whoosh import derived, tables
from searchapp.backends.whoosh.snapshot import WhooshSnapshot, open_snapshot
from searchapp.bitmaps import bits_of
from searchapp.indexing import update_index
from searchapp.lru import Lru
from searchapp.store.generations import current_generation

SIZE = 320   # the threshold is SIZE / DENSE_SHARE = 10 documents


def _corpus(folder, size=SIZE, prefix="a", bravo=10, charlie=9, echo=9):
    """`size` items titled "Alpha story n"; "bravo" in `bravo` titles (and in three other items'
    excerpts: sparse there), "charlie" in `charlie` titles, "echo" in `echo` titles."""
    for n in range(size):
        words = ["Alpha story", str(n)]
        words += ["bravo"] if n < bravo else []
        words += ["charlie"] if bravo <= n < bravo + charlie else []
        words += ["echo"] if size - echo <= n else []
        excerpt = "Delta report bravo" if n in (50, 51, 52) else "Delta report"
        write_news(folder, f"{prefix}{n:04d}.md", title=" ".join(words), excerpt=excerpt, topics=["AI"],
                   publishedDateTime=f"2023-01-{n % 28 + 1:02d}T10:00:00Z")


def _open(generation):
    return open_snapshot(generation, "t", {"lock": threading.Lock()})


def _dense(found, field):
    return {n: np.array(found[f"dense-bits-{field}"][i])
            for i, n in enumerate(np.asarray(found[f"dense-terms-{field}"]).tolist())}


def test_rows_hold_the_documents_of_the_terms_in_a_32nd_of_them(tmp_path):
    _corpus(tmp_path / "corpus")
    update_index(tmp_path / "corpus", tmp_path / "index")
    snapshot = _open(current_generation(tmp_path / "index"))
    try:
        assert tables.DENSE_SHARE * 10 == SIZE
        stem = snapshot.stem
        assert snapshot.dense_row("title", stem("bravo")) is not None      # 10 of 320: exactly at the share
        assert snapshot.dense_row("title", stem("charlie")) is None        # 9: counted from its postings
        assert snapshot.dense_row("excerpt", stem("bravo")) is None        # 3 in the excerpts
        assert snapshot.dense_row("excerpt", stem("delta")) is not None
        assert snapshot.dense_row("body", stem("alpha")) is None           # only the title and excerpt have rows
        assert snapshot.dense_row("title", "nosuchterm") is None
        for field in tables.DENSE_FIELDS:
            postings = snapshot._postings_table(field)
            rows = _dense(snapshot._order, field)
            counts = np.diff(postings.starts)
            assert sorted(rows) == np.flatnonzero(counts * tables.DENSE_SHARE >= SIZE).tolist()
            for n, row in rows.items():
                docs = postings.postings(n)[0]
                assert int.from_bytes(row.tobytes(), "little") == bits_of(docs.tolist())
    finally:
        snapshot.close()


def test_counts_are_popcounts_and_a_common_terms_bitmap_comes_from_its_row(tmp_path, monkeypatch):
    _corpus(tmp_path / "corpus")
    update_index(tmp_path / "corpus", tmp_path / "index")
    generation = current_generation(tmp_path / "index")
    snapshot, reference = _open(generation), _open(generation)
    try:
        rng = random.Random(23)
        live = snapshot.live
        scopes = [live, 0, live & bits_of(range(0, SIZE, 2)), live & bits_of(range(45, 60))]
        scopes += [live & bits_of(rng.sample(range(SIZE), k)) for k in (1, 5, 40, 200)]
        words = ["alpha", "story", "bravo", "charlie", "delta", "report", "echo", "nosuchword"]
        expected = {(i, w): (scope & reference.word_bits(w)).bit_count() for i, scope in enumerate(scopes) for w in words}
        built = []
        real = derived.bitmap
        monkeypatch.setattr(derived, "bitmap", lambda docs, size: built.append(docs.size) or real(docs, size))
        snapshot._terms.clear()
        for i, scope in enumerate(scopes):
            counter = snapshot.counter(scope)
            for word in words:
                assert counter.word(word) == expected[(i, word)], word
        # the common terms' bitmaps were made from their rows, not their postings, and kept
        for field, word in (("title", "alpha"), ("title", "bravo"), ("excerpt", "delta")):
            assert snapshot.cached_bits(field, snapshot.stem(word)) == reference.term_bits(field, snapshot.stem(word))
        assert SIZE not in built and 10 not in built   # "alpha" (320 titles), "bravo" (10): no bitmap from postings
        # as a search reads them: the same bits from a row as from the postings
        for field, word in (("title", "bravo"), ("title", "alpha"), ("excerpt", "delta"), ("title", "charlie")):
            docs = snapshot.postings(field, snapshot.stem(word))[0]
            assert snapshot.term_bits(field, snapshot.stem(word)) == real(docs, 0) & live != 0
    finally:
        snapshot.close()
        reference.close()


def test_a_new_generation_opens_with_its_common_terms_and_short_prefixes_ready(tmp_path):
    """What the first suggestions after a space and a letter read is computed before anyone
    types: the common terms' bitmaps when a generation opens, the one- and two-character
    prefixes' best completions at a server worker's boot (cli.warm_worker) and when it warms a
    new generation."""
    from searchapp.core import suggest as suggesting
    from searchapp.core.service import SearchEngine

    _corpus(tmp_path / "corpus")
    update_index(tmp_path / "corpus", tmp_path / "index")
    snapshot = _open(current_generation(tmp_path / "index"))
    try:
        for field, word in (("title", "alpha"), ("title", "bravo"), ("excerpt", "delta"), ("excerpt", "report")):
            assert snapshot.cached_bits(field, snapshot.stem(word)) is not None, word
        assert snapshot.cached_bits("title", snapshot.stem("charlie")) is None   # rarer: counted from postings
    finally:
        snapshot.close()
    with SearchEngine(tmp_path / "index") as engine:
        engine.search("alpha")
        kept = engine._snapshot().shared_cache("suggest-candidates", lambda: Lru(suggesting.PREFIXES_KEPT))
        assert not {"b", "br"} & set(kept.newest_keys())
        engine.warm_suggestions()
        assert {"a", "al", "b", "br", "d", "de", "e", "ec"} <= set(kept.newest_keys())
        assert kept.get_fresh("q") == ()   # no word begins with it: its two-character prefixes are not asked
        assert not any(k.startswith("q") and len(k) == 2 for k in kept.newest_keys())
        first = engine.suggest("story br")
        assert [s.text for s in first][:1] == ["story bravo"]
        assert {"1", "12"} <= set(suggesting.short_prefixes(engine._snapshot()))   # digits too ("2023")


def test_an_append_writes_the_rows_a_full_build_writes(tmp_path):
    """News arriving: "echo" (9 of 300 titles) reaches the share with the new items (11 of 320):
    the appended tables have its row, byte for byte those of a full build of the same files."""
    corpus = tmp_path / "corpus"
    _corpus(corpus, size=300, echo=9)
    update_index(corpus, tmp_path / "index")
    for n in range(20):
        write_news(corpus, f"z{n:04d}.md", title=f"Alpha story new {n}" + (" echo" if n < 2 else ""),
                   excerpt="Delta report", topics=["AI"], publishedDateTime="2024-02-01T10:00:00Z")
    info = update_index(corpus, tmp_path / "index")
    assert (info.mode, info.added) == ("incremental", 20)
    update_index(corpus, tmp_path / "full", full=True)
    appended = tables.load(current_generation(tmp_path / "index"))
    rebuilt = tables.load(current_generation(tmp_path / "full"))
    for field in tables.DENSE_FIELDS:
        for name in (f"dense-terms-{field}", f"dense-bits-{field}"):
            assert appended[name].dtype == rebuilt[name].dtype and np.array_equal(appended[name], rebuilt[name]), name
    snapshot = _open(current_generation(tmp_path / "index"))
    try:
        assert snapshot.dense_row("title", snapshot.stem("echo")) is not None
        assert snapshot.counter(snapshot.live).word("echo") == 11
    finally:
        snapshot.close()


def test_a_generation_written_without_rows_verifies_and_counts_the_same(tmp_path, monkeypatch):
    from searchapp.backends.whoosh.trial import full_check

    corpus = tmp_path / "corpus"
    _corpus(corpus)
    with monkeypatch.context() as patch:   # a generation written before round 23
        patch.setattr(tables, "DENSE_FIELDS", ())
        update_index(corpus, tmp_path / "index")
    old = current_generation(tmp_path / "index")
    assert not any(name.startswith("dense-") for name in tables.load(old))
    assert full_check(old) is None   # not reported damaged for lacking them
    snapshot = _open(old)
    try:
        assert snapshot.dense_row("title", snapshot.stem("alpha")) is None
        assert snapshot.counter(snapshot.live).word("bravo") == 13
    finally:
        snapshot.close()
    write_news(corpus, "z9999.md", title="Alpha story last bravo", excerpt="Delta report", topics=["AI"],
               publishedDateTime="2024-02-01T10:00:00Z")
    update_index(corpus, tmp_path / "index")   # every table computed again: the rows are added
    new = current_generation(tmp_path / "index")
    assert any(name.startswith("dense-") for name in tables.load(new))
    assert full_check(new) is None


def test_another_generations_rows_are_not_read(tmp_path):
    """A tables file whose rows have another width (not this generation's documents) is not
    mapped: the generation's tables are computed in memory, as for any other mismatch."""
    _corpus(tmp_path / "corpus")
    update_index(tmp_path / "corpus", tmp_path / "index")
    generation = current_generation(tmp_path / "index")
    found = dict(tables.load(generation))
    assert WhooshSnapshot._mapped(generation, SIZE)   # its own: mapped
    wider = {**found, "dense-bits-title": np.zeros((3, (SIZE + 7) // 8 + 1), dtype=np.uint8)}
    tables.save(generation, wider)
    assert WhooshSnapshot._mapped(generation, SIZE) == {}


def test_damaged_rows_are_not_read(tmp_path):
    """Review 23: rows damaged under a matching checksum (zeroed bytes, two term numbers
    swapped) gave wrong counts silently; rows that disagree with the postings are not used."""
    _corpus(tmp_path / "corpus")
    update_index(tmp_path / "corpus", tmp_path / "index")
    generation = current_generation(tmp_path / "index")
    good = dict(tables.load(generation))
    postings = tables.postings(good, "title")
    assert tables.dense(good, "title", postings) is not None
    zeroed = np.array(good["dense-bits-title"])
    zeroed[0, :8] = 0
    swapped = np.array(good["dense-terms-title"])
    swapped[[0, 1]] = swapped[[1, 0]]
    for name, damaged in (("dense-bits-title", zeroed), ("dense-terms-title", swapped)):
        assert tables.dense({**good, name: damaged}, "title", postings) is None, name
        tables.save(generation, {**good, name: damaged})
        snapshot = _open(generation)
        try:
            assert snapshot.dense_row("title", snapshot.stem("alpha")) is None
            assert snapshot.counter(snapshot.live).word("alpha") == SIZE
            assert snapshot.term_bits("title", snapshot.stem("alpha")).bit_count() == SIZE
        finally:
            snapshot.close()
