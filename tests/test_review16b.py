"""Review 16b: facet counts without a bitmap per value (commit 926a415).

Every count is checked against a reference computed straight from Whoosh's
postings and deleted flags (not through term_bits, value_bits or the tables),
or against a full rebuild of the same corpus."""

from __future__ import annotations

import datetime as dt
import random
import shutil
import threading

import pytest

from conftest import SAMPLE_CORPUS, write_news
from searchapp.bitmaps import bits_of
from searchapp.core.service import SearchEngine
from searchapp.indexing import update_index
from searchapp.model import FACETS, TIMELINE_FACET, Filters

FIELD = {"topic": "f_topic", "jurisdiction": "f_jurisdiction", "regulator": "f_regulator",
         "provider": "f_provider", "year": "f_year", "month": "f_month"}


def ref_bits(snapshot, facet: str, value: str) -> int:
    reader = snapshot.searcher.reader()
    field = FIELD[facet]
    if (field, value) not in reader:
        return 0
    ids = [d for d in reader.postings(field, value).all_ids() if not reader.is_deleted(d)]
    return bits_of(ids)


def ref_live(snapshot) -> int:
    reader = snapshot.searcher.reader()
    return bits_of([d for d in range(reader.doc_count_all()) if not reader.is_deleted(d)])


def ref_facets(snapshot, filters: Filters, base: int) -> tuple[int, dict]:
    """(total, facet -> {value: count}) as the spec says: each facet under the other facets' filters,
    the timeline under every filter but the dates; selected values listed even at 0."""
    live = ref_live(snapshot)
    groups = {}
    for facet in FACETS:
        if filters.values(facet):
            bits = 0
            for v in filters.values(facet):
                bits |= ref_bits(snapshot, facet, v)
            groups[facet] = bits
    if filters.date_from or filters.date_to:
        groups["date"] = snapshot.dated_between(filters.date_from, filters.date_to)
    everything = base & live
    for bits in groups.values():
        everything &= bits
    out = {}
    for facet in (*FACETS, TIMELINE_FACET):
        scope = base & live
        for name, bits in groups.items():
            if name != facet and not (facet == TIMELINE_FACET and name == "date"):
                scope &= bits
        selected = set(filters.values(facet)) if facet in FACETS else set()
        counts = {}
        for value in snapshot.facet_values(facet):
            n = (scope & ref_bits(snapshot, facet, value)).bit_count()
            if n or value in selected:
                counts[value] = n
        out[facet] = counts
    return everything.bit_count(), out


def shown(page) -> dict:
    return {facet: {v.value: v.count for v in values} for facet, values in page.facets.items()}


def nonzero(facets: dict) -> dict:
    return {f: {v: n for v, n in c.items() if n} for f, c in facets.items()}


def filter_combos(snapshot, rng: random.Random, n: int) -> list[Filters]:
    values = {f: snapshot.facet_values(f) for f in FACETS}
    combos = [Filters(), Filters(topic=("no such topic",)),
              Filters(date_from=dt.date(2021, 1, 1), date_to=dt.date(2023, 6, 30))]
    for _ in range(n):
        kwargs = {}
        for facet in rng.sample(list(FACETS), rng.randint(1, 3)):
            if values[facet]:
                kwargs[facet] = tuple(rng.sample(values[facet], min(len(values[facet]), rng.randint(1, 2))))
        if rng.random() < 0.3:
            kwargs["date_from"] = dt.date(rng.randint(2015, 2024), 1, 1)
        combos.append(Filters(**kwargs))
    return combos


def check_engine(engine: SearchEngine, combos) -> None:
    snapshot = engine._snapshot()
    for filters in combos:
        page = engine.search("", filters, facet_limit=1000)
        base = snapshot.live
        total, want = ref_facets(snapshot, filters, base)
        assert shown(page) == want, filters
        assert page.total == total, filters


# ---------------------------------------------------------------- the sample corpus, as a user


def test_sample_corpus_every_facet_count_matches_the_reference(sample_index):
    with SearchEngine(sample_index) as engine:
        snapshot = engine._snapshot()
        check_engine(engine, filter_combos(snapshot, random.Random(7), 40))


