"""Stories in a results list: how many results a set of items makes (a
story's copies count once), every member of the stories they touch, and the
other copies listed under a hit."""

from __future__ import annotations

import numpy as np

from searchapp.bitmaps import as_bytes, bits_of, bits_of_flags, flags_of, has
from searchapp.model import Report


class StoryArrays:
    """A generation's stories as arrays, for counting over tens of thousands
    of matches without a Python step per item (at 300k items, "facial
    recognition ban" matches 139,000: a set of their stories took 0.25 s a
    request). `story[d]`: the story number of document d, -1 without copies;
    `first[s]`: story s's first member."""

    def __init__(self, snapshot):
        copies, story_of, members = snapshot.stories()
        table = getattr(members, "table", None)
        if table is not None:   # the Whoosh backend's stories are these arrays already
            self.size = table.story.size if table.first.size else 0   # no story: story_members indexes none
            self.story, self.first = table.story[:self.size], table.first
            self.member, self.copies = self.story >= 0, copies
            return
        numbers = {story: n for n, story in enumerate(members)}
        self.size = max(story_of, default=-1) + 1
        self.story = np.full(self.size, -1, dtype=np.int32)   # 1.2 MB at 300k items
        if story_of:
            self.story[np.fromiter(story_of, dtype=np.int64, count=len(story_of))] = np.fromiter(
                (numbers[s] for s in story_of.values()), dtype=np.int32, count=len(story_of))
        self.first = np.fromiter((docs[0] for docs in members.values()), dtype=np.int32, count=len(members))
        self.member = self.story >= 0   # once, not per request
        self.copies = copies

    def stories_in(self, bits: int) -> np.ndarray:
        """The story numbers of the members in `bits` (with repeats)."""
        return self.story[flags_of(bits, self.size) & self.member]


def story_arrays(snapshot) -> StoryArrays:
    return snapshot.shared_cache("story-arrays", lambda: StoryArrays(snapshot))


def results_count(snapshot, bits: int) -> int:
    """Matching items, each story's copies counted once."""
    table = story_arrays(snapshot)
    matched_copies = bits & table.copies
    if not matched_copies:
        return bits.bit_count()
    stories = np.unique(table.stories_in(matched_copies))
    # a story whose first member matches is counted with the items that are no copies
    extra = stories[~flags_of(bits, table.size)[table.first[stories]]].size
    return (bits & ~table.copies).bit_count() + int(extra)

def story_members(snapshot, bits: int) -> int:
    """Every member of the stories that have a member in `bits`."""
    table = story_arrays(snapshot)
    touched = np.zeros(table.first.size, dtype=bool)
    touched[table.stories_in(bits)] = True
    return bits_of_flags(table.member & touched[table.story])

def story_copies(snapshot, docnum: int, bits: int) -> tuple[Report, ...]:
    """The other matching items of this hit's story, newest first."""
    _, story_of, members = snapshot.stories()
    story = story_of.get(docnum)
    if story is None:
        return ()
    matched = as_bytes(bits)
    others = bits_of(d for d in members[story] if d != docnum and has(matched, d))
    found = []
    for other in snapshot.first_by_date(others, "newest", 50):
        doc = snapshot.record(other)
        found.append(Report(id=doc["id"], title=doc["title"], url=doc["url"],
                            provider=doc["provider"]["name"] or doc["provider"]["domain"],
                            published=doc["published"]))
    return tuple(found)
