"""Stories in a results list: how many results a set of items makes (a
story's copies count once), every member of the stories they touch, and the
other copies listed under a hit."""

from __future__ import annotations

from searchapp.bitmaps import as_bytes, bits_of, docnums, has
from searchapp.model import Report


def results_count(snapshot, bits: int) -> int:
    """Matching items, each story's copies counted once."""
    copies, story_of, members = snapshot.stories()
    matched_copies = bits & copies
    if not matched_copies:
        return bits.bit_count()
    matched = as_bytes(bits)
    extra = {story_of[d] for d in docnums(matched_copies) if not has(matched, members[story_of[d]][0])}
    return (bits & ~copies).bit_count() + len(extra)

def story_members(snapshot, bits: int) -> int:
    """Every member of the stories that have a member in `bits`."""
    _, story_of, members = snapshot.stories()
    every = snapshot.shared_cache("story-docs", lambda: bits_of(story_of))
    found = {story_of[d] for d in docnums(bits & every) if d in story_of}
    return bits_of(d for story in found for d in members[story])

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
