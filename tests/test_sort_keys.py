"""The date sort keys are columns only (schema.SortKey, round 13): no terms are written for
them, the date orders read their columns, and a generation written with the old schema
(NUMERIC, 16 tiered terms a value) still sorts and takes appends. Round 14: no `published`
field either; date filters read the oldest-first order's keys (snapshot.dated_between)."""

from __future__ import annotations

import datetime as dt

from conftest import dated_index, write_news
from whoosh.fields import DATETIME, NUMERIC

from searchapp.backends.whoosh import compat, schema
from searchapp.core.service import SearchEngine
from searchapp.indexing import update_index
from searchapp.model import Filters
from searchapp.store.generations import current_generation


def _terms(generation, fieldname: str) -> int:
    ix = compat.open_generation(generation)
    try:
        with ix.reader() as reader:
            return sum(1 for _ in reader.lexicon(fieldname)) if fieldname in reader.indexed_field_names() else 0
    finally:
        ix.close()


def _titles(index_dir, sort: str) -> list[str]:
    engine = SearchEngine(index_dir)
    try:
        return [hit.title for hit in engine.search("", sort=sort).hits]
    finally:
        engine.close()


def use_old_schema(monkeypatch) -> None:
    """Indexes built while `monkeypatch` holds are written with the schema before round 13:
    the date keys as indexed NUMERIC fields, and `published` an indexed DATETIME (before round 14)."""
    from searchapp.backends.whoosh import writer

    real = schema.make_schema

    def old_schema():
        made = real()
        for name in ("newest_key", "oldest_key"):
            made.remove(name)
            made.add(name, NUMERIC(bits=64, sortable=True))
        made.add("published", DATETIME(sortable=True))
        return made

    real_document = schema.item_document

    def old_document(item, story, *legacy):
        made = real_document(item, story)
        if item.published:
            made["published"] = item.published.replace(tzinfo=None)
        return made

    monkeypatch.setattr(schema, "make_schema", old_schema)
    monkeypatch.setattr(writer, "make_schema", old_schema)
    monkeypatch.setattr(writer, "item_document", old_document)


def test_sort_keys_have_no_terms_and_still_order_by_date(tmp_path):
    corpus, index_dir, generation = dated_index(tmp_path, 4, date="2023-0{month}-10T10:00:00Z")
    assert _terms(generation, "newest_key") == 0 and _terms(generation, "oldest_key") == 0
    assert "published" not in compat.open_generation(generation).schema   # date filters read the keys
    newest = _titles(index_dir, "newest")
    assert newest == [f"Story {n} about the regulator" for n in (3, 2, 1, 0)]
    assert _titles(index_dir, "oldest") == newest[::-1]


def test_a_generation_with_indexed_sort_keys_still_sorts_and_takes_an_append(tmp_path, monkeypatch):
    """Expected: an index written before round 13 (its schema, pickled in the generation, indexes
    the keys) keeps that schema when files are appended, and sorts new and old items together."""
    use_old_schema(monkeypatch)
    corpus, index_dir, generation = dated_index(tmp_path, 3, date="2023-0{month}-10T10:00:00Z")
    assert _terms(generation, "newest_key") > 0
    monkeypatch.undo()

    write_news(corpus, "z-new.md", title="Newest story about the regulator", topics=["AI"],
               publishedDateTime="2024-01-10T10:00:00Z")
    write_news(corpus, "z-old.md", title="Oldest story about the regulator", topics=["AI"],
               publishedDateTime="2019-01-10T10:00:00Z")
    update_index(corpus, index_dir)
    assert current_generation(index_dir) != generation
    newest = _titles(index_dir, "newest")
    assert newest[0] == "Newest story about the regulator" and newest[-1] == "Oldest story about the regulator"
    assert newest[1:4] == [f"Story {n} about the regulator" for n in (2, 1, 0)]


