"""Index generations on disk: atomic switch, failed builds, one writer."""

from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import need_shared, write_news
from searchapp.backends.whoosh.writer import open_current
from searchapp.errors import IndexBusy, NoIndex
from searchapp.indexing import update_index
from searchapp.store.generations import CURRENT, current_generation, read_build_info
from searchapp.store.lock import writer_lock
from searchapp.core.service import SearchEngine


def corpus_of(tmp_path, titles):
    """A corpus folder holding exactly these titles (earlier files removed)."""
    root = tmp_path / "corpus"
    for old in root.glob("*.md") if root.exists() else ():
        old.unlink()
    for n, title in enumerate(titles):
        write_news(root, f"{n}.md", title=title, topics=["AI"])
    return root


def build_index(root, index_dir, progress=None):
    """The production build path from scratch, as each of these tests needs."""
    return update_index(root, index_dir, full=True, progress=progress)


def test_build_switches_current_and_keeps_one_previous_generation(tmp_path, monkeypatch):
    import searchapp.store.generations as generations

    monkeypatch.setattr(generations, "GRACE_SECONDS", -1)  # no grace for slow readers in this test
    index_dir = tmp_path / "index"
    with pytest.raises(NoIndex):
        open_current(index_dir)
    names = []
    for n in range(4):
        info = build_index(corpus_of(tmp_path, [f"title{n} a", f"title{n} b"]), index_dir)
        names.append(info.generation)
        assert (index_dir / CURRENT).read_text().strip() == info.generation
    assert sorted(p.name for p in index_dir.glob("gen-*")) == sorted(names[-2:])
    assert read_build_info(index_dir).items == 2
    engine = SearchEngine(index_dir)
    try:
        assert engine.search("title3").total == 2 and engine.search("title0").total == 0
    finally:
        engine.close()


def test_failed_build_leaves_previous_index_serving(tmp_path):
    index_dir = tmp_path / "index"
    build_index(corpus_of(tmp_path, ["kept item"]), index_dir)
    before = current_generation(index_dir)

    def explode(items):
        for n, item in enumerate(items):
            if n == 1:
                raise RuntimeError("disk on fire")
            yield item

    with pytest.raises(RuntimeError):
        build_index(corpus_of(tmp_path, ["new a", "new b", "new c"]), index_dir,
                    progress=lambda items, desc, unit: explode(items) if desc == "Indexing" else items)
    assert current_generation(index_dir) == before
    assert not list(index_dir.glob(".building-*"))
    engine = SearchEngine(index_dir)
    try:
        assert engine.search("kept").total == 1 and engine.search("new").total == 0
    finally:
        engine.close()


def test_a_second_writer_is_refused_with_the_holders_pid(tmp_path):
    index_dir = tmp_path / "index"
    with writer_lock(index_dir):
        with pytest.raises(IndexBusy, match=r"another reindex .* is running \(pid \d+\)"):
            build_index(corpus_of(tmp_path, ["x"]), index_dir)
    build_index(corpus_of(tmp_path, ["x"]), index_dir)  # the lock is released
    assert current_generation(index_dir) is not None


def test_leftovers_of_a_killed_build_are_cleaned(tmp_path):
    index_dir = tmp_path / "index"
    build_index(corpus_of(tmp_path, ["one"]), index_dir)
    (index_dir / ".building-gen-killed").mkdir()
    (index_dir / ".building-gen-killed" / "junk.seg").write_bytes(b"half written")
    build_index(corpus_of(tmp_path, ["two"]), index_dir)
    assert not (index_dir / ".building-gen-killed").exists()


def test_search_engine_picks_up_a_new_generation(tmp_path):
    index_dir = tmp_path / "index"
    build_index(corpus_of(tmp_path, ["first edition"]), index_dir)
    engine = SearchEngine(index_dir)
    try:
        assert engine.search("first").total == 1
        build_index(corpus_of(tmp_path, ["second edition", "second again"]), index_dir)
        assert engine.search("second").total == 2 and engine.search("first").total == 0
    finally:
        engine.close()


