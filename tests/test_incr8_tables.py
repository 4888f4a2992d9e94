"""Round 8 (issue 15): an append's per-generation tables are the previous
generation's extended with the new segment's, never recomputed from the whole
index, and readers get exactly what a full recompute gives, byte for byte."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from whoosh import index as whoosh_index

from conftest import SAMPLE_CORPUS, related, write_news
from searchapp.backends.whoosh import tables
from searchapp.backends.whoosh.writer import segment_count
from searchapp.indexing import update_index
from searchapp.ingest.reader import news_file_names, parse_file
from searchapp.store.generations import current_generation


def _recomputed(generation, folder):
    """The tables `compute` gives for this generation's index, saved as a tables file (its bytes)."""
    ix = whoosh_index.open_dir(str(generation))
    try:
        with ix.searcher() as searcher:
            reader = searcher.reader()
            live = np.zeros(reader.doc_count_all(), dtype=bool)
            live[list(reader.all_doc_ids())] = True
            found = tables.compute(searcher, live)
    finally:
        ix.close()
    target = folder / generation.name
    target.mkdir()
    return (target / tables.save(target, found)).read_bytes()


def _tables_file(generation):
    return (generation / tables._name(generation.name)).read_bytes()


def _add(corpus, n: int, links: list[str], title: str, story_of: str | None = None, weird: str = ""):
    fields = dict(title=title, excerpt=f"excerpt {weird} regulators", topics=["AI", f"Topic{n}"],
                  provider={"name": f"Wire {n % 3}", "domain": f"w{n % 3}.example.org"},
                  publishedDateTime=f"2031-0{1 + n % 9}-1{n % 10}T10:00:00Z",
                  related=[related(link, title=f"{link} {weird} listed") for link in links])
    return write_news(corpus, f"zz-{n:03d}.md", body=f"A body about {title} {weird} and more words {n}.", **fields)


@pytest.fixture
def appended(tmp_path, monkeypatch):
    """The sample corpus indexed, then files sorting after it appended (new words, known words, a copy of an
    existing story's title, related entries); `tables.compute` fails if the append calls it."""
    import shutil

    corpus, index_dir = tmp_path / "corpus", tmp_path / "index"
    shutil.copytree(SAMPLE_CORPUS, corpus)
    update_index(corpus, index_dir)
    first = current_generation(index_dir)
    first_file = news_file_names(corpus)[0]
    old_title = parse_file(Path(first_file), "x.md").own.title
    _add(corpus, 1, ["listed-a", "listed-b"], "Facial recognition ban", weird="zyxwordnew")
    _add(corpus, 2, [], old_title)   # likely a copy of an existing story: story numbers move
    _add(corpus, 3, ["listed-a"], "Ünïcode tïtle with ümlauts", weird="quantum-ökonomie")

    def refuse(*args, **kwargs):
        raise AssertionError("an append recomputed the tables from the whole index")

    monkeypatch.setattr(tables, "compute", refuse)
    info = update_index(corpus, index_dir)
    monkeypatch.undo()
    assert info.mode == "incremental" and info.added >= 3 and info.updated == 0 and info.removed == 0
    generation = current_generation(index_dir)
    assert segment_count(generation) == segment_count(first) + 1
    return generation


def test_an_appends_tables_are_the_bytes_of_a_full_recompute(appended, tmp_path):
    assert _tables_file(appended) == _recomputed(appended, tmp_path)


def test_an_appends_tables_equal_the_tables_of_a_full_build(appended, tmp_path):
    """The same arrays as a full build of the same files (its document order is the append's)."""
    corpus = appended.parent.parent / "corpus"
    update_index(corpus, tmp_path / "full", full=True)
    full = tables.load(current_generation(tmp_path / "full"))
    mine = tables.load(appended)
    assert list(mine) == list(full)
    for name in full:
        assert mine[name].dtype == full[name].dtype and np.array_equal(mine[name], full[name]), name


def test_a_second_append_builds_on_the_first_appends_tables(appended, tmp_path):
    corpus = appended.parent.parent / "corpus"
    index_dir = appended.parent
    _add(corpus, 4, ["listed-c"], "Another regulator fine", weird="zyxwordnew")
    info = update_index(corpus, index_dir)
    assert info.mode == "incremental" and info.updated == 0
    generation = current_generation(index_dir)
    assert _tables_file(generation) == _recomputed(generation, tmp_path)


