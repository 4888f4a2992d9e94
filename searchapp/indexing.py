"""Indexing: a corpus folder -> a new index generation, incrementally. The one build path.

ingest (read and merge files) -> enrich (tags, stories; in the backend's
document) -> the backend writes segments -> store (generation, CURRENT).
Only files whose size, mtime and then content hash changed are read again;
only items whose indexed document changed are rewritten, on top of hard links
to the previous generation. `full=True` rebuilds from scratch.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Callable, Iterable, Iterator

from searchapp.errors import NothingToIndex, StrictFailure
from searchapp.ingest.reader import (BadFile, FileRecord, FileState, Merger, NewsItem, Problem, check_inside, content_hash,
                                     display_path, item_id, merge_records, news_file_names, parse_bytes, read_bytes, stat_file)
from searchapp.store.generations import (BUILD_INFO, GOOD, BuildInfo, building_name, check_generation,
                                         current_generation, damage_marked, damaged_files, forget_verified,
                                         generations_on_disk, fsync_tree, link_copy, new_generation_name,
                                         read_build_info, read_current, record_verified, recorded_items, remove_old,
                                         switch_current, trust_verified, unverified_files, write_manifest)
from searchapp.store.lock import writer_lock
from searchapp.store.state import Records, StateError, StateReader, StateWriter, write_state
from searchapp.processes import Counted, die_with_parent

# The backend (Whoosh, numpy) and story grouping are imported when a run writes
# or opens a generation: a nothing-changed run needs neither (issue 15: 1%).


def default_backend():
    from searchapp.backends import default_backend as backend

    return backend()


def write_segments(*args, **kwargs):
    from searchapp.backends.whoosh.writer import write_segments as write

    return write(*args, **kwargs)


def segment_count(generation: Path) -> int:
    from searchapp.backends.whoosh.writer import segment_count as count

    return count(generation)


def stories_and_parts(items):
    from searchapp.enrich.stories import stories_and_parts as group

    return group(items)


def stories_after_adding(*args):
    from searchapp.enrich.stories import stories_after_adding as regroup

    return regroup(*args)




WORKERS = min(4, os.cpu_count() or 1)  # processes that read and parse files in big (re)builds
PARALLEL_MIN_FILES = 2_000    # below this, starting worker processes costs more than it saves
MAX_APPENDED_SEGMENTS = 10    # an append adds a segment; from this many, the next change rewrites all


def fingerprint(item: NewsItem, story: str) -> str:
    """Changes whenever anything written for the item changes: its document is a
    pure function of the item and its story id (the tagging's version is in
    FORMAT), and a dataclass repr shows every field but the back-links, which
    the document does not hold (the items and files listing it: see
    schema.stored_doc)."""
    own = replace(item, related_by_ids=(), source_files=())
    return hashlib.sha1(f"{own!r}\x00{story}".encode("utf-8", "surrogatepass")).hexdigest()


def story_groups(items) -> dict[str, str]:
    """item id -> story id, for every item: an item without copies is its
    own story (readers count a story only when it has two members), so a copy
    added later, the story's newest member, changes no existing document."""
    return stories_and_parts(items)[0]


def stories(items, added=(), kept: tuple[dict[str, str], dict[str, str]] | None = None
            ) -> tuple[dict[str, str], dict[str, str]]:
    """(story ids, story parts) of `items` and `added`; with `kept`, the
    stories and parts of `items` as before, only the parts `added` join are
    regrouped (stories.stories_after_adding)."""
    if kept is None:
        return stories_and_parts(list(items) + list(added))
    return stories_after_adding(items, *kept, list(added))


def story_input(item: NewsItem) -> NewsItem:
    """The part of an item that story grouping reads, kept for incremental runs."""
    return NewsItem(id=item.id, url=item.url, title=item.title, excerpt=item.excerpt, published=item.published,
                    provider=item.provider)


