"""Review of round 14 (issue 15): no `published` field; date filters slice the oldest-first order
by its sorted keys (tables: dates-oldest, snapshot.dated_between); schema.date_key rounds down
exactly; state FORMAT 14. Failing tests are defects; passing ones are regressions the suite did
not check."""

from __future__ import annotations

import datetime as dt
import itertools
import shutil
import threading

import numpy as np
import pytest

from conftest import write_news
from test_sort_keys import use_old_schema

from searchapp.backends.whoosh import schema, tables
from searchapp.backends.whoosh.trial import full_check
from searchapp.core.service import SearchEngine
from searchapp.indexing import update_index
from searchapp.model import Filters
from searchapp.store import generations as G

# Source dates: day boundaries, offsets that move the UTC day, before 1970, years 1 and 9999,
# a bare date, a naive time, none.
_SOURCES = ["2023-03-10T00:00:00Z", "2023-03-10T23:59:59.999999Z", "2023-03-11T00:00:00Z",
            "2023-03-10T23:30:00-05:00", "2023-03-11T00:30:00+01:00", "2023-03-10T19:00:00-05:00",
            "1969-12-31T23:59:59.999999Z", "1970-01-01T00:00:00Z", "1900-02-28T12:00:00+14:00",
            "0001-01-01T00:00:00Z", "0001-01-01T00:00:00-01:00", "9999-12-31T23:59:59.999999Z",
            "9999-12-31T00:30:00+01:00", "2023-03-10", "2023-03-10T12:00:00", None, None]
# Unquoted YAML timestamps (PyYAML parses them into datetimes, offsets included): (text, UTC day)
_RAW = [("2023-03-10 23:30:00 -05:00", dt.date(2023, 3, 11)), ("2023-03-10T23:30:00-05:00", dt.date(2023, 3, 11)),
        ("2023-03-10", dt.date(2023, 3, 10))]
_BOUNDS = [None, dt.date(1, 1, 1), dt.date(1, 1, 2), dt.date(1900, 2, 27), dt.date(1900, 2, 28),
           dt.date(1969, 12, 31), dt.date(1970, 1, 1), dt.date(2023, 3, 9), dt.date(2023, 3, 10),
           dt.date(2023, 3, 11), dt.date(2023, 3, 12), dt.date(9999, 12, 30), dt.date(9999, 12, 31)]


def _utc_day(text: str) -> dt.date:
    moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        return moment.date()
    return (moment.replace(tzinfo=None) - moment.utcoffset()).date()


def _write_sources(corpus) -> dict[str, dt.date | None]:
    truth = {}
    for n, text in enumerate(_SOURCES):
        write_news(corpus, f"i{n}.md", title=f"Item{n}", topics=["AI"], **({"publishedDateTime": text} if text else {}))
        truth[f"Item{n}"] = _utc_day(text) if text else None
    for n, (raw, day) in enumerate(_RAW):
        (corpus / f"raw{n}.md").write_text(f"---\ntitle: Raw{n}\nwebUrl: https://example.org/raw{n}\ntopics: [AI]\n"
                                           f"publishedDateTime: {raw}\n---\nbody\n", "utf-8")
        truth[f"Raw{n}"] = day
    return truth


def _ranges():
    return [(a, b) for a, b in itertools.product(_BOUNDS, _BOUNDS) if (a or b) and not (a and b and a > b)]


def _filtered(engine, first, last, sort="relevance") -> list[str]:
    return [hit.title for hit in engine.search("", Filters(date_from=first, date_to=last), sort=sort, per_page=100).hits]


def _want(truth, first, last) -> set[str]:
    return {t for t, day in truth.items() if day and (first is None or day >= first) and (last is None or day <= last)}


def test_date_filters_match_a_brute_force_reference_over_offsets_and_edges(tmp_path):
    """Expected: every range (either bound alone, both, years 1 to 9999) finds exactly the items
    whose UTC day is in it, offsets in the source moving items across days, undated never.
    Happened: as expected."""
    corpus, index_dir = tmp_path / "corpus", tmp_path / "index"
    truth = _write_sources(corpus)
    update_index(corpus, index_dir)
    engine = SearchEngine(index_dir)
    try:
        assert {h.title for h in engine.search("", per_page=100).hits} == set(truth)
        for first, last in _ranges():
            assert set(_filtered(engine, first, last)) == _want(truth, first, last), (first, last)
    finally:
        engine.close()


