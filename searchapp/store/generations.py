"""Index generations: complete, immutable folders, and the file CURRENT naming the one to read.

A build writes a new generation into a hidden temporary folder, fsyncs it,
renames it, then atomically replaces CURRENT, so a reader never sees a
half-built index and a failed or killed build leaves the previous generation
serving.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

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

def read_build_info(index_dir: str | Path) -> BuildInfo | None:
    generation = current_generation(index_dir)
    if generation is None:
        return None
    data = json.loads((generation / BUILD_INFO).read_text("utf-8"))
    data["problems"] = tuple(tuple(p) for p in data["problems"])
    return BuildInfo(**data)


def switch_current(index_dir: Path, generation: Path) -> None:
    tmp = index_dir / f".{CURRENT}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as out:
        out.write(generation.name + "\n")
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, index_dir / CURRENT)
    fsync_dir(index_dir)


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


def remove_old(index_dir: Path, keep: set[Path]) -> None:
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


def link_copy(source: Path, target: Path) -> None:
    """Start from the previous generation: its segment files never change, so hard links do."""
    for path in source.iterdir():
        if path.name in (BUILD_INFO, STATE) or not path.is_file() or path.name.endswith(".lock"):
            continue
        try:
            os.link(path, target / path.name)
        except OSError:
            shutil.copy2(path, target / path.name)


def new_generation_name() -> tuple[str, dt.datetime]:
    stamp = dt.datetime.now(dt.timezone.utc)
    return f"gen-{stamp:%Y%m%dT%H%M%S%f}-{secrets.token_hex(3)}", stamp
