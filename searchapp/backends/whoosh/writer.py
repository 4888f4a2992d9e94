"""Writing a generation's Whoosh segments: from scratch (on every core for big
builds, ranked like one writer) or as changes on top of the previous one."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Sequence

from whoosh import index as whoosh_index

from searchapp.backends.whoosh import compat, tables
from searchapp.backends.whoosh.schema import item_document, make_schema
from searchapp.errors import IndexerError
from searchapp.ingest.reader import NewsItem
from searchapp.processes import Counted, die_with_parent

WORKERS = min(4, os.cpu_count() or 1)  # processes that write segments in big builds
PARALLEL_MIN_ITEMS = 5_000    # full builds from this size write one segment per core


def open_index(generation: Path):
    return whoosh_index.open_dir(str(generation))


def write_segments(building: Path, entries: Sequence[tuple[NewsItem, str]], *, base_copied: bool,
                   remove: set[str], progress=None) -> int:
    """Write `entries` ((item, story id) pairs, in order) into the folder `building`.

    `entries` needs only a length, iteration and slices that iterate: the
    builder's documents are made as a writer takes them, never all at once.

    `base_copied`: the previous generation's files are already linked into it,
    so the entries and deletions go on top. Returns the live document count."""
    compat.remember_missing_columns()
    if not base_copied and len(entries) >= PARALLEL_MIN_ITEMS and WORKERS > 1:
        ix = _write_parts(building, entries, progress)
    else:
        if base_copied:
            ix = whoosh_index.open_dir(str(building))
        else:
            ix = whoosh_index.create_in(str(building), make_schema())
        # compound=False everywhere: Whoosh reads a compound segment's parts
        # into memory (BytesIO) for every searcher, 70 MB each at 20,000
        # items; separate files are read in place.
        writer = ix.writer(limitmb=1024, compound=False)
        adder = compat.FastAdder(writer)
        try:
            for item_id in sorted(remove):
                writer.delete_by_term("id", item_id)
            legacy = "published" in ix.schema   # a generation written before round 14
            for item, story in (progress or iter)(entries):
                adder.add(item_document(item, story, legacy))
        except BaseException:
            writer.cancel()
            raise
        # merge=False: Whoosh's default policy merges small segments, which
        # reorders them (docnums move) and recounts field lengths from their
        # one-byte approximations (scores move); deletions merge below.
        writer.commit(merge=False)
    appending = base_copied and not remove and ix.doc_count_all() == ix.doc_count()
    if ix.doc_count_all() > ix.doc_count():
        # Any deleted document still counts in BM25's statistics (document
        # count, average field length, document frequencies) until segments
        # merge, and that moves ranks: merge whenever there is one, so an
        # incremental run ranks exactly like a full rebuild.
        ix.writer(compound=False).commit(optimize=True)
    count = ix.doc_count()
    ix.close()
    # date orders, field lengths, recency, postings: computed once, mapped by every reader; an
    # append (new segments on the previous ones, nothing deleted) extends the previous tables
    tables.write(building, appending=appending)
    return count


def segment_count(generation: Path) -> int:
    return len(compat.read_segments(generation))




CHUNK = 200   # entries per message to a writer process


def _write_part(folder: str, connection, counter) -> None:
    """One writer process: its contiguous share of the entries, received in
    chunks through `connection` (an empty chunk ends it), one segment."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the builder, which stops its writers
    die_with_parent()
    compat.remember_missing_columns()
    ix = whoosh_index.create_in(folder, make_schema())
    writer = ix.writer(limitmb=512, compound=False)
    adder = compat.FastAdder(writer)
    while True:
        try:
            chunk = connection.recv()
        except (EOFError, OSError):  # the builder died before this process could die with it
            os._exit(1)
        if not chunk:
            break
        for item, story in chunk:
            adder.add(item_document(item, story))
        with counter.get_lock():
            counter.value += len(chunk)
    writer.commit()


def _feed(connection, entries, errors: list) -> None:
    """Send one writer its entries in chunks, then the end mark (a parent thread per writer).
    An error making the entries closes the pipe (the writer exits) and is kept for the builder."""
    try:
        chunk = []
        for entry in entries:
            chunk.append(entry)
            if len(chunk) == CHUNK:
                connection.send(chunk)
                chunk = []
        if chunk:
            connection.send(chunk)
        connection.send([])
    except (OSError, EOFError, ValueError):
        pass  # the writer died: its exit status says so
    except BaseException as error:
        errors.append(error)
        connection.close()


def _write_parts(building: Path, entries: Sequence[tuple[NewsItem, str]], progress):
    """A full build on every core that ranks exactly like one writer's.

    Whoosh's own multi-process writer hands documents to workers as they come
    free, so docnums (the tie-break) changed from build to build. Here part n
    always gets the n-th contiguous slice, each part is a segment, and the
    segments are listed in order: docnums are those of a single writer, and
    BM25F takes its statistics from the whole index, so scores are equal too.

    The writers are fresh processes (spawn) fed through pipes, not forks of
    this one: a fork maps the whole corpus this process holds into every
    writer (counted in each one's resident set, and copied page by page as
    reference counts change), while a fed writer holds only its chunk and
    its own posting pool."""
    import multiprocessing
    import threading

    size = -(-len(entries) // WORKERS)
    parts = [(building / f".part-{n}", entries[n * size:(n + 1) * size]) for n in range(WORKERS)]
    for folder, _ in parts:
        folder.mkdir()
    context = multiprocessing.get_context("spawn")
    counter = context.Value("q", 0)
    pipes = [context.Pipe() for _ in parts]
    processes = [context.Process(target=_write_part, args=(str(folder), child, counter), daemon=True)
                 for (folder, _), (_, child) in zip(parts, pipes)]
    feeders = []
    errors: list[BaseException] = []
    try:
        for process in processes:
            process.start()
        for (_, child) in pipes:
            child.close()
        feeders = [threading.Thread(target=_feed, args=(parent, part, errors), daemon=True)
                   for (parent, _), (_, part) in zip(pipes, parts)]
        for feeder in feeders:
            feeder.start()

        def ticks():
            seen = 0
            while True:
                running = any(p.is_alive() for p in processes)
                now = counter.value
                yield from range(now - seen)
                seen = now
                if not running:
                    return
                time.sleep(0.1)

        for _ in (progress or iter)(Counted(ticks(), len(entries))):
            pass
        for process in processes:
            process.join()
        if errors:
            raise errors[0]
        failed = [p.exitcode for p in processes if p.exitcode != 0]
        if failed:
            raise IndexerError(f"an index writer process failed (exit status {failed[0]})")
    finally:
        for process in processes:
            if process.is_alive():  # the build failed or was interrupted: stop the writers first
                process.terminate()
                process.join()
        for parent, _ in pipes:
            parent.close()
        for feeder in feeders:
            feeder.join()
    segments = []
    for folder, _ in parts:
        for segment in compat.read_segments(folder):
            prefix = segment.segment_id() + "."
            for file in folder.iterdir():
                if file.name.startswith(prefix):
                    os.rename(file, building / file.name)
            segments.append(segment)
        shutil.rmtree(folder)
    whoosh_index.create_in(str(building), make_schema())
    compat.write_segments_toc(building, make_schema(), segments)
    return whoosh_index.open_dir(str(building))


def open_current(index_dir):
    """The Whoosh index CURRENT names; NoIndex with a hint when there is none."""
    from searchapp.errors import NoIndex
    from searchapp.store.generations import current_generation

    generation = current_generation(index_dir)
    if generation is None:
        raise NoIndex(index_dir)
    return open_index(generation)
