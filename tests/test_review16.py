"""Review of round 16 (commit d67b776, worker memory): mapped column offsets,
stories as int32 arrays keyed by number, smaller caches.

Tests that fail reproduce a defect; tests that pass document what held up."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from whoosh import columns
from whoosh.filedb.filestore import FileStorage

from conftest import PROJECT, running_server, write_news
from searchapp.backends.whoosh import compat
from searchapp.core.service import SearchEngine
from searchapp.indexing import update_index



def _whoosh_read():
    """Whoosh's own VarBytesColumn.Reader._read_offsets_and_lengths (under compat's patch)."""
    compat.offsets_from_column_files()
    patched = columns.VarBytesColumn.Reader._read_offsets_and_lengths
    return patched.__closure__[patched.__code__.co_freevars.index("original")].cell_contents


def _column(folder: Path, values: list[bytes], column=None, cutoff: int = 4) -> tuple[FileStorage, object, int]:
    storage = FileStorage(str(folder))
    column = column or columns.VarBytesColumn(write_offsets_cutoff=cutoff)
    f = storage.create_file("c")
    writer = column.writer(f)
    for docnum, value in enumerate(values):
        if value:
            writer.add(docnum, value)
    writer.finish(len(values))
    length = f.tell()
    f.close()
    return storage, column, length


# -- mapped offsets: a file truncated under an open reader


SIGBUS_SCRIPT = textwrap.dedent("""
    import os, sys
    from whoosh import columns
    from whoosh.filedb.filestore import FileStorage
    from searchapp.backends.whoosh import compat
    compat.offsets_from_column_files()
    folder = sys.argv[1]
    storage, column, n = FileStorage(folder), columns.CompressedBytesColumn(), 40_000
    f = storage.create_file("c"); writer = column.writer(f)
    for d in range(n):
        writer.add(d, b"document %d " % d * 3)
    writer.finish(n); length = f.tell(); f.close()
    reader = column.reader(storage.open_file("c"), 0, length, n)
    assert reader[5] == b"document 5 " * 3
    os.truncate(os.path.join(folder, "c"), length // 3)   # damaged under a running reader
    try:
        reader[n - 5]
    except Exception as error:
        print("raised", type(error).__name__)
    print("survived")
""")


def test_a_column_file_truncated_under_a_mapped_reader_does_not_kill_the_process(tmp_path):
    """Review 16, fixed: the offsets and lengths were read from a mapping of the column file;
    once the file was truncated under it (the damage test_damaged's running-server case makes
    with os.truncate), touching the mapped pages past the new end was SIGBUS: the process died
    (rc -7) instead of raising an exception the service sets the generation aside for. They
    are read with pread now: a short read raises."""
    done = subprocess.run([sys.executable, "-c", SIGBUS_SCRIPT, str(tmp_path)], capture_output=True, text=True,
                          timeout=120, cwd=PROJECT)
    assert done.returncode == 0 and "survived" in done.stdout, (done.returncode, done.stdout, done.stderr[-500:])


# -- mapped offsets: odd typecode bytes


@pytest.mark.parametrize("where", ["lengths", "offsets"])
@pytest.mark.parametrize("code", ["?", "e"])
def test_a_damaged_typecode_is_not_read_as_a_numpy_type_whoosh_refuses(tmp_path, where, code):
    """Review 16, fixed: a typecode byte Python's array module refuses ('?', 'e': Whoosh raises
    ValueError "bad typecode") was a valid NumPy dtype of the same size as struct's, so the
    mapped reader accepted it and read lengths/offsets as booleans or half floats: wrong values,
    no exception. Only array typecodes are read now; anything else is Whoosh's own reading."""
    compat.offsets_from_column_files()
    values = [b"abc" * (d % 5) for d in range(200)]
    storage, column, length = _column(tmp_path, values)
    data = bytearray((tmp_path / "c").read_bytes())
    data[length - 3 if where == "lengths" else length - 2] = ord(code)
    (tmp_path / "c").write_bytes(bytes(data))
    with pytest.raises(Exception):   # what Whoosh's own reading does
        reader = column.reader(storage.open_file("c"), 0, length, len(values))
        _whoosh_read()(reader)
    try:
        reader = column.reader(storage.open_file("c"), 0, length, len(values))
        read = [reader[d] for d in range(len(values))]
    except Exception:
        return   # refused: fine
    assert read == values, f"typecode {code!r} of the {where} read without an error, {sum(a != b for a, b in zip(read, values))} values wrong"


