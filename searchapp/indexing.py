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
from collections import Counter
from dataclasses import asdict, replace
from pathlib import Path
from typing import Callable, Iterable, Iterator

from searchapp.backends import default_backend
from searchapp.backends.whoosh.writer import Counted, die_with_parent, write_segments
from searchapp.enrich.stories import story_groups as _story_groups
from searchapp.errors import NothingToIndex, StrictFailure
from searchapp.ingest.reader import (BadFile, FileRecord, FileState, NewsItem, Problem, check_inside, content_hash, display_path,
                                     item_id, list_news_files, merge_records, parse_bytes, read_bytes, stat_file)
from searchapp.store.generations import (BUILD_INFO, BuildInfo, building_name, current_generation, damage_marked,
                                         damaged_files, generations_on_disk,
                                         fsync_tree, link_copy, new_generation_name, recorded_items,
                                         read_build_info, read_current, remove_old, switch_current, write_manifest)
from searchapp.store.lock import writer_lock
from searchapp.store.state import Records, StateError, StateReader, write_state

WORKERS = min(4, os.cpu_count() or 1)  # processes that read and parse files in big (re)builds
PARALLEL_MIN_FILES = 2_000    # below this, starting worker processes costs more than it saves


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


def _write_generation(
    index_dir: Path,
    entries: Iterable[tuple[NewsItem, str]],
    *,
    base: Path | None,
    remove: set[str],
    info: dict,
    state: dict,
    started: float,
    progress=None,
) -> BuildInfo:
    """Write a complete generation (from scratch, or `base` + changes) and make it current.

    `entries` are (item, story id) pairs, written in their order; `state`
    the keyword arguments of `write_state` (the rows that changed)."""
    name, stamp = new_generation_name()
    building = index_dir / building_name(name)
    building.mkdir()
    previous = current_generation(index_dir)
    known = None
    try:
        if base is not None:
            known = link_copy(base, building)
        write_segments(building, entries, base_copied=base is not None, remove=remove, progress=progress)
        build = BuildInfo(
            generation=name,
            built_at=stamp.isoformat(timespec="seconds").replace("+00:00", "Z"),
            seconds=round(time.monotonic() - started, 3),
            **info,
        )
        (building / BUILD_INFO).write_text(json.dumps(asdict(build), indent=1), "utf-8")
        write_state(building, **state)
        write_manifest(building, known)
        fsync_tree(building)
        generation = index_dir / name
        os.rename(building, generation)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    switch_current(index_dir, generation)
    remove_old(index_dir, keep={generation} | ({previous} if previous else set()))
    return build


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
    """`map` over worker processes, one per core (results in order)."""
    import multiprocessing

    with multiprocessing.get_context("fork").Pool(WORKERS, initializer=die_with_parent) as pool:
        yield from pool.imap(function, jobs, chunksize)


def _stat(real_root: Path, path: Path, rel: str) -> FileState:
    """check_inside + stat_file in one lstat for a plain file (a nothing-changed
    run is mostly this, once per file); symlinks and oddities take the long way."""
    try:
        info = os.lstat(path)
    except OSError:
        info = None
    if info is None or not stat.S_ISREG(info.st_mode):
        check_inside(real_root, path)
        return stat_file(path, rel)
    return FileState(rel, info.st_size, info.st_mtime_ns, "", info.st_ctime_ns, info.st_ino)


def _scan(root: Path, paths: Iterable[Path], old: dict[str, tuple[FileState, str | None]] | None,
          wrap=lambda iterable, desc, unit: iterable):
    """Each file -> (state, record or problem, or None when the previous
    state's record still holds); unchanged files are not read again. Also the
    files parsed (or found unreadable) in this run, and how many got as far as
    parsing. Files to read are read by worker processes when there are many."""
    files: dict[str, tuple[FileState, FileRecord | Problem | None]] = {}
    fresh: set[str] = set()
    real_root = root.resolve()
    jobs: list[tuple[Path, str, FileState, str | None]] = []
    old = old or {}
    prefix = str(root) + os.sep
    for path in paths:
        text = str(path)
        rel = display_path(text[len(prefix):] if text.startswith(prefix) else path.relative_to(root).as_posix())
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
        before, problem = old.get(rel, (None, None))
        if before is not None and before.same_stat(state):
            files[rel] = (before, Problem(rel, problem) if problem is not None else None)
            continue
        files[rel] = (state, None)  # placeholder keeps the walk's order; replaced below
        jobs.append((path, rel, state, before.sha256 if before is not None else None))
    use_workers = WORKERS > 1 and len(jobs) >= PARALLEL_MIN_FILES
    results = _parallel_map(_read_one, jobs) if use_workers else map(_read_one, jobs)
    parsed = 0
    for (path, rel, state, _), result in zip(jobs, wrap(Counted(results, len(jobs)), "Reading", "file")):
        if result is None:  # touched, not changed: the kept record (or problem) holds
            before, problem = old[rel]
            files[rel] = (replace(state, sha256=before.sha256), Problem(rel, problem) if problem is not None else None)
        else:
            files[rel] = result[:2]
            fresh.add(rel)
            parsed += result[2]
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
    damaged = damaged_files(generation, full=True)
    if damaged:
        listed = ", ".join(f"{file} {why}" for file, why in damaged[:3])
        more = f" and {len(damaged) - 3} more" if len(damaged) > 3 else ""
        return None, f"{name} is damaged ({listed}{more})"
    # The sampled trial, not the full decode: the full check costs about 110x
    # the trial (2.8 s at 1,291 items, so minutes at 100k), which would make
    # a "nothing changed" run cost as much as a full build. Damage the samples
    # miss is found by `index --verify` or by a server answering from it; both
    # leave a marker (above) that makes this run rebuild.
    why = default_backend().usable(generation, recorded_items(generation))
    if why:
        return None, f"{name} is damaged ({why})"
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
    paths = list_news_files(root)
    if not paths:
        raise NothingToIndex(f"no news files (.md, .markdown, .html, .htm) in {root}")
    with writer_lock(index_dir, wait):
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


