"""One writer per index folder: an OS lock that the kernel drops when its process dies."""

from __future__ import annotations

import errno
import fcntl
import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from searchapp.errors import IndexBusy

LOCK = ".writer.lock"


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
