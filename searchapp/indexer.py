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
import json
import os
import secrets
import shutil
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

from whoosh import index as whoosh_index
from whoosh.analysis import StandardAnalyzer, StemmingAnalyzer
from whoosh.fields import DATETIME, ID, KEYWORD, NUMERIC, STORED, TEXT, Schema

from searchapp.reader import Corpus, NewsItem

CURRENT = "CURRENT"
BUILD_INFO = "build.json"
LOCK = ".writer.lock"
KEEP_GENERATIONS = 2          # the current one and the one before, for readers in flight
FACET_FIELDS = {"topic": "f_topic", "provider": "f_provider", "year": "f_year"}
TEXT_FIELDS = ("title", "excerpt", "body", "related_text")
SPELLING_FIELDS = ("spell_title", "spell_excerpt")  # unstemmed words, for suggestions
NO_DATE_KEY = 2**62           # undated items sort last, both ways


class IndexerError(Exception):
    """Base of the indexer's own errors; the message is for people."""


class NoIndex(IndexerError):
    pass


class IndexBusy(IndexerError):
    pass


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
        # Facets: exact values. Comma-separated so one item can carry many topics.
        f_topic=KEYWORD(commas=True, lowercase=False, sortable=True),
        f_provider=ID(sortable=True),
        f_year=ID(sortable=True),
        published=DATETIME(sortable=True),
        newest_key=NUMERIC(bits=64, sortable=True),
        oldest_key=NUMERIC(bits=64, sortable=True),
        # Everything a result or an item page shows, in one stored blob.
        doc=STORED(),
    )


def item_document(item: NewsItem) -> dict:
    """The Whoosh document for one item (derived fields are computed here, once)."""
    stamp = int(item.published.timestamp()) if item.published else None
    topics = tuple(t.replace(",", " ") for t in item.topics)
    document = dict(
        id=item.id,
        title=item.title,
        excerpt=item.excerpt,
        body=item.body,
        related_text=item.related_text,
        provider=f"{item.provider.name} {item.provider.domain}",
        topic=" ; ".join(topics),
        f_topic=",".join(topics),
        f_provider=item.provider.name,
        newest_key=-stamp if stamp is not None else NO_DATE_KEY,
        oldest_key=stamp if stamp is not None else NO_DATE_KEY,
        doc=stored_doc(item),
    )
    if item.published:
        document["published"] = item.published.replace(tzinfo=None)
        document["f_year"] = str(item.published.year)
    return {k: v for k, v in document.items() if v != ""}


def stored_doc(item: NewsItem) -> dict:
    doc = asdict(item)
    doc.pop("body")
    doc.pop("related_text")
    doc["published"] = item.published.isoformat().replace("+00:00", "Z") if item.published else None
    return doc


@dataclass(frozen=True)
class BuildInfo:
    generation: str
    built_at: str
    corpus: str
    files_read: int
    items: int
    problems: tuple[tuple[str, str], ...]
    seconds: float


# ---------------------------------------------------------------- generations

def current_generation(index_dir: str | Path) -> Path | None:
    index_dir = Path(index_dir)
    try:
        name = (index_dir / CURRENT).read_text("utf-8").strip()
    except FileNotFoundError:
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


@contextmanager
def writer_lock(index_dir: Path) -> Iterator[None]:
    """One build at a time per index folder; the OS drops the lock if we die."""
    index_dir.mkdir(parents=True, exist_ok=True)
    handle = open(index_dir / LOCK, "a+")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            if error.errno not in (errno.EAGAIN, errno.EACCES):
                raise
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            raise IndexBusy(f"another reindex of {index_dir} is running (pid {holder})") from None
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


def _remove_old(index_dir: Path, keep: Path) -> None:
    """Drop leftovers of killed builds and generations no reader should need."""
    for stale in index_dir.glob(".building-*"):
        shutil.rmtree(stale, ignore_errors=True)
    for stale in index_dir.glob(f".{CURRENT}.*.tmp"):
        stale.unlink(missing_ok=True)
    generations = sorted(index_dir.glob("gen-*"), key=lambda p: p.name, reverse=True)
    older = [g for g in generations if g != keep]
    for old in older[KEEP_GENERATIONS - 1:]:
        shutil.rmtree(old, ignore_errors=True)


def build_index(
    corpus: Corpus,
    index_dir: str | Path,
    *,
    corpus_dir: str | Path = "",
    progress: Callable[[Iterable[NewsItem]], Iterable[NewsItem]] | None = None,
) -> BuildInfo:
    """Write every item into a new generation and make it current."""
    index_dir = Path(index_dir)
    started = time.monotonic()
    with writer_lock(index_dir):
        stamp = dt.datetime.now(dt.timezone.utc)
        name = f"gen-{stamp:%Y%m%dT%H%M%S%f}-{secrets.token_hex(3)}"
        building = index_dir / f".building-{name}"
        building.mkdir()
        try:
            ix = whoosh_index.create_in(str(building), make_schema())
            writer = ix.writer(limitmb=256)
            try:
                for item in (progress or iter)(corpus.items):
                    writer.add_document(**item_document(item))
            except BaseException:
                writer.cancel()
                raise
            writer.commit()
            ix.close()
            info = BuildInfo(
                generation=name,
                built_at=stamp.isoformat(timespec="seconds").replace("+00:00", "Z"),
                corpus=str(corpus_dir),
                files_read=corpus.files_read,
                items=len(corpus.items),
                problems=tuple((p.path, p.reason) for p in corpus.problems),
                seconds=round(time.monotonic() - started, 3),
            )
            (building / BUILD_INFO).write_text(json.dumps(asdict(info), indent=1), "utf-8")
            generation = index_dir / name
            os.rename(building, generation)
        except BaseException:
            shutil.rmtree(building, ignore_errors=True)
            raise
        _switch_current(index_dir, generation)
        _remove_old(index_dir, keep=generation)
    return info
