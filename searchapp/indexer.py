"""Indexer: NewsItems -> a Whoosh index on disk, in generations.

An index folder holds complete generations (`gen-*` folders) and a file
`CURRENT` naming the one to read. A build writes a new generation into a
hidden temporary folder, renames it, then atomically replaces CURRENT, so a
reader never sees a half-built index and a failed or killed build leaves the
previous generation serving. One build at a time, by an OS file lock.
"""

from __future__ import annotations

import datetime as dt
import errno
import fcntl
import hashlib
import json
import os
import pickle
import secrets
import shutil
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Callable, Iterable, Iterator

from whoosh import index as whoosh_index
from whoosh.analysis import RegexTokenizer, StandardAnalyzer, StemmingAnalyzer
from whoosh.fields import DATETIME, ID, KEYWORD, NUMERIC, STORED, TEXT, Schema

from searchapp.gazetteer import GAZETTEER_VERSION, tag_item
from searchapp.reader import (BadFile, Corpus, check_inside, FileRecord, FileState, NewsItem, Problem, content_hash,
                              item_id, list_news_files, merge_records, parse_bytes, read_bytes, stat_file)
from searchapp.stories import story_groups as _story_groups

def _remember_missing_columns() -> None:
    """Whoosh asks the file system whether a length column exists for every
    posting it writes (and every length it reads) of a field that has none,
    and never remembers the answer: a stat() per posting, a fifth of a
    build's time. A segment's files never change once written, so the
    answer can be kept."""
    from whoosh.codec.whoosh3 import W3PerDocReader

    if getattr(W3PerDocReader, "_searchapp_patched", False):
        return
    original = W3PerDocReader._cached_reader

    def cached_reader(self, fieldname, column):
        readers = self._readers
        if fieldname in readers:
            return readers[fieldname]
        reader = original(self, fieldname, column)
        readers[fieldname] = reader  # None too: no column now means none ever
        return reader

    W3PerDocReader._cached_reader = cached_reader
    W3PerDocReader._searchapp_patched = True

CURRENT = "CURRENT"
BUILD_INFO = "build.json"
LOCK = ".writer.lock"
STATE = "files.pickle"        # per file: size, mtime, hash, parsed record; per item: fingerprint
FORMAT = (8, GAZETTEER_VERSION)  # bump when the schema, the state or the tagging changes: forces a full rebuild
WORKERS = min(4, os.cpu_count() or 1)  # processes that read and parse files in big (re)builds
PARALLEL_MIN_FILES = 2_000    # below this, starting worker processes costs more than it saves
PARALLEL_MIN_ITEMS = 5_000    # full builds from this size write one segment per core
KEEP_GENERATIONS = 2          # the current one and the one before, for readers in flight
MERGE_DELETED_RATIO = 0.2     # merge segments once deleted documents pass 20% of the live ones
GRACE_SECONDS = 120           # an old generation younger than this is kept for slow readers
FACET_FIELDS = {"topic": "f_topic", "jurisdiction": "f_jurisdiction", "regulator": "f_regulator",
                "provider": "f_provider", "year": "f_year"}
MULTI_VALUED = "\x1f"         # joins the values of a multi-valued facet (the reader removes it from all text)
TEXT_FIELDS = ("title", "excerpt", "body", "related_text")
SPELLING_FIELDS = ("spell_title", "spell_excerpt")  # unstemmed words, for suggestions
NO_DATE_KEY = 2**62           # undated items sort last, both ways


class IndexerError(Exception):
    """Base of the indexer's own errors; the message is for people."""


class NoIndex(IndexerError):
    pass


class IndexBusy(IndexerError):
    pass


class NothingToIndex(IndexerError):
    pass


class StrictFailure(IndexerError):
    def __init__(self, message: str, problems: list[Problem]):
        super().__init__(message)
        self.problems = problems