@pytest.mark.parametrize("path", ["/api/search", "/search", "/feed.atom"])
def test_malformed_or_reversed_dates_are_a_400_never_a_500(tmp_path, path):
    """Expected: a clear 400 for impossible, malformed, out-of-range, very long or reversed dates;
    200 at years 1 and 9999. Happened: as expected."""
    from searchapp.web.app import create_app

    corpus, index_dir = tmp_path / "corpus", tmp_path / "index"
    _write_sources(corpus)
    update_index(corpus, index_dir)
    client = create_app(index_dir).test_client()
    for query in ["from=2023-13-01", "from=abc", "from=" + "9" * 100_000, "to=2023-02-30", "from=0000-01-01",
                  "from=10000-01-01", "from=%00", "from=2023-03-11T00:00", "from=2023-03-12&to=2023-03-10"]:
        response = client.get(f"{path}?{query}")
        assert response.status_code == 400, (query, response.status_code)
        if path == "/api/search":
            assert response.get_json()["error"]
    for query in ["from=0001-01-01&to=0001-01-01", "from=9999-12-30&to=9999-12-31", "to=1969-12-31"]:
        assert client.get(f"{path}?{query}").status_code == 200, query
    assert client.get("/api/search?from=0001-01-01&to=0001-01-01").get_json()["total"] == 2


def _put(corpus, truth, name, text):
    write_news(corpus, name, title=name, topics=["AI"], **({"publishedDateTime": text} if text else {}))
    truth[name] = _utc_day(text) if text else None


def _all_ranges(index_dir) -> dict:
    engine = SearchEngine(index_dir)
    try:
        return {(a, b, sort): _filtered(engine, a, b, sort) for a, b in _ranges()[::3] for sort in ("oldest", "newest")}
    finally:
        engine.close()


def test_incremental_runs_filter_by_date_like_a_full_build(tmp_path):
    """Build; add files (an append); change dates; delete dated files; add undated ones. Expected:
    after each run, every date range (both sorts) gives what a --full build of the same corpus
    gives, and the generation's stored dates-oldest equals a recompute. Happened: as expected."""
    corpus, index_dir, truth = tmp_path / "corpus", tmp_path / "index", {}
    for n in range(12):
        _put(corpus, truth, f"i{n}.md", None if n % 5 == 4 else
             f"{[1969, 1970, 2023][n % 3]}-01-0{1 + n % 2}T{(7 * n) % 24:02d}:30:00{['Z', '-05:00', '+09:00'][n % 3]}")
    update_index(corpus, index_dir)

    def check(step):
        full = tmp_path / f"full-{step}"
        update_index(corpus, full, full=True)
        assert _all_ranges(index_dir) == _all_ranges(full), step
        generation = G.current_generation(index_dir)
        assert "dates-oldest" in tables.load(generation), step
        assert full_check(generation) is None, step
        shutil.rmtree(full)

    check("initial")
    for n in range(12, 15):
        _put(corpus, truth, f"i{n}.md", f"1970-01-01T00:0{n - 12}:00-01:00")
    update_index(corpus, index_dir)
    check("added")
    _put(corpus, truth, "i3.md", "1969-12-31T23:59:59Z")
    _put(corpus, truth, "i4.md", "2023-01-02T23:59:59-05:00")
    update_index(corpus, index_dir)
    check("redated")
    for name in ("i0.md", "i1.md"):
        (corpus / name).unlink()
    update_index(corpus, index_dir)
    check("deleted")
    _put(corpus, truth, "i20.md", None)
    update_index(corpus, index_dir)
    check("undated added")


def _damaged_copy(tmp_path, change):
    corpus, index_dir = tmp_path / "corpus", tmp_path / "index"
    for n in range(12):
        write_news(corpus, f"d{n}.md", title=f"D{n}", topics=["AI"], publishedDateTime=f"2023-03-{10 + n % 4:02d}T12:00:00Z")
    write_news(corpus, "u.md", title="U", topics=["AI"])
    update_index(corpus, index_dir)
    engine = SearchEngine(index_dir)
    ranges = [(dt.date(2023, 3, 11), dt.date(2023, 3, 11)), (dt.date(2023, 3, 13), None), (None, dt.date(2023, 3, 10))]
    try:
        want = [sorted(_filtered(engine, a, b)) for a, b in ranges]
    finally:
        engine.close()
    generation = G.current_generation(index_dir)
    found = {k: np.array(v) for k, v in tables.load(generation).items()}
    change(found)
    for old in generation.glob(tables.PREFIX + "*"):
        old.unlink()
    tables.save(generation, found)
    G.write_manifest(generation)   # a manifest rewritten to match
    return index_dir, ranges, want


@pytest.mark.parametrize("damage", ["dropped", "short", "long", "int32"])
def test_a_dates_table_that_does_not_fit_the_order_is_not_trusted(tmp_path, damage):
    """A tables file whose dates-oldest is missing, of another length than order-oldest, or of
    another type (an int32 cannot hold the undated key). `_mapped` rejects per-document tables of
    the wrong size; dates-oldest (one value per live document) is not checked at all.
    Expected: a fallback (computed from the column) or the generation set aside; never wrong
    results. Happened: dropped falls back and is right; short and long shift the slice by one
    (other days' items, the undated item); int32 lets the undated item into `from` ranges."""
    def change(found):
        keys = found["dates-oldest"]
        if damage == "dropped":
            del found["dates-oldest"]
        elif damage == "short":
            found["dates-oldest"] = keys[1:]
        elif damage == "long":
            found["dates-oldest"] = np.concatenate([keys[:1], keys])
        else:
            found["dates-oldest"] = keys.astype(np.int32)

    index_dir, ranges, want = _damaged_copy(tmp_path, change)
    try:
        engine = SearchEngine(index_dir)
    except Exception:
        return   # set aside (the only generation): not a wrong answer
    try:
        got = []
        for a, b in ranges:
            try:
                got.append(sorted(_filtered(engine, a, b)))
            except Exception:
                return   # set aside while answering
        assert got == want
    finally:
        engine.close()


