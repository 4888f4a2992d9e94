"""Story grouping: copies of one story -> one story id.

The same story reaches the corpus many times: one wire text in several
papers, one article at two URLs or reposted weeks later, one press release
on several sites. `story_groups` gives every item the id of its story (the
earliest member of its group) so that search can show one result "also
reported by ...". Pure: items in, a dict out; deterministic across runs and
processes (no salted str hash is ever relied on; ties are broken by id).
The cyclic garbage collector is paused during a call (the work makes
millions of small acyclic objects) and restored after.

Method (title and excerpt only: related items have no body)
  * Words: title and excerpt each become a set of content words (ASCII
    folded, accents and apostrophes dropped, A.I. = AI, stop words out).
  * Two routes. Title route: Jaccard of the title words, for titles of at
    least MIN_TITLE_WORDS sharing at least MIN_SHARED_TITLE_WORDS (a shared
    headline: wire copies, syndication). Excerpt route: Jaccard of the
    excerpt words, for excerpts of at least MIN_EXCERPT_WORDS (a shared lede
    under a rewritten headline). Similarity = the larger; a pair is one
    story when it reaches THRESHOLD = 0.6.
  * Guards, each from a real false match: titles naming different figures or
    months are different stories (a vendor's monthly feature-update posts, a
    daily digest titled with its date); ledes whose figures or dates
    conflict are sibling press releases (one company, two products, dated a
    week apart); one provider's titles must be identical (its series reuse
    templates: one overview per product and release wave), and one
    provider's identical ledes also need related titles (a recurring blurb).
  * Date window: WINDOW_SECONDS = 30 days; two undated items may match, an
    undated and a dated one never (an undated copy cannot be placed in time,
    and would otherwise bridge stories years apart). A missing title (the
    reader then uses the URL) is no evidence; items without a provider name
    or domain all count as one provider (the stricter rules).
  * Candidates: exact prefix filtering (rarest words first; see
    _similar_pairs), windowed in time order, then verification. MinHash +
    LSH (10 bands of 3) was tried: in pure Python it took 4.7 s for the
    excerpt route at 100k items (prefix filtering: 2.3 s) and missed 2.5% of
    the pairs at 0.6.
  * Groups: verified pairs, strongest first, join groups; a group's anchor is
    its earliest member, and a merge is refused unless every member of the
    later group is still related to the earlier anchor at ANCHOR_THRESHOLD =
    0.4 (same routes and guards, within the window). So a chain A~B~C cannot
    glue C to A when C has drifted away, and no group spans more than 30 days.
    Plain union-find on the generated 100k corpus chained groups of up to 42
    items over 216 days (2,010 groups spanning more than 30 days); with the
    anchor rule the largest has 9 items. On the real corpus the rule keeps
    208 of union-find's 222 (all correct) pairs.

Measured on ../shared/corpus (1,291 items; tests/fixtures/story_pairs.json)
  * Threshold: 0.5 groups 274 pairs, 4 of them wrong (Boston's ban vs
    Congress's bill, two Alithya press releases, a partner deal vs a
    developer plan, two release-wave overviews) and 3 hard to call; 0.55
    groups 216 pairs, 0.6 208, 0.65 131, 0.7 110, 0.8 79, none of them
    wrong. 0.6 keeps a margin above the first errors.
  * At 0.6: 54 groups, 141 items. Precision: all 208 grouped pairs are the
    same story (every group checked by hand; a random sample of 50 pairs
    read again: 50/50).
  * Recall on the fixture's 74 hand-labelled same-story pairs: 54 (73%):
    50 of 52 copies (same headline or lede), 4 of 22 independent rewrites of
    one event, which word overlap cannot tell from different stories on the
    same topic. None of its 43 hard different-story pairs is grouped.
  * Window: 3 days groups 186 pairs, 7 days 203, 14 days 207, 30 days 208,
    60 days 208; a year adds 8 pairs: 5 right (one blog post reposted by a
    scraper after 79-199 days) and 3 wrong (a bill and its reintroduction a
    year later, Android/iOS release notes, two release-wave overviews).
  * Time (CPU, bench/make_corpus.py corpora, this project's 2-core machine
    while a benchmark ran): 10,000 items 0.43 s; 100,000 items 6.0-6.4 s
    (features 1.9 s, title pairs 0.9 s, excerpt pairs 2.4 s), 12,080 groups
    of 27,130 items. The cost grows with the items per 30-day window.
"""