def test_random_scopes_value_counts_equal_the_bitmap_counts(sample_index):
    with SearchEngine(sample_index) as engine:
        snapshot = engine._snapshot()
        n = snapshot.searcher.reader().doc_count_all()
        rng = random.Random(3)
        for scope in [0, snapshot.live, (1 << (n + 50)) - 1, *(bits_of(rng.sample(range(n), k)) for k in (1, 5, 20, 40))]:
            for facet in (*FACETS, TIMELINE_FACET):
                want = [(scope & snapshot.live & ref_bits(snapshot, facet, v)).bit_count()
                        for v in snapshot.facet_values(facet)]
                assert snapshot.value_counts(facet, scope) == want, facet


# ---------------------------------------------------------------- incremental reindexes


def _corpus(root, n: int = 100, seed: int = 0):
    rng = random.Random(seed)
    for i in range(n):
        write_news(root, f"f{i:03d}.md", title=f"Regulator note {i} on data", excerpt=f"Item {i} about rules.",
                   webUrl=f"https://{'big.example' if i % 2 else f'outlet{i}.example'}/{i}",
                   topics=["Privacy"] if i % 3 else ["Privacy", f"Topic {i}"],
                   publishedDateTime=f"20{10 + rng.randint(0, 12):02d}-0{1 + i % 9}-1{i % 10}T10:00:00Z")


def _compare_with_rebuild(tmp_path, corpus, index, rng) -> None:
    rebuilt = tmp_path / f"rebuilt-{rng.random()}"
    update_index(corpus, rebuilt, full=True)
    with SearchEngine(index) as inc, SearchEngine(rebuilt) as full:
        check_engine(inc, filter_combos(inc._snapshot(), random.Random(1), 25))
        combos = filter_combos(full._snapshot(), rng, 25)
        for filters in combos:
            a = inc.search("", filters, facet_limit=1000)
            b = full.search("", filters, facet_limit=1000)
            assert a.total == b.total, filters
            assert nonzero(shown(a)) == nonzero(shown(b)), filters
    shutil.rmtree(rebuilt)


@pytest.mark.slow
def test_incremental_remove_edit_add_match_a_full_rebuild(tmp_path):
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    _corpus(corpus)
    update_index(corpus, index, full=True)
    rng = random.Random(5)
    # remove: every item of rare outlets 0, 2, 4, and a common-topic item
    for i in (0, 2, 4, 9):
        (corpus / f"f{i:03d}.md").unlink()
    update_index(corpus, index)
    with SearchEngine(index) as engine:
        # a removal rewrites every document (indexing.py): no deleted docnums remain
        assert not engine._snapshot().searcher.reader().has_deletions()
        page = engine.search("", Filters(provider=("outlet0.example",)), facet_limit=1000)
        assert page.total == 0   # a value whose items are all deleted
        assert shown(page)["provider"].get("outlet0.example", 0) == 0
    _compare_with_rebuild(tmp_path, corpus, index, rng)
    # edit: move items between providers and topics
    for i in (6, 7, 8, 10):
        write_news(corpus, f"f{i:03d}.md", title=f"Edited {i}", webUrl=f"https://outlet{i}.example/{i}",
                   topics=["Edited topic"], publishedDateTime="2019-03-03T10:00:00Z")
    update_index(corpus, index)
    _compare_with_rebuild(tmp_path, corpus, index, rng)
    # add (appended segments)
    for i in range(100, 140):
        write_news(corpus, f"f{i:03d}.md", title=f"Added {i}", webUrl=f"https://{'big.example' if i % 2 else 'new.example'}/{i}",
                   topics=["Privacy", f"New {i % 5}"], publishedDateTime=f"2024-0{1 + i % 9}-11T10:00:00Z")
    update_index(corpus, index)
    _compare_with_rebuild(tmp_path, corpus, index, rng)
    # and a rare value that becomes common after the add
    for i in range(140, 200):
        write_news(corpus, f"f{i:03d}.md", title=f"More {i}", webUrl=f"https://outlet1.example/{i}",
                   topics=["Topic 3"], publishedDateTime="2024-05-05T10:00:00Z")
    update_index(corpus, index)
    _compare_with_rebuild(tmp_path, corpus, index, rng)


