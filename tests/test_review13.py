"""Review of round 13 (issue 15): the grouped posting pool, the date sort keys as columns only,
and read_bytes by the stat's size. Failing tests are defects; passing ones are regressions the
suite did not check."""

from __future__ import annotations

import datetime as dt
import inspect
import random
from pathlib import Path

from conftest import SAMPLE_CORPUS, write_news
from test_fast_write import _segment_files, _write
from test_sort_keys import use_old_schema
from whoosh import index as whoosh_index

from searchapp.backends.whoosh import compat
from searchapp.backends.whoosh.schema import item_document, make_schema
from searchapp.core.service import SearchEngine
from searchapp.indexing import update_index
from searchapp.ingest.reader import read_bytes, read_corpus, stat_file
from searchapp.model import NewsItem, Provider


def _item(n: int, title: str, excerpt: str, body: str) -> NewsItem:
    return NewsItem(id=f"r13-{n}", url=f"https://example.org/r13-{n}", title=title, excerpt=excerpt, body=body,
                    published=dt.datetime(2020, 1, 1 + n % 28, tzinfo=dt.timezone.utc),
                    provider=Provider("Example", "example.org"), topics=("Privacy",), related_text=title)


def _odd_documents() -> list[dict]:
    """Empty fields, only stop words, one term thousands of times, non-ASCII and emoji, a
    300-letter word, huge bodies (so a spill falls inside a document), some with a `_boost`
    (Whoosh's own add path, mixed with FastAdder's)."""
    rng = random.Random(5)
    words = ["data", "privacy", "the", "straße", "İstanbul", "naïve", "café", "日本語", "gdpr", "x" * 300, "regulator"]
    items = []
    for n in range(48):
        kind = n % 6
        if kind == 0:
            texts = ("", "", "data " * 3000)
        elif kind == 1:
            texts = ("the of and a", "the the the", "a an the")
        elif kind == 2:
            texts = (" ".join(rng.choice(words) for _ in range(30)), "ÉCOLE " * 50,
                     " ".join(rng.choice(words) for _ in range(6000)))
        elif kind == 3:
            texts = ("data data data data", "data", "data")
        elif kind == 4:
            texts = ("日本語 テスト 😀", "中文 測試", "😀 emoji 🤖 \u200bzero\u200bwidth")
        else:
            texts = (f"title {n}", f"excerpt {n}", " ".join(f"w{rng.randrange(2000)}" for _ in range(2000)))
        items.append(_item(n, *texts))
    documents = [item_document(item, "s" if n % 5 == 0 else "")
                 for n, item in enumerate(list(read_corpus(SAMPLE_CORPUS).items) + items)]
    for n, document in enumerate(documents):
        if n % 9 == 0:
            document["_boost"] = 2.0
    return documents


def test_odd_documents_through_spills_and_reduce_to_write_whooshs_bytes(tmp_path, monkeypatch):
    """Expected: odd documents (see _odd_documents) in a 1 MB pool that spills, also inside
    documents, with at most 2 open runs (reduce_to) and small records, give Whoosh's bytes, and
    the pool's runs and temporary folder are gone after the commit. Happened: as expected."""
    monkeypatch.setattr(compat, "_RUN_CHUNK", 50)
    monkeypatch.setattr(compat, "_MAX_OPEN_RUNS", 2)
    runs = []
    real = compat.GroupedPool._add_run
    monkeypatch.setattr(compat.GroupedPool, "_add_run", lambda pool, path: (runs.append(path), real(pool, path))[1])
    documents = _odd_documents()
    whoosh_files = _write(tmp_path / "whoosh", documents, fast=False, limitmb=1)
    fast_files = _write(tmp_path / "fast", documents, fast=True, limitmb=1)
    assert len(runs) >= 3
    assert fast_files == whoosh_files
    assert sorted(p.name for p in (tmp_path / "fast").iterdir() if not p.name.startswith("MAIN_")) == ["_MAIN_1.toc"]