def make_schema() -> Schema:
    stem = StemmingAnalyzer()
    words = StandardAnalyzer(stoplist=None)
    return Schema(
        id=ID(stored=True, unique=True),
        # Full text, weighted: a title match counts most, related coverage least.
        title=TEXT(analyzer=stem, stored=True, field_boost=3.0, spelling=True),
        excerpt=TEXT(analyzer=stem, stored=True, field_boost=1.5, spelling=True),
        body=TEXT(analyzer=stem, stored=True),
        related_text=TEXT(analyzer=stem, field_boost=0.3),
        # `provider:` and `topic:` in queries match words of the names.
        provider=TEXT(analyzer=words, phrase=True),
        topic=TEXT(analyzer=words, phrase=True),
        # Facets: exact values. Topics joined by U+001F, a control character the
        # reader removes from all text, so any topic name survives as it is.
        f_topic=KEYWORD(analyzer=RegexTokenizer(r"[^\x1f]+"), sortable=True),
        f_jurisdiction=KEYWORD(analyzer=RegexTokenizer(r"[^\x1f]+")),
        f_regulator=KEYWORD(analyzer=RegexTokenizer(r"[^\x1f]+")),
        f_provider=ID(sortable=True),
        f_year=ID(sortable=True),
        f_month=ID(),   # YYYY-MM, for the timeline
        # Near-duplicate reports of one story share its id (see stories.py).
        story=ID(sortable=True),
        published=DATETIME(sortable=True),
        newest_key=NUMERIC(bits=64, sortable=True),
        oldest_key=NUMERIC(bits=64, sortable=True),
        # Everything a result or an item page shows, in one stored blob.
        doc=STORED(),
    )


def item_document(item: NewsItem, story: str) -> dict:
    """The Whoosh document for one item (derived fields are computed here, once)."""
    stamp = int(item.published.timestamp()) if item.published else None
    topics = item.topics
    tags = tag_item(item.title, item.excerpt, item.body, item.related_text)
    document = dict(
        id=item.id,
        title=item.title,
        excerpt=item.excerpt,
        body=item.body,
        related_text=item.related_text,
        provider=f"{item.provider.name} {item.provider.domain}",
        topic=" ; ".join(topics),
        f_topic=MULTI_VALUED.join(topics),
        f_jurisdiction=MULTI_VALUED.join(tags.jurisdictions),
        f_regulator=MULTI_VALUED.join(tags.regulators),
        f_provider=item.provider.name,
        story=story,
        newest_key=-stamp if stamp is not None else NO_DATE_KEY,
        oldest_key=stamp if stamp is not None else NO_DATE_KEY,
        doc=stored_doc(item, tags),
    )
    if item.published:
        document["published"] = item.published.replace(tzinfo=None)
        document["f_year"] = str(item.published.year)
        document["f_month"] = f"{item.published:%Y-%m}"
    return {k: v for k, v in document.items() if v != ""}


def stored_doc(item: NewsItem, tags) -> dict:
    """Every field but the long texts (built by hand: `asdict` deep-copies, 10x slower)."""
    doc = {f.name: getattr(item, f.name) for f in fields(NewsItem) if f.name not in ("body", "related_text")}
    doc["provider"] = {"name": item.provider.name, "domain": item.provider.domain}
    doc["jurisdictions"] = tags.jurisdictions
    doc["regulators"] = tags.regulators
    doc["published"] = item.published.isoformat().replace("+00:00", "Z") if item.published else None
    return doc


def fingerprint(item: NewsItem, story: str) -> str:
    """Changes whenever anything written for the item changes: its document is a
    pure function of the item and its story id (the tagging's version is in
    FORMAT), and a dataclass repr shows every field."""
    return hashlib.sha1(f"{item!r}\x00{story}".encode("utf-8", "surrogatepass")).hexdigest()


def story_groups(items) -> dict[str, str]:
    """item id -> story id, "" for an item that has no copies (most items):
    only items with copies carry a `story` value in the index."""
    groups = _story_groups(items)
    sizes = Counter(groups.values())
    return {item_id: story if sizes[story] > 1 else "" for item_id, story in groups.items()}


def story_input(item: NewsItem) -> NewsItem:
    """The part of an item that story grouping reads, kept for incremental runs."""
    return NewsItem(id=item.id, url=item.url, title=item.title, excerpt=item.excerpt, published=item.published,
                    provider=item.provider)


@dataclass(frozen=True)
class BuildInfo:
    generation: str
    built_at: str
    corpus: str
    files_read: int            # files looked at
    items: int
    problems: tuple[tuple[str, str], ...]
    seconds: float
    mode: str = "full"         # full | incremental | unchanged
    files_parsed: int = 0      # files (re)read and parsed in this run
    added: int = 0
    updated: int = 0
    removed: int = 0
    format: tuple = FORMAT