def _update(root: Path, index_dir: Path, paths: list[Path], base: Path | None, old: StateReader | None, *,
            strict: bool, repaired: str, started: float, wrap) -> BuildInfo:
    corpus_key = str(root.resolve())
    old_files = old.stats() if old is not None else None
    files, fresh, parsed = _scan(root, paths, old_files, wrap)
    problems = [r for _, r in files.values() if isinstance(r, Problem)]
    if strict and problems:
        raise StrictFailure(
            f"--strict: {len(problems)} of {len(files)} files could not be read; the index was not changed",
            problems)
    readable = {rel for rel, (_, r) in files.items() if not isinstance(r, Problem)}
    if not readable:
        raise NothingToIndex(f"none of the {len(files)} files in {root} could be read; the index was not changed")
    info = dict(corpus=str(root), files_read=len(files),
                problems=tuple((p.path, p.reason) for p in problems), files_parsed=parsed, repaired=repaired)
    fresh_records = {rel: r for rel, (_, r) in files.items() if rel in fresh and isinstance(r, FileRecord)}
    if old is None:
        records = fresh_records
        mentions = {rel: _mentions(record) for rel, record in records.items()}
        items = {item.id: item for item in merge_records(records.values())}
        stories = story_groups(list(items.values()))
        state = dict(corpus=corpus_key, base=None,
                     files={rel: (st, r, mentions.get(rel, ())) for rel, (st, r) in files.items()},
                     items={i: (fingerprint(item, stories[i]), stories[i], story_input(item))
                            for i, item in items.items()})
        entries = [(item, stories[item_id]) for item_id, item in items.items()]
        del items
        return _write_generation(index_dir, entries, base=None, remove=set(), state=state, started=started,
                                 info=dict(info, items=len(entries), mode="full", added=len(entries)),
                                 progress=lambda docs: wrap(docs, "Indexing", "item"))
    gone = set(old_files) - set(files)
    if not fresh and not gone:
        return _unchanged(index_dir, base, info, parsed, started)
    old_mentions = old.mentions()
    mentions = {rel: _mentions(r) if rel in fresh else _kept(old_mentions, rel)
                for rel, (_, r) in files.items() if rel in readable}
    records = Records(fresh_records, readable - fresh, old)
    items = _affected_items(records, mentions, old_mentions, fresh | gone)
    # Story groups span the whole corpus: regroup everything from the kept
    # inputs, then also rewrite the unaffected items whose story id moved.
    old_prints, old_stories, inputs = old.items()
    for item_id_, item in items.items():
        if item is None:
            inputs.pop(item_id_, None)
        else:
            inputs[item_id_] = story_input(item)
    stories = story_groups(list(inputs.values()))
    moved = {i for i, story in stories.items() if i not in items and old_stories.get(i) != story}
    if moved:
        items.update(_merged(records, mentions, moved))
    prints = {i: (fingerprint(item, stories[i]) if item is not None else None) for i, item in items.items()}
    info["items"] = len(stories)
    removed = {i for i, item in items.items() if item is None and i in old_prints}
    changed = {i for i, item in items.items() if item is not None and old_prints.get(i) != prints[i]}
    added = {i for i in changed if i not in old_prints}
    state = dict(corpus=corpus_key, base=base, gone=gone,
                 files={rel: (st, r, mentions.get(rel, ())) for rel, (st, r) in files.items()
                        if rel in fresh or st != old_files[rel][0]},  # parsed, or only its stat moved
                 items={i: (prints[i], stories[i], inputs[i]) if item is not None else None
                        for i, item in items.items()})
    info.update(mode="incremental", added=len(added), updated=len(changed - added), removed=len(removed))
    if not removed and not changed:
        return _unchanged(index_dir, base, info, parsed, started)
    if removed or changed - added:
        # A deleted or replaced document still counts in BM25's statistics
        # until segments merge, and Whoosh's merge recounts field lengths
        # from their one-byte approximations: either way scores move and
        # ranks change. So any deletion rewrites every document (from the
        # kept records: nothing is read or parsed again), in a full
        # rebuild's order: ranks, scores and ties equal a full rebuild's.
        everything = merge_records(records.values())
        return _write_generation(
            index_dir, [(item, stories[item.id]) for item in everything], base=None, remove=set(),
            state=state, started=started, info=info, progress=lambda docs: wrap(docs, "Indexing", "item"))
    return _write_generation(
        index_dir, [(items[i], stories[i]) for i in sorted(changed)], base=base, remove=removed | (changed - added),
        state=state, started=started, info=info, progress=lambda docs: wrap(docs, "Indexing", "item"))