from __future__ import annotations

import bisect
import gc
import itertools
import math
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass
from typing import Sequence

from searchapp.model import NewsItem

THRESHOLD = 0.6               # Jaccard of the titles' or of the excerpts' content words
ANCHOR_THRESHOLD = 0.4        # every member vs the group's first report (either route)
WINDOW_SECONDS = 30 * 24 * 3600
MIN_TITLE_WORDS = 4           # shorter titles are too generic to match on their own
MIN_SHARED_TITLE_WORDS = 4
MIN_EXCERPT_WORDS = 8         # "na", "English", one-line blurbs are no evidence
SAME_PROVIDER_TITLE = 0.5     # one outlet's identical ledes also need related headlines
MAX_WINDOW = 64               # per prefix word, compare with at most its 64 latest uses in the window

STOP_WORDS = frozenset(b"""
a an the and or but nor of to in on at by for from with without into onto over under about after before
as than then so if is are was were be been being am it its this that these those there here will would
shall should can could may might must has have had do does did not no new says say said via vs
""".split())
MONTHS = frozenset(b"january february march april june july august september october november december".split())

# Text is tokenized as ASCII bytes (one C-level translate and split, several
# times faster than a regex): accents off (é -> e) by NFKD, apostrophes
# dropped (Tech's = Tech’s = Techs), other non-alphanumerics separate words,
# capitals folded. Letters outside ASCII (CJK, Cyrillic) are not words here.
_COMBINING = re.compile(rb"(?:\xcc[\x80-\xbf]|\xcd[\x80-\xaf])+")  # U+0300-U+036F in UTF-8
_FOLD = bytes(c + 32 if 65 <= c <= 90 else c if 48 <= c <= 57 or 97 <= c <= 122 else 32 for c in range(256))
_ACRONYM = re.compile(rb"\b(?:[A-Za-z]\.){2,}")          # A.I., U.S. -> AI, US
_NUMBER = re.compile(rb"(?<![A-Za-z0-9])\d+(?:[.,:/-]\d+)*")  # 38, 1.6, 2024-03-04, $31M; not G7, W3C
_MAY_DATE = re.compile(rb"\bmay +\d")                     # "May 2023", not "may face"
_UNDATED = float("inf")


@dataclass(frozen=True, slots=True)
class Features:
    """What grouping compares: the content words of title and excerpt, their
    distinguishing marks (numbers, month names), the provider and the time."""

    title: frozenset[bytes]
    excerpt: frozenset[bytes]
    title_marks: frozenset[bytes]
    excerpt_marks: frozenset[bytes]
    provider: str
    time: float | None


def _ascii(text: str) -> bytes:
    """UTF-8 without accents and curly apostrophes; other non-ASCII bytes are
    left for _FOLD to turn into spaces."""
    if text.isascii():
        return text.encode("ascii")
    data = unicodedata.normalize("NFKD", text).encode("utf-8")
    data = data.replace(b"\xe2\x80\x99", b"").replace(b"\xe2\x80\x98", b"").replace(b"\xca\xbc", b"")
    if b"\xcc" in data or b"\xcd" in data:
        data = _COMBINING.sub(b"", data)
    return data


def _months(tokens: frozenset[bytes], folded: bytes) -> frozenset[bytes]:
    months = tokens & MONTHS
    if b"may" in tokens and _MAY_DATE.search(folded):
        months |= {b"may"}
    return months


_NONE: frozenset[bytes] = frozenset()


def _shared(words: frozenset[bytes]) -> frozenset[bytes]:
    return words or _NONE   # most items have no marks: one empty set for all


def _content(tokens: frozenset[bytes]) -> frozenset[bytes]:
    """tokens - STOP_WORDS in a table sized for what is left (the difference
    keeps the table of all tokens: 2.9 KB per excerpt instead of about 1 KB)."""
    return _shared(frozenset([word for word in tokens if word not in STOP_WORDS]))


