"""Did you mean: unknown words replaced by the closest frequent indexed word.

Engine-neutral: the snapshot lists the indexed neighbours of a word (within
an edit distance, same first letter) with their document counts; the choice
is made here. Answers are cached per generation (the same typo costs its
neighbour search once), and the work per query is bounded (at most
MAX_UNKNOWN_WORDS unknown words are looked up), so a stream of unique typos
cannot monopolise a worker.
"""

from __future__ import annotations

import re
import threading
import time

from searchapp.lru import Lru
from searchapp.query.syntax import OPERATORS, QUOTED

WORD = re.compile(r"(?<![\w:*])([^\W\d_][\w'’-]*)(?![\w:*])")
MAX_UNKNOWN_WORDS = 4        # words looked up per query; the others are left as typed
SURE_WORDS = 2               # looked up whatever the budget: most misspelled queries have one or two typos
BUDGET_SECONDS = 0.015       # spelling work per request; past it, the remaining words are left as typed
                             # (83 unique near-words per query cost 1.4 s each before, and 8 such clients
                             # slowed an ordinary query 700x)
# How long a request waits for another's lookup before going without. Skipping at once gave
# two answers to 8 threads asking "self driving car cras" together (review 19); a lookup
# takes at most about the budget, and its words are then cached for the generation.
WAIT_SECONDS = 2 * BUDGET_SECONDS
CLOSEST_CACHE_SIZE = 20_000  # word -> its correction, per generation


def edit_distance(a: str, b: str) -> int:
    """Optimal string alignment distance: insertions, deletions, substitutions
    and swaps of two neighbouring letters ("gdrp" is one edit from "gdpr")."""
    rows = [list(range(len(b) + 1))]
    for i in range(1, len(a) + 1):
        row = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = a[i - 1] != b[j - 1]
            row[j] = min(rows[i - 1][j] + 1, row[j - 1] + 1, rows[i - 1][j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                row[j] = min(row[j], rows[i - 2][j - 2] + 1)
        rows.append(row)
    return rows[-1][-1]


def closest(snapshot, word: str, deadline: float = float("inf")) -> str | None:
    """The nearest indexed word still in a live item (1 edit for words up to 4
    letters, 2 above; a swap of neighbouring letters is one edit), most
    frequent first among equals; cached per generation."""
    cache = snapshot.shared_cache("closest", lambda: Lru(CLOSEST_CACHE_SIZE))
    if word in cache:
        return cache[word]
    allowed = 1 if len(word) <= 4 else 2
    best = None
    # one edit first (cheap); two (a swap is two to the index's Levenshtein
    # search, and longer words may take two) only while the budget lasts
    for maxdist in (1, 2) if len(word) >= 4 else (1,):
        if maxdist == 2 and time.perf_counter() > deadline:
            return None   # not cached: a later request with time to spare may find it
        found = snapshot.neighbours(word, maxdist)
        distance = {t: edit_distance(word, t) for t in found}
        candidates = {t: n for t, n in found.items()
                      if distance[t] <= allowed and snapshot.word_bits(t) & snapshot.live}
        if candidates:
            best = min(candidates, key=lambda t: (distance[t], -candidates[t], t))
            if distance[best] <= 1:
                break
    cache.put(word, best)
    return best


_WORKING = threading.Semaphore(1)   # one request per process looks words up at a time; the others wait, then skip


_SKIPPED = threading.local()


def skipped() -> int:
    """How many lookups this thread went without so far (see correct): an answer made
    without one is not the query's answer, and must not be kept as it."""
    return getattr(_SKIPPED, "count", 0)


def correct(snapshot, query: str, keep_last: bool = False, budget: float = BUDGET_SECONDS) -> tuple[str, int] | None:
    """See _correct. Spelling is an extra: when another request of this process
    is still looking words up after WAIT_SECONDS (a flood of unique typos), this
    one goes without (counted in skipped())."""
    if not _WORKING.acquire(timeout=WAIT_SECONDS):
        _SKIPPED.count = skipped() + 1
        return None
    try:
        return _correct(snapshot, query, keep_last, budget)
    finally:
        _WORKING.release()


def _correct(snapshot, query: str, keep_last: bool, budget: float) -> tuple[str, int] | None:
    """(the query with each unknown word replaced by the closest indexed word,
    the largest number of edits any replacement took), or None if nothing
    changed. Words looked at: not stop words, 3+ letters, no digit, outside
    quotes; `keep_last`: the last word is still being typed, leave it."""
    if keep_last:
        head, _, last = query.rpartition(" ")
        found = _correct(snapshot, head, False, budget) if head else None
        return (f"{found[0]} {last}", found[1]) if found else None
    deadline = time.perf_counter() + budget
    parts = QUOTED.split(query)
    changed = False
    edits = 0
    left = [MAX_UNKNOWN_WORDS]
    for n in range(0, len(parts), 2):  # outside quotes only
        def fix(match):
            nonlocal changed
            word = match.group(1)
            lower = word.lower()
            if (word in OPERATORS or len(lower) < 3 or any(c.isdigit() for c in lower)  # "gpt4", "title0": names
                    or not snapshot.analyze(None, lower)
                    or snapshot.known(lower) or left[0] <= 0
                    or (MAX_UNKNOWN_WORDS - left[0] >= SURE_WORDS and time.perf_counter() > deadline)):
                return word
            left[0] -= 1
            best = closest(snapshot, lower, deadline if MAX_UNKNOWN_WORDS - left[0] > SURE_WORDS else float("inf"))
            if best is None:
                return word
            nonlocal edits
            changed, edits = True, max(edits, edit_distance(lower, best))
            return best
        parts[n] = WORD.sub(fix, parts[n])
    return ("".join(parts), edits) if changed else None