@dataclass
class _State:
    """What a generation remembers of the corpus it was built from."""

    corpus: str
    files: dict[str, tuple[FileState, FileRecord | Problem]]
    fingerprints: dict[str, str]
    mentions: dict[str, tuple[str, ...]]  # per readable file: its own item id, then the ids it lists
    stories: dict[str, str]               # per item: its story id
    story_inputs: dict[str, NewsItem]     # per item: what grouping reads (see story_input)
    format: tuple = FORMAT


# ---------------------------------------------------------------- generations

def current_generation(index_dir: str | Path) -> Path | None:
    index_dir = Path(index_dir)
    try:
        name = (index_dir / CURRENT).read_text("utf-8").strip()
    except (FileNotFoundError, NotADirectoryError):
        return None
    if not name.startswith("gen-") or "/" in name:
        return None
    path = index_dir / name
    return path if path.is_dir() else None


def open_current(index_dir: str | Path):
    """The Whoosh index CURRENT names; NoIndex with a hint when there is none."""
    generation = current_generation(index_dir)
    if generation is None:
        raise NoIndex(f"no index in {index_dir}: build it with 'searchapp index --index {index_dir}'")
    return whoosh_index.open_dir(str(generation))


def read_build_info(index_dir: str | Path) -> BuildInfo | None:
    generation = current_generation(index_dir)
    if generation is None:
        return None
    data = json.loads((generation / BUILD_INFO).read_text("utf-8"))
    data["problems"] = tuple(tuple(p) for p in data["problems"])
    return BuildInfo(**data)


def _load_state(generation: Path | None) -> _State | None:
    if generation is None:
        return None
    try:
        with open(generation / STATE, "rb") as handle:
            state = pickle.load(handle)  # written by us, inside our own index folder
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError, TypeError):
        return None
    return state if isinstance(state, _State) and state.format == FORMAT else None


def _read_lock_holder(handle) -> str:
    handle.seek(0)
    return handle.read().strip() or "unknown"


@contextmanager
def writer_lock(index_dir: Path, wait: float = 0.0) -> Iterator[None]:
    """One build at a time per index folder; the OS drops the lock if we die.

    Waits up to `wait` seconds, then IndexBusy naming the holder's pid."""
    index_dir.mkdir(parents=True, exist_ok=True)
    handle = open(index_dir / LOCK, "a+")
    deadline = time.monotonic() + wait
    try:
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as error:
                if error.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                if time.monotonic() >= deadline:
                    holder = _read_lock_holder(handle)
                    waited = f" (waited {wait:g} s)" if wait else ""
                    raise IndexBusy(f"another reindex of {index_dir} is running (pid {holder}){waited}") from None
                time.sleep(0.1)
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        yield
    finally:
        handle.close()


def _switch_current(index_dir: Path, generation: Path) -> None:
    tmp = index_dir / f".{CURRENT}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as out:
        out.write(generation.name + "\n")
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, index_dir / CURRENT)
    _fsync_dir(index_dir)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_tree(folder: Path) -> None:
    """Everything of a generation on disk before CURRENT names it (power loss too)."""
    for path in folder.iterdir():
        if path.is_file():
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
    _fsync_dir(folder)


def _remove_old(index_dir: Path, keep: set[Path]) -> None:
    """Drop leftovers of killed builds and generations no reader should need.

    Kept: the new current generation, the one it replaced, the newest
    KEEP_GENERATIONS, and any generation younger than GRACE_SECONDS (a
    reader may have opened it just before the switch)."""
    for stale in index_dir.glob(".building-*"):
        shutil.rmtree(stale, ignore_errors=True)
    for stale in index_dir.glob(f".{CURRENT}.*.tmp"):
        stale.unlink(missing_ok=True)
    generations = sorted(index_dir.glob("gen-*"), key=lambda p: p.name, reverse=True)
    now = time.time()
    for old in generations[KEEP_GENERATIONS:]:
        if old in keep:
            continue
        try:
            age = now - old.stat().st_mtime
        except OSError:
            continue
        if age > GRACE_SECONDS:
            shutil.rmtree(old, ignore_errors=True)