def test_odd_but_valid_typecodes_read_the_same_as_whoosh(tmp_path):
    """Held up: every typecode GrowableArray writes (B, H, i, I, l, L) and the other array
    codes struct and NumPy size alike read the same values mapped as Whoosh reads them."""
    compat.offsets_from_column_files()
    import array
    import struct
    rng = random.Random(1)
    values = [os.urandom(rng.choice([0, 1, 5, 200])) for _ in range(300)]
    for lens_code, offsets_code in [("B", "H"), ("H", "i"), ("i", "I"), ("I", "l"), ("l", "L"), ("q", "Q")]:
        folder = tmp_path / f"{lens_code}{offsets_code}"
        folder.mkdir()
        storage = FileStorage(str(folder))
        f = storage.create_file("c")
        offsets, base = [], 0
        for v in values:
            f.write(v)
            offsets.append(base)
            base += len(v)
        f.write_array(array.array(lens_code, [len(v) for v in values]))
        f.write_array(array.array(offsets_code, offsets))
        f.write(lens_code.encode() + offsets_code.encode() + b"X")
        length = f.tell()
        f.close()
        reader = columns.VarBytesColumn().reader(storage.open_file("c"), 0, length, len(values))
        assert isinstance(reader._offsets, compat._FileInts), (lens_code, offsets_code)
        assert [reader[d] for d in range(len(values))] == values, (lens_code, offsets_code, struct.calcsize(offsets_code))


# -- mapped offsets: files removed under a reader, threads


def test_a_removed_column_file_is_still_read_through_its_mapping(tmp_path):
    """Held up: a generation removed while a reader holds it (rm -rf under a server): the
    mapping keeps the file's pages, every value still reads."""
    compat.offsets_from_column_files()
    values = [os.urandom(d % 17) for d in range(5_000)]
    storage, column, length = _column(tmp_path, values)
    reader = column.reader(storage.open_file("c"), 0, length, len(values))
    assert isinstance(reader._offsets, compat._FileInts)
    (tmp_path / "c").unlink()
    assert [reader[d] for d in range(len(values))] == values


