"""Incremental reindex: only changed files are read, and the outcome equals a full rebuild."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time

import pytest

from conftest import related, write_news
from searchapp.backends.whoosh.schema import FACET_FIELDS
from searchapp.backends.whoosh.writer import open_current
from searchapp.indexing import update_index
from searchapp.store.lock import writer_lock
from searchapp.core.service import SearchEngine
from searchapp.model import Filters

TOPICS = ["AI", "Biometrics", "Antitrust", "Data Protection", "Content Moderation"]
PROVIDERS = ["Wire", "Daily", "Gazette", "Herald"]
WORDS = "regulator fine privacy ban court ruling consent camera data transfer platform audit".split()


def snapshot(index_dir):
    """Everything a user can observe: stored records, facet values and counts, totals for some queries."""
    ix = open_current(index_dir)
    with ix.searcher() as searcher:
        docs = {d["id"]: d["doc"] for d in searcher.all_stored_fields()}
    ix.close()
    engine = SearchEngine(index_dir)
    try:
        views = {}
        for query in ["", "regulator", "privacy ban", "fine OR court", '"data transfer"']:
            page = engine.search(query, per_page=100)
            views[query] = (page.total, sorted(h.id for h in page.hits),
                            {f: [(v.value, v.count) for v in page.facets[f]] for f in FACET_FIELDS})
        views["filtered"] = engine.search("", Filters(topic=("AI", "Biometrics"), provider=("Wire",))).total
    finally:
        engine.close()
    return docs, views


def random_file(rng, n, pool):
    fields = dict(
        title=" ".join(rng.sample(WORDS, 3)) + f" story {n}",
        excerpt=" ".join(rng.sample(WORDS, 5)),
        topics=rng.sample(TOPICS, rng.randint(1, 3)),
        provider={"name": rng.choice(PROVIDERS), "domain": "example.org"},
        publishedDateTime=f"20{rng.randint(18, 24)}-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}T10:00:00Z",
    )
    links = rng.sample(pool, rng.randint(0, 3))
    if links:
        fields["related"] = [related(link, title=f"Related {link} " + rng.choice(WORDS)) for link in links]
    return fields


@pytest.mark.parametrize("seed", range(4))
def test_random_edit_sequences_give_the_same_index_as_a_full_rebuild(tmp_path, seed):
    rng = random.Random(seed)
    corpus, incremental, full = tmp_path / "corpus", tmp_path / "inc", tmp_path / "full"
    # related entries point at shared stories and at other files' own URLs
    pool = [f"shared-{k}" for k in range(5)] + [f"f{k}.md" for k in range(8)]
    files = {}
    for n in range(8):
        files[f"f{n}.md"] = random_file(rng, n, pool)
        write_news(corpus, f"f{n}.md", **files[f"f{n}.md"])
    update_index(corpus, incremental)
    tick = 0
    modes = set()
    for step in range(14):
        op = rng.choice(["add", "modify", "modify", "delete", "touch", "break", "retopic"])
        names = sorted(files)
        if op == "add" or not names:
            name = f"f{len(files) + step + 10}.md"
            files[name] = random_file(rng, step, pool)
            write_news(corpus, name, **files[name])
        elif op == "modify":
            name = rng.choice(names)
            files[name] = random_file(rng, step, pool)
            write_news(corpus, name, **files[name])
        elif op == "retopic":
            name = rng.choice(names)
            files[name]["topics"] = rng.sample(TOPICS, 2)
            write_news(corpus, name, **files[name])
        elif op == "delete":
            name = rng.choice(names)
            del files[name]
            (corpus / name).unlink()
        elif op == "touch":
            name = rng.choice(names)
        elif op == "break":
            name = rng.choice(names)
            del files[name]
            (corpus / name).write_text("---\ntitle: [broken\n---\n")
        if op != "delete":
            tick += 1
            os.utime(corpus / name, ns=(10**18 + tick * 10**9, 10**18 + tick * 10**9))
        info = update_index(corpus, incremental)
        modes.add(info.mode)
        update_index(corpus, full, full=True)
        assert snapshot(incremental) == snapshot(full), (seed, step, op)
    assert "incremental" in modes


def test_only_changed_files_are_read_and_deletions_remove_their_items(tmp_path):
    corpus, index_dir = tmp_path / "corpus", tmp_path / "index"
    for n in range(20):
        write_news(corpus, f"{n:02d}.md", title=f"Story {n}", topics=["AI"])
    write_news(corpus, "lister.md", title="Lister", topics=["Antitrust"],
               related=[related("only-here", title="Mentioned only by the lister"),
                        related("01.md", title="Story 1")])
    first = update_index(corpus, index_dir)
    assert (first.mode, first.files_parsed, first.items) == ("full", 21, 22)

    unchanged = update_index(corpus, index_dir)
    assert (unchanged.mode, unchanged.files_parsed, unchanged.generation) == ("unchanged", 0, first.generation)

    os.utime(corpus / "05.md", ns=(10**18, 10**18))  # touched, same content: re-hashed, not re-parsed
    touched = update_index(corpus, index_dir)
    assert (touched.mode, touched.files_parsed) == ("unchanged", 0)

    write_news(corpus, "05.md", title="Story five, rewritten", topics=["AI"])
    changed = update_index(corpus, index_dir)
    assert (changed.mode, changed.files_parsed, changed.updated, changed.added, changed.removed) == (
        "incremental", 1, 1, 0, 0)

    (corpus / "lister.md").unlink()
    gone = update_index(corpus, index_dir)
    # the lister and the item only it mentioned go; Story 1 (own file) stays, without its back-link
    # (found when its page is asked for: its own document does not change)
    assert (gone.removed, gone.updated, gone.items) == (2, 0, 20)
    engine = SearchEngine(index_dir)
    try:
        story1 = next(hit.id for hit in engine.search("story", per_page=50).hits if hit.title == "Story 1")
        page = engine.get_item(story1).item
        assert (page["related_by_ids"], page["source_files"]) == ((), ("01.md",))
        assert engine.search("mentioned").total == 0
        assert engine.search("rewritten").total == 1
        assert engine.search("title:story").total == 20
    finally:
        engine.close()


def test_full_flag_and_moved_corpus_rebuild_everything(tmp_path):
    corpus, index_dir = tmp_path / "corpus", tmp_path / "index"
    write_news(corpus, "a.md", title="Alpha")
    update_index(corpus, index_dir)
    assert update_index(corpus, index_dir, full=True).mode == "full"
    other = tmp_path / "other"
    write_news(other, "a.md", title="Alpha")
    assert update_index(other, index_dir).mode == "full"


def test_a_second_reindex_waits_a_bounded_time_then_names_the_holder(tmp_path):
    corpus, index_dir = tmp_path / "corpus", tmp_path / "index"
    write_news(corpus, "a.md", title="Alpha")
    command = [sys.executable, "-m", "searchapp", "index", "--corpus", str(corpus), "--index", str(index_dir)]
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    with writer_lock(index_dir):
        started = time.monotonic()
        busy = subprocess.run(command + ["--wait", "1"], capture_output=True, text=True, env=env)
        waited = time.monotonic() - started
    assert busy.returncode == 1 and waited >= 1
    assert busy.stderr.strip() == (f"Error: another reindex of {index_dir} is running (pid {os.getpid()}) "
                                   "(waited 1 s)")
    with writer_lock(index_dir):
        later = subprocess.Popen(command + ["--wait", "20"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True, env=env)
        time.sleep(0.7)
    out, err = later.communicate(timeout=60)
    assert later.returncode == 0, err
    assert "indexed 1 item " in out


# ---------------------------------------------------------------- ranks, not only sets (issue 16)

RANK_SEQUENCES = int(os.environ.get("SEARCHAPP_SEQUENCES", "6"))   # 50 for the full check
RANK_QUERIES = ["regulator", "privacy ban", "fine OR court", '"data transfer"', "consent camera data",
                "story", "related audit", "platform"]


def ranking(index_dir) -> dict[str, list]:
    """Per query, the ranked results as groups of equal score (rounded): the
    order of groups is the ranking; within a group, ties may fall either way."""
    engine = SearchEngine(index_dir)
    try:
        out = {}
        for query in RANK_QUERIES:
            hits = engine.search(query, per_page=100).hits
            groups: list[tuple[float, list[str]]] = []
            for hit in hits:
                score = round(hit.score, 4)
                if groups and groups[-1][0] == score:
                    groups[-1][1].append(hit.id)
                else:
                    groups.append((score, [hit.id]))
            out[query] = [(score, sorted(ids)) for score, ids in groups]
        return out
    finally:
        engine.close()


@pytest.mark.parametrize("seed", range(RANK_SEQUENCES))
def test_after_deletions_incremental_ranks_exactly_like_a_full_rebuild(tmp_path, seed):
    """Issue 16: after deletions the incremental index ranked differently
    (BM25 statistics still counted deleted documents)."""
    rng = random.Random(1000 + seed)
    corpus, incremental, full = tmp_path / "corpus", tmp_path / "inc", tmp_path / "full"
    pool = [f"shared-{k}" for k in range(4)] + [f"f{k}.md" for k in range(10)]
    files = {}
    for n in range(12):
        files[f"f{n}.md"] = random_file(rng, n, pool)
        write_news(corpus, f"f{n}.md", **files[f"f{n}.md"])
    update_index(corpus, incremental)
    for step in range(8):
        op = rng.choice(["add", "modify", "delete", "delete"])
        names = sorted(files)
        if op == "add" or len(names) < 3:
            name = f"g{step}.md"
            files[name] = random_file(rng, step + 100, pool)
            write_news(corpus, name, **files[name])
        elif op == "modify":
            name = rng.choice(names)
            files[name] = random_file(rng, step + 200, pool)
            write_news(corpus, name, **files[name])
        else:
            name = rng.choice(names)
            del files[name]
            (corpus / name).unlink()
        update_index(corpus, incremental)
        update_index(corpus, full, full=True)
        assert ranking(incremental) == ranking(full), (seed, step, op)


def test_edits_that_keep_size_and_mtime_are_seen(tmp_path):
    """Issue 16: `cp -p`, `rsync -t` and `tar` restore size and mtime; the change was never seen."""
    corpus, index_dir = tmp_path / "corpus", tmp_path / "index"
    write_news(corpus, "a.md", title="Original headline alpha")
    write_news(corpus, "b.md", title="Other story")
    update_index(corpus, index_dir)
    path = corpus / "a.md"
    before = path.stat()
    path.write_text(path.read_text().replace("alpha", "omega"))   # same size
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))   # same mtime, as cp -p leaves it
    assert path.stat().st_size == before.st_size and path.stat().st_mtime_ns == before.st_mtime_ns
    info = update_index(corpus, index_dir)
    assert info.mode == "incremental" and info.updated == 1
    engine = SearchEngine(index_dir)
    try:
        assert engine.search("omega").total == 1 and engine.search("alpha").total == 0
    finally:
        engine.close()
    # a real cp -p over it, and a touch: read again, nothing rewritten for the touch
    copy = tmp_path / "copy.md"
    write_news(tmp_path, "copy.md", title="Original headline gamma", webUrl="https://example.org/a.md")
    subprocess.run(["cp", "-p", str(copy), str(path)], check=True)
    assert update_index(corpus, index_dir).updated == 1
    os.utime(path)
    assert update_index(corpus, index_dir).mode == "unchanged"