def test_an_optimizing_commit_merges_segments_through_the_grouped_pool_into_whooshs_bytes(tmp_path, monkeypatch):
    """Expected: a FastAdder writer that deletes a document and commits with optimize=True (Whoosh's
    add_reader puts the old segments' postings into the GroupedPool through add(), out of docnum
    order) writes the same segment as Whoosh's writer. Happened: as expected."""
    monkeypatch.setattr(compat, "_RUN_CHUNK", 30)
    documents = [item_document(item, "") for item in read_corpus(SAMPLE_CORPUS).items]

    def build(folder: Path, fast: bool) -> dict[str, str]:
        folder.mkdir()
        ix = whoosh_index.create_in(str(folder), make_schema())
        for n, part in enumerate((documents[:20], documents[20:40], documents[40:])):
            writer = ix.writer(limitmb=1, compound=False)
            adder = compat.FastAdder(writer) if fast else None
            if n == 2:
                writer.delete_by_term("id", documents[3]["id"])
            for document in part:
                adder.add(dict(document)) if fast else writer.add_document(**document)
            writer.commit(merge=False, optimize=n == 2)
        assert len(whoosh_index.open_dir(str(folder))._segments()) == 1
        return _segment_files(folder)

    assert build(tmp_path / "fast", True) == build(tmp_path / "whoosh", False)


def test_a_run_file_cut_at_a_record_boundary_is_not_taken_for_its_end(tmp_path, monkeypatch):
    """A run file cut short just after one of its records (a full disk, a crash of the store)
    reads as a complete, shorter run: _read_run takes "no more length header" for the end, and
    the file has no count or end mark, so the cut is only caught when it falls inside a record
    (review 12's fix).
    Expected: reading the cut run raises (EOFError), as a cut inside a record does.
    Happened: the merge returns 12 of the 200 postings, without a word."""
    monkeypatch.setattr(compat, "_RUN_CHUNK", 10)
    folder = tmp_path / "index"
    folder.mkdir()
    writer = whoosh_index.create_in(str(folder), make_schema()).writer(limitmb=1, compound=False)
    compat.FastAdder(writer)
    pool = writer.pool
    postings = [("title", b"w%03d" % (n % 50), n, 1.0, b"v") for n in range(200)]
    for posting in postings:
        pool.add(posting)
    pool.save()
    path = pool.runs[0]
    with pool._open_run(path) as f:
        raw = f.read()
    first = int.from_bytes(raw[:8], "little")
    assert len(raw) > 8 + first          # more than one record
    with pool.tempstore.create_file(path).raw_file() as f:
        f.write(raw[:8 + first])        # cut just after the first record
    try:
        try:
            got = list(pool.items())
        except EOFError:
            return
        assert len(got) == len(postings), f"the merge returned {len(got)} of {len(postings)} postings"
    finally:
        writer.cancel()


def _search_answers(index_dir: Path) -> list:
    engine = SearchEngine(index_dir)
    filters_type = inspect.signature(SearchEngine.search).parameters["filters"].default.__class__
    try:
        answers = []
        for sort in ("newest", "oldest"):
            for start, end in ((None, None), (dt.date(2023, 2, 1), dt.date(2023, 3, 31)),
                               (dt.date(2023, 4, 1), None), (None, dt.date(2023, 1, 31))):
                page = engine.search("", filters_type(date_from=start, date_to=end), sort=sort, per_page=100)
                answers.append((page.total, [hit.title for hit in page.hits]))
        return answers
    finally:
        engine.close()


def test_an_old_schema_generation_gives_the_same_date_orders_and_date_filters(tmp_path, monkeypatch):
    """Expected: a generation written with indexed NUMERIC date keys (before round 13) and one
    written now answer the newest and oldest orders and `published` ranges the same, including
    an undated item (last both ways). Happened: as expected."""
    def corpus(folder: Path) -> Path:
        for n in range(5):
            write_news(folder, f"{n}.md", title=f"Story {n} about the regulator", topics=["AI"],
                       publishedDateTime=f"2023-0{n + 1}-10T10:00:00Z")
        write_news(folder, "undated.md", title="Undated story about the regulator", topics=["AI"])
        return folder

    with monkeypatch.context() as patch:
        use_old_schema(patch)
        update_index(corpus(tmp_path / "old"), tmp_path / "old-index")
    update_index(corpus(tmp_path / "new"), tmp_path / "new-index")
    old, new = _search_answers(tmp_path / "old-index"), _search_answers(tmp_path / "new-index")
    assert old == new
    assert new[0][1][-1] == new[4][1][-1] == "Undated story about the regulator"


def test_a_file_empty_at_its_stat_that_grew_is_read_whole(tmp_path):
    """Expected: a file of 0 bytes at its stat (created, not yet written) that is written before
    the read is read whole, not as the stat's 0 bytes. Happened: as expected."""
    path = tmp_path / "a.md"
    path.write_bytes(b"")
    state = stat_file(path, "a.md")
    path.write_bytes(b"---\ntitle: now written\n---\nbody\n")
    assert read_bytes(path, state) == b"---\ntitle: now written\n---\nbody\n"
