"""Compounds: a word written as one or as two ("deepfake" / "deep fakes",
"cyber security" / "cybersecurity"). `forms(snapshot)` gives the `split` and
`join` that `query.expand.compound_forms` asks, answered from this
generation's title and excerpt words and kept per generation."""

from __future__ import annotations

import re

from searchapp.bitmaps import docnums
from searchapp.query import ast

MIN_PART = 2          # letters in each half of a split compound ("open ai"; no "e mail")
ACRONYM_PART = 2      # a half this short counts only written in capitals: "Open AI", "NY Times"; not
                      # "no table" for "notable" (review 12: "no" is no stop word), "set up", "re introduce"
VERIFIED_ITEMS = 5    # items whose title and excerpt are read to see the two words as written


def forms(snapshot):
    """(split, join) for compound_forms; each word's answer kept per generation."""
    cache = snapshot.shared_cache("compounds", dict)

    def split(word: str):
        word = word.lower()
        if ("split", word) not in cache:
            cache[("split", word)] = best_split(snapshot, word)
        return cache[("split", word)]

    def join(first: str, second: str):
        key = ("join", first.lower(), second.lower())
        if key not in cache:
            joined = first.lower() + second.lower()
            cache[key] = joined if (snapshot.analyze(None, first) and snapshot.analyze(None, second)
                                    and _written(snapshot, joined)) else None
        return cache[key]

    return split, join


def _written(snapshot, word: str) -> bool:
    """Whether a title or an excerpt has the word as written: the word table's
    first word from `word` on is the word itself when it is there (a lookup in
    the generation's table; the term dictionary cost 8 ms a word at 100k, cold)."""
    return word in snapshot.completions(word, 1)


def best_split(snapshot, word: str):
    """The two words `word` is written as in the most items' titles or
    excerpts, as written (the second may be plural; none a stop word), or None."""
    best, most = None, 0
    for cut in range(MIN_PART, len(word) - MIN_PART + 1):
        first, second = word[:cut], word[cut:]
        if not (_written(snapshot, first) and any(_written(snapshot, second + end) for end in ("", "s", "es"))):
            continue
        if not (snapshot.analyze(None, first) and snapshot.analyze(None, second)):
            continue
        together = (ast.Phrase((first, second), "title"), ast.Phrase((first, second), "excerpt"))
        count = _as_written(snapshot, snapshot.matches(ast.Or(together)), first, second)
        if count > most:
            best, most = (first, second), count
    return best


def _as_written(snapshot, bits: int, first: str, second: str) -> int:
    """How many of the first VERIFIED_ITEMS of `bits` have the two words as
    written, side by side (a space or a hyphen between, a plural allowed:
    "deep fakes"): the index stems and drops stop words, so its phrase also
    holds "date and time" for "datetime" and "your face is not a book"."""
    pattern = re.compile(rf"(?<!\w){_half(first)}[\s-]+{_half(second)}(?:s|es)?(?!\w)", re.IGNORECASE)
    found = 0
    for docnum in docnums(bits)[:VERIFIED_ITEMS]:
        record = snapshot.record(docnum)
        if pattern.search(f"{record.get('title') or ''}\n{record.get('excerpt') or ''}"):
            found += 1
    return found


def _half(part: str) -> str:
    """A half's pattern: any case, but a half of ACRONYM_PART letters or fewer in capitals only."""
    return f"(?-i:{re.escape(part.upper())})" if len(part) <= ACRONYM_PART else re.escape(part)