# ---------------------------------------------------------------- generations without postings tables


def test_fallback_without_postings_tables(tmp_path, monkeypatch):
    from searchapp.backends.whoosh import tables

    corpus, index = tmp_path / "corpus", tmp_path / "index"
    _corpus(corpus, 60)
    update_index(corpus, index, full=True)
    monkeypatch.setattr(tables, "POSTING_FIELDS", ("title", "excerpt", "body", "related_text"))
    with SearchEngine(index) as engine:
        snapshot = engine._snapshot()
        assert snapshot._field_counter("f_provider") is None
        check_engine(engine, filter_combos(snapshot, random.Random(2), 20))


# ---------------------------------------------------------------- the LRU holding rare values' bitmaps


def test_rare_filters_under_a_tiny_lru_from_many_threads(tmp_path, monkeypatch):
    from searchapp.backends.whoosh import snapshot as snapshot_module

    corpus, index = tmp_path / "corpus", tmp_path / "index"
    _corpus(corpus, 120)
    update_index(corpus, index, full=True)
    monkeypatch.setattr(snapshot_module, "TERM_CACHE_BYTES", 64)   # every rare bitmap evicted at once
    with SearchEngine(index) as engine:
        snapshot = engine._snapshot()
        rare = [(f, v) for f in FACETS for v in snapshot.facet_values(f)
                if ref_bits(snapshot, f, v).bit_count() * 32 < snapshot.searcher.reader().doc_count_all()]
        assert len(rare) > 50
        combos = [Filters(**{f: (v,)}) for f, v in rare] + [Filters(**{f: (v,), "year": ("2015",)}) for f, v in rare[:30]]
        want = {c: ref_facets(snapshot, c, snapshot.live) for c in combos}
        errors = []

        def worker(seed):
            rng = random.Random(seed)
            for _ in range(80):
                c = rng.choice(combos)
                page = engine.search("", c, facet_limit=1000, autocorrect=False)
                if (page.total, shown(page)) != want[c]:
                    errors.append(c)

        threads = [threading.Thread(target=worker, args=(s,)) for s in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, errors[:3]
        assert len(snapshot._terms) <= 2


# ---------------------------------------------------------------- counting during generation switches


def _expectations(engine, combos) -> dict:
    return {c: (p.total, repr(nonzero(shown(p)))) for c in combos
            for p in [engine.search("", c, facet_limit=1000, autocorrect=False)]}


@pytest.mark.slow
def test_counts_during_switches_are_one_generations_or_another(tmp_path):
    """Threads count rare and common filters while the index switches through rewrites
    (a quarter removed, then put back) and appends (new files after the rest); each answer
    must be exactly one state's, as a full rebuild of that state gives it."""
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    _corpus(corpus, 100)
    removed = {i: (corpus / f"f{i:03d}.md").read_text() for i in range(0, 100, 4)}
    steps, extra = [], 0
    for round_ in range(6):
        if round_ % 3 == 0:
            steps.append(("remove", None))
        elif round_ % 3 == 1:
            steps.append(("restore", None))
        else:
            steps.append(("append", extra))
            extra += 1

    def apply(step):
        kind, k = step
        if kind == "remove":
            for i in removed:
                (corpus / f"f{i:03d}.md").unlink()
        elif kind == "restore":
            for i, text in removed.items():
                (corpus / f"f{i:03d}.md").write_text(text)
        else:
            for j in range(10):
                n = 900 + 10 * k + j
                write_news(corpus, f"z{n}.md", title=f"Appended {n}", webUrl=f"https://outlet{n % 7}.example/{n}",
                           topics=[f"Topic {n % 11}"], publishedDateTime=f"2024-0{1 + j % 9}-12T10:00:00Z")

    # each state's expected answers, from a full rebuild of it
    snapshot_corpus = tmp_path / "states"
    shutil.copytree(corpus, snapshot_corpus)
    expected: dict = {}
    saved = corpus
    corpus = snapshot_corpus
    states = [None] + steps
    for n, step in enumerate(states):
        if step is not None:
            apply(step)
        rebuilt = tmp_path / f"full{n}"
        update_index(corpus, rebuilt, full=True)
        with SearchEngine(rebuilt) as full:
            if n == 0:
                values = sorted({(f, v) for f in FACETS for v in full._snapshot().facet_values(f)})
                combos = [Filters()] + [Filters(**{f: (v,)}) for f, v in values] + [
                    Filters(topic=("Privacy",), provider=(v,)) for f, v in values if f == "provider"][:40]
            for c, answer in _expectations(full, combos).items():
                expected.setdefault(c, set()).add(answer)
    corpus = saved
    update_index(corpus, index, full=True)

    errors, stop, seen = [], threading.Event(), set()
    with SearchEngine(index) as engine:
        engine.search("")

        def worker(seed):
            rng = random.Random(seed)
            while not stop.is_set():
                c = rng.choice(combos)
                try:
                    page = engine.search("", c, facet_limit=1000, autocorrect=False)
                except Exception as error:   # noqa: BLE001
                    errors.append((c, repr(error)))
                    continue
                seen.add(engine._snapshot().generation)
                if (page.total, repr(nonzero(shown(page)))) not in expected[c]:
                    errors.append((c, page.total))

        threads = [threading.Thread(target=worker, args=(s,)) for s in range(12)]
        for t in threads:
            t.start()
        try:
            for step in steps:
                apply(step)
                info = update_index(corpus, index)
                assert info.mode == "incremental"
        finally:
            stop.set()
            for t in threads:
                t.join()
        assert len(seen) >= 3
    assert not errors, errors[:5]


def test_counts_from_an_old_snapshot_whose_caches_a_switch_emptied(tmp_path):
    """service._release/_empty: a request still reading an old generation after the
    switch emptied its caches (tables, postings, counters, common values) recomputes them."""
    from searchapp.core.service import _empty

    corpus, index = tmp_path / "corpus", tmp_path / "index"
    _corpus(corpus, 100)
    update_index(corpus, index, full=True)
    with SearchEngine(index) as engine:
        snapshot = engine._snapshot()
        n = snapshot.searcher.reader().doc_count_all()
        rng = random.Random(4)
        scopes = [snapshot.live, bits_of(rng.sample(range(n), 30)), 0]
        want = {(f, i): [(s & ref_bits(snapshot, f, v)).bit_count() for v in snapshot.facet_values(f)]
                for f in (*FACETS, TIMELINE_FACET) for i, s in enumerate(scopes)}
        names = [k for k in snapshot._shared if k != "lock"]
        for name in names:   # one cache emptied at a time, then all of them
            snapshot._shared.pop(name, None)
            for (f, i), counts in want.items():
                assert snapshot.value_counts(f, scopes[i]) == counts, (name, f, i)
        _empty([snapshot._shared], trim=False)
        for (f, i), counts in want.items():
            assert snapshot.value_counts(f, scopes[i]) == counts, ("all", f, i)
            assert len(snapshot.facet_values(f)) == len(counts)


# ---------------------------------------------------------------- as a user, over HTTP


def _hit_values(hit, facet):
    if facet == "topic":
        return hit["topics"]
    if facet == "jurisdiction":
        return hit["jurisdictions"]
    if facet == "regulator":
        return hit["regulators"]
    if facet == "provider":
        return [hit["provider"]["name"]]
    return [hit["published"][:4 if facet == "year" else 7]] if hit["published"] else []


def test_http_facet_counts_are_the_counts_of_the_hits(sample_server):
    import urllib.parse
    from collections import Counter

    def hits(params):
        status, page = sample_server.json("/api/search?" + urllib.parse.urlencode({**params, "per_page": 100}, doseq=True))
        assert status == 200 and page["total"] == len(page["results"]) <= 100
        return page

    combos = [{}, {"topic": ["AI"]}, {"year": ["2023"]}, {"jurisdiction": ["Illinois"]},
              {"provider": ["CNIL", "European Commission"]}, {"topic": ["Biometrics"], "jurisdiction": ["United States"]},
              {"regulator": ["Garante"], "year": ["2023", "2024"]}, {"from": "2021-01-01", "to": "2023-06-30"},
              {"from": "2021-01-01", "topic": ["Data Protection"]}, {"topic": ["AI"], "regulator": ["CNIL"], "year": ["2017"]}]
    for combo in combos:
        page = hits({**combo, "facet_limit": 1000})
        for facet in (*FACETS, "month"):
            others = {k: v for k, v in combo.items() if k != facet and not (facet == "month" and k in ("from", "to"))}
            want = Counter(v for h in hits(others)["results"] for v in set(_hit_values(h, facet)))
            for value in combo.get(facet, []):
                want.setdefault(value, 0)
            assert {v["value"]: v["count"] for v in page["facets"][facet]} == dict(want), (combo, facet)


# ---------------------------------------------------------------- the LRU's weight (lru.py, not this commit)


def test_lru_weight_stays_the_weight_of_what_it_holds_under_threads():
    """Review 16b, fixed: rare facet values' bitmaps now live in the words' Lru. get_fresh
    popped and re-inserted without the lock; a put of the same key in between (a thread that
    found it missing) added its weight while the popped value was put back over it: `weight`
    counted it twice. The excess never went away, so the cache held less and less (down to
    one entry). get_fresh takes the lock now."""
    import sys

    from searchapp.lru import Lru

    lru = Lru(10_000_000, weigh=len)
    keys = [f"k{i}" for i in range(50)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        def worker(seed):
            rng = random.Random(seed)
            for _ in range(30_000):
                k = rng.choice(keys)
                if lru.get_fresh(k) is None:
                    lru.put(k, "x" * 100)

        threads = [threading.Thread(target=worker, args=(s,)) for s in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(interval)
    assert lru.weight == sum(len(v) for v in lru.values())


# ---------------------------------------------------------------- deleted docnums with postings tables


def test_deleted_docnums_with_postings_tables(tmp_path, monkeypatch):
    """Indexing never leaves deleted docnums now (a removal rewrites every document), so
    make them by hand: delete documents with Whoosh, compute the tables as indexing does
    (live flags given), and count on a snapshot of that index, rare values whose every item
    went included."""
    import numpy as np

    from searchapp.backends.whoosh import compat, tables
    from searchapp.backends.whoosh.snapshot import WhooshSnapshot
    from searchapp.core.facets import count
    from searchapp.store.generations import current_generation

    corpus, index = tmp_path / "corpus", tmp_path / "index"
    _corpus(corpus, 100)
    update_index(corpus, index, full=True)
    copy = tmp_path / "copy"
    shutil.copytree(current_generation(index), copy)
    ix = compat.open_generation(copy)
    writer = ix.writer()
    for docnum in range(0, 100, 3):   # every item of outlets 0, 6, 12, ... and many rare topics
        writer.delete_document(docnum)
    writer.commit(merge=False)
    ix = compat.open_generation(copy)
    with ix.searcher() as searcher:
        reader = searcher.reader()
        assert reader.has_deletions()
        live = np.array([not reader.is_deleted(d) for d in range(reader.doc_count_all())])
        computed = tables.compute(searcher, live)
    monkeypatch.setattr(WhooshSnapshot, "_mapped", staticmethod(lambda generation, size: computed))
    snapshot = WhooshSnapshot(ix, None)
    assert snapshot._field_counter("f_provider") is not None
    n = snapshot.searcher.reader().doc_count_all()
    assert snapshot.live.bit_count() == n - 34
    rng = random.Random(8)
    for scope in [snapshot.live, (1 << n) - 1, bits_of(rng.sample(range(n), 40)), 0]:
        for facet in (*FACETS, TIMELINE_FACET):
            want = [(scope & ref_bits(snapshot, facet, v)).bit_count() for v in snapshot.facet_values(facet)]
            assert snapshot.value_counts(facet, scope) == want, facet
    for filters in filter_combos(snapshot, rng, 30) + [Filters(provider=("outlet0.example",)),
                                                        Filters(topic=("Topic 0",), provider=("big.example",))]:
        total, want = ref_facets(snapshot, filters, snapshot.live)
        got, _ = count(snapshot, filters, snapshot.live, snapshot.filter_bits(filters), limit=1000)
        assert {f: {v.value: v.count for v in vs} for f, vs in got.items()} == want, filters
    snapshot.close()
