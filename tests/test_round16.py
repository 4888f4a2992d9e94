"""Round 16 (issue 15, worker memory): stored documents' column offsets mapped
instead of copied into each thread's reader, stories as arrays, and the
small-object caches bounded by what they really hold."""

from __future__ import annotations

import os
import random
import sys

import numpy as np
import pytest
from whoosh import columns
from whoosh.filedb.filestore import FileStorage, RamStorage

from conftest import write_news
from searchapp.backends.whoosh import compat
from searchapp.backends.whoosh.snapshot import STORED_CACHE_BYTES, _stored_size
from searchapp.backends.whoosh.storytable import StoryTable
from searchapp.bitmaps import bits_of
from searchapp.core.grouping import StoryArrays, results_count, story_copies, story_members
from searchapp.core.service import SearchEngine
from searchapp.indexing import update_index


def _column_file(storage, name: str, column, values: list[bytes], head: bytes = b"head") -> tuple[int, int]:
    """Write `values` as one column after `head` bytes; (its start, its length)."""
    f = storage.create_file(name)
    f.write(head)
    writer = column.writer(f)
    for docnum, value in enumerate(values):
        if value:
            writer.add(docnum, value)
    writer.finish(len(values))
    length = f.tell() - len(head)
    f.close()
    return len(head), length


def _values(rng: random.Random, n: int) -> list[bytes]:
    return [os.urandom(rng.choice([0, 0, 1, 7, 300, 70_000])) for _ in range(n)]


@pytest.mark.parametrize("cutoff, n", [(4, 50), (0, 1), (2**15, 40)])
def test_a_columns_offsets_are_read_from_its_file_when_written_and_read_the_same(tmp_path, cutoff, n):
    compat.offsets_from_column_files()
    rng = random.Random(n)
    values = _values(rng, n)
    storage = FileStorage(str(tmp_path))
    column = columns.VarBytesColumn(write_offsets_cutoff=cutoff)
    start, length = _column_file(storage, "c", column, values, head=b"x" * rng.randint(0, 9000))
    reader = column.reader(storage.open_file("c"), start, length, n)
    assert [reader[d] for d in range(n)] == values
    assert list(reader) == values
    written_offsets = n > cutoff
    assert isinstance(reader._offsets, compat._FileInts) == written_offsets
    assert isinstance(reader._lengths, compat._FileInts) == written_offsets
    if written_offsets:
        assert all(type(reader._offsets[d]) is int for d in range(n))   # what a file's seek and read take


def test_compressed_stored_columns_read_through_offsets_read_from_the_file(tmp_path):
    """Whoosh's stored fields are a compressed column; Whoosh writes its offsets over 32,768 documents."""
    compat.offsets_from_column_files()
    values = [bytes([d % 251]) * (d % 13) for d in range(33_000)]
    storage = FileStorage(str(tmp_path))
    column = columns.CompressedBytesColumn()
    start, length = _column_file(storage, "s", column, values)
    reader = column.reader(storage.open_file("s"), start, length, len(values))
    assert isinstance(reader._offsets, compat._FileInts)
    assert [reader[d] for d in range(0, len(values), 7)] == values[::7]


def test_a_column_in_memory_is_read_as_whoosh_reads_it():
    """No real file (a RAM or compound file): Whoosh's own arrays."""
    compat.offsets_from_column_files()
    values = _values(random.Random(3), 60)
    storage = RamStorage()
    column = columns.VarBytesColumn(write_offsets_cutoff=4)
    start, length = _column_file(storage, "c", column, values)
    reader = column.reader(storage.open_file("c"), start, length, len(values))
    assert not isinstance(reader._offsets, compat._FileInts)
    assert [reader[d] for d in range(len(values))] == values


def test_compat_refuses_a_whoosh_whose_column_reader_changed(monkeypatch):
    monkeypatch.delattr(columns.VarBytesColumn.Reader, "_read_offsets_and_lengths")
    with pytest.raises(compat.WhooshIncompatible, match="VarBytesColumn"):
        compat.check()


# -- stories as arrays


def _stories_as_dicts(of: list[int], live: list[bool]):
    """The dicts stories() returned before round 16, numbered by first member."""
    members: dict[int, list[int]] = {}
    for d, (story, alive) in enumerate(zip(of, live)):
        if story >= 0 and alive:
            members.setdefault(story, []).append(d)
    groups = sorted((tuple(docs) for docs in members.values() if len(docs) > 1), key=lambda g: g[0])
    by_number = dict(enumerate(groups))
    story_of = {d: n for n, docs in by_number.items() for d in docs}
    copies = bits_of(d for docs in groups for d in docs[1:])
    return copies, story_of, by_number