# (file, published) for the date filter tests: the first and last instants of a day, the next
# day's first, fractions of a second before 1970 (a float timestamp's int() rounds them up), none
_DATED = [("a.md", "2023-03-10T00:00:00Z"), ("b.md", "2023-03-10T23:59:59.999999Z"),
          ("c.md", "2023-03-11T00:00:00Z"), ("d.md", "2023-03-09T23:59:59.500000Z"),
          ("e.md", "1969-12-31T23:59:59.500000Z"), ("f.md", "1970-01-01T00:00:00Z"),
          ("g.md", "9999-12-31T23:59:59.999999Z"), ("h.md", None)]


def _filtered(index_dir, first, last) -> set[str]:
    engine = SearchEngine(index_dir)
    try:
        page = engine.search("", Filters(date_from=first, date_to=last), per_page=50)
        return {hit.title for hit in page.hits}
    finally:
        engine.close()


def _expected(first, last) -> set[str]:
    """By the dates as written: published on a UTC day from `first` to `last`."""
    found = set()
    for name, published in _DATED:
        if published is None:
            continue
        day = dt.datetime.fromisoformat(published.replace("Z", "+00:00")).date()
        if (first is None or day >= first) and (last is None or day <= last):
            found.add(f"Item {name}")
    return found


def _write_dated(corpus):
    for name, published in _DATED:
        fields = {"publishedDateTime": published} if published else {}
        write_news(corpus, name, title=f"Item {name}", topics=["AI"], **fields)


_RANGES = [(dt.date(2023, 3, 10), dt.date(2023, 3, 10)), (dt.date(2023, 3, 10), None),
           (None, dt.date(2023, 3, 9)), (None, dt.date(1969, 12, 31)), (dt.date(1970, 1, 1), None),
           (dt.date(1970, 1, 1), dt.date(1970, 1, 1)), (dt.date(9999, 12, 31), None),
           (dt.date(1, 1, 1), dt.date(9999, 12, 31)), (dt.date(2023, 3, 12), dt.date(2024, 1, 1))]


def test_date_filters_take_whole_utc_days_without_a_published_field(tmp_path):
    """Expected: each range finds exactly the items dated on its days, to the microsecond at both
    ends, before 1970 and in year 9999; undated items never; no `published` terms are written."""
    corpus, index_dir = tmp_path / "corpus", tmp_path / "index"
    _write_dated(corpus)
    update_index(corpus, index_dir)
    assert _terms(current_generation(index_dir), "published") == 0
    for first, last in _RANGES:
        assert _filtered(index_dir, first, last) == _expected(first, last), (first, last)


def test_date_filters_on_an_old_schema_generation_after_an_append(tmp_path, monkeypatch):
    """Expected: a generation written with `published` indexed (before round 14) filters by date
    from its keys, its own items and those appended with the new code alike."""
    use_old_schema(monkeypatch)
    corpus, index_dir = tmp_path / "corpus", tmp_path / "index"
    _write_dated(corpus)
    update_index(corpus, index_dir)
    assert _terms(current_generation(index_dir), "published") > 0
    monkeypatch.undo()
    write_news(corpus, "z.md", title="Item z.md", topics=["AI"], publishedDateTime="2023-03-10T12:00:00Z")
    update_index(corpus, index_dir)
    assert _filtered(index_dir, dt.date(2023, 3, 10), dt.date(2023, 3, 10)) == {"Item a.md", "Item b.md", "Item z.md"}


def test_date_key_rounds_down_exactly():
    utc = dt.timezone.utc
    assert schema.date_key(dt.datetime(1969, 12, 31, 23, 59, 59, 500000, tzinfo=utc)) == -1
    assert schema.date_key(dt.datetime(1970, 1, 1, tzinfo=utc)) == 0
    end = dt.datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=utc)
    assert schema.date_key(end) == schema.date_key(dt.datetime(9999, 12, 31, tzinfo=utc)) + 86399
    assert schema.date_key(dt.datetime(2023, 3, 10, 12)) == schema.date_key(dt.datetime(2023, 3, 10, 12, tzinfo=utc))
