"""The date sort keys are columns only (schema.SortKey, round 13): no terms are written for
them, the date orders read their columns, and a generation written with the old schema
(NUMERIC, 16 tiered terms a value) still sorts and takes appends."""

from __future__ import annotations

from conftest import dated_index, write_news
from whoosh.fields import NUMERIC

from searchapp.backends.whoosh import compat, schema
from searchapp.core.service import SearchEngine
from searchapp.indexing import update_index
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
    the date keys as indexed NUMERIC fields."""
    from searchapp.backends.whoosh import writer

    real = schema.make_schema

    def old_schema():
        made = real()
        for name in ("newest_key", "oldest_key"):
            made.remove(name)
            made.add(name, NUMERIC(bits=64, sortable=True))
        return made

    monkeypatch.setattr(schema, "make_schema", old_schema)
    monkeypatch.setattr(writer, "make_schema", old_schema)


def test_sort_keys_have_no_terms_and_still_order_by_date(tmp_path):
    corpus, index_dir, generation = dated_index(tmp_path, 4, date="2023-0{month}-10T10:00:00Z")
    assert _terms(generation, "newest_key") == 0 and _terms(generation, "oldest_key") == 0
    assert _terms(generation, "published") > 0     # date filters still read published's terms
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