def _write_generation(index_dir: Path, build: Callable[[Path], dict], *, base: Path | None,
                      started: float) -> BuildInfo:
    """Write a complete generation (from scratch, or `base` + changes) and make it current.

    `build(folder)` writes the segments and the state into the new folder
    (which holds hard links to `base`'s files when there is one) and returns
    the build information. Anything raised leaves no folder behind."""
    name, stamp = new_generation_name()
    building = index_dir / building_name(name)
    building.mkdir()
    previous = current_generation(index_dir)
    known = None
    try:
        if base is not None:
            known = link_copy(base, building)
        info = build(building)
        build_info = BuildInfo(
            generation=name,
            built_at=stamp.isoformat(timespec="seconds").replace("+00:00", "Z"),
            seconds=round(time.monotonic() - started, 3),
            **info,
        )
        (building / BUILD_INFO).write_text(json.dumps(asdict(build_info), indent=1), "utf-8")
        write_manifest(building, known)
        fsync_tree(building)
        generation = index_dir / name
        os.rename(building, generation)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    switch_current(index_dir, generation)
    remove_old(index_dir, keep={generation} | ({previous} if previous else set()))
    _remember_verified(index_dir, generation, frozenset(known or ()))
    return build_info


def _remember_verified(index_dir: Path, generation: Path, linked: frozenset[str] = frozenset()) -> None:
    """A generation just written is whole: its new files' checksums were
    computed from them, the files linked from its base were verified before
    this run built on it; once it also passes the trial open, the next run
    need not hash it again (only files that moved since). The trial open
    reads only what this run wrote: the base passed it (`linked`: its files)."""
    default_backend()   # installs the trial open: check_generation runs it (the cleanup just did, in the CLI)
    if check_generation(generation, linked)[0] == GOOD:
        record_verified(index_dir, generation)
    else:
        forget_verified(index_dir)


def _segments(entries, *, base: Path | None, remove: set[str], state: dict, info: dict, wrap):
    """A generation's build step for items already merged: segments, then state rows."""
    def build(building: Path) -> dict:
        write_segments(building, entries, base_copied=base is not None, remove=remove,
                       progress=lambda docs: wrap(docs, "Indexing", "item"))
        write_state(building, **state)
        return info
    return build


class _Documents:
    """Every item of a Merger as (item, story id), in merge order, made only
    when a writer asks for it (each writer's share is a slice), so no more
    than a chunk per writer is held; each item's fingerprint is noted."""

    def __init__(self, merger: Merger, stories: dict[str, str], body: Callable[[str], str],
                 prints: dict[str, str] | None = None):
        self.merger, self.stories, self.body, self.prints = merger, stories, body, prints
        self.ids = merger.ids()

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, part: slice) -> Iterator[tuple[NewsItem, str]]:
        return self._make(self.ids[part])

    def __iter__(self) -> Iterator[tuple[NewsItem, str]]:
        return self._make(self.ids)

    def _make(self, ids: list[str]) -> Iterator[tuple[NewsItem, str]]:
        for iid in ids:
            item = self.merger.item(iid, self.body)
            story = self.stories[iid]
            if self.prints is not None:
                self.prints[iid] = fingerprint(item, story)
            yield item, story


def _read_one(job: tuple[Path, str, FileState, str | None]) -> tuple[FileState, FileRecord | Problem, bool] | None:
    """Read, hash and parse one file (in a worker process for big corpora):
    (state, record or problem, whether it got as far as parsing). None means
    the same content as before (the file was only touched)."""
    path, rel, state, sha_before = job
    parsing = False
    try:
        raw = read_bytes(path, state)
        state = replace(state, sha256=content_hash(raw))
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


def _parallel_map(function, jobs: list, chunksize: int = 64) -> Iterator:
    """`map` over worker processes, one per core (results in order).

    Spawned, not forked: a fork's resident set counts the whole builder
    (every file's state and path at 1M files) in each worker."""
    import multiprocessing

    with multiprocessing.get_context("spawn").Pool(WORKERS, initializer=die_with_parent) as pool:
        yield from pool.imap(function, jobs, chunksize)


def _stat(real_root: Path, path: str, rel: str) -> FileState:
    """check_inside + stat_file in one lstat for a plain file (a nothing-changed
    run is mostly this, once per file); symlinks and oddities take the long way."""
    try:
        info = os.lstat(path)
    except OSError:
        info = None
    if info is None or not stat.S_ISREG(info.st_mode):
        check_inside(real_root, Path(path))
        return stat_file(Path(path), rel)
    return FileState(rel, info.st_size, info.st_mtime_ns, "", info.st_ctime_ns, info.st_ino)