def _title_words(title: str, words: dict | None = None) -> tuple[frozenset[bytes], frozenset[bytes]]:
    """Content words, and marks: the numbers as written (38, 1.6, 2024-03-04) and months.
    `words`: one object per distinct word (a million items hold about 35 words each)."""
    data = _ascii(title)
    if b"." in data:
        data = _ACRONYM.sub(lambda m: m.group().replace(b".", b""), data)
    folded = data.translate(_FOLD, b"'`")
    split = folded.split()
    tokens = frozenset(split if words is None else map(words.setdefault, split, split))
    return _content(tokens), _shared(frozenset(_NUMBER.findall(data)) | _months(tokens, folded))


def _excerpt_words(excerpt: str, words: dict | None = None) -> tuple[frozenset[bytes], frozenset[bytes]]:
    """Content words, and marks: the numbers (as digit runs) and months."""
    folded = _ascii(excerpt).translate(_FOLD, b"'`")
    split = folded.split()
    tokens = frozenset(split if words is None else map(words.setdefault, split, split))
    return _content(tokens), _shared(frozenset(filter(bytes.isdigit, tokens)) | _months(tokens, folded))


def features(item: NewsItem, words: dict | None = None) -> Features:
    title = item.title or ""
    if title == item.url or title.startswith(("http://", "https://", "file:")):
        title = ""  # the reader's stand-in for a missing title: no evidence
    title, title_marks = _title_words(title, words)
    excerpt, excerpt_marks = _excerpt_words(item.excerpt or "", words)
    return Features(
        title=title,
        excerpt=excerpt,
        title_marks=title_marks,
        excerpt_marks=excerpt_marks,
        provider=(item.provider.name or item.provider.domain or "").strip().lower(),
        time=item.published.timestamp() if item.published else None,
    )


def _jaccard(a: frozenset, b: frozenset) -> float:
    common = len(a & b)
    return common / (len(a) + len(b) - common) if common else 0.0


def _conflict(a: frozenset, b: frozenset) -> bool:
    """Both name figures or months, and neither's are all in the other's."""
    return bool(a and b and not (a <= b or b <= a))


def in_window(a: Features, b: Features) -> bool:
    if a.time is None or b.time is None:
        return a.time is None and b.time is None
    return abs(a.time - b.time) <= WINDOW_SECONDS


def title_similarity(a: Features, b: Features) -> float:
    """Jaccard of the titles' content words, 0 when the titles are too short or
    share fewer than MIN_SHARED_TITLE_WORDS, and 0 for one provider's titles
    unless identical (one outlet's series reuse a title template)."""
    if len(a.title) < MIN_TITLE_WORDS or len(b.title) < MIN_TITLE_WORDS:
        return 0.0
    common = len(a.title & b.title)
    if common < MIN_SHARED_TITLE_WORDS:
        return 0.0
    score = common / (len(a.title) + len(b.title) - common)
    if a.provider == b.provider and score < 1.0:
        return 0.0
    return score


def excerpt_similarity(a: Features, b: Features) -> float:
    """Jaccard of the excerpts' content words, 0 when one is a blurb, when one
    provider's ledes sit under unrelated titles (a recurring blurb) and when
    the ledes' figures or dates conflict (sibling press releases)."""
    if len(a.excerpt) < MIN_EXCERPT_WORDS or len(b.excerpt) < MIN_EXCERPT_WORDS:
        return 0.0
    if a.provider == b.provider and _jaccard(a.title, b.title) < SAME_PROVIDER_TITLE:
        return 0.0
    if _conflict(a.excerpt_marks, b.excerpt_marks):
        return 0.0
    return _jaccard(a.excerpt, b.excerpt)


def similarity(a: Features, b: Features, threshold: float | None = None) -> float:
    """0 unless two items are copies of one story, else the larger of the title
    and excerpt similarities, if it reaches `threshold` (default THRESHOLD).
    Always 0 across the date window and between titles whose figures or
    months conflict."""
    if not in_window(a, b) or _conflict(a.title_marks, b.title_marks):
        return 0.0
    score = max(title_similarity(a, b), excerpt_similarity(a, b))
    return score if score >= (THRESHOLD if threshold is None else threshold) else 0.0


# ---------------------------------------------------------------- candidates