def test_a_build_on_every_core_answers_exactly_like_one_writer(tmp_path, monkeypatch):
    """One segment per core, in a fixed order: same docnums, same BM25F
    statistics, so the same ranks, scores, facets and pages as a single writer."""
    import searchapp.backends.whoosh.writer as writer

    monkeypatch.setattr(writer, "PARALLEL_MIN_ITEMS", 10**9)
    shared = need_shared()
    build_index(shared, tmp_path / "single")
    monkeypatch.setattr(writer, "PARALLEL_MIN_ITEMS", 1)
    monkeypatch.setattr(writer, "WORKERS", 2)
    build_index(shared, tmp_path / "parts")
    assert len(open_current(tmp_path / "parts").reader().leaf_readers()) == 2
    single, parts = SearchEngine(tmp_path / "single"), SearchEngine(tmp_path / "parts")
    try:
        for query, sort, page in [("facial recognition", "relevance", 1), ("china consent", "relevance", 2),
                                  ("power apps", "relevance", 3), ("gdpr fine", "recent", 1),
                                  ("", "newest", 4), ("ai", "oldest", 2), ('"data protection"', "relevance", 1)]:
            a, b = (e.search(query, sort=sort, page=page, per_page=20) for e in (single, parts))
            assert [(h.id, h.score, h.snippet, h.also_reported_by) for h in a.hits] == \
                [(h.id, h.score, h.snippet, h.also_reported_by) for h in b.hits]
            assert (a.total, a.grouped_total, a.facets) == (b.total, b.grouped_total, b.facets)
    finally:
        single.close()
        parts.close()


def test_writer_processes_do_not_inherit_the_builders_memory(tmp_path):
    """The writers of a build on every core are fed their share through pipes:
    the corpus the building process holds is not mapped into each of them."""
    corpus = corpus_of(tmp_path, [f"story number {n}" for n in range(40)])
    script = (
        "import os, sys, threading, time\n"
        "import searchapp.backends.whoosh.writer as writer\n"
        "from searchapp.indexing import update_index\n"
        "writer.PARALLEL_MIN_ITEMS, writer.WORKERS = 1, 2\n"
        "ballast = b'x' * (600 << 20)   # what a big corpus costs the builder\n"
        "peak, done = [0], []\n"
        "own = open('/proc/self/cmdline').read()\n"
        "def sample():   # children once they run a program of their own: their peak resident set\n"
        "    while not done:\n"
        "        for task in os.listdir('/proc/self/task'):\n"
        "            for pid in open(f'/proc/self/task/{task}/children').read().split():\n"
        "                try:\n"
        "                    if open(f'/proc/{pid}/cmdline').read() == own:   # a fork, or a spawn before its exec\n"
        "                        continue\n"
        "                    hwm = [l for l in open(f'/proc/{pid}/status') if l.startswith('VmHWM')]\n"
        "                    peak[0] = max(peak[0], int(hwm[0].split()[1]) // 1024 if hwm else 0)\n"
        "                except OSError:\n"
        "                    pass\n"
        "        time.sleep(0.02)\n"
        "threading.Thread(target=sample, daemon=True).start()\n"
        "update_index(sys.argv[1], sys.argv[2], full=True)\n"
        "done.append(1)\n"
        "print(peak[0])\n")
    out = subprocess.run([sys.executable, "-c", script, str(corpus), str(tmp_path / "index")],
                         capture_output=True, text=True, check=True)
    writer_peak_mb = int(out.stdout.split()[-1])   # 0: no writer ran a program of its own (forks)
    assert 0 < writer_peak_mb < 400, writer_peak_mb
    assert len(open_current(tmp_path / "index").reader().leaf_readers()) == 2


def test_a_full_build_holds_one_record_and_one_document_at_a_time(tmp_path):
    """Bounded memory: a full build streams each parsed file into the new
    state and the merger, and makes each document when the writer takes it.
    (It used to hold every record, item and document: 9 GB at 300k items.)
    Watched through the progress hook, counting the live objects."""
    import gc

    from searchapp.ingest.reader import FileRecord
    from searchapp.model import NewsItem

    corpus = tmp_path / "corpus"
    for n in range(30):
        write_news(corpus, f"n{n:02}.md", f"body text marker{n} " * 20, title=f"Story {n}",
                   related=[{"title": f"Other {n}", "webUrl": f"https://example.org/other-{n}"}])
    most = {"Reading": 0, "Indexing": 0}

    def watch(iterable, desc, unit):
        for value in iterable:
            yield value
            held = sum(isinstance(o, FileRecord) and "marker" in o.own.body
                       or isinstance(o, NewsItem) and "marker" in o.body   # this build's, not other tests'
                       for o in gc.get_objects())   # no list of them: it would keep them alive
            most[desc] = max(most[desc], held)

    info = update_index(corpus, tmp_path / "index", full=True, progress=watch)
    assert info.items == 60
    assert most["Reading"] <= 2 and 1 <= most["Indexing"] <= 2, most
    with SearchEngine(tmp_path / "index") as engine:
        assert engine.search("marker7").total == 1
