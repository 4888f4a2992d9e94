"""Pseudo-relevance feedback: the words a query's best results share say what
it is about when its own words are few or matched only in part.

"antitrust" matches two stories here, but the FTC inquiries they report are
also told without that word ("FTC probes Big Tech ties with AI"); the best
results share "FTC", "inquiry" and "investments", and those words find them.
This is the relevance model of Lavrenko and Croft (RM3), simplified to what
our cached per-word scores make cheap:

- feedback words: words of the titles and excerpts of the best few results,
  weighted by how many of them have the word times its IDF; query words, stop
  words and words of more than a tenth of the items are left out;
- a relaxed query's partial matches are re-ranked by their score plus their
  BM25F score for the feedback words (ranking.soft_ranking);
- a first page the matches do not fill is completed with *related* items,
  items having at least two feedback words (related.related_hits), flagged so.

Measured on the tuning half (bench/relevance.py, nDCG@10): re-ranking 0.886 ->
0.906, the related items 0.871 -> 0.886 ("antitrust" 0.36 -> 0.93). The
strict all-words ranking is left alone: re-ranking it changed 0.906 to 0.907.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from searchapp.enrich.stories import STOP_WORDS
from searchapp.query import ast

FEEDBACK_DOCS = 3        # best results read (tuning half: 2 -> 0.896, 3 -> 0.906, 5 -> 0.897)
FEEDBACK_DEPTH = 30      # places re-ranked with them (a page's ranking is then the same whatever its size)
FEEDBACK_TEXTS = 10      # ... with their story's other copies, at most this many texts
FEEDBACK_WORDS = 10      # words kept (tuning half: 5 -> 0.864, 10 and 20 -> 0.927 on "antitrust")
MAX_ITEM_SHARE = 0.1     # a word in more items than this says nothing of one story ("ai", "law")
MIN_RELATED_WORDS = 2    # a related item shares at least two feedback words (one word drifts)
# A related item scores for the feedback words at least a quarter of what the results
# themselves score ("armadillo -warehouse": a road sharing "ring" and "customs" is no
# related item), and half of what the best related item scores ("antitrust": a Meta
# model release sharing "open" and "startup" is not). Tuning half: "antitrust" keeps
# 0.870 up to 0.35 of the results' score, 0.801 at 0.5.
RELATED_MIN_SHARE = 0.25
RELATED_BEST_SHARE = 0.5
FEEDBACK_STRENGTH = 1.0  # feedback score's weight against the query's own (tuning half: 0.1 -> 0.897,
                         # 0.3 -> 0.901, 1 -> 0.906, 2 -> 0.899)

_WORD = re.compile(r"[^\W\d_][\w'’-]+")


@dataclass(frozen=True)
class FeedbackWord:
    term: str          # as indexed (stemmed)
    word: str          # as written in the first text that had it, lower case
    weight: float      # share of the best word's weight, 0-1


def query_terms(tree, analyze) -> frozenset[str]:
    """The indexed terms of every word a query tree holds, expansions included."""
    words = []
    for node in ast.walk(tree):
        kind = type(node)
        if kind is ast.Word:
            words.append(node.text)
        elif kind is ast.Phrase:
            words += node.words
        elif kind is ast.Pattern:
            words.append(node.text.replace("*", ""))
        elif kind is ast.Synonyms:
            words += [t for n in (node.typed, *node.others) for t in query_terms(n, analyze)]
        elif kind is ast.Entity:
            words += list(query_terms(node.typed, analyze))
    return frozenset(t for w in words for t in analyze(None, w))


def feedback_words(snapshot, texts: list[str], exclude: frozenset[str],
                   limit: int = FEEDBACK_WORDS) -> tuple[FeedbackWord, ...]:
    """The distinctive words of `texts` (titles and excerpts of the best
    results): in at least two of them (when there are two), not in `exclude`,
    not a stop word, in at most MAX_ITEM_SHARE of the items; by the number of
    texts having them times their IDF."""
    counts: dict[str, int] = {}
    written: dict[str, str] = {}
    for text in texts:
        seen = set()
        for word in _WORD.findall(text):
            lower = word.lower()
            if lower.encode("utf-8", "ignore") in STOP_WORDS:
                continue
            terms = snapshot.analyze(None, word)
            if len(terms) != 1 or terms[0] in exclude or terms[0] in seen:
                continue
            seen.add(terms[0])
            counts[terms[0]] = counts.get(terms[0], 0) + 1
            written.setdefault(terms[0], lower)
    total = max(1, snapshot.live.bit_count())
    weighted = []
    for term, n in counts.items():
        if len(texts) > 1 and n < 2:
            continue
        items = snapshot.word_bits(written[term]).bit_count()
        if not items or items > total * MAX_ITEM_SHARE:
            continue
        weighted.append((n * math.log(total / items), term))
    weighted.sort(key=lambda wt: (-wt[0], wt[1]))
    if not weighted:
        return ()
    best = weighted[0][0]
    return tuple(FeedbackWord(term, written[term], w / best) for w, term in weighted[:limit])


def texts_of(snapshot, docnums) -> list[str]:
    """Title and excerpt of each document, what feedback reads."""
    records = (snapshot.record(d) for d in docnums)
    return [f"{r['title']} {r['excerpt']}" for r in records]


def feedback_scores(snapshot, words: tuple[FeedbackWord, ...], docnums: list[int]) -> dict[int, float]:
    """docnum -> sum of weight x BM25F score of the feedback words in its
    title and excerpt (where they were found)."""
    total = dict.fromkeys(docnums, 0.0)
    for w in words:
        for d, score in zip(docnums, snapshot.head_scores(w.term, docnums)):
            total[d] += w.weight * score
    return total


def related_bits(snapshot, words: tuple[FeedbackWord, ...]) -> int:
    """The items having at least MIN_RELATED_WORDS of the feedback words in
    their title or excerpt (where the words were found)."""
    # having[k]: the items with at least k + 1 of the words read so far
    having = [0] * MIN_RELATED_WORDS
    for w in words:
        bits = snapshot.word_bits(w.word)
        for k in range(MIN_RELATED_WORDS - 1, 0, -1):
            having[k] |= having[k - 1] & bits
        having[0] |= bits
    return having[-1]