def _old_date_key(moment):
    """Round 13's key: int(timestamp()), which rounds dates before 1970 up (towards zero)."""
    return int(moment.timestamp())


@pytest.fixture
def round13_index(tmp_path, monkeypatch):
    """An index as round 13's code wrote it: `published` indexed, the date keys int(timestamp())."""
    use_old_schema(monkeypatch)
    monkeypatch.setattr(schema, "date_key", _old_date_key)
    corpus, index_dir = tmp_path / "corpus", tmp_path / "index"
    for name, published in [("a.md", "1969-12-31T23:59:59.500000Z"), ("b.md", "1970-01-01T00:00:00Z"),
                            ("c.md", "2023-03-10T12:00:00Z"), ("d.md", None)]:
        write_news(corpus, name, title=f"Item {name}", topics=["AI"], **({"publishedDateTime": published} if published else {}))
    update_index(corpus, index_dir)
    monkeypatch.undo()
    return index_dir


def test_a_round13_generation_filters_by_its_items_dates_until_it_is_rebuilt(round13_index):
    """README (round 14): "Until then [the rebuild], a server on this code answers date filters
    from the older generation's column". That column holds int(timestamp()) keys: an item at
    1969-12-31T23:59:59.5Z has key 0, the first second of 1970-01-01.
    Expected: as round 13's code answered (from `published`): the item on 1969-12-31.
    Happened: it is found on 1970-01-01 and not on 1969-12-31 (same for an item in the last
    second of 9999-12-31: rounded into year 10000, found on no day)."""
    engine = SearchEngine(round13_index)
    try:
        assert set(_filtered(engine, dt.date(1969, 12, 31), dt.date(1969, 12, 31))) == {"Item a.md"}
        assert set(_filtered(engine, dt.date(1970, 1, 1), dt.date(1970, 1, 1))) == {"Item b.md"}
    finally:
        engine.close()


def test_verify_of_an_intact_round13_generation_does_not_call_it_damaged(round13_index):
    """trial._column_value now expects date_key(stored date); a round-13 generation's keys are
    int(timestamp()). Expected: the full check (`searchapp index --verify`, and the check that
    sets a generation aside after an error while answering) passes an intact older generation.
    Happened: "a full check failed: the newest_key of document 0 disagrees with its stored date"
    (seen with the real c8ec491 code too: `--verify` exits 1 on an index it verified as whole)."""
    assert full_check(G.current_generation(round13_index)) is None


def test_date_filtered_searches_across_generation_switches(tmp_path):
    """Four threads search date ranges while three runs (append, redate, --full) switch
    generations. Expected: no errors; every answer is the right answer for one of the corpus
    states; totals match the hits. Happened: as expected."""
    corpus, index_dir, truth = tmp_path / "corpus", tmp_path / "index", {}
    for n in range(10):
        _put(corpus, truth, f"c{n}.md", None if n == 7 else f"2023-03-{10 + n % 3}T{(5 * n) % 24:02d}:30:00-05:00")
    update_index(corpus, index_dir)
    ranges = [(dt.date(2023, 3, 11), dt.date(2023, 3, 11)), (dt.date(2023, 3, 12), None), (None, dt.date(2023, 3, 10))]
    valid = [{r: frozenset(_want(truth, *r)) for r in ranges}]
    engine, stop, seen, errors = SearchEngine(index_dir), threading.Event(), [], []

    def search(k):
        while not stop.is_set():
            first, last = ranges[k % len(ranges)]
            k += 1
            try:
                page = engine.search("", Filters(date_from=first, date_to=last), sort="oldest", per_page=100)
                titles = frozenset(h.title for h in page.hits)
                if page.total != len(titles):
                    errors.append(("total", page.total, len(titles)))
                seen.append(((first, last), titles))
            except Exception as error:   # noqa: BLE001 - any error is the finding
                errors.append(repr(error))

    threads = [threading.Thread(target=search, args=(k,)) for k in range(4)]
    for thread in threads:
        thread.start()
    try:
        for round_ in range(3):
            _put(corpus, truth, f"new{round_}.md", f"2023-03-11T{round_:02d}:00:00-03:00")
            if round_ == 1:
                _put(corpus, truth, "c1.md", "2023-03-12T23:59:59Z")
            update_index(corpus, index_dir, full=round_ == 2)
            valid.append({r: frozenset(_want(truth, *r)) for r in ranges})
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    try:
        assert not errors, errors[:3]
        assert seen
        assert all(any(titles == v[r] for v in valid) for r, titles in seen)
        final = {r: frozenset(_filtered(engine, *r)) for r in ranges}
        assert final == valid[-1]
    finally:
        engine.close()
