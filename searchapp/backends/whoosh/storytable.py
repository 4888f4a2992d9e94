"""A generation's stories as arrays: which live documents are copies of one story.

Stories were two dicts (docnum -> story id, story id -> members): at 300k items
143,612 members of 53,809 stories took 17 MB per generation in every worker, and
a switch held two generations' of them while the new one warmed. Here they are
a few int32 arrays (about 2.4 MB at 300k items). A story is known by its number:
stories are numbered in the order of their first member, the order the dicts
listed them in, so both ways of building the table (the generation's story
table, or the story column read document by document) number them alike.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from searchapp.bitmaps import bits_of_flags


class StoryTable:
    """`story[d]`: the story number of live document d, -1 when it has no live copy;
    `first[s]`: story s's first member; `members_of(s)`: its live members, docnum order;
    `copies`: the bitmap of every member but the first of each story."""

    def __init__(self, of: np.ndarray, live: np.ndarray):
        """`of[d]`: any number shared by the documents of one story (-1: none); `live[d]`: d is live."""
        of = np.asarray(of)
        size = min(of.size, live.size)
        docs = np.flatnonzero((of[:size] >= 0) & live[:size])
        docs = docs[np.argsort(of[docs], kind="stable")]   # by story, then docnum
        keys = of[docs]
        begins = np.ones(docs.size, dtype=bool)   # where each story's run of documents begins
        begins[1:] = keys[1:] != keys[:-1]
        starts = np.flatnonzero(begins)
        ends = np.r_[starts[1:], docs.size].astype(np.int64)
        several = np.flatnonzero(ends - starts > 1)
        several = several[np.argsort(docs[starts[several]], kind="stable")]   # numbered by first member
        group = np.cumsum(begins) - 1             # each document's run
        number = np.full(starts.size, -1, dtype=np.int32)
        number[several] = np.arange(several.size, dtype=np.int32)
        self.story = np.full(size, -1, dtype=np.int32)
        self.story[docs] = number[group]
        self._docs = docs.astype(np.int32)
        self._starts = starts[several].astype(np.int32)
        self._ends = ends[several].astype(np.int32)
        self.first = self._docs[self._starts] if several.size else np.zeros(0, dtype=np.int32)
        flags = self.story >= 0
        flags[self.first] = False
        self.copies = bits_of_flags(flags)

    @classmethod
    def from_values(cls, values, live: np.ndarray) -> "StoryTable":
        """From each document's story id (None or "" without one), as the story column holds them."""
        number: dict = {}
        of = np.fromiter((number.setdefault(v, len(number)) if v else -1 for v in values), dtype=np.int32)
        return cls(of, live)

    def __len__(self) -> int:
        return self.first.size

    def members_of(self, story: int) -> tuple[int, ...]:
        return tuple(self._docs[self._starts[story]:self._ends[story]].tolist())

    def mappings(self) -> tuple[int, "StoryOf", "Members"]:
        """What Snapshot.stories() returns: (copies, docnum -> story, story -> members)."""
        return self.copies, StoryOf(self), Members(self)


class StoryOf(Mapping):
    """docnum -> its story's number, for the live members of stories with copies."""

    def __init__(self, table: StoryTable):
        self.table = table

    def get(self, docnum, default=None):
        story = self.table.story
        if isinstance(docnum, (int, np.integer)) and 0 <= docnum < story.size:
            n = int(story[docnum])
            if n >= 0:
                return n
        return default

    def __getitem__(self, docnum) -> int:
        found = self.get(docnum)
        if found is None:
            raise KeyError(docnum)
        return found

    def __contains__(self, docnum) -> bool:
        return self.get(docnum) is not None

    def __iter__(self):
        return iter(np.flatnonzero(self.table.story >= 0).tolist())

    def __len__(self) -> int:
        return int(np.count_nonzero(self.table.story >= 0))


class Members(Mapping):
    """story number -> its live members in docnum order (two or more), stories by first member."""

    def __init__(self, table: StoryTable):
        self.table = table

    def __getitem__(self, story) -> tuple[int, ...]:
        if not isinstance(story, (int, np.integer)) or not 0 <= story < len(self.table):
            raise KeyError(story)
        return self.table.members_of(int(story))

    def __iter__(self):
        return iter(range(len(self.table)))

    def __len__(self) -> int:
        return len(self.table)
