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

from searchapp.lru import Lru
from searchapp.query.syntax import OPERATORS, QUOTED

WORD = re.compile(r"(?<![\w:*])([^\W\d_][\w'’-]*)(?![\w:*])")
MAX_UNKNOWN_WORDS = 4        # words looked up per query; the others are left as typed
CLOSEST_CACHE_SIZE = 20_000  # word -> its correction, per generation


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance (insertions, deletions, substitutions)."""
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def closest(snapshot, word: str) -> str | None:
    """The nearest indexed word still in a live item (1 edit for words up to 4
    letters, 2 above), most frequent first among equals; cached per generation."""
    cache = snapshot.shared_cache("closest", lambda: Lru(CLOSEST_CACHE_SIZE))
    if word in cache:
        return cache[word]
    maxdist = 1 if len(word) <= 4 else 2
    candidates = {t: n for t, n in snapshot.neighbours(word, maxdist).items() if snapshot.word_bits(t) & snapshot.live}
    best = min(candidates, key=lambda t: (edit_distance(word, t), -candidates[t], t)) if candidates else None
    cache.put(word, best)
    return best


def correct(snapshot, query: str) -> str | None:
    """The query with each unknown word (not a stop word, 3+ letters, outside
    quotes) replaced by the closest indexed word, or None if nothing changed."""
    parts = QUOTED.split(query)
    changed = False
    budget = [MAX_UNKNOWN_WORDS]
    for n in range(0, len(parts), 2):  # outside quotes only
        def fix(match):
            nonlocal changed
            word = match.group(1)
            lower = word.lower()
            if (word in OPERATORS or len(lower) < 3 or not snapshot.analyze(None, lower)
                    or snapshot.known(lower) or budget[0] <= 0):
                return word
            budget[0] -= 1
            best = closest(snapshot, lower)
            if best is None:
                return word
            changed = True
            return best
        parts[n] = WORD.sub(fix, parts[n])
    return "".join(parts) if changed else None