_STREAMED = (None, None)


def _scan(root: Path, paths: Iterable[str], old: dict[str, tuple[tuple, str | None]] | None,
          wrap=lambda iterable, desc, unit: iterable, sink=None):
    """Each file -> (state, record or problem, or None when the previous
    state's record still holds); unchanged files are not read again. Also the
    files parsed (or found unreadable) in this run, and how many got as far as
    parsing. Files to read are read by worker processes when there are many,
    in path order (merge order). With `sink`, each record parsed goes to
    `sink(path, state, record)` and is not kept (its entry is (None, None)).
    `old`: path -> ((size, mtime_ns, ctime_ns, inode, sha256), problem); an
    unchanged file's entry keeps that tuple as its state (no FileState made)."""
    files: dict[str, tuple[FileState, FileRecord | Problem | None]] = {}
    fresh: set[str] = set()
    real_root = root.resolve()
    jobs: list[tuple[str, str, FileState, str | None]] = []
    old = old or {}
    prefix = str(root) + os.sep
    for path in paths:
        rel = display_path(path[len(prefix):] if path.startswith(prefix) else Path(path).relative_to(root).as_posix())
        before, problem = old.get(rel, (None, None))
        if before is not None:   # the common case of a nothing-changed run: one lstat, no object
            try:
                info = os.lstat(path)
            except OSError:
                info = None
            if (info is not None and stat.S_ISREG(info.st_mode)
                    and (info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_ino) == before[:4]):
                files[rel] = (before, Problem(rel, problem) if problem is not None else None)
                continue
        state = FileState(rel, -1, -1)
        try:
            state = _stat(real_root, path, rel)
        except BadFile as error:
            files[rel] = (state, Problem(rel, str(error)))
            fresh.add(rel)
            continue
        except Exception as error:  # last resort: one file never stops a reindex
            files[rel] = (state, Problem(rel, f"unexpected error: {type(error).__name__}: {error}"))
            fresh.add(rel)
            continue
        if before is not None and (state.size, state.mtime_ns, state.ctime_ns, state.inode) == before[:4]:
            files[rel] = (before, Problem(rel, problem) if problem is not None else None)   # e.g. a symlink
            continue
        files[rel] = (state, None)  # placeholder keeps the walk's order; replaced below
        jobs.append((path, rel, state, before[4] if before is not None else None))
    jobs.sort(key=lambda job: job[1])  # the walk lists a folder's files before its subfolders'
    use_workers = WORKERS > 1 and len(jobs) >= PARALLEL_MIN_FILES
    results = _parallel_map(_read_one, jobs) if use_workers else map(_read_one, jobs)
    parsed = 0
    for (path, rel, state, _), result in zip(jobs, wrap(Counted(results, len(jobs)), "Reading", "file")):
        if result is None:  # touched, not changed: the kept record (or problem) holds
            before, problem = old[rel]
            files[rel] = (replace(state, sha256=before[4]), Problem(rel, problem) if problem is not None else None)
        else:
            fresh.add(rel)
            parsed += result[2]
            if sink is not None and isinstance(result[1], FileRecord):
                sink(rel, result[0], result[1])
                files[rel] = _STREAMED   # its state went to the sink: not kept
            else:
                files[rel] = result[:2]
    return files, fresh, parsed


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


