"""Index generations: complete, immutable folders, and the file CURRENT naming the one to read.

A build writes a new generation into a hidden temporary folder, fsyncs it,
renames it, then atomically replaces CURRENT, so a reader never sees a
half-built index and a failed or killed build leaves the previous generation
serving.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import stat
import re
import secrets
import shutil
import threading
import time
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Callable

from searchapp.store.state import FORMAT, STATE

CURRENT = "CURRENT"
BUILD_INFO = "build.json"
KEEP_GENERATIONS = 2          # the current one and the one before, for readers in flight
GRACE_SECONDS = 120           # an old generation younger than this is kept for slow readers


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
    repaired: str = ""         # why the previous generation was not built on (damaged), if it was not


GEN_NAME = re.compile(r"^gen-[0-9]{8}T[0-9]{12}-[0-9a-f]{6}$")
MANIFEST = "manifest.json"    # per file of a generation: size, SHA-256, and a hash of samples of it
SAMPLE_BYTES = 64 * 1024      # the cheap check hashes files up to 3x this whole, bigger ones at three places
_HASH_CHUNK = 1 << 20


# ---------------------------------------------------------------- checksums

def _sample_hash(path: Path, size: int) -> str:
    """SHA-256 of the file's start, middle and end (the whole file when it is small)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        if size <= 3 * SAMPLE_BYTES:
            digest.update(handle.read())
        else:
            for offset in (0, (size - SAMPLE_BYTES) // 2, size - SAMPLE_BYTES):
                handle.seek(offset)
                digest.update(handle.read(SAMPLE_BYTES))
    return digest.hexdigest()


def _full_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def file_checksum(path: Path) -> dict:
    size = path.stat().st_size
    return {"size": size, "sha256": _full_hash(path), "sample": _sample_hash(path, size)}


def write_manifest(folder: Path, known: dict[str, dict] | None = None) -> dict:
    """Checksums of every file of a generation, written last (before the fsync).

    `known`: checksums of files hard-linked from the previous generation,
    reused as recorded there (never recomputed from the file, so a damaged
    file carried forward still fails verification)."""
    files = {}
    for path in sorted(folder.iterdir()):
        if not path.is_file() or path.name == MANIFEST:
            continue
        recorded = (known or {}).get(path.name)
        if recorded is not None and recorded.get("size") == path.stat().st_size:
            files[path.name] = recorded
        else:
            files[path.name] = file_checksum(path)
    manifest = {"generation": folder.name.removeprefix(".building-").split("~")[0], "files": files,
                "checksum": _table_checksum(files)}
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=0, sort_keys=True), "utf-8")
    return manifest


def _table_checksum(files: dict) -> str:
    return hashlib.sha256(json.dumps(files, sort_keys=True).encode("utf-8")).hexdigest()


def read_manifest(generation: Path) -> dict | None:
    """The manifest's file table, or None when it is missing or damaged (it checks itself too)."""
    try:
        data = json.loads((generation / MANIFEST).read_bytes().decode("utf-8"))
        files = data["files"]
        if data.get("checksum") != _table_checksum(files):
            return None
        if data.get("generation") not in (None, generation.name):
            return None   # another generation's files under this name (folders swapped): not this one
        if not isinstance(files, dict) or not all(
                isinstance(v, dict) and isinstance(v.get("size"), int) and isinstance(v.get("sha256"), str)
                for v in files.values()):
            return None
        return files
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


GOOD, UNVERIFIED, DAMAGED = "good", "unverified", "damaged"
_checked: dict[tuple, tuple[str, str | None]] = {}   # _check_key(...) -> verdict
_checked_lock = threading.Lock()
# The backend's trial open (core/protocol.py, Backend.usable): (generation,
# recorded document count, trusted file names) -> None, or why it cannot be served. Installed by
# searchapp.backends.default_backend(), so every reader in the process uses it.
Trial = Callable[[Path, "int | None", "frozenset[str]"], "str | None"]
_trial: Trial | None = None


def use_trial_open(trial: Trial | None) -> None:
    """From now on a generation passes check_generation only if it also opens
    and answers through the backend (checksums cannot catch a file garbled
    under a manifest rewritten to match it)."""
    global _trial
    _trial = trial


