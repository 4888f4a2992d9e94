"""The Whoosh backend object the search core is given."""

from __future__ import annotations

from pathlib import Path

from searchapp.backends.whoosh.snapshot import WhooshSnapshot, open_snapshot
from searchapp.backends.whoosh.trial import full_check, trial_open


class WhooshBackend:
    name = "whoosh"

    def open(self, generation: Path, key, shared: dict) -> WhooshSnapshot:
        return open_snapshot(generation, key, shared)

    def usable(self, generation: Path, items: int | None, trusted: frozenset[str] = frozenset()) -> str | None:
        return trial_open(generation, items, trusted)

    def verify(self, generation: Path, items: int | None) -> str | None:
        return full_check(generation, items)