def _trusted_base(index_dir: Path) -> tuple[Path | None, str]:
    """The generation CURRENT names if no server or `--verify` marked it
    damaged, every file of it matches its checksum (hashed in full: nothing
    damaged is ever carried forward) and it passes the backend's trial open (a
    manifest rewritten to match garbled files passes the checksums); else
    (None, why), and the run rebuilds from scratch."""
    name, problem = read_current(index_dir)
    if name is None:
        return _repoint(index_dir, problem or "CURRENT is missing")
    generation = index_dir / name
    if not generation.is_dir():
        return None, f"{name} (named by CURRENT) is missing"
    marked = damage_marked(generation)
    if marked:   # a server found it damaged while answering (a full check confirmed it)
        return None, f"{name} is marked damaged ({marked})"
    # Files found exactly as this writer verified them (same size, mtime,
    # ctime and inode: no write can keep all four) are not hashed again;
    # every other file is, in full (store.generations.record_verified).
    verified = unverified_files(index_dir, generation)
    damaged = damaged_files(generation, full=True, unchanged=verified[0] if verified else frozenset())
    if damaged:
        forget_verified(index_dir)
        listed = ", ".join(f"{file} {why}" for file, why in damaged[:3])
        more = f" and {len(damaged) - 3} more" if len(damaged) > 3 else ""
        return None, f"{name} is damaged ({listed}{more})"
    if verified is not None:
        # Every file either unmoved or hashed equal to a manifest that did not
        # move: the very bytes that passed the trial open when it was recorded.
        if verified[1]:
            record_verified(index_dir, generation)   # the moved ones (a link count changed their ctime) again
        return generation, ""
    # The sampled trial, not the full decode: the full check costs about 110x
    # the trial (2.8 s at 1,291 items, so minutes at 100k), which would make
    # a "nothing changed" run cost as much as a full build. Damage the samples
    # miss is found by `index --verify` or by a server answering from it; both
    # leave a marker (above) that makes this run rebuild.
    why = default_backend().usable(generation, recorded_items(generation))
    if why:
        return None, f"{name} is damaged ({why})"
    record_verified(index_dir, generation)
    return generation, ""


