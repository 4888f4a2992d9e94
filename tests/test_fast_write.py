"""The build's add_document (compat.FastAdder) writes the same segment files,
byte for byte, as Whoosh's own SegmentWriter.add_document."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

from conftest import SAMPLE_CORPUS
from whoosh import index as whoosh_index

from searchapp.backends.whoosh import compat
from searchapp.backends.whoosh.schema import item_document, make_schema
from searchapp.ingest.reader import read_corpus
from searchapp.model import NewsItem, Provider


def _segment_files(folder: Path) -> dict[str, str]:
    """Each segment file's hash, by its kind (the segment id is random)."""
    return {f.name.split(".", 1)[1]: hashlib.sha1(f.read_bytes()).hexdigest()
            for f in folder.iterdir() if f.name.startswith("MAIN_") and "." in f.name}


def _write(folder: Path, documents: list[dict], fast: bool, limitmb: int = 64) -> dict[str, str]:
    folder.mkdir()
    compat.remember_missing_columns()
    writer = whoosh_index.create_in(str(folder), make_schema()).writer(limitmb=limitmb, compound=False)
    adder = compat.FastAdder(writer) if fast else None
    for document in documents:
        if fast:
            adder.add(dict(document))
        else:
            writer.add_document(**document)
    writer.commit()
    return _segment_files(folder)


def _odd_items() -> list[NewsItem]:
    """Texts that exercise every branch: only stop words, one-letter words,
    repeats (several positions), case folding, dotted words, non-ASCII."""
    texts = [
        ("The and of a", "A I o"),
        ("Data data DATA, data-protection rules", "the data of the data act: data, data."),
        ("U.S. regulators fine e.g. Meta", "İstanbul straße ÉCOLE naïve café — x y z 3.14 v2.0"),
        ("Stemming: regulations regulating regulated regulator", "running runs ran runner"),
        ("", ""),
    ]
    items = []
    for n, (title, excerpt) in enumerate(texts):
        items.append(NewsItem(id=f"odd{n}", url=f"https://example.org/odd{n}", title=title, excerpt=excerpt,
                              body=excerpt * 3, published=dt.datetime(2020, 1, n + 1, tzinfo=dt.timezone.utc),
                              provider=Provider("Example", "example.org"), topics=("Privacy",),
                              related_text=title))
    return items


def spilling_pool(folder: Path, monkeypatch, grouped: bool = True):
    """(writer, its posting pool) of a new index in `folder`: FastAdder's GroupedPool (run records
    of about 100 postings) or, not `grouped`, Whoosh's own PostingPool."""
    monkeypatch.setattr(compat, "_RUN_CHUNK", 100)
    folder.mkdir()
    writer = whoosh_index.create_in(str(folder), make_schema()).writer(limitmb=1, compound=False)
    if grouped:
        compat.FastAdder(writer)
    return writer, writer.pool


def test_fast_adder_writes_whooshs_bytes(tmp_path):
    items = list(read_corpus(SAMPLE_CORPUS).items) + _odd_items()
    documents = [item_document(item, "story-1" if n % 7 == 0 else "") for n, item in enumerate(items)]
    whoosh_files = _write(tmp_path / "whoosh", documents, fast=False)
    fast_files = _write(tmp_path / "fast", documents, fast=True)
    assert {"pst", "trm", "_stored.col", "_title_len.col"} <= set(whoosh_files)
    assert fast_files == whoosh_files


def test_fast_adder_spilling_pool(tmp_path):
    """A pool that spills to disk runs (limit 1 MB; 108 documents make 3 runs): still Whoosh's bytes."""
    documents = [item_document(item, "") for item in read_corpus(SAMPLE_CORPUS).items] * 2
    assert _write(tmp_path / "fast", documents, fast=True, limitmb=1) == \
        _write(tmp_path / "whoosh", documents, fast=False, limitmb=1)


def test_a_spilling_pool_writes_and_merges_its_runs_a_chunk_at_a_time(tmp_path, monkeypatch):
    """Run files hold records of (field, term, postings) groups, each its length and one marshal
    record of about _RUN_CHUNK postings (Whoosh's one record per posting, dumped to and loaded
    from the file, was 28% of a 100k build's samples), and the merge gives Whoosh's order,
    also through reduce_to's merge of runs into runs (more runs than files it may open), and
    for postings added out of order (Whoosh's own add())."""
    import marshal
    import random

    writer, pool = spilling_pool(tmp_path / "index", monkeypatch)
    assert isinstance(pool, compat.GroupedPool)
    rng = random.Random(7)
    postings = [("title", f"w{rng.randrange(500)}".encode(), d, 1.0, b"v%d" % d) for d in range(2_000)]
    rng.shuffle(postings)
    written = []
    real_new_run = pool._new_run

    def new_run():
        path, f = real_new_run()
        written.append(path)
        return path, f

    pool._new_run = new_run
    for start in range(0, len(postings), 250):   # 8 runs
        for posting in postings[start:start + 250]:
            pool.add(posting)
        pool.save()
    with pool._open_run(written[0]) as f:
        first = marshal.loads(f.read(int.from_bytes(f.read(8), "little")))   # a length, then a chunk
    assert type(first) is list and sum(len(group[2]) for group in first) >= 100
    assert [group[:2] for group in first] == sorted(group[:2] for group in first)
    assert list(pool.items()) == sorted(postings)
    writer.cancel()


def test_grouped_runs_merge_through_reduce_to_in_whooshs_order(tmp_path, monkeypatch):
    """More runs than files a merge may open: runs are merged into runs first, and the
    merged run goes first in the list (Whoosh's reduce_to), so a term's postings arrive from
    the runs out of docnum order; they still come back in Whoosh's order."""
    import random

    monkeypatch.setattr(compat, "_MAX_OPEN_RUNS", 3)
    writer, pool = spilling_pool(tmp_path / "index", monkeypatch)
    rng = random.Random(3)
    postings = [("title", f"w{rng.randrange(40)}".encode(), d, 1.0, b"v%d" % d) for d in range(1_000)]
    for start in range(0, len(postings), 100):   # 10 runs in document order, as a writer spills
        for field, term, docnum, weight, value in postings[start:start + 100]:
            pool.terms(field).setdefault(term, []).append((docnum, weight, value))
        pool.save()
    assert len(pool.runs) == 10
    assert list(pool.items()) == sorted(postings)
    writer.cancel()


def test_grouped_pool_orders_spelling_postings_by_value_like_whoosh(tmp_path, monkeypatch):
    """Spelling postings all have docnum 0 and are ordered by their value bytes (Whoosh sorts whole
    tuples), within a run and across runs; a term met twice in one document, by weight."""
    writer, pool = spilling_pool(tmp_path / "index", monkeypatch)
    values = [b"\x01" + bytes([n]) for n in (9, 3, 7, 1, 8, 2)]
    expected = []
    for run, chunk in enumerate((values[:3], values[3:])):
        for value in chunk:
            pool.add(("spell_title", b"word", 0, 1, value))
            expected.append(("spell_title", b"word", 0, 1, value))
        pool.add(("title", b"twice", 5 + run, 2.0, b"b"))
        pool.add(("title", b"twice", 5 + run, 1.0, b"a"))
        expected += [("title", b"twice", 5 + run, 2.0, b"b"), ("title", b"twice", 5 + run, 1.0, b"a")]
        pool.save()
    assert list(pool.items()) == sorted(expected)
    writer.cancel()
