"""One writer per index folder: an OS lock that the kernel drops when its process dies.

The lock is taken on the index folder itself (flock on a directory file
descriptor), so deleting or replacing `.writer.lock` cannot let a second
writer in; `.writer.lock` only records the holder's pid for messages."""

from __future__ import annotations

import errno
import fcntl
import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from searchapp.errors import IndexBusy, IndexerError

LOCK = ".writer.lock"


def _read_lock_holder(index_dir: Path) -> str:
    try:
        with open(index_dir / LOCK, "rb") as handle:
            text = handle.read(32).decode("ascii", "replace").strip()
    except OSError:
        return "unknown"
    return text if text.isdigit() else "unknown"


def _record_holder(index_dir: Path) -> None:
    """Best effort: the pid in `.writer.lock` (replaced atomically; never needed for the lock)."""
    path = index_dir / LOCK
    try:
        if path.is_dir() and not path.is_symlink():
            return  # damaged; the lock does not depend on it
        tmp = index_dir / f".writer.lock.{os.getpid()}.tmp"
        tmp.write_text(str(os.getpid()))
        os.replace(tmp, path)
    except OSError:
        pass


@contextmanager
def writer_lock(index_dir: Path, wait: float = 0.0) -> Iterator[None]:
    """One build at a time per index folder; the OS drops the lock if we die.

    Waits up to `wait` seconds, then IndexBusy naming the holder's pid."""
    index_dir.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(index_dir, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as error:
        raise IndexerError(f"cannot open the index folder {index_dir}: {error.strerror or error}") from None
    deadline = time.monotonic() + wait
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as error:
                if error.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                if time.monotonic() >= deadline:
                    holder = _read_lock_holder(index_dir)
                    waited = f" (waited {wait:g} s)" if wait else ""
                    raise IndexBusy(f"another reindex of {index_dir} is running (pid {holder}){waited}") from None
                time.sleep(0.1)
        _record_holder(index_dir)
        yield
    finally:
        os.close(fd)