def _link_copy(source: Path, target: Path) -> None:
    """Start from the previous generation: its segment files never change, so hard links do."""
    for path in source.iterdir():
        if path.name in (BUILD_INFO, STATE) or not path.is_file() or path.name.endswith(".lock"):
            continue
        try:
            os.link(path, target / path.name)
        except OSError:
            shutil.copy2(path, target / path.name)


def _new_generation_name() -> tuple[str, dt.datetime]:
    stamp = dt.datetime.now(dt.timezone.utc)
    return f"gen-{stamp:%Y%m%dT%H%M%S%f}-{secrets.token_hex(3)}", stamp


def _write_generation(
    index_dir: Path,
    entries: list[tuple[NewsItem, str]],
    *,
    base: Path | None,
    remove: set[str],
    info: dict,
    state: _State | None,
    started: float,
    progress=None,
) -> BuildInfo:
    """Write a complete generation (from scratch, or `base` + changes) and make it current.

    `entries` are (item, story id) pairs, written in their order."""
    _remember_missing_columns()
    name, stamp = _new_generation_name()
    building = index_dir / f".building-{name}"
    building.mkdir()
    previous = current_generation(index_dir)
    try:
        if base is None and len(entries) >= PARALLEL_MIN_ITEMS and WORKERS > 1:
            ix = _write_parts(building, entries, progress)
        else:
            if base is None:
                ix = whoosh_index.create_in(str(building), make_schema())
            else:
                _link_copy(base, building)
                ix = whoosh_index.open_dir(str(building))
            # compound=False everywhere: Whoosh reads a compound segment's parts
            # into memory (BytesIO) for every searcher, 70 MB each at 20,000
            # items; separate files are read in place.
            writer = ix.writer(limitmb=1024, compound=False)
            try:
                for item_id in sorted(remove):
                    writer.delete_by_term("id", item_id)
                for item, story in (progress or iter)(entries):
                    writer.add_document(**item_document(item, story))
            except BaseException:
                writer.cancel()
                raise
            writer.commit()
        if ix.doc_count_all() > ix.doc_count() * (1 + MERGE_DELETED_RATIO):
            # drop deleted documents from term statistics and suggestions
            ix.writer(compound=False).commit(optimize=True)
        ix.close()
        build = BuildInfo(
            generation=name,
            built_at=stamp.isoformat(timespec="seconds").replace("+00:00", "Z"),
            seconds=round(time.monotonic() - started, 3),
            **info,
        )
        (building / BUILD_INFO).write_text(json.dumps(asdict(build), indent=1), "utf-8")
        if state is not None:
            with open(building / STATE, "wb") as out:
                pickle.dump(state, out, protocol=pickle.HIGHEST_PROTOCOL)
        _fsync_tree(building)
        generation = index_dir / name
        os.rename(building, generation)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    _switch_current(index_dir, generation)
    _remove_old(index_dir, keep={generation} | ({previous} if previous else set()))
    return build


_PARTS: list[tuple[Path, list[tuple[NewsItem, str]]]] = []   # set before the writer processes fork


def _write_part(n: int, counter) -> None:
    """One writer process: its contiguous share of the entries, one segment."""
    _die_with_parent()
    folder, entries = _PARTS[n]
    ix = whoosh_index.create_in(str(folder), make_schema())
    writer = ix.writer(limitmb=512, compound=False)
    for done, (item, story) in enumerate(entries, 1):
        writer.add_document(**item_document(item, story))
        if done % 200 == 0:
            with counter.get_lock():
                counter.value += 200
    writer.commit()
    with counter.get_lock():
        counter.value += len(entries) % 200