def recorded_items(generation: Path) -> int | None:
    """The document count build.json records (None when it is missing or damaged)."""
    info = read_build_info(generation.parent, generation)
    return info.items if info is not None and info.mode != "unknown" else None


def damaged_files(generation: Path, *, full: bool = True, unchanged: frozenset[str] = frozenset()
                  ) -> list[tuple[str, str]]:
    """(file name, what is wrong) for every damaged file of a generation; [] when it is whole.

    full=True hashes every file completely (`searchapp index --verify`, and
    a reindex before it builds on a generation, but for the files in
    `unchanged`: those the writer verified before and finds with the same
    size, mtime, ctime and inode, see `unverified_files`); full=False
    compares sizes and the sample hashes (cheap: at most 192 KiB read per file)."""
    files = read_manifest(generation)
    if files is None:
        reason = "missing" if not (generation / MANIFEST).exists() else "unreadable or damaged"
        return [(MANIFEST, reason)]
    problems = []
    for name, recorded in sorted(files.items()):
        path = generation / name
        try:
            size = path.stat().st_size
            if size != recorded["size"]:
                problems.append((name, f"size is {size:,} bytes, {recorded['size']:,} were written"))
            elif full and name in unchanged:
                continue
            elif full and _full_hash(path) != recorded["sha256"]:
                problems.append((name, "content does not match its SHA-256 checksum"))
            elif not full and recorded.get("sample") and _sample_hash(path, size) != recorded["sample"]:
                problems.append((name, "content does not match its checksum"))
        except FileNotFoundError:
            problems.append((name, "missing"))
        except OSError as error:
            problems.append((name, f"cannot be read: {error.strerror or error}"))
    return problems


def _check_key(generation: Path, stats: tuple, trial: bool, trusted: frozenset[str] = frozenset()) -> tuple:
    """What a verdict is remembered under: the same files, checked the same way (review 15:
    trust_verified kept an older key and its verdicts were never found)."""
    return str(generation), stats, trial, trusted


def check_generation(generation: Path, trusted: frozenset[str] = frozenset()) -> tuple[str, str | None]:
    """(GOOD | UNVERIFIED | DAMAGED, reason): the cheap check a reader makes
    before opening a generation, then the backend's trial open when one is
    installed. Remembered until a file's size, mtime, ctime or inode changes.
    UNVERIFIED: no manifest (built before checksums). `trusted`: files the
    writer linked unchanged from a generation that passed, which the trial
    open need not read again (Backend.usable)."""
    try:
        if not generation.is_dir():
            return DAMAGED, "is missing"
        stats = tuple(sorted((p.name, s.st_size, s.st_mtime_ns, s.st_ctime_ns, s.st_ino)
                             for p in generation.iterdir() for s in [p.stat()]))
    except OSError as error:
        return DAMAGED, f"cannot be read: {error.strerror or error}"
    marked = damage_marked(generation)
    if marked:
        return DAMAGED, f"is damaged: {marked}"
    trial = _trial
    key = _check_key(generation, stats, trial is not None, trusted)
    with _checked_lock:
        verdict = _checked.get(key)
    if verdict is not None:
        return verdict
    problems = damaged_files(generation, full=False)
    if not problems:
        verdict = GOOD, None
    elif problems == [(MANIFEST, "missing")] and any(n.endswith(".toc") for n, *_ in stats):
        verdict = UNVERIFIED, f"is unverified: no manifest ({MANIFEST} is missing, so nothing can be checked)"
    else:
        name, why = problems[0]
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        verdict = DAMAGED, f"is damaged: {name} {why}{more}"
    if verdict[0] != DAMAGED and trial is not None:
        why = trial(generation, recorded_items(generation), trusted)
        if why:
            verdict = DAMAGED, f"is damaged: {why}"
    with _checked_lock:
        if len(_checked) > 256:
            _checked.clear()
        _checked[key] = verdict
    return verdict


# ---------------------------------------------------------------- what the writer verified