def _similar_pairs(sets: list[frozenset[bytes]], times: list[float], threshold: float,
                   min_size: int, capped: list | None = None) -> list[tuple[int, int]]:
    """All pairs (i < j) of positions within the date window whose sets (of at
    least min_size words) have Jaccard >= threshold. Exact, by prefix
    filtering: order the words rarest first; Jaccard >= t needs an overlap of
    at least a = ceil(t * |x|) words, and then the first |x| - a + 2 words of
    each set share at least 2 of them (the 2 first common ones). Candidates
    are the earlier items that share 2 such prefix words; only they are
    verified. Positions must be in time order (undated last, as +inf): each
    posting list is then in time order too, and a pointer per list skips what
    fell out of the window (for an undated item every dated one, as
    inf - t > W; never an undated one, as inf - inf is nan). Only the
    MAX_WINDOW latest items of a word's window are compared: never reached
    on real or generated news (at most 31 in the generated 100k corpus), it
    keeps degenerate input (thousands of copies in one month) from taking
    quadratic time; copies still reach the latest ones, and so their group."""
    assert threshold * min_size > 1, "the overlap must be at least 2 words"
    sizes = list(map(len, sets))
    df = Counter(itertools.chain.from_iterable(s for s, n in zip(sets, sizes) if n >= min_size))
    rank = {word: n for n, word in enumerate(sorted(df, key=lambda w: (df[w], w)))}
    rank_of = rank.__getitem__
    postings: list[list[int] | None] = [None] * len(rank)  # by word rank: positions, in time order
    starts = [0] * len(rank)                                # by word rank: first one inside the window
    ratio = threshold / (1 + threshold)  # Jaccard >= t  <=>  common >= t/(1+t) * (|a| + |b|)
    found = []
    for j, s in enumerate(sets):
        size = sizes[j]
        if size < min_size:
            continue
        tj = times[j]
        once: set[int] = set()
        twice: set[int] = set()
        for word in sorted(map(rank_of, s))[:size - math.ceil(threshold * size - 1e-9) + 2]:
            members = postings[word]
            if members is None:
                postings[word] = [j]
                continue
            members.append(j)  # j itself stops the scan: tj - tj = 0 (undated: nan) is not > W
            start = starts[word]
            while tj - times[members[start]] > WINDOW_SECONDS:
                start += 1
            if len(members) - start > MAX_WINDOW + 1:
                start = len(members) - 1 - MAX_WINDOW
                if capped is not None:
                    capped.append(word)
            starts[word] = start
            window = members[start:-1]
            if window:
                if once:
                    twice.update(once.intersection(window))
                once.update(window)
        low, high = threshold * size - 1e-9, size / threshold + 1e-9
        for i in twice:
            n = sizes[i]
            if low <= n <= high and len(s & sets[i]) >= ratio * (size + n) - 1e-9:
                found.append((i, j))
    return found


# ---------------------------------------------------------------- grouping


def _order_key(item: NewsItem) -> tuple:
    return (0, item.published.timestamp(), item.id) if item.published else (1, 0.0, item.id)


def story_groups(items: Sequence[NewsItem]) -> dict[str, str]:
    """item id -> story id, for every item; the story id is the id of the group's earliest member
    (by published, undated last, then id), so it is deterministic and stable."""
    return stories_and_parts(items)[0]


def stories_and_parts(items: Sequence[NewsItem], capped: list | None = None) -> tuple[dict[str, str], dict[str, str]]:
    """(item id -> story id, item id -> part id). A part is a connected set of
    verified pairs (named by its earliest member): grouping never looks past
    a part, so the stories of a part depend on its items only, and adding
    items regroups only the parts they join (`stories_after_adding`)."""
    collecting = gc.isenabled()
    gc.disable()  # ~10^6 small acyclic objects: the cycle collector would rescan them again and again
    try:
        return _story_groups(items, capped)
    finally:
        if collecting:
            gc.enable()


