"""Review of incremental story grouping (issue 15): adding items must give the
stories and parts of grouping everything again, also where a word's window
is crowded past stories.MAX_WINDOW (a burst of one month's news on one topic:
at 100k generated items a prefix word's window held up to 31 items, so ten
times the items per month reach the cap of 64)."""

from __future__ import annotations

import datetime as dt
import random

from searchapp.enrich import stories
from searchapp.model import NewsItem, Provider

WORDS = ("court fines clearview privacy regulator ban camera europe police data transfer rules draft china "
         "facial recognition").split()


def _burst(count: int, seed: int) -> list[NewsItem]:
    """`count` items within 20 days, 5-word titles from 16 words, one outlet each."""
    rnd = random.Random(seed)
    start = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
    return [NewsItem(id=f"i{n:04d}", url=f"https://x{n}.example/a", title=" ".join(rnd.sample(WORDS, 5)),
                     published=start + dt.timedelta(hours=rnd.randrange(24 * 20)),
                     provider=Provider(name=f"Outlet {n}", domain=f"x{n}.example"))
            for n in range(count)]


def _added_one_by_one_equals_all_at_once(items: list[NewsItem]) -> None:
    old, new = items[:-1], items[-1:]
    grouped, parts = stories.stories_and_parts(old)
    got = stories.stories_after_adding({item.id: item for item in old}, grouped, parts, new)
    assert got == stories.stories_and_parts(items)


def test_adding_to_a_quiet_month_regroups_like_grouping_everything():
    items = _burst(60, seed=1)
    grouped = stories.story_groups(items)
    assert sum(story == grouped[items[-1].id] for story in grouped.values()) == 3   # the added item joins a story
    _added_one_by_one_equals_all_at_once(items)


def test_adding_to_a_month_crowded_past_max_window_regroups_like_grouping_everything():
    # 300 items in 20 days: some prefix words' windows exceed MAX_WINDOW = 64.
    # Full grouping compares only each word's 64 latest uses (and which words
    # are a set's prefix depends on document frequencies over the whole
    # input); stories_after_adding groups a subset, where the cap is not
    # reached, and finds pairs a full build misses (seed 1: 5 items get
    # another story than a full build gives them).
    _added_one_by_one_equals_all_at_once(_burst(300, seed=1))