VERIFIED = ".verified"        # <index>/.verified: the files of the generation the writer last verified in full
VERIFIED_BYTES = 1 << 20      # a stamp bigger than this is not read (a generation has tens of files)


def _listing(generation: Path) -> dict[str, list[int]] | None:
    """Every entry of a generation folder: name -> [size, mtime_ns, ctime_ns, inode, is a regular file]."""
    try:
        found = {}
        for entry in os.scandir(generation):
            info = entry.stat(follow_symlinks=False)
            found[entry.name] = [info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_ino,
                                 int(stat.S_ISREG(info.st_mode))]
        return found
    except OSError:
        return None


def record_verified(index_dir: Path, generation: Path) -> None:
    """Remember that every file of `generation`, as it is now, was verified in
    full (each matches its SHA-256 checksum, and the backend's trial open
    passed): the next run hashes only files whose size, mtime, ctime or inode
    moved since. Called by the writer only, under its lock. Never raises.

    A file whose ctime is not older than this stamp's own creation is left
    out (hashed next time): file times are kept at the clock's tick, so a
    change in the same tick as the file's last one would not move them (git's
    "racy" entries). The ctime cannot be set by hand: a write that restores
    size and mtime (`touch -d`, `os.utime`) still moves it."""
    temporary = Path(index_dir) / f"{VERIFIED}.{os.getpid()}.tmp"
    try:
        with open(temporary, "w", encoding="utf-8") as out:
            stamp = os.fstat(out.fileno()).st_mtime_ns
            listing = _listing(generation)
            if listing is None:
                raise OSError("cannot list the generation")
            files = {name: entry[:4] for name, entry in listing.items()
                     if entry[4] and entry[1] < stamp and entry[2] < stamp}
            out.write(json.dumps({"generation": generation.name, "names": sorted(listing), "files": files}))
        os.replace(temporary, Path(index_dir) / VERIFIED)
    except OSError:
        try:
            temporary.unlink(missing_ok=True)
        except OSError:
            pass


def forget_verified(index_dir: Path) -> None:
    """No generation counts as verified any more (the next run hashes in full). Never raises."""
    try:
        (Path(index_dir) / VERIFIED).unlink(missing_ok=True)
    except OSError:
        pass