def stories_after_adding(inputs: dict[str, NewsItem], stories: dict[str, str], parts: dict[str, str],
                         added: Sequence[NewsItem]) -> tuple[dict[str, str], dict[str, str]]:
    """stories_and_parts(every input and the added items), computed from the
    inputs' stories and parts: only the parts an added item pairs with are
    regrouped. An added item's pairs lie within WINDOW_SECONDS of it (undated
    ones: among the undated), so only the inputs that near it are compared.
    At 100k items regrouping everything took 6 s."""
    added = [item for item in added if item.id not in inputs]
    times = sorted(item.published.timestamp() for item in added if item.published)
    undated = any(item.published is None for item in added)

    def near(published) -> bool:
        if published is None:
            return undated
        t = published.timestamp()
        at = bisect.bisect_left(times, t - WINDOW_SECONDS)
        return at < len(times) and times[at] <= t + WINDOW_SECONDS

    window = [inputs[iid] for iid, published in _dates(inputs) if near(published)]
    new_ids = {item.id for item in added}
    capped: list = []
    _, window_parts = stories_and_parts(window + added, capped)
    if capped:
        # a crowded month: a word's comparisons stop at its MAX_WINDOW latest uses, so which pairs
        # are found depends on all the items (a review found 5 items grouped otherwise than by a
        # full build, 300 similar items in 20 days): group everything, as a full build does
        return stories_and_parts(list(inputs.values()) + added)
    joined = {window_parts[item.id] for item in added}
    touched = {parts[item.id] for item in window if window_parts[item.id] in joined}
    regrouped = [inputs[iid] for iid in inputs if parts[iid] in touched] + added
    new_stories, new_parts = stories_and_parts(regrouped)
    stories, parts = dict(stories), dict(parts)
    stories.update(new_stories)
    parts.update(new_parts)
    assert new_ids <= set(stories)
    return stories, parts


def _dates(inputs):
    """(id, published) of each input; a mapping that can give the dates alone (the state's
    StoryInputs) does, so that only the inputs near the added items are decoded."""
    dates = getattr(inputs, "dates", None)
    return dates() if dates is not None else ((iid, item.published) for iid, item in inputs.items())


def _story_groups(items: Sequence[NewsItem], capped: list | None = None) -> tuple[dict[str, str], dict[str, str]]:
    unique: dict[str, NewsItem] = {}
    for item in items:
        unique.setdefault(item.id, item)
    ordered = sorted(unique.values(), key=_order_key)  # position = rank: lower is earlier
    words: dict[bytes, bytes] = {}   # 5.2 KB per item at 5k items without it, mostly copies of the same words
    feats = [features(item, words) for item in ordered]
    del words
    times = [_UNDATED if f.time is None else f.time for f in feats]
    pairs = set(_similar_pairs([f.title for f in feats], times, THRESHOLD, MIN_TITLE_WORDS, capped))
    pairs.update(_similar_pairs([f.excerpt for f in feats], times, THRESHOLD, MIN_EXCERPT_WORDS, capped))
    edges = []
    for i, j in pairs:
        score = similarity(feats[i], feats[j])
        if score > 0.0:
            edges.append((-score, i, j))
    edges.sort()
    # Strongest links first. A group's anchor is its earliest member; two
    # groups merge only if every member of the later one is still related
    # (ANCHOR_THRESHOLD) to the earlier one's anchor, so a chain A~B~C cannot
    # glue C to A when C has drifted away from A.
    anchor = list(range(len(ordered)))
    members: dict[int, list[int]] = {}
    part = list(range(len(ordered)))   # union-find over every verified pair

    def root(n: int) -> int:
        while part[n] != n:
            part[n] = part[part[n]]
            n = part[n]
        return n

    for _, i, j in edges:
        a, b = root(i), root(j)
        if a != b:
            part[max(a, b)] = min(a, b)   # the root is the earliest member
    for _, i, j in edges:
        a, b = anchor[i], anchor[j]
        if a == b:
            continue
        if b < a:
            a, b = b, a
        moving = members.get(b, [b])
        first = feats[a]
        if all(similarity(first, feats[m], ANCHOR_THRESHOLD) > 0.0 for m in moving):
            members.setdefault(a, [a]).extend(moving)
            members.pop(b, None)
            for m in moving:
                anchor[m] = a
    return ({item.id: ordered[anchor[n]].id for n, item in enumerate(ordered)},
            {item.id: ordered[root(n)].id for n, item in enumerate(ordered)})
