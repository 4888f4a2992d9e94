"""Adding files: new items go on top of the previous generation as one new
segment, with a full build's document order, so everything a user sees equals
a full build, ties included; back-links are found when a page is asked for."""

from __future__ import annotations

import pytest

from conftest import related, write_news
from searchapp.backends.whoosh.writer import segment_count
from searchapp.core.service import SearchEngine
from searchapp.indexing import MAX_APPENDED_SEGMENTS, update_index
from searchapp.ingest.reader import read_corpus
from searchapp.store.generations import current_generation

QUERIES = ["", "regulator", "fine", "privacy ban", "camera OR court", '"data transfer"', "story"]


def observed(index_dir) -> dict:
    """Every page in its exact order (ties included), facets, and every item's page."""
    engine = SearchEngine(index_dir)
    try:
        out = {}
        for query in QUERIES:
            for sort in ("relevance", "newest"):
                page = engine.search(query, sort=sort, per_page=100).to_dict()
                page.pop("took_ms", None)
                out[(query, sort)] = page
        every = engine.search("", per_page=100).hits
        out["items"] = {hit.id: repr(engine.get_item(hit.id)) for hit in every}
        return out
    finally:
        engine.close()


def _file(n: int, links: list[str], words: str = "regulator fine privacy",
          excerpt: str = "data transfer camera court") -> dict:
    # Titles and dates repeat: many exact ties, which a full build breaks by document order.
    return dict(title=f"{words} story", excerpt=excerpt, topics=["AI"],
                provider={"name": "Wire", "domain": "example.org"},
                publishedDateTime=f"2024-0{1 + n % 3}-10T10:00:00Z",
                related=[related(link, title=f"{link} regulator") for link in links])


def _corpus(folder, names):
    for n, name in enumerate(names):
        write_news(folder, name, **_file(n, [names[(n + 1) % len(names)], f"shared-{n % 2}"]))


def test_added_files_that_sort_last_append_a_segment_and_answer_like_a_full_build(tmp_path):
    corpus, incremental, full = tmp_path / "corpus", tmp_path / "inc", tmp_path / "full"
    _corpus(corpus, [f"a{n}.md" for n in range(6)])
    update_index(corpus, incremental)
    before = segment_count(current_generation(incremental))
    # new files list existing items (their back-links and source files change) and a new one
    write_news(corpus, "b0.md", **_file(0, ["a1.md", "a3.md", "shared-0"]))
    write_news(corpus, "b1.md", **_file(1, ["a1.md", "new-item"], words="privacy ban"))
    info = update_index(corpus, incremental)
    assert (info.mode, info.added, info.updated, info.removed) == ("incremental", 3, 0, 0)
    assert segment_count(current_generation(incremental)) == before + 1
    update_index(corpus, full, full=True)
    assert observed(incremental) == observed(full)


def test_a_file_that_sorts_among_the_existing_ones_rewrites_every_document(tmp_path):
    corpus, incremental, full = tmp_path / "corpus", tmp_path / "inc", tmp_path / "full"
    _corpus(corpus, [f"a{n}.md" for n in range(0, 8, 2)])
    update_index(corpus, incremental)
    write_news(corpus, "a3.md", **_file(3, ["a2.md"]))   # between a2 and a4: appended, its ties would fall late
    info = update_index(corpus, incremental)
    assert (info.added, info.updated) == (1, 0)
    update_index(corpus, full, full=True)
    assert segment_count(current_generation(incremental)) == segment_count(current_generation(full))
    assert observed(incremental) == observed(full)


def test_appends_stop_at_a_bounded_number_of_segments(tmp_path, monkeypatch):
    monkeypatch.setattr("searchapp.indexing.MAX_APPENDED_SEGMENTS", 3)
    corpus, index_dir = tmp_path / "corpus", tmp_path / "index"
    _corpus(corpus, ["a0.md", "a1.md"])
    update_index(corpus, index_dir)
    counts = []
    for n in range(4):
        unique = f"alpha{n} beta{n} gamma{n} delta{n}"   # no copy of another story (see the next test)
        write_news(corpus, f"b{n}.md", **_file(n, ["a0.md"], words=unique, excerpt=unique))
        update_index(corpus, index_dir)
        counts.append(segment_count(current_generation(index_dir)))
    assert counts == [2, 3, 1, 2]
    assert MAX_APPENDED_SEGMENTS >= 3


def test_item_pages_give_the_back_links_and_source_files_of_the_merge(tmp_path):
    """`related_by_ids` and `source_files` are not stored; the page finds them,
    in the merge's order, also for a lister with two own files of which only
    one lists the item."""
    corpus, index_dir = tmp_path / "corpus", tmp_path / "index"
    write_news(corpus, "a.md", title="Lister twice", webUrl="https://example.org/lister",
               related=[related("x.md", title="X"), related("y.md")])
    write_news(corpus, "m.md", title="Lister twice", webUrl="https://example.org/lister",
               related=[related("z.md")])
    write_news(corpus, "k.md", title="Other lister", related=[related("z.md"), related("x.md")])
    write_news(corpus, "x.md", title="X itself")
    write_news(corpus, "z/z.md", title="Z itself", webUrl="https://example.org/z.md")
    update_index(corpus, index_dir)
    items = {item.id: item for item in read_corpus(corpus).items}
    assert any(len(item.own_files) == 2 for item in items.values())
    engine = SearchEngine(index_dir)
    try:
        for iid, item in items.items():
            page = engine.get_item(iid)
            assert (page.item["related_by_ids"], page.item["source_files"]) == (
                item.related_by_ids, item.source_files), item.title
            assert "lists_from" not in page.item
            assert [d["id"] for d in page.listed_by] == list(item.related_by_ids)
            for doc in page.lists + page.listed_by:
                assert doc["source_files"] == items[doc["id"]].source_files
    finally:
        engine.close()


def test_real_corpus_item_pages_keep_the_merge_s_back_links(shared_corpus, shared_engine):
    checked = 0
    for item in shared_corpus.items:
        if not item.related_by_ids and len(item.source_files) < 2:
            continue
        page = shared_engine.get_item(item.id).item
        assert (page["related_by_ids"], page["source_files"]) == (item.related_by_ids, item.source_files)
        checked += 1
    assert checked > 100


def test_a_later_copy_of_a_story_without_copies_is_appended(tmp_path):
    """Every item carries its story id, its own when it has no copies: a later
    copy then changes no existing document (the story's first member stays)."""
    corpus, incremental, full = tmp_path / "corpus", tmp_path / "inc", tmp_path / "full"
    write_news(corpus, "a0.md", **_file(0, [], words="Court fines camera maker over privacy"))
    write_news(corpus, "a1.md", **_file(1, [], words="Other news entirely about tariffs", excerpt="tariffs"))
    update_index(corpus, incremental)
    copy = _file(0, [], words="Court fines camera maker over privacy")
    copy["publishedDateTime"] = "2024-01-11T10:00:00Z"
    write_news(corpus, "b0.md", **copy)
    info = update_index(corpus, incremental)
    assert (info.added, info.updated, segment_count(current_generation(incremental))) == (1, 0, 2)
    update_index(corpus, full, full=True)
    result = observed(incremental)
    assert result == observed(full)
    assert len(result[("camera OR court", "relevance")]["results"]) == 1   # one story: the copy is folded under it