def _repoint(index_dir: Path, problem: str) -> tuple[Path | None, str]:
    """CURRENT missing or damaged: point it back at the newest generation that
    passes every check (a full re-parse is not needed to fix one file)."""
    for generation in generations_on_disk(index_dir):
        if (not damage_marked(generation) and not damaged_files(generation, full=True)
                and default_backend().usable(generation, recorded_items(generation)) is None):
            switch_current(index_dir, generation)
            return generation, f"{problem}; pointed CURRENT back at {generation.name}"
    return None, problem if generations_on_disk(index_dir) else ""


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
    statistics would count deleted documents, so a run that deletes or
    replaces any document rewrites all of them from the kept records (ranks
    equal a full rebuild's); only additions go on top of hard links.
    `full=True` rebuilds from scratch."""
    root, index_dir = Path(corpus_dir), Path(index_dir)
    started = time.monotonic()
    wrap = progress or (lambda iterable, desc, unit: iterable)
    if not root.is_dir():
        raise NothingToIndex(f"corpus folder not found: {root}")
    paths = news_file_names(root)
    if not paths:
        raise NothingToIndex(f"no news files (.md, .markdown, .html, .htm) in {root}")
    with writer_lock(index_dir, wait):
        named = read_current(index_dir)[0]
        if named is not None:   # a generation exactly as verified needs no check to be called good (cleanup asks)
            trust_verified(index_dir, index_dir / named)
        remove_old(index_dir, keep=set())   # leftovers of killed builds, on every run
        base, repaired = _trusted_base(index_dir)
        old = None
        if not full and base is not None:
            try:
                old = StateReader(base, str(root.resolve()))
            except StateError as error:
                if "unreadable" in str(error):  # damaged: say so; another version or corpus: rebuild quietly
                    repaired = f"{base.name}: {error}"
        try:
            return _update(root, index_dir, paths, base, old, strict=strict, repaired=repaired, started=started,
                           wrap=wrap)
        except StateError as error:  # a record missing from a state that opened: rebuild, saying why
            old.close()
            old = None
            return _update(root, index_dir, paths, base, None, strict=strict, started=started, wrap=wrap,
                           repaired=f"{base.name}: {error}")
        finally:
            if old is not None:
                old.close()


def _kept(old_mentions: dict[str, tuple[str, ...]], rel: str) -> tuple[str, ...]:
    if rel not in old_mentions:
        raise StateError(f"its incremental state has no record of {rel}")
    return old_mentions[rel]


def _unchanged(index_dir: Path, base: Path, info: dict, parsed: int, started: float) -> BuildInfo:
    current = read_build_info(index_dir, base)
    return BuildInfo(**{**asdict(current), "problems": tuple(info["problems"]), "mode": "unchanged",
                        "repaired": info.get("repaired", ""), "files_read": info["files_read"], "files_parsed": parsed, "added": 0,
                        "updated": 0, "removed": 0, "seconds": round(time.monotonic() - started, 3)})


def _update(root: Path, index_dir: Path, paths: list[str], base: Path | None, old: StateReader | None, *,
            strict: bool, repaired: str, started: float, wrap) -> BuildInfo:
    corpus_key = str(root.resolve())
    if old is None:
        return _full(root, index_dir, paths, strict=strict, repaired=repaired, started=started, wrap=wrap)
    old_files = old.stats()
    files, fresh, parsed = _scan(root, paths, old_files, wrap)
    problems = [r for _, r in files.values() if isinstance(r, Problem)]
    _check_readable(root, files, problems, strict)
    readable = {rel for rel, (_, r) in files.items() if not isinstance(r, Problem)}
    info = dict(corpus=str(root), files_read=len(files),
                problems=tuple((p.path, p.reason) for p in problems), files_parsed=parsed, repaired=repaired)
    fresh_records = {rel: r for rel, (_, r) in files.items() if rel in fresh and isinstance(r, FileRecord)}
    gone = set(old_files) - set(files)
    if not fresh and not gone:
        return _unchanged(index_dir, base, info, parsed, started)
    old_mentions = old.mentions()
    mentions = {rel: _mentions(r) if rel in fresh else _kept(old_mentions, rel)
                for rel, (_, r) in files.items() if rel in readable}
    records = Records(fresh_records, readable - fresh, old)
    items = _affected_items(records, mentions, old_mentions, fresh | gone)
    # Story groups: from the kept inputs, only the parts that added items
    # join when nothing else changed (stories_after_adding), else everything;
    # then also rewrite the unaffected items whose story id moved.
    old_prints, old_stories, old_parts, inputs = old.item_rows()   # story inputs read when asked
    new_inputs, only_added = {}, True
    for item_id_, item in items.items():
        if item is None:
            only_added = only_added and item_id_ not in inputs
            inputs.pop(item_id_, None)
        else:
            new = story_input(item)
            if item_id_ in inputs:
                only_added = only_added and inputs[item_id_] == new
            else:
                new_inputs[item_id_] = new
            inputs[item_id_] = new
    if only_added:
        story_of, parts = stories(inputs.without(set(new_inputs)), new_inputs.values(),
                                  kept=(old_stories, old_parts))
    else:
        story_of, parts = stories(inputs.values())
    moved = {i for i, story in story_of.items() if i not in items and old_stories.get(i) != story}
    if moved:
        items.update(_merged(records, mentions, moved))
    prints = {i: (fingerprint(item, story_of[i]) if item is not None else None) for i, item in items.items()}
    info["items"] = len(story_of)
    removed = {i for i, item in items.items() if item is None and i in old_prints}
    changed = {i for i, item in items.items() if item is not None and old_prints.get(i) != prints[i]}
    added = {i for i in changed if i not in old_prints}
    state = dict(corpus=corpus_key, base=base, gone=gone,
                 files={rel: (st, r, mentions.get(rel, ())) for rel, (st, r) in files.items()
                        if rel in fresh or st != old_files[rel][0]},  # parsed, or only its stat moved
                 items={**{i: (old_prints[i], story_of[i], inputs[i], parts[i]) for i, part in parts.items()
                           if i not in items and old_parts.get(i) != part},   # only its part moved
                        **{i: (prints[i], story_of[i], inputs[i], parts[i]) if item is not None else None
                           for i, item in items.items()}})
    info.update(mode="incremental", added=len(added), updated=len(changed - added), removed=len(removed))
    if not removed and not changed:
        return _unchanged(index_dir, base, info, parsed, started)
    order = _append_order(records, fresh, old_files, added, base) if not removed and not changed - added else None
    if order is None:
        # A deleted or replaced document still counts in BM25's statistics
        # until segments merge, and Whoosh's merge recounts field lengths
        # from their one-byte approximations: either way scores move and
        # ranks change. So any deletion rewrites every document (from the
        # kept records: nothing is read or parsed again), in a full
        # rebuild's order: ranks, scores and ties equal a full rebuild's.
        # Streamed like a full build: one record at a time into the merger,
        # bodies read back when each document is written.
        merger = Merger(keep_bodies=False)
        for rel in sorted(records):
            merger.add(records[rel])
        documents = _Documents(merger, story_of, lambda rel: records[rel].own.body)
        return _write_generation(index_dir, _segments(documents, base=None, remove=set(), state=state, info=info,
                                                      wrap=wrap), base=None, started=started)
    entries = [(items[i], story_of[i]) for i in order]
    # What the corpus-wide bookkeeping held (every file's stat and mentions, every item's
    # fingerprint, story and story input: 250 MB at 100k items) is not needed to write an
    # append: let it go before the segment and tables are written (issue 15: peak memory).
    del files, mentions, old_mentions, old_files, old_prints, old_stories, old_parts, inputs, story_of, parts
    del items, prints, records
    return _write_generation(index_dir, _segments(entries, base=base, remove=set(), state=state, info=info,
                                                  wrap=wrap), base=base, started=started)


def _append_order(records: Records, fresh: set[str], old_files: dict, added: set[str], base: Path) -> list[str] | None:
    """The added items in a full build's order, when they can go on top of the
    previous generation as one new segment and rank exactly as in a full
    build; else None (every document is rewritten).

    A full build's document numbers (the ranking's tie-break, a story's first
    member) follow the merge order: files by path. Appended documents come
    after every existing one, which is that order only when the new items
    come only from new files that sort after every file already indexed, and
    no existing file changed or went. Documents are never deleted here, so
    BM25's statistics (document count, field lengths, document frequencies)
    are a full build's too. Each append adds a segment; past
    MAX_APPENDED_SEGMENTS a rewrite makes them few again."""
    readable = records.paths
    if any(rel in old_files for rel in fresh):   # an existing file was edited (or broke)
        return None
    if any(problem is None and rel not in readable for rel, (_, problem) in old_files.items()):
        return None   # a file went
    new = sorted(rel for rel in fresh if rel in readable)
    kept = [rel for rel in readable if rel in old_files]
    if kept and new[0] < max(kept):
        return None
    if segment_count(base) >= MAX_APPENDED_SEGMENTS:
        return None
    merger = Merger(keep_bodies=False)
    for rel in new:
        merger.add(records[rel])
    order = [iid for iid in merger.ids() if iid in added]
    return order if len(order) == len(added) else None


def _check_readable(root: Path, files: dict, problems: list[Problem], strict: bool) -> None:
    if strict and problems:
        raise StrictFailure(
            f"--strict: {len(problems)} of {len(files)} files could not be read; the index was not changed",
            problems)
    if all(isinstance(r, Problem) for _, r in files.values()):
        raise NothingToIndex(f"none of the {len(files)} files in {root} could be read; the index was not changed")


def _full(root: Path, index_dir: Path, paths: list[str], *, strict: bool, repaired: str, started: float,
          wrap) -> BuildInfo:
    """A full build in bounded memory: each file's record goes to the new
    state as it is parsed and into a Merger (merged fields, no bodies); story
    groups come from the merged titles and excerpts; each writer then gets
    its items made one chunk at a time, bodies read back from the state.
    Measured at 300k items: 9.0 GB summed over processes when every record,
    item and document was held at once."""
    merger = Merger(keep_bodies=False)

    def build(building: Path) -> dict:
        state = StateWriter(building, str(root.resolve()))
        try:
            def sink(rel: str, file_state: FileState, record: FileRecord) -> None:
                state.files([(rel, file_state, record, _mentions(record))])
                merger.add(record)

            files, _, parsed = _scan(root, paths, None, wrap, sink=sink)
            problems = [r for _, r in files.values() if isinstance(r, Problem)]
            _check_readable(root, files, problems, strict)
            state.files((rel, file_state, r, ()) for rel, (file_state, r) in files.items() if isinstance(r, Problem))
            info = dict(corpus=str(root), files_read=len(files), problems=tuple((p.path, p.reason) for p in problems),
                        files_parsed=parsed, repaired=repaired, items=len(merger), mode="full", added=len(merger))
            del files
            story_of, parts = stories(merger.story_input(iid) for iid in merger.slots)
            prints: dict[str, str] = {}
            write_segments(building, _Documents(merger, story_of, state.body, prints), base_copied=False,
                           remove=set(), progress=lambda docs: wrap(docs, "Indexing", "item"))
            state.items((iid, (prints[iid], story_of[iid], merger.story_input(iid), parts[iid]))
                        for iid in merger.slots)
            state.commit()
        finally:
            state.close()
        return info

    return _write_generation(index_dir, build, base=None, started=started)
