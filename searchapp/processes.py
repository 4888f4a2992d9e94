"""Small helpers for worker processes, importing nothing heavy (the
indexer's read workers and the backend's writers use them, and so do the
server's workers; the indexer must not import Whoosh to get them)."""

from __future__ import annotations


class Counted:
    """An iterator with a known length (for a progress bar's total)."""

    def __init__(self, iterable, length: int):
        self.iterable, self.length = iterable, length

    def __len__(self) -> int:
        return self.length

    def __iter__(self):
        return iter(self.iterable)


def die_with_parent() -> None:
    """Workers must not outlive a killed build: they would hold the writer lock."""
    try:
        import ctypes
        import signal

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG (Linux)
    except (OSError, AttributeError):
        pass


M_ARENA_MAX = -8        # glibc's mallopt parameter number (malloc.h)
SERVER_ARENAS = 2


def limit_malloc_arenas(arenas: int = SERVER_ARENAS) -> bool:
    """Cap glibc's malloc arenas for a threaded process, before its threads start.

    glibc gives threads up to 8 arenas per core, each keeping its own freed
    pages; a server worker's 16 threads each allocate big-int bitmaps and
    score arrays, and what one arena freed another could not reuse. Measured
    at 100k items, one engine after typing on one thread, then 16 threads
    searching: 260 MB anonymous memory without the cap, 150 MB with 2 arenas,
    147 with 1, 154 with 4; one server worker after typing and 5 switches:
    374 -> 319 MB private (bench/switch.py --link, one run each). The same
    as MALLOC_ARENA_MAX=2 in the environment, which gunicorn's forked workers
    would only see if set before the server started.
    Whether the cap was set (glibc only)."""
    try:
        import ctypes

        return bool(ctypes.CDLL(None).mallopt(M_ARENA_MAX, arenas))
    except (OSError, AttributeError):
        return False