def test_many_threads_read_stored_values_through_mapped_offsets(tmp_path):
    """Held up: 16 threads, each with its own reader over the one file (as each thread has
    its own searcher), read random documents at once: every value right."""
    compat.offsets_from_column_files()
    rng = random.Random(5)
    values = [os.urandom(rng.choice([0, 3, 40, 900])) for _ in range(34_000)]
    storage, column, length = _column(tmp_path, values, columns.CompressedBytesColumn())
    wrong, failures = [], []
    start = threading.Barrier(16)

    def work(seed):
        try:
            reader = column.reader(storage.open_file("c"), 0, length, len(values))
            assert isinstance(reader._offsets, compat._FileInts)
            local = random.Random(seed)
            start.wait()
            for _ in range(3_000):
                d = local.randrange(len(values))
                if reader[d] != values[d]:
                    wrong.append(d)
        except Exception as error:   # pragma: no cover - reported below
            failures.append(repr(error))

    threads = [threading.Thread(target=work, args=(n,)) for n in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not failures and not wrong, (failures[:3], wrong[:5])


# -- stories by number after an incremental reindex


def _stories(corpus: Path) -> None:
    for story in range(4):
        title = f"Regulator {story} fines carrier over location data sharing in case {story}"
        lede = f"The regulator number {story} said the carrier shared customers' location data without consent."
        for n, domain in enumerate(["reuters.com", "apnews.com", "bbc.co.uk"]):
            write_news(corpus, f"s{story}-{n}.md", title=title + " as reported" * n, excerpt=lede, topics=["Privacy"],
                       webUrl=f"https://{domain}/story-{story}-{n}",
                       publishedDateTime=f"2024-03-{story + 1:02d}T{10 + n}:00:00Z")
    for n in range(6):
        write_news(corpus, f"single-{n}.md", title=f"Unrelated note {n} about drones", excerpt=f"Item {n} stands alone.",
                   publishedDateTime=f"2023-01-{n + 1:02d}T10:00:00Z")


def _view(index_dir: Path) -> dict:
    with SearchEngine(index_dir) as engine:
        out = {}
        for query in ("", "regulator fines carrier", "location data", "carrier", "drones"):
            for sort in ("relevance", "newest"):
                page = engine.search(query, sort=sort)
                out[query, sort] = (page.total, page.grouped_total,
                                    [(h.id, [r.id for r in h.also_reported_by]) for h in page.hits])
        out["suggest"] = [(s.kind, s.text, s.id) for s in engine.suggest("regulator fines carr")]
        snapshot = engine._snapshot()
        _, story_of, members = snapshot.stories()
        out["stories"] = sorted(sorted(snapshot.record(d)["id"] for d in docs) for docs in members.values())
        return out


def test_story_copies_edited_removed_and_added_incrementally_match_a_full_rebuild(tmp_path):
    """Held up: story 0's first member removed, story 1 left with one member, a copy of
    story 2 edited, a fourth copy added to story 3; an incremental reindex answers as a full
    rebuild does (hits, totals, grouped totals, also_reported_by, suggestions, the stories)."""
    corpus = tmp_path / "corpus"
    _stories(corpus)
    update_index(corpus, tmp_path / "incremental", full=True)
    before = _view(tmp_path / "incremental")
    assert len(before["stories"]) == 4
    (corpus / "s0-0.md").unlink()
    (corpus / "s1-1.md").unlink()
    (corpus / "s1-2.md").unlink()
    write_news(corpus, "s2-1.md", body="Edited body about the carrier.",
               title="Regulator 2 fines carrier over location data sharing in case 2 as reported",
               excerpt="The regulator number 2 said the carrier shared customers' location data without consent.",
               topics=["Privacy"], webUrl="https://apnews.com/story-2-1", publishedDateTime="2024-03-03T11:00:00Z")
    write_news(corpus, "s3-3.md", title="Regulator 3 fines carrier over location data sharing in case 3 again",
               excerpt="The regulator number 3 said the carrier shared customers' location data without consent.",
               topics=["Privacy"], webUrl="https://cnn.com/story-3-3", publishedDateTime="2024-03-04T15:00:00Z")
    assert update_index(corpus, tmp_path / "incremental").mode == "incremental"
    update_index(corpus, tmp_path / "full", full=True)
    incremental, full = _view(tmp_path / "incremental"), _view(tmp_path / "full")
    assert incremental == full
    assert len(full["stories"]) == 3 and sorted(len(s) for s in full["stories"]) == [2, 3, 4]
    total, grouped, _ = full["", "relevance"]
    assert (total, grouped) == (16, 10)


def test_story_of_takes_numpy_docnums_and_story_zero(tmp_path):
    """Held up: the views answer numpy integers as ints (docnums come from numpy arrays in
    places), and story number 0 is a story everywhere a caller looks."""
    import numpy as np
    corpus = tmp_path / "corpus"
    _stories(corpus)
    update_index(corpus, tmp_path / "index", full=True)
    with SearchEngine(tmp_path / "index") as engine:
        snapshot = engine._snapshot()
        copies, story_of, members = snapshot.stories()
        first = members[0][0]
        assert story_of.get(np.int64(first)) == 0 and np.int32(first) in story_of
        assert members[np.int64(0)] == members[0]
        for sort in ("relevance", "newest", "oldest"):
            hits = engine.search("regulator fines carrier", sort=sort).hits
            ids = [h.id for h in hits]
            assert len(ids) == 4, (sort, ids)   # one hit per story, story 0 included


# -- end to end over a segment that writes its offsets (over 32,768 documents)


@pytest.fixture(scope="module")
def big_one_segment(tmp_path_factory):
    """33,000 generated items written as ONE segment (one writer process), so that the stored
    column has its offsets written and mapped. (A default build on 2 cores writes two
    segments of 16,500: nothing mapped; at 40k, 2 x 20,000: still nothing.)"""
    from searchapp.backends.whoosh import writer
    base = tmp_path_factory.mktemp("review16-big")
    corpus = base / "corpus"
    subprocess.run([sys.executable, str(PROJECT / "bench" / "make_corpus.py"), "33000", str(corpus),
                    "--source", str(PROJECT / "corpus")],   # the in-repo sample: no need of ../shared
                   check=True, capture_output=True, timeout=600)
    saved, writer.WORKERS = writer.WORKERS, 1
    try:
        update_index(corpus, base / "index", full=True)
    finally:
        writer.WORKERS = saved
    return corpus, base / "index"


def _current(index_dir: Path) -> Path:
    return index_dir / (index_dir / "CURRENT").read_text().strip()


@pytest.mark.slow
def test_the_big_segments_stored_column_is_mapped_and_read_by_many_threads(big_one_segment):
    """Held up: over a real 33,000-document segment, 16 threads' searches and stored
    records agree with one thread's."""
    from concurrent.futures import ThreadPoolExecutor
    _, index_dir = big_one_segment
    with SearchEngine(index_dir) as engine:
        snapshot = engine._snapshot()
        readers = [leaf.reader() for leaf, _ in snapshot.searcher.leaf_searchers()]
        assert len(readers) == 1 and readers[0].doc_count_all() > 32_768
        readers[0].stored_fields(0)
        assert isinstance(readers[0]._perdoc._readers["_stored"]._child._offsets, compat._FileInts)
        expected = {d: snapshot.record(d)["id"] for d in range(0, 33_000, 41)}
        serial = {(q, p): [h.id for h in engine.search(q, page=p).hits] for q in ("privacy", "court", "") for p in (1, 7)}

        def work(seed):
            rng, local = random.Random(seed), engine._snapshot()
            bad = [d for d in rng.sample(sorted(expected), 200) if local.record(d)["id"] != expected[d]]
            q, p = list(serial)[seed % len(serial)]
            return bad, [h.id for h in engine.search(q, page=p).hits] == serial[q, p]

        with ThreadPoolExecutor(16) as pool:
            results = list(pool.map(work, range(48)))
    assert all(not bad and same for bad, same in results), results


@pytest.mark.slow
def test_a_server_lives_through_its_big_stored_column_truncated_under_it(tmp_path, big_one_segment):
    """Review 16, fixed: `serve`, then the current generation's _stored.col truncated in place
    (as test_damaged does to .trm): with the offsets mapped, the worker died of SIGBUS on the
    next stored read, its requests were dropped (connection reset), and the respawned worker,
    finding no good generation, failed to boot: gunicorn shut the whole server down. As before
    d67b776, the damage is set aside ("... while answering ... _stored.col size is ...") and
    every request is answered (503 with the reason); the server keeps running."""
    _, source = big_one_segment
    index_dir = tmp_path / "index"
    shutil.copytree(source, index_dir)
    with running_server(index_dir, None, ["--workers", "1", "--threads", "4"]) as server:
        for page in (1, 2, 3):
            assert server.get(f"/api/search?q=&page={page}")[0] == 200
        for stored in _current(index_dir).glob("*_stored.col"):
            os.truncate(stored, stored.stat().st_size // 2)
        answers = []
        for route in ("/api/search?q=privacy", "/api/search?q=&page=2", "/api/search?q=court&page=3", "/healthz"):
            try:
                answers.append((route, server.get(route)[0]))
            except OSError as error:
                answers.append((route, type(error).__name__))
            time.sleep(0.2)
        assert server.process.poll() is None, ("the server exited", answers)
        assert all(status in (200, 503) for _, status in answers), answers
