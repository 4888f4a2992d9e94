"""Small helpers for the build's worker processes, importing nothing heavy
(the indexer's read workers and the backend's writers both use them; the
indexer must not import Whoosh to get them)."""

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