def _write_parts(building: Path, entries: list[tuple[NewsItem, str]], progress):
    """A full build on every core that ranks exactly like one writer's.

    Whoosh's own multi-process writer hands documents to workers as they come
    free, so docnums (the tie-break) changed from build to build. Here part n
    always gets the n-th contiguous slice, each part is a segment, and the
    segments are listed in order: docnums are those of a single writer, and
    BM25F takes its statistics from the whole index, so scores are equal too."""
    import multiprocessing

    from whoosh.filedb.filestore import FileStorage
    from whoosh.index import TOC

    size = -(-len(entries) // WORKERS)
    parts = [(building / f".part-{n}", entries[n * size:(n + 1) * size]) for n in range(WORKERS)]
    for folder, _ in parts:
        folder.mkdir()
    context = multiprocessing.get_context("fork")
    counter = context.Value("q", 0)
    _PARTS[:] = parts
    processes = [context.Process(target=_write_part, args=(n, counter), daemon=True) for n in range(WORKERS)]
    try:
        for process in processes:
            process.start()

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

        for _ in (progress or iter)(_Counted(ticks(), len(entries))):
            pass
        for process in processes:
            process.join()
        failed = [p.exitcode for p in processes if p.exitcode != 0]
        if failed:
            raise IndexerError(f"an index writer process failed (exit status {failed[0]})")
    finally:
        _PARTS.clear()
        for process in processes:
            if process.is_alive():  # the build failed or was interrupted: stop the writers first
                process.terminate()
                process.join()
    segments = []
    for folder, _ in parts:
        for segment in TOC.read(FileStorage(str(folder)), "MAIN").segments:
            prefix = segment.segment_id() + "."
            for file in folder.iterdir():
                if file.name.startswith(prefix):
                    os.rename(file, building / file.name)
            segments.append(segment)
        shutil.rmtree(folder)
    storage = FileStorage(str(building))
    whoosh_index.create_in(str(building), make_schema())
    TOC(make_schema(), segments, 1).write(storage, "MAIN")
    return whoosh_index.open_dir(str(building))


def build_index(
    corpus: Corpus,
    index_dir: str | Path,
    *,
    corpus_dir: str | Path = "",
    progress: Callable[[Iterable[dict]], Iterable[dict]] | None = None,
    wait: float = 0.0,
) -> BuildInfo:
    """Write these items into a new generation from scratch and make it current.

    (No file state is kept, so the next `update_index` rebuilds in full.)"""
    index_dir = Path(index_dir)
    started = time.monotonic()
    with writer_lock(index_dir, wait):
        stories = story_groups(corpus.items)
        entries = [(item, stories[item.id]) for item in corpus.items]
        info = dict(
            corpus=str(corpus_dir), files_read=corpus.files_read, items=len(entries),
            problems=tuple((p.path, p.reason) for p in corpus.problems), mode="full",
            files_parsed=corpus.files_read, added=len(entries),
        )
        return _write_generation(index_dir, entries, base=None, remove=set(), info=info, state=None,
                                 started=started, progress=progress)


def _read_one(job: tuple[Path, str, FileState, str | None]) -> tuple[FileState, FileRecord | Problem, bool] | None:
    """Read, hash and parse one file (in a worker process for big corpora):
    (state, record or problem, whether it got as far as parsing). None means
    the same content as before (the file was only touched)."""
    path, rel, state, sha_before = job
    parsing = False
    try:
        raw = read_bytes(path, state)
        state = FileState(rel, state.size, state.mtime_ns, content_hash(raw))
        if sha_before == state.sha256:
            return None
        parsing = True
        return state, parse_bytes(raw, rel), True
    except BadFile as error:
        return state, Problem(rel, str(error)), parsing
    except RecursionError:
        return state, Problem(rel, "content is nested too deeply"), parsing
    except Exception as error:  # last resort: one file never stops a reindex
        return state, Problem(rel, f"unexpected error: {type(error).__name__}: {error}"), parsing


class _Counted:
    """An iterator with a known length (for a progress bar's total)."""

    def __init__(self, iterable, length: int):
        self.iterable, self.length = iterable, length

    def __len__(self) -> int:
        return self.length

    def __iter__(self):
        return iter(self.iterable)


def _die_with_parent() -> None:
    """Workers must not outlive a killed build: they would hold the writer lock."""
    try:
        import ctypes
        import signal

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG (Linux)
    except (OSError, AttributeError):
        pass


def _parallel_map(function, jobs: list, chunksize: int = 64) -> Iterator:
    """`map` over worker processes, one per core (results in order)."""
    import multiprocessing

    with multiprocessing.get_context("fork").Pool(WORKERS, initializer=_die_with_parent) as pool:
        yield from pool.imap(function, jobs, chunksize)


def _scan(root: Path, paths: Iterable[Path], old: _State | None, wrap=lambda iterable, desc, unit: iterable):
    """Each file -> (state, record or problem); unchanged files are not read again.
    Files to read are read by worker processes when there are many."""
    files: dict[str, tuple[FileState, FileRecord | Problem]] = {}
    real_root = root.resolve()
    jobs: list[tuple[Path, str, FileState, str | None]] = []
    for path in paths:
        rel = path.relative_to(root).as_posix()
        state = FileState(rel, -1, -1)
        try:
            check_inside(real_root, path)
            state = stat_file(path, rel)
        except BadFile as error:
            files[rel] = (state, Problem(rel, str(error)))
            continue
        except Exception as error:  # last resort: one file never stops a reindex
            files[rel] = (state, Problem(rel, f"unexpected error: {type(error).__name__}: {error}"))
            continue
        before = old.files.get(rel) if old else None
        if before and (before[0].size, before[0].mtime_ns) == (state.size, state.mtime_ns):
            files[rel] = before
            continue
        files[rel] = before  # placeholder keeps the walk's order; replaced below
        jobs.append((path, rel, state, before[0].sha256 if before else None))
    use_workers = WORKERS > 1 and len(jobs) >= PARALLEL_MIN_FILES
    results = _parallel_map(_read_one, jobs) if use_workers else map(_read_one, jobs)
    parsed = 0
    for (path, rel, state, _), result in zip(jobs, wrap(_Counted(results, len(jobs)), "Reading", "file")):
        if result is None:  # touched, not changed
            before = files[rel]
            files[rel] = (FileState(rel, state.size, state.mtime_ns, before[0].sha256), before[1])
        else:
            files[rel] = result[:2]
            parsed += result[2]
    return files, parsed


def _mentions(record: FileRecord) -> tuple[str, ...]:
    return (item_id(record.own.url),) + tuple(item_id(entry.url) for entry in record.related)


def _mentioned_by(mentions: dict[str, tuple[str, ...]]) -> dict[str, list[str]]:
    """item id -> the files that mention it."""
    mentioned_by: dict[str, list[str]] = {}
    for rel, ids in mentions.items():
        for iid in ids:
            mentioned_by.setdefault(iid, []).append(rel)
    return mentioned_by


def _affected_items(records: dict[str, FileRecord], mentions: dict[str, tuple[str, ...]],
                    old_mentions: dict[str, tuple[str, ...]], changed_files: set[str]) -> dict[str, NewsItem | None]:
    """Recompute only the items the changed files can affect, exactly as a full merge would.

    Affected: every item a changed file mentions (before or after), and every
    item that lists one of those (its related_text shows their titles). Each
    is merged from all files that mention it or an item it lists, which is
    everything merge_records looks at for it. None = no file mentions it now."""
    mentioned_by = _mentioned_by(mentions)
    touched = set()
    for rel in changed_files:
        touched.update(old_mentions.get(rel, ()))
        touched.update(mentions.get(rel, ()))
    affected = set(touched)
    for iid in touched:
        affected.update(mentions[rel][0] for rel in mentioned_by.get(iid, ()))
    return _merged(records, mentions, affected, mentioned_by)


def _merged(records: dict[str, FileRecord], mentions: dict[str, tuple[str, ...]], ids: set[str],
            mentioned_by: dict[str, list[str]] | None = None) -> dict[str, NewsItem | None]:
    """These items, merged from every file that mentions them or an item they
    list: everything merge_records looks at for them."""
    if mentioned_by is None:
        mentioned_by = _mentioned_by(mentions)
    needed = set(ids)
    for iid in ids:
        for rel in mentioned_by.get(iid, ()):
            if mentions[rel][0] == iid:
                needed.update(mentions[rel][1:])
    files = {rel for iid in needed for rel in mentioned_by.get(iid, ())}
    merged = {item.id: item for item in merge_records(records[rel] for rel in files)}
    return {iid: merged.get(iid) for iid in ids}


def update_index(
    corpus_dir: str | Path,
    index_dir: str | Path,
    *,
    full: bool = False,
    strict: bool = False,
    wait: float = 0.0,
    progress: Callable[[Iterable, str, str], Iterable] | None = None,
) -> BuildInfo:
    """Bring the index up to date with the corpus folder.

    Only files whose size, mtime and then content hash changed are read
    again; the items those files mention, and the items listing them, are
    merged again from every file that mentions them (related lists cross
    files), and only items whose indexed document changed are rewritten, on
    top of hard links to the previous generation. The outcome has the same
    items, stored fields and facet counts as a full rebuild; BM25 term
    statistics still count deleted documents until segments merge (forced
    once they pass MERGE_DELETED_RATIO). `full=True` rebuilds from scratch."""
    root, index_dir = Path(corpus_dir), Path(index_dir)
    started = time.monotonic()
    wrap = progress or (lambda iterable, desc, unit: iterable)
    if not root.is_dir():
        raise NothingToIndex(f"corpus folder not found: {root}")
    paths = list_news_files(root)
    if not paths:
        raise NothingToIndex(f"no news files (.md, .markdown, .html, .htm) in {root}")
    with writer_lock(index_dir, wait):
        base = current_generation(index_dir)
        old = None if full else _load_state(base)
        if old is not None and old.corpus != str(root.resolve()):
            old = None
        files, parsed = _scan(root, paths, old, wrap)
        records = [r for _, r in files.values() if isinstance(r, FileRecord)]
        problems = [r for _, r in files.values() if isinstance(r, Problem)]
        if strict and problems:
            raise StrictFailure(
                f"--strict: {len(problems)} of {len(files)} files could not be read; the index was not changed",
                problems)
        if not records:
            raise NothingToIndex(f"none of the {len(files)} files in {root} could be read; the index was not changed")
        records = {rel: r for rel, (_, r) in files.items() if isinstance(r, FileRecord)}
        unchanged = {rel for rel, (_, r) in files.items()
                     if old is not None and rel in old.files and old.files[rel][1] is r}
        mentions = {rel: old.mentions[rel] if rel in unchanged else _mentions(record)
                    for rel, record in records.items()}
        info = dict(corpus=str(root), files_read=len(files),
                    problems=tuple((p.path, p.reason) for p in problems), files_parsed=parsed)
        if old is None:
            items = {item.id: item for item in merge_records(records.values())}
            stories = story_groups(list(items.values()))
            prints = {item_id: fingerprint(item, stories[item_id]) for item_id, item in items.items()}
            state = _State(corpus=str(root.resolve()), files=files, fingerprints=prints, mentions=mentions,
                           stories=stories, story_inputs={i: story_input(item) for i, item in items.items()})
            entries = [(item, stories[item_id]) for item_id, item in items.items()]
            return _write_generation(index_dir, entries, base=None, remove=set(), state=state, started=started,
                                     info=dict(info, items=len(items), mode="full", added=len(entries)),
                                     progress=lambda docs: wrap(docs, "Indexing", "item"))
        gone = set(old.files) - set(files)
        items = _affected_items(records, mentions, old.mentions, (set(files) - unchanged) | gone)
        # Story groups span the whole corpus: regroup everything from the kept
        # inputs, then also rewrite the unaffected items whose story id moved.
        inputs = dict(old.story_inputs)
        for item_id_, item in items.items():
            if item is None:
                inputs.pop(item_id_, None)
            else:
                inputs[item_id_] = story_input(item)
        stories = story_groups(list(inputs.values()))
        moved = {i for i, story in stories.items() if i not in items and old.stories.get(i) != story}
        if moved:
            items.update(_merged(records, mentions, moved))
        prints = dict(old.fingerprints)
        for item_id_, item in items.items():
            if item is None:
                prints.pop(item_id_, None)
            else:
                prints[item_id_] = fingerprint(item, stories[item_id_])
        state = _State(corpus=str(root.resolve()), files=files, fingerprints=prints, mentions=mentions,
                       stories=stories, story_inputs=inputs)
        info["items"] = len(prints)
        removed = {i for i, item in items.items() if item is None and i in old.fingerprints}
        changed = {i for i, item in items.items() if item is not None and old.fingerprints.get(i) != prints[i]}
        added = {i for i in changed if i not in old.fingerprints}
        if not removed and not changed:
            current = read_build_info(index_dir)
            return BuildInfo(**{**asdict(current), "problems": tuple(info["problems"]), "mode": "unchanged",
                                "files_read": len(files), "files_parsed": parsed, "added": 0, "updated": 0,
                                "removed": 0, "seconds": round(time.monotonic() - started, 3)})
        return _write_generation(
            index_dir, [(items[i], stories[i]) for i in sorted(changed)], base=base, remove=removed | (changed - added),
            state=state, started=started,
            info=dict(info, mode="incremental", added=len(added), updated=len(changed - added), removed=len(removed)),
            progress=lambda docs: wrap(docs, "Indexing", "item"))
