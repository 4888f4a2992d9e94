"""What a generation remembers of the corpus it was built from, for incremental runs.

One SQLite file per generation (stdlib `sqlite3`), written inside the build
folder before its fsync and rename, so a killed run never leaves a partial
one in a served generation. Rows, not one blob: a run reads the per-file
stats of every file (small) and the parsed records of only the files it
needs; the next generation's file starts as a copy of this one and gets only
the rows that changed. Data is JSON text and numbers: reading a damaged or
foreign file can fail, never run code (the pickle it replaces could).
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import sqlite3
import threading
from pathlib import Path
from typing import Iterable, Iterator, Mapping, MutableMapping

from searchapp.ingest.reader import Entry, FileRecord, FileState, NewsItem, Problem
from searchapp.model import Provider

STATE = "state.sqlite"


def _gazetteer_stamp() -> str:
    """The tagging's data, by content (its `version` is in it): importing the
    tagger to read its version loads and parses the whole file, 1.8 s of a
    2 s nothing-changed run at 10k items."""
    import hashlib

    data = Path(__file__).resolve().parents[1] / "enrich" / "gazetteer.yaml"
    return hashlib.sha1(data.read_bytes()).hexdigest()[:16]


FORMAT = (14, _gazetteer_stamp())  # bump when the schema, the state or the tagging changes: forces a full rebuild

_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE files (path TEXT PRIMARY KEY, size INTEGER, mtime_ns INTEGER, ctime_ns INTEGER, inode INTEGER,
                    sha256 TEXT, problem TEXT, record TEXT, mentions TEXT);
CREATE TABLE items (id TEXT PRIMARY KEY, fingerprint TEXT NOT NULL, story TEXT NOT NULL, story_input TEXT NOT NULL,
                    part TEXT NOT NULL);
"""


class StateError(Exception):
    """The state file cannot be used (one line: why); the run rebuilds in full."""


# -------------------------------------------------------------- encoding