def unverified_files(index_dir: Path, generation: Path) -> tuple[frozenset[str], frozenset[str]] | None:
    """(files of `generation` found exactly as `record_verified` saw them,
    files to hash again). None when there is no usable record for it
    (none, another generation's, unreadable, files added or gone, or its
    manifest moved): then everything is hashed and trial-opened again.
    Read only as a regular file of our own, never through a link or from a FIFO."""
    try:
        descriptor = os.open(Path(index_dir) / VERIFIED, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            return None
        raw = os.read(descriptor, VERIFIED_BYTES + 1)
    except OSError:
        return None
    finally:
        os.close(descriptor)
    try:
        data = json.loads(raw.decode("utf-8"))
        if len(raw) > VERIFIED_BYTES or data["generation"] != generation.name:
            return None
        files, names = data["files"], data["names"]
        if not isinstance(files, dict) or not isinstance(names, list):
            return None
    except (ValueError, KeyError, TypeError):
        return None
    listing = _listing(generation)
    if listing is None or sorted(listing) != names:
        return None
    if MANIFEST not in listing or files.get(MANIFEST) != listing[MANIFEST][:4]:
        return None   # the manifest moved (or is not there): what it says may differ from what was verified
    same = frozenset(name for name, entry in listing.items() if files.get(name) == entry[:4])
    return same, frozenset(listing) - same


def trust_verified(index_dir: Path, generation: Path) -> bool:
    """True when every file of `generation` is as the writer verified it: not
    moved since, or hashed now and equal to a manifest that did not move (then
    remembered again); this process's cheap check then takes it as good (no
    trial open: its verdict was given on these very bytes). For the writer only."""
    found = unverified_files(index_dir, generation)
    if found is None:
        return False
    same, moved = found
    if moved:
        if damage_marked(generation) or damaged_files(generation, full=True, unchanged=same):
            return False
        record_verified(index_dir, generation)
    try:
        stats = tuple(sorted((p.name, s.st_size, s.st_mtime_ns, s.st_ctime_ns, s.st_ino)
                             for p in generation.iterdir() for s in [p.stat()]))
    except OSError:
        return False
    if damage_marked(generation):
        return False
    with _checked_lock:
        for trial in (False, True):
            _checked[_check_key(generation, stats, trial)] = (GOOD, None)
    return True


# ---------------------------------------------------------------- damage found while answering

DAMAGE_MARK = ".damaged-"      # <index>/.damaged-<generation>: why; read by the next `searchapp index`
_marked: dict[str, str] = {}   # generation path -> why, in this process


def mark_damaged(generation: Path, why: str) -> None:
    """A generation raised while answering and failed the full check: no
    reader in this process serves it again, and the marker left in the index
    folder (when it can be written) tells other processes and the next
    `searchapp index`, which rebuilds it. Never raises."""
    why = _marker_text(why)
    with _checked_lock:
        _marked[str(generation)] = why
    marker = generation.parent / f"{DAMAGE_MARK}{generation.name}"
    temporary = generation.parent / f".{marker.name}.{os.getpid()}~"
    try:
        # written beside it and renamed over it: a symlink planted at the
        # marker's name is replaced, never followed (it could name any file)
        temporary.write_text(why + "\n", "utf-8")
        os.replace(temporary, marker)
    except OSError:
        try:
            temporary.unlink(missing_ok=True)
        except OSError:
            pass   # a read-only index folder: this process still falls back


def damage_marked(generation: Path) -> str | None:
    """Why the generation was found damaged while answering (here or by another process), or None."""
    why = _marked.get(str(generation))
    if why is not None:
        return why
    marker = generation.parent / f"{DAMAGE_MARK}{generation.name}"
    try:
        # a regular file of our own, read in part: never through a symlink (its
        # target's text would reach /healthz), never a FIFO (it would block)
        descriptor = os.open(marker, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            return None
        raw = os.read(descriptor, MARKER_BYTES)
    except OSError:
        return None
    finally:
        os.close(descriptor)
    return _marker_text(raw.decode("utf-8", "replace")) or "found damaged"


MARKER_BYTES = 400


def _marker_text(text: str) -> str:
    """One line of printable text, at most 300 characters: what a marker may say."""
    return " ".join("".join(c if c.isprintable() else " " for c in text).split())[:300]


def clear_damage_marks(index_dir: Path, keep: set[str]) -> None:
    """Drop the markers of generations other than `keep` (rebuilt or gone). Never raises."""
    try:
        for marker in Path(index_dir).glob(f"{DAMAGE_MARK}*"):
            if marker.name.removeprefix(DAMAGE_MARK) not in keep:
                marker.unlink(missing_ok=True)
    except OSError:
        pass


# ---------------------------------------------------------------- CURRENT

def read_current(index_dir: str | Path) -> tuple[str | None, str | None]:
    """(generation name CURRENT holds, None) or (None, why it cannot be used); (None, None): no CURRENT."""
    path = Path(index_dir) / CURRENT
    try:
        raw = path.read_bytes()[:4096]
    except FileNotFoundError:
        return None, None
    except IsADirectoryError:
        return None, "CURRENT is a directory, not a file"
    except OSError as error:
        return None, f"CURRENT cannot be read: {error.strerror or error}"
    try:
        name = raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        return None, "CURRENT is damaged (not text)"
    if not GEN_NAME.match(name):
        return None, "CURRENT is damaged (it names no generation)"
    return name, None


def generations_on_disk(index_dir: Path) -> list[Path]:
    """Complete generations, newest first (by name: names start with the build time)."""
    try:
        found = [p for p in Path(index_dir).iterdir() if GEN_NAME.match(p.name) and p.is_dir()]
    except OSError:
        return []
    return sorted(found, key=lambda p: p.name, reverse=True)


def serving_generation(index_dir: str | Path) -> tuple[Path | None, str | None]:
    """The generation to read and, when it is not simply what CURRENT names, why (one line).

    CURRENT's generation when it passes the cheap check; else the newest
    generation on disk that does; else one without checksums (older
    versions); else (None, reason). Never raises."""
    index_dir = Path(index_dir)
    try:
        name, problem = read_current(index_dir)
        named = index_dir / name if name else None
        if named is not None:
            status, why = check_generation(named)
            if status == GOOD:
                return named, None
            problem = f"{name} (named by CURRENT) {why}"
        others = [g for g in generations_on_disk(index_dir) if g != named]
        if named is None and problem is None:
            if not others:
                return None, None
            problem = "CURRENT is missing"
        verdicts = [(g, check_generation(g)[0]) for g in others]
        for generation, status in verdicts:
            if status == GOOD:
                return generation, f"{problem}; serving {generation.name}"
        if named is not None and status_of(named) == UNVERIFIED:
            return named, problem
        for generation, status in verdicts:
            if status == UNVERIFIED:
                return generation, f"{problem}; serving {generation.name} (unverified: no manifest)"
        return None, f"{problem}; no undamaged generation: run 'searchapp index'"
    except Exception as error:  # a reader must never fail on a damaged folder
        return None, f"index folder cannot be read: {type(error).__name__}: {error}"


def status_of(generation: Path) -> str:
    return check_generation(generation)[0]


def current_generation(index_dir: str | Path) -> Path | None:
    """The generation to serve (see serving_generation); None when there is none. Never raises."""
    return serving_generation(index_dir)[0]


def named_generation(index_dir: str | Path) -> Path | None:
    """What CURRENT names, whole or not (None when CURRENT is missing or damaged)."""
    name, _ = read_current(index_dir)
    return Path(index_dir) / name if name else None


_FIELDS = {f.name for f in fields(BuildInfo)}


def read_build_info(index_dir: str | Path, generation: Path | None = None) -> BuildInfo | None:
    """The serving generation's build.json; a minimal one rebuilt from the
    folder when it is damaged or missing. None: no generation. Never raises."""
    if generation is None:
        generation = current_generation(index_dir)
    if generation is None:
        return None
    try:
        data = json.loads((generation / BUILD_INFO).read_bytes().decode("utf-8"))
        if not isinstance(data, dict):
            raise ValueError("not an object")
        data = {k: v for k, v in data.items() if k in _FIELDS}
        data["problems"] = tuple(tuple(str(x) for x in p)[:2] for p in data.get("problems", ()))
        if "format" in data:
            data["format"] = tuple(data["format"])
        info = BuildInfo(**{**_minimal(generation), **data})
        if not isinstance(info.items, int) or not isinstance(info.generation, str):
            raise ValueError("wrong field types")
        return info
    except Exception:
        return BuildInfo(**_minimal(generation))


def _minimal(generation: Path) -> dict:
    match = re.match(r"gen-(\d{8}T\d{6})", generation.name)
    built = (dt.datetime.strptime(match.group(1), "%Y%m%dT%H%M%S").isoformat() + "Z") if match else ""
    return dict(generation=generation.name, built_at=built, corpus="", files_read=0, items=0, problems=(),
                seconds=0.0, mode="unknown", format=())


def switch_current(index_dir: Path, generation: Path, wait: float | None = None) -> None:
    """Make CURRENT name `generation`. When servers are running on this index (see
    register_server), the new CURRENT is first written as NEXT and they are given up to
    `wait` seconds (SWITCH_WAIT_SECONDS) to open and warm that generation while the old one
    serves; then NEXT is renamed to CURRENT (the same file: its inode and mtime, which readers
    key on, are those they warmed for), so their first request after `searchapp index`
    returns is answered from the new generation, warm. Without servers: no wait."""
    tmp = index_dir / f".{CURRENT}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as out:
        out.write(generation.name + "\n")
        out.flush()
        os.fsync(out.fileno())
    target = index_dir / CURRENT
    if target.is_dir() and not target.is_symlink():   # damaged: a folder where the file should be
        shutil.rmtree(target, ignore_errors=True)
    # an engine of this very process (a test, a script) is not waited for: it would share the
    # interpreter with this build, and a library user expects the next search to see the build
    servers = [p for p in live_servers(index_dir) if not p.name.startswith(f"{os.getpid()}-")]
    if servers:
        try:
            os.replace(tmp, index_dir / NEXT)
            tmp = index_dir / NEXT
            _wait_until_warm(servers, generation.name, SWITCH_WAIT_SECONDS if wait is None else wait)
        except OSError:
            pass
    os.replace(tmp, target)
    fsync_dir(index_dir)


# ---------------------------------------------------------------- servers warming the next generation

NEXT = "NEXT"                  # the CURRENT-to-be while running servers warm its generation
SERVERS = ".servers"           # <index>/.servers/<pid>-<token>: one file per serving engine, locked while it lives
SWITCH_WAIT_SECONDS = 5.0      # a switch waits at most this long for servers to warm the next generation
_POLL_SECONDS = 0.02


def register_server(index_dir: str | Path):
    """Announce a serving engine: a file under .servers, locked (flock) for as long as the
    returned handle (an open file) lives, in which the engine writes the name of the
    generation it has warmed (server_ready). None when the index folder is read-only."""
    import fcntl

    folder = Path(index_dir) / SERVERS
    try:
        folder.mkdir(exist_ok=True)
        name = f"{os.getpid()}-{secrets.token_hex(4)}"
        tmp = folder / f".{name}.tmp"
        handle = open(tmp, "w+", encoding="utf-8")
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)   # locked before it can be seen
        os.rename(tmp, folder / name)
        handle.path = folder / name
        return handle
    except OSError:
        return None


def server_ready(handle, generation_name: str) -> None:
    """Tell a waiting switch that this engine has warmed `generation_name`."""
    try:
        handle.seek(0)
        handle.truncate()
        handle.write(generation_name + "\n")
        handle.flush()
    except (OSError, ValueError):
        pass


def unregister_server(handle) -> None:
    try:
        Path(handle.path).unlink(missing_ok=True)
        handle.close()
    except (OSError, ValueError, AttributeError):
        pass


def live_servers(index_dir: Path) -> list[Path]:
    """The registration files of engines still running (a file nobody holds locked is a dead
    engine's: removed). Never raises."""
    import fcntl

    alive = []
    try:
        entries = [p for p in (Path(index_dir) / SERVERS).iterdir() if not p.name.startswith(".")]
    except OSError:
        return []
    for path in entries:
        try:
            with open(path, "rb") as probe:
                try:
                    fcntl.flock(probe.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
                except BlockingIOError:
                    alive.append(path)
                    continue
            path.unlink(missing_ok=True)   # its engine is gone
        except OSError:
            continue
    return alive


def _wait_until_warm(servers: list[Path], name: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    waiting = list(servers)
    while waiting and time.monotonic() < deadline:
        still = []
        for path in waiting:
            try:
                if path.read_text("utf-8").strip() != name:
                    still.append(path)
            except OSError:   # unregistered meanwhile
                continue
        waiting = still
        if waiting:
            time.sleep(_POLL_SECONDS)


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_tree(folder: Path) -> None:
    """Everything of a generation on disk before CURRENT names it (power loss too)."""
    for path in folder.iterdir():
        if path.is_file():
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
    fsync_dir(folder)


def building_name(name: str) -> str:
    """The hidden folder a build writes into; it names its writer's pid, so
    cleanup never removes a build that is still running."""
    return f".building-{name}~{os.getpid()}"


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def _leftover_of_dead_writer(path: Path) -> bool:
    """A `.building-*` or `.CURRENT.*.tmp` whose writer is gone (or unknown: older versions)."""
    match = re.search(r"~(\d+)$", path.name) or re.match(r"\.(?:CURRENT|writer\.lock|verified)\.(\d+)\.tmp$", path.name)
    if match is None:
        return True
    return not _pid_alive(int(match.group(1)))


def remove_old(index_dir: Path, keep: set[Path]) -> list[str]:
    """Drop leftovers of killed builds and generations no reader should need; the names removed.

    Removed: `.building-*` folders and CURRENT (or `.verified`) temporaries
    of writers that are gone; a NEXT left by a build killed at its switch; generations newer than CURRENT's that CURRENT never named
    (a build killed or out of space at the switch); older generations beyond
    the one CURRENT replaced. Kept: CURRENT's generation, `keep`, the newest
    older one, and any generation younger than GRACE_SECONDS (a reader may
    have opened it just before the switch). Never raises."""
    removed = []
    try:
        for stale in (list(index_dir.glob(".building-*")) + list(index_dir.glob(f".{CURRENT}.*.tmp"))
                      + list(index_dir.glob(".writer.lock.*.tmp")) + list(index_dir.glob(f"{VERIFIED}.*.tmp"))):
            if _leftover_of_dead_writer(stale):
                if stale.is_dir() and not stale.is_symlink():
                    shutil.rmtree(stale, ignore_errors=True)
                else:
                    stale.unlink(missing_ok=True)
                removed.append(stale.name)
        # NEXT outlives only a build killed while servers warmed it (a run renames it to CURRENT);
        # the caller holds the writer lock, so no build is announcing one now (review 8: servers
        # started later warmed that dead generation for nothing)
        if (index_dir / NEXT).is_file():
            (index_dir / NEXT).unlink(missing_ok=True)
            removed.append(NEXT)
        named = named_generation(index_dir)
        current = named if named is not None and named.is_dir() else current_generation(index_dir)
        removed += _drop_marked(index_dir, current)
        generations = generations_on_disk(index_dir)
        if current is None:
            return removed  # nothing names a generation: keep everything (a reader falls back to them)
        older = [g for g in generations if g.name < current.name]
        # Newer generations are orphans of a build killed at the switch only
        # when CURRENT's own generation is good; when it is damaged they are
        # what readers fall back to, and a run that fails later must not have
        # removed them (found in review: a failed --strict run deleted them all).
        # (Checked only when there are any: CURRENT's generation was usually just written, so its
        # files are too new to be on the verified record and the check hashed and trial-opened it
        # again: 12% of an append's CPU at 10k, for an answer no generation needed.)
        newer = [g for g in generations if g.name > current.name]
        orphans = newer if newer and check_generation(current)[0] == GOOD else []
        now = time.time()
        for old in orphans + older[KEEP_GENERATIONS - 1:]:
            if old in keep:
                continue
            try:
                age = now - old.stat().st_mtime
            except OSError:
                continue
            if age > GRACE_SECONDS:
                shutil.rmtree(old, ignore_errors=True)
                removed.append(old.name)
    except OSError:
        pass
    return removed


def _drop_marked(index_dir: Path, current: Path | None) -> list[str]:
    """Generations found damaged while answering, once CURRENT names another
    (a reindex rebuilt them): removed with their markers; a marker whose
    generation is gone, too. Readers never open a marked generation, so no
    grace period. Never raises."""
    removed = []
    for marker in index_dir.glob(f"{DAMAGE_MARK}*"):
        generation = index_dir / marker.name.removeprefix(DAMAGE_MARK)
        if generation == current:
            continue
        if GEN_NAME.match(generation.name) and generation.is_dir() and not generation.is_symlink():
            shutil.rmtree(generation, ignore_errors=True)
            removed.append(generation.name)
        try:
            marker.unlink(missing_ok=True)
        except OSError:   # e.g. a folder in its place: left, never stopping the cleanup
            continue
        with _checked_lock:
            _marked.pop(str(generation), None)
    return removed


def link_copy(source: Path, target: Path) -> dict[str, dict]:
    """Start from the previous generation: its segment files never change, so hard links do.

    Returns the recorded checksums of the files linked (for the new manifest)."""
    recorded = read_manifest(source) or {}
    known = {}
    for path in source.iterdir():
        if path.name in (BUILD_INFO, STATE, MANIFEST) or not path.is_file() or path.name.endswith(".lock"):
            continue
        try:
            os.link(path, target / path.name)
        except OSError:
            shutil.copy2(path, target / path.name)
        if path.name in recorded:
            known[path.name] = recorded[path.name]
    return known


def new_generation_name() -> tuple[str, dt.datetime]:
    stamp = dt.datetime.now(dt.timezone.utc)
    return f"gen-{stamp:%Y%m%dT%H%M%S%f}-{secrets.token_hex(3)}", stamp