def test_a_tiny_append_with_related_entries_gives_a_full_recomputes_bytes(tmp_path):
    corpus, index_dir = tmp_path / "corpus", tmp_path / "index"
    write_news(corpus, "a.md", title="Old story", related=[related("x", title="listed words")])
    update_index(corpus, index_dir)
    write_news(corpus, "b.md", title="New story", related=[related("y", title="listed more")])
    assert update_index(corpus, index_dir).mode == "incremental"
    generation = current_generation(index_dir)
    assert _tables_file(generation) == _recomputed(generation, tmp_path)


class _Leaf:
    """A new segment's reader, as _appended_postings reads it."""
    schema = {"f": None}

    def __init__(self, postings):
        self.postings = postings

    def lexicon(self, fieldname):
        return iter(sorted(self.postings))


@pytest.mark.parametrize("new_weight, kind", [(1.5, np.float32), (0.3, np.float64)])
def test_appended_weights_are_float64_when_any_weight_needs_it(monkeypatch, new_weight, kind):
    """term_postings keeps float32 only when every weight survives it (a posting kept inline gives 0.3 as
    float64): an append whose new weights do not must turn the whole table to float64, as a recompute does."""
    monkeypatch.setattr(tables.compat, "posting_blocks", lambda reader, field, term: reader.postings[term])
    previous = {"terms-f": np.frombuffer(b"bc", dtype=np.uint8), "term-offsets-f": np.asarray([0, 1, 2]),
                "term-starts-f": np.asarray([0, 2, 3]), "term-docs-f": np.asarray([0, 1, 1], dtype=np.uint32),
                "term-weights-f": np.asarray([1.5, 3.0, 1.0], dtype=np.float32)}
    leaf = _Leaf({b"a": ([0], [new_weight]), b"c": ([0, 1], [2.0, new_weight])})
    found = tables._appended_postings(previous, "f", [(leaf, 3)])
    assert found["terms-f"].tobytes() == b"abc"
    assert found["term-offsets-f"].tolist() == [0, 1, 2, 3]
    assert found["term-starts-f"].tolist() == [0, 1, 3, 6]
    assert found["term-docs-f"].dtype == np.uint32
    assert found["term-docs-f"].tolist() == [3, 0, 1, 1, 3, 4]
    assert found["term-weights-f"].dtype == kind
    assert found["term-weights-f"].tolist() == [new_weight, 1.5, 3.0, 1.0, 2.0, new_weight]


def test_merging_term_tables_inserts_new_terms_in_order_and_sums_counts():
    old = [b"apple", b"cherry", b"melon"]
    blob = np.frombuffer(b"".join(old), dtype=np.uint8)
    offsets = np.asarray([0, 5, 11, 16], dtype=np.int64)
    new = [b"aa", b"cherry", b"kiwi", b"zz"]
    places, same = tables._insertions(blob, offsets, new)
    assert (places, same) == ([0, 1, 2, 3], [False, True, False, False])
    merged, merged_offsets = tables._merged_terms(blob, offsets, new, places, same)
    words = [merged[merged_offsets[n]:merged_offsets[n + 1]].tobytes() for n in range(len(merged_offsets) - 1)]
    assert words == sorted(set(old) | set(new))
    counts = tables._merged_counts(np.asarray([1, 2, 3], dtype=np.int64), [10, 20, 30, 40], places, same)
    assert counts.tolist() == [10, 1, 22, 30, 3, 40]


def test_tables_written_as_they_come_leave_no_scratch_file_when_making_one_fails(tmp_path):
    folder = tmp_path / "gen-20260101T000000000000-abcdef"
    folder.mkdir()

    def pairs():
        yield "a", np.arange(5, dtype=np.int64)
        raise RuntimeError("making the next table failed")

    with pytest.raises(RuntimeError):
        tables.save_tables(folder, pairs())
    assert list(folder.iterdir()) == []
    name = tables.save_tables(folder, iter([("a", np.arange(5, dtype=np.int64)), ("b", np.zeros(0))]))
    assert [p.name for p in folder.iterdir()] == [name]
    found = tables.load(folder)
    assert found["a"].tolist() == [0, 1, 2, 3, 4] and found["b"].size == 0