def _date(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _undate(text: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(text) if text is not None else None


def _entry_row(e: Entry) -> list:
    return [e.url, e.title, e.excerpt, e.body, _date(e.published), e.provider.name, e.provider.domain,
            list(e.topics), e.type, e.quality, e.heat, e.is_published, e.image_url]


def _entry(row: list) -> Entry:
    (url, title, excerpt, body, published, name, domain, topics, type_, quality, heat, is_published,
     image_url) = row
    return Entry(url, title, excerpt, body, _undate(published), Provider(name, domain), tuple(topics), type_,
                 quality, heat, is_published, image_url)


def encode_record(record: FileRecord) -> str:
    return json.dumps([_entry_row(record.own), [_entry_row(e) for e in record.related]],
                      ensure_ascii=False, separators=(",", ":"))


def decode_record(path: str, text: str) -> FileRecord:
    own, related = json.loads(text)
    return FileRecord(path, _entry(own), tuple(_entry(e) for e in related))


def encode_story_input(item: NewsItem) -> str:
    return json.dumps([item.url, item.title, item.excerpt, _date(item.published), item.provider.name,
                       item.provider.domain], ensure_ascii=False, separators=(",", ":"))


def decode_story_input(iid: str, text: str) -> NewsItem:
    url, title, excerpt, published, name, domain = json.loads(text)
    return NewsItem(id=iid, url=url, title=title, excerpt=excerpt, published=_undate(published),
                    provider=Provider(name, domain))


# -------------------------------------------------------------- reading

class StateReader:
    """A generation's state, opened read-only (the generation is never written again)."""

    def __init__(self, generation: Path, corpus: str):
        path = generation / STATE
        if not path.is_file():
            raise StateError(f"{generation.name} has no incremental state ({STATE})")
        try:
            # immutable=1: no lock or journal files are created in the generation.
            # check_same_thread=False: a rewrite's feeder threads read records (one at a time: the lock).
            self.db = sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True, check_same_thread=False)
            self.lock = threading.Lock()
            meta = dict(self.db.execute("SELECT key, value FROM meta"))
        except (sqlite3.Error, ValueError) as error:
            raise StateError(f"its incremental state is unreadable ({error})") from None
        if meta.get("format") != json.dumps(FORMAT):
            self.close()
            raise StateError("its incremental state was written by another version")
        if meta.get("corpus") != corpus:
            self.close()
            raise StateError("its incremental state describes another corpus folder")

    def close(self) -> None:
        self.db.close()

    def _rows(self, sql: str, args: Iterable = ()) -> Iterator[tuple]:
        try:
            yield from self.db.execute(sql, tuple(args))
        except sqlite3.Error as error:
            raise StateError(f"its incremental state is unreadable ({error})") from None

    def stats(self) -> dict[str, tuple[tuple, str | None]]:
        """Every file: ((size, mtime_ns, ctime_ns, inode, sha256), its problem or None).
        Plain tuples: a FileState per file was a third of a nothing-changed run's
        reading of the state (most files are unchanged and need no object)."""
        return {path: ((size, mtime, ctime, inode, sha or ""), problem)
                for path, size, mtime, ctime, inode, sha, problem in self._rows(
                    "SELECT path, size, mtime_ns, ctime_ns, inode, sha256, problem FROM files")}

    def mentions(self) -> dict[str, tuple[str, ...]]:
        """Per readable file: its own item id, then the ids it lists."""
        return {path: tuple(json.loads(text)) for path, text in self._rows(
            "SELECT path, mentions FROM files WHERE record IS NOT NULL")}

    def record(self, path: str) -> FileRecord:
        with self.lock:
            rows = list(self._rows("SELECT record FROM files WHERE path = ? AND record IS NOT NULL", (path,)))
        if rows:
            return decode_record(path, rows[0][0])
        raise StateError(f"its incremental state has no record of {path}")

    def records(self) -> Iterator[FileRecord]:
        for path, text in self._rows("SELECT path, record FROM files WHERE record IS NOT NULL"):
            yield decode_record(path, text)

    def item_rows(self) -> tuple[dict[str, str], dict[str, str], dict[str, str], "StoryInputs"]:
        """items(), with the story inputs read from the file when asked (StoryInputs): at 100k
        items they were 100 MB of an append's peak, and grouping an addition reads few of them."""
        prints, stories, parts = {}, {}, {}
        for iid, fingerprint, story, part in self._rows(
                "SELECT id, fingerprint, story, part FROM items ORDER BY rowid"):
            prints[iid] = fingerprint
            stories[iid] = story
            parts[iid] = part
        return prints, stories, parts, StoryInputs(self, list(prints))

    def story_input(self, iid: str) -> NewsItem:
        with self.lock:
            rows = list(self._rows("SELECT story_input FROM items WHERE id = ?", (iid,)))
        if not rows:
            raise KeyError(iid)
        return self._decoded(iid, rows[0][0])

    def story_inputs(self) -> Iterator[tuple[str, NewsItem]]:
        for iid, text in self._rows("SELECT id, story_input FROM items ORDER BY rowid"):
            yield iid, self._decoded(iid, text)

    @staticmethod
    def _decoded(iid: str, text) -> NewsItem:
        try:
            return decode_story_input(iid, text)
        except (TypeError, ValueError) as error:   # JSONDecodeError is a ValueError
            raise StateError(f"its incremental state is unreadable (the story input of {iid!r}: {error})") from None

    def story_dates(self) -> Iterator[tuple[str, dt.datetime | None]]:
        """(id, published) of every story input, in story_inputs' order, the date alone
        read (SQLite's json_extract): an append groups stories only near its items' dates,
        and decoding every input to find them was a third of a 10k append's work."""
        # an input of another shape than encode_story_input's six fields is damage, not "undated"
        # (review 12: json_extract gave NULL for a two-field input, and the append never regrouped it)
        sql = ("SELECT id, json_extract(story_input, '$[3]'), json_array_length(story_input) = 6 "
               "FROM items ORDER BY rowid")
        try:
            rows = self.db.execute(sql)
        except sqlite3.OperationalError as error:
            if "no such function" not in str(error):   # e.g. "malformed JSON" in the first row (review 12)
                raise StateError(f"its incremental state is unreadable ({error})") from None
            yield from ((iid, item.published) for iid, item in self.story_inputs())   # no JSON functions here
            return
        except sqlite3.Error as error:
            raise StateError(f"its incremental state is unreadable ({error})") from None
        try:
            for iid, published, whole in rows:
                if not whole:
                    raise StateError(f"its incremental state is unreadable (the story input of {iid!r})")
                yield iid, _undate(published)
        except sqlite3.Error as error:
            raise StateError(f"its incremental state is unreadable ({error})") from None
        except (TypeError, ValueError):
            raise StateError("its incremental state is unreadable (a story input's date)") from None

    def items(self) -> tuple[dict[str, str], dict[str, str], dict[str, str], dict[str, NewsItem]]:
        """Fingerprints, story ids, story parts (stories.stories_and_parts) and story inputs of every item."""
        prints, stories, parts, inputs = {}, {}, {}, {}
        for iid, fingerprint, story, part, text in self._rows(
                "SELECT id, fingerprint, story, part, story_input FROM items"):
            prints[iid] = fingerprint
            stories[iid] = story
            parts[iid] = part
            inputs[iid] = self._decoded(iid, text)
        return prints, stories, parts, inputs


class StoryInputs(MutableMapping):
    """Every item's story input as a dict of them would hold it (the same order: the file's
    rows, changed ones in place, new ones at the end), read from the state when asked and
    streamed when iterated; only what is set here is kept in memory."""

    def __init__(self, reader: StateReader, ids: list[str]):
        self.reader, self.ids, self.stored = reader, ids, set(ids)
        self.changed: dict[str, NewsItem] = {}   # set here: replaces the stored one, or is new
        self.added: list[str] = []               # new ids (and ids removed then set again), in order
        self.removed: set[str] = set()           # stored ids removed (their stored place is skipped)

    def _stored(self, iid: str) -> bool:
        return iid in self.stored and iid not in self.removed

    def __contains__(self, iid) -> bool:
        return iid in self.changed or self._stored(iid)

    def __getitem__(self, iid: str) -> NewsItem:
        if iid in self.changed:
            return self.changed[iid]
        if not self._stored(iid):
            raise KeyError(iid)
        return self.reader.story_input(iid)

    def __setitem__(self, iid: str, item: NewsItem) -> None:
        if iid not in self:
            self.added.append(iid)
        self.changed[iid] = item

    def __delitem__(self, iid: str) -> None:
        if iid not in self:
            raise KeyError(iid)
        self.changed.pop(iid, None)
        if iid in self.added:
            self.added.remove(iid)
        else:
            self.removed.add(iid)

    def __iter__(self) -> Iterator[str]:
        for iid in self.ids:
            if iid not in self.removed:
                yield iid
        yield from self.added

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def items(self) -> Iterator[tuple[str, NewsItem]]:  # type: ignore[override]
        for iid, item in self.reader.story_inputs():
            if iid not in self.removed:
                yield iid, self.changed.get(iid, item)
        for iid in self.added:
            yield iid, self.changed[iid]

    def values(self) -> Iterator[NewsItem]:  # type: ignore[override]
        for _, item in self.items():
            yield item

    def dates(self) -> Iterator[tuple[str, dt.datetime | None]]:
        """(id, published) of every input, in items()' order, without decoding the stored ones."""
        for iid, published in self.reader.story_dates():
            if iid not in self.removed:
                yield iid, (self.changed[iid].published if iid in self.changed else published)
        for iid in self.added:
            yield iid, self.changed[iid].published

    def without(self, ids: set[str]) -> "Mapping[str, NewsItem]":
        """A view of these inputs but `ids` (streamed too)."""
        return _Without(self, ids)


class _Without(Mapping):
    def __init__(self, inputs: StoryInputs, ids: set[str]):
        self.inputs, self.ids = inputs, ids

    def __contains__(self, iid) -> bool:
        return iid not in self.ids and iid in self.inputs

    def __getitem__(self, iid: str) -> NewsItem:
        if iid in self.ids:
            raise KeyError(iid)
        return self.inputs[iid]

    def __iter__(self) -> Iterator[str]:
        return (iid for iid in self.inputs if iid not in self.ids)

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def items(self) -> Iterator[tuple[str, NewsItem]]:  # type: ignore[override]
        return ((iid, item) for iid, item in self.inputs.items() if iid not in self.ids)

    def values(self) -> Iterator[NewsItem]:  # type: ignore[override]
        return (item for _, item in self.items())

    def dates(self) -> Iterator[tuple[str, dt.datetime | None]]:
        return ((iid, published) for iid, published in self.inputs.dates() if iid not in self.ids)


class Records(Mapping):
    """path -> FileRecord for every readable file: this run's parse where it
    has one, else the one kept in the previous state (read when asked)."""

    def __init__(self, fresh: dict[str, FileRecord], kept: set[str], old: StateReader | None):
        self.fresh, self.kept, self.old = fresh, kept, old
        self.paths = set(fresh) | kept

    def __getitem__(self, path: str) -> FileRecord:
        if path in self.fresh:
            return self.fresh[path]
        if path in self.kept and self.old is not None:
            return self.old.record(path)
        raise KeyError(path)

    def __iter__(self):
        return iter(self.paths)

    def __len__(self) -> int:
        return len(self.paths)

    def values(self) -> Iterator[FileRecord]:  # type: ignore[override]
        """Every record, streamed (the kept ones straight from the database)."""
        yield from self.fresh.values()
        if self.old is not None:
            for record in self.old.records():
                if record.path in self.kept:
                    yield record


# -------------------------------------------------------------- writing

class StateWriter:
    """The state of the generation being built in `building`, written in
    steps: a copy of `base`'s (or a new one), then rows as they come (a full
    build streams each file's row as it is parsed, so no record stays in
    memory). Nothing is visible to readers until the folder is renamed."""

    def __init__(self, building: Path, corpus: str, base: Path | None = None):
        self.path = building / STATE
        if base is not None:
            shutil.copyfile(base / STATE, self.path)
        # check_same_thread=False: a build's feeder threads read bodies back (one at a time: the lock).
        self.db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self.lock = threading.Lock()
        # The folder is fsynced and renamed only when complete: no journal needed.
        self.db.execute("PRAGMA journal_mode=OFF")
        self.db.execute("PRAGMA synchronous=OFF")
        self.db.execute("BEGIN")
        if base is None:
            for statement in filter(str.strip, _SCHEMA.split(";")):
                self.db.execute(statement)
            self.db.executemany("INSERT INTO meta VALUES (?, ?)",
                                [("format", json.dumps(FORMAT)), ("corpus", corpus)])

    def files(self, files: Iterable[tuple[str, FileState, FileRecord | Problem | None, tuple[str, ...]]],
              gone: Iterable[str] = ()) -> None:
        """(path, state, record or problem or None for "as before", mentions) rows; `gone`: paths no longer there."""
        self.db.executemany("DELETE FROM files WHERE path = ?", ((p,) for p in gone))
        changed, touched = [], []
        for rel, state, record, mentions in files:
            if record is None:   # the same content as before (a touch): only the stat moves
                touched.append((state.size, state.mtime_ns, state.ctime_ns, state.inode, state.sha256, rel))
            else:
                changed.append((rel, state.size, state.mtime_ns, state.ctime_ns, state.inode, state.sha256,
                                record.reason if isinstance(record, Problem) else None,
                                encode_record(record) if isinstance(record, FileRecord) else None,
                                json.dumps(mentions, ensure_ascii=False) if isinstance(record, FileRecord) else None))
        self.db.executemany("INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", changed)
        self.db.executemany(
            "UPDATE files SET size = ?, mtime_ns = ?, ctime_ns = ?, inode = ?, sha256 = ? WHERE path = ?", touched)

    def items(self, items: Iterable[tuple[str, tuple[str, str, NewsItem, str] | None]]) -> None:
        """(id, (fingerprint, story, story input, story part) or None for an item that is gone) rows."""
        for iid, value in items:
            if value is None:
                self.db.execute("DELETE FROM items WHERE id = ?", (iid,))
            else:
                fingerprint, story, inp, part = value
                self.db.execute("INSERT OR REPLACE INTO items VALUES (?, ?, ?, ?, ?)",
                                (iid, fingerprint, story, encode_story_input(inp), part))

    def body(self, path: str) -> str:
        """The own body of the record written for `path` (a build reads bodies back as it writes documents)."""
        with self.lock:
            row = self.db.execute("SELECT record FROM files WHERE path = ?", (path,)).fetchone()
        if row is None or row[0] is None:
            raise StateError(f"no record of {path} was written")
        return json.loads(row[0])[0][3]

    def commit(self) -> None:
        self.db.execute("COMMIT")

    def close(self) -> None:
        """Without commit(), nothing written is kept."""
        self.db.close()


def write_state(
    building: Path,
    *,
    corpus: str,
    base: Path | None,
    files: Mapping[str, tuple[FileState, FileRecord | Problem, tuple[str, ...]]],
    gone: Iterable[str] = (),
    items: Mapping[str, tuple[str, str, NewsItem, str] | None],
) -> None:
    """The state of the generation being built in `building`: a copy of
    `base`'s with these rows replaced (all of them when `base` is None).

    `files`: path -> (state, record or problem or None for "as before", mentions); `gone`: paths no
    longer in the corpus; `items`: id -> (fingerprint, story, story input, story part),
    None for an item that is gone."""
    writer = StateWriter(building, corpus, base)
    try:
        writer.files(((rel, *value) for rel, value in files.items()), gone)
        writer.items(items.items())
        writer.commit()
    finally:
        writer.close()