@pytest.mark.parametrize("seed", range(40))
def test_the_story_table_is_the_dicts_it_replaced(seed):
    rng = random.Random(seed)
    n = rng.randint(0, 300)
    of = [rng.choice([-1, -1, rng.randint(0, max(1, n // 4))]) for _ in range(n)]
    live = [rng.random() > 0.1 for _ in range(n)]
    table = StoryTable(np.asarray(of, dtype=np.int32), np.asarray(live, dtype=bool))
    copies, story_of, members = table.mappings()
    want = _stories_as_dicts(of, live)
    assert copies == want[0]
    assert dict(story_of) == want[1] and story_of == want[1]
    assert dict(members) == want[2] and list(members) == list(want[2])
    for d in range(-2, n + 2):
        assert story_of.get(d) == want[1].get(d)
        assert (d in story_of) == (d in want[1])
    assert story_of.get("7") is None and "7" not in members
    with pytest.raises(KeyError):
        members[len(want[2])]


def test_story_values_from_the_column_number_stories_as_the_table_does():
    values = [None, "b", "a", "", "b", "a", "c", "a"]
    live = np.ones(len(values), dtype=bool)
    by_values = StoryTable.from_values(values, live).mappings()
    numbers = {"b": 5, "a": 1, "c": 9}
    by_numbers = StoryTable(np.asarray([numbers.get(v, -1) if v else -1 for v in values]), live).mappings()
    assert by_values == by_numbers
    assert dict(by_values[2]) == {0: (1, 4), 1: (2, 5, 7)}   # "c" has one member: no story


def _story_corpus(root):
    """Three stories told by two providers each, titled a little differently (story 0 is the
    first), and singletons."""
    for story in range(3):
        title = f"Regulator {story} fines carrier over location data sharing in case {story}"
        lede = f"The regulator number {story} said the carrier shared customers' location data without consent."
        for n, domain in enumerate(["reuters.com", "apnews.com"]):
            write_news(root, f"s{story}-{n}.md", title=title + (" as reported" if n else ""), excerpt=lede,
                       topics=["Privacy"],
                       webUrl=f"https://{domain}/story-{story}-{n}",
                       publishedDateTime=f"2024-03-{story + 1:02d}T{10 + n}:00:00Z")
    for n in range(6):
        write_news(root, f"single-{n}.md", title=f"Unrelated note {n} about drones", excerpt=f"Item {n} stands alone.",
                   publishedDateTime=f"2023-01-{n + 1:02d}T10:00:00Z")


def test_story_zero_is_a_story(tmp_path):
    """Stories are numbered from 0: no caller may take story 0 for "no story" (the
    suggestions' newest articles tested `story and ...`)."""
    _story_corpus(tmp_path / "corpus")
    update_index(tmp_path / "corpus", tmp_path / "index", full=True)
    with SearchEngine(tmp_path / "index") as engine:
        snapshot = engine._snapshot()
        copies, story_of, members = snapshot.stories()
        assert 0 in members and len(members[0]) == 2
        first, other = members[0]
        assert story_copies(snapshot, first, snapshot.live)[0].id == snapshot.record(other)["id"]
        assert results_count(snapshot, snapshot.live) == snapshot.live.bit_count() - copies.bit_count()
        assert story_members(snapshot, bits_of([first])) == bits_of([first, other])
        story_by_id = {snapshot.record(d)["id"]: story for story, docs in members.items() for d in docs}
        offered = [story_by_id[s.id] for s in engine.suggest("regulator fines carr") if s.kind == "item"]
        assert sorted(offered) == [0, 1, 2]   # one article per story: story 0's other copy (its title differs) too


def test_story_arrays_share_the_tables_arrays(tmp_path):
    _story_corpus(tmp_path / "corpus")
    update_index(tmp_path / "corpus", tmp_path / "index", full=True)
    with SearchEngine(tmp_path / "index") as engine:
        snapshot = engine._snapshot()
        arrays = StoryArrays(snapshot)
        table = snapshot.stories()[2].table
        assert arrays.story is table.story or np.shares_memory(arrays.story, table.story)
        assert arrays.story.dtype == np.int32 and arrays.first.dtype == np.int32


# -- caches bounded by what they hold


def _deep_size(value, seen=None) -> int:
    seen = set() if seen is None else seen
    if id(value) in seen:
        return 0
    seen.add(id(value))
    size = sys.getsizeof(value)
    if isinstance(value, dict):
        size += sum(_deep_size(k, seen) + _deep_size(v, seen) for k, v in value.items())
    elif isinstance(value, (list, tuple, set)):
        size += sum(_deep_size(v, seen) for v in value)
    return size


def test_a_stored_documents_weight_is_its_size_in_memory(sample_index):
    """The stored documents' cache is bounded in bytes: each document's weight is
    within 40% of what it holds (weighed by its texts alone, it was a quarter)."""
    with SearchEngine(sample_index) as engine:
        snapshot = engine._snapshot()
        count = snapshot.searcher.reader().doc_count_all()
        ratios = [_stored_size(stored) / _deep_size(stored)
                  for stored in (snapshot.stored(d) for d in range(0, count, max(1, count // 60)))]
    assert 0.6 <= min(ratios) and max(ratios) <= 1.4, (min(ratios), max(ratios))
    assert STORED_CACHE_BYTES <= 10_000_000


# -- facet counts without a bitmap per value


@pytest.mark.parametrize("seed", range(25))
def test_a_fields_counts_are_the_bitmap_counts(seed):
    from searchapp.backends.whoosh.facetcount import FieldCounter, is_common

    rng = random.Random(seed)
    documents = rng.randint(1, 400)
    sizes = [rng.choice([0, 1, 2, rng.randint(0, documents), documents // 32, documents // 32 + 1])
             for _ in range(rng.randint(0, 30))]
    docs, starts = [], [0]
    for size in sizes:
        docs += sorted(rng.sample(range(documents), min(size, documents)))
        starts.append(len(docs))
    counter = FieldCounter(np.asarray(starts), np.asarray(docs, dtype=np.int32), documents)
    bitmaps = [bits_of(docs[a:b]) for a, b in zip(starts, starts[1:])]
    assert set(counter.common.tolist()) == {n for n, b in enumerate(bitmaps) if is_common(b.bit_count(), documents)}
    for scope in [0, (1 << documents) - 1, bits_of(rng.sample(range(documents), rng.randint(0, documents)))]:
        asked = []
        got = counter.counts(scope, lambda n: asked.append(n) or bitmaps[n])
        assert got.tolist() == [(scope & b).bit_count() for b in bitmaps]
        assert set(asked) <= set(counter.common.tolist())   # rare values never need their bitmap


def _facet_corpus(root, n: int = 96):
    """One common provider and many rare ones; a common and a rare topic."""
    for i in range(n):
        write_news(root, f"f{i:03d}.md", title=f"Regulator note {i} on data", excerpt=f"Item {i} about rules.",
                   webUrl=f"https://{'big.example' if i % 2 else f'outlet{i}.example'}/{i}",
                   topics=["Privacy"] if i % 3 else ["Privacy", f"Topic {i}"],
                   publishedDateTime=f"20{10 + i % 12}-0{1 + i % 9}-1{i % 10}T10:00:00Z")


def test_only_common_facet_values_keep_a_bitmap_and_every_count_is_the_same(tmp_path):
    from searchapp.backends.whoosh.facetcount import is_common
    from searchapp.core.facets import count
    from searchapp.model import FACETS, TIMELINE_FACET, Filters

    _facet_corpus(tmp_path / "corpus")
    update_index(tmp_path / "corpus", tmp_path / "index", full=True)
    with SearchEngine(tmp_path / "index") as engine:
        snapshot = engine._snapshot()
        documents = snapshot.searcher.reader().doc_count_all()
        pinned = set(snapshot._facet_terms)
        rare = [(f, v) for f in (*FACETS, TIMELINE_FACET) for v in snapshot.facet_values(f)
                if not is_common(snapshot.value_bits(f, v).bit_count(), documents)]
        assert len(rare) > 30 and not {(snapshot_field(f), v) for f, v in rare} & pinned
        assert ("f_provider", "big.example") in pinned
        rng = random.Random(1)
        every = list(range(documents))
        for scope in [snapshot.live, 0, bits_of(rng.sample(every, 10)), bits_of(rng.sample(every, 70))]:
            for facet in (*FACETS, TIMELINE_FACET):
                want = [(scope & snapshot.value_bits(facet, v)).bit_count() for v in snapshot.facet_values(facet)]
                assert snapshot.value_counts(facet, scope) == want, facet
        shown, _ = count(snapshot, Filters(), snapshot.live, {})
        assert {v.value: v.count for v in shown["provider"]}["big.example"] == documents // 2


def snapshot_field(facet: str) -> str:
    from searchapp.backends.whoosh.snapshot import _FACET_FIELD

    return _FACET_FIELD[facet]


def test_an_emptied_generation_keeps_no_facet_counters(tmp_path):
    """Review 16b: a request still on a generation whose caches a switch emptied counted
    right, but put its counters back into the dropped caches, held until its snapshot went."""
    from searchapp.core.service import _empty
    from searchapp.model import FACETS

    _facet_corpus(tmp_path / "corpus", 40)
    update_index(tmp_path / "corpus", tmp_path / "index", full=True)
    with SearchEngine(tmp_path / "index") as engine:
        snapshot = engine._snapshot()
        want = {f: snapshot.value_counts(f, snapshot.live) for f in FACETS}
        live = snapshot.live
        _empty([snapshot._shared], trim=False)
        assert {f: snapshot.value_counts(f, live) for f in FACETS} == want
        assert "facet-counters" not in snapshot._shared
