"""Story counting on arrays (core/grouping.py) gives what a step per item gave:
how many results a set of items makes (a story's copies once) and every
member of the stories a set touches, for any set of items."""

from __future__ import annotations

import random

import pytest
from conftest import write_news

from searchapp.bitmaps import as_bytes, bits_of, bits_of_flags, docnums, flags_of, has
from searchapp.core import grouping
from searchapp.core.service import SearchEngine
from searchapp.indexing import update_index

PROVIDERS = ["reuters.com", "apnews.com", "bbc.co.uk", "theverge.com"]


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    """Seven stories told by two to four providers each, and singletons."""
    corpus = tmp_path_factory.mktemp("grouping") / "corpus"
    for story in range(7):
        title = f"Regulator {story} fines carrier over location data sharing in case {story}"
        lede = f"The regulator number {story} said the carrier shared customers' location data without consent."
        for n, domain in enumerate(PROVIDERS[: 2 + story % 3]):
            write_news(corpus, f"s{story}-{n}.md", title=title, excerpt=lede, topics=["Privacy"],
                       webUrl=f"https://{domain}/story-{story}-{n}",
                       publishedDateTime=f"2024-03-{story + 1:02d}T{10 + n}:00:00Z")
    for n in range(20):
        write_news(corpus, f"s{n % 7}-single-{n}.md", title=f"Unrelated note {n} about {['drones', 'chips', 'cables'][n % 3]}",
                   excerpt=f"Item {n} stands alone.", topics=["AI"], publishedDateTime=f"2023-01-{n + 1:02d}T10:00:00Z")
    index = corpus.parent / "index"
    update_index(corpus, index, full=True)
    with SearchEngine(index) as engine:
        yield engine


def _count(snapshot, bits):
    copies, story_of, members = snapshot.stories()
    matched = as_bytes(bits)
    extra = {story_of[d] for d in docnums(bits & copies) if not has(matched, members[story_of[d]][0])}
    return (bits & ~copies).bit_count() + len(extra)


def _members(snapshot, bits):
    _, story_of, members = snapshot.stories()
    return bits_of(d for story in {story_of[d] for d in docnums(bits) if d in story_of} for d in members[story])


def test_story_counts_on_arrays_are_the_per_item_counts(engine):
    snapshot = engine._snapshot()
    copies, story_of, members = snapshot.stories()
    assert len(members) == 7 and copies.bit_count() == sum(len(m) - 1 for m in members.values())
    every = docnums(snapshot.live)
    rng = random.Random(5)
    sets = [0, snapshot.live, copies, snapshot.live & ~copies] + [
        bits_of(rng.sample(every, rng.randint(1, len(every)))) for _ in range(300)]
    for bits in sets:
        assert grouping.results_count(snapshot, bits) == _count(snapshot, bits)
        assert grouping.story_members(snapshot, bits) == _members(snapshot, bits)
    # a story's copies count once, whichever members match
    first, second = members[next(iter(members))][:2]
    assert grouping.results_count(snapshot, bits_of([first, second])) == 1
    assert grouping.results_count(snapshot, bits_of([second])) == 1


@pytest.mark.parametrize("bits, size", [(0, 5), (0b1011, 2), (0b1011, 10), (1 << 20, 3), ((1 << 9) | 1, 16), (5, 0)])
def test_a_bitmap_as_flags_is_cut_or_padded_to_its_size(bits, size):
    """An empty bitmap too: numpy's unpackbits(count=) pads an empty buffer
    with garbage, not zeros, so flags_of pads by hand."""
    flags = flags_of(bits, size)
    assert flags.dtype == bool and flags.tolist() == [bool(bits >> i & 1) for i in range(size)]
    assert bits_of_flags(flags) == bits & ((1 << size) - 1)
