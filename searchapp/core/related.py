"""Related items completing a short first page: items sharing at least
feedback.MIN_RELATED_WORDS of the words the best results share, under the same
filters and exclusions, one per story, flagged `related` (never counted in a total)."""

from __future__ import annotations

from dataclasses import replace

from searchapp.bitmaps import bits_of, docnums
from searchapp.core import feedback
from searchapp.core.grouping import story_members
from searchapp.core.highlight import make_hit
from searchapp.model import Hit
from searchapp.query import ast


def related_hits(snapshot, q_all, shown: list[int], matched: int, filtered: int, wanted: int) -> list[Hit]:
    """Up to `wanted` items related to the shown results, when they are too
    few to fill a page: the items (under the same filters) having at least two
    of the words the best results and their copies share (feedback.py), one
    per story, flagged `related`."""
    best = shown[:feedback.FEEDBACK_DOCS]
    readers = best + [d for d in docnums(story_members(snapshot, bits_of(best)) & matched)
                                   if d not in best]
    words = feedback.feedback_words(snapshot, feedback.texts_of(snapshot, readers[:feedback.FEEDBACK_TEXTS]),
                                    feedback.query_terms(q_all, snapshot.analyze))
    if not words:
        return []
    taken = story_members(snapshot, matched) | matched
    bits = feedback.related_bits(snapshot, words) & filtered & ~taken
    for node in _excluded(q_all):   # "antitrust -FTC": no related item says what the user ruled out
        bits &= ~snapshot.matches(node)
    for node in _required_metadata(q_all):   # "provider:reuters" is a filter written in the query
        bits &= snapshot.matches(node)
    if not bits:
        return []
    # highlighted by the query, so none of the feedback words ("between", "giants") is marked as the user's
    # as close to the feedback words as the results themselves, or nearly
    own = feedback.feedback_scores(snapshot, words, best)
    floor = feedback.RELATED_MIN_SHARE * min(own.values())
    return [replace(make_hit(snapshot, q_all, score, d, False, bits), related=True)
            for score, d in _related_leaders(snapshot, words, bits, wanted, floor)]

def _related_leaders(snapshot, words, bits: int, wanted: int, floor: float) -> list[tuple[float, int]]:
    """The best `wanted` of `bits` by their score for the feedback words, each
    word weighed by its weight (an item sharing "FTC" and "inquiry" before one
    sharing "tech" and "giants"), down to `floor`, one per story, ties by docnum."""
    candidates = docnums(bits)
    scores = feedback.feedback_scores(snapshot, words, candidates)
    _, story_of, _ = snapshot.stories()
    found, stories = [], set()
    ranked = sorted(candidates, key=lambda d: (-scores[d], d))
    if ranked:   # and half as close as the closest: the tail shares the words in passing
        floor = max(floor, feedback.RELATED_BEST_SHARE * scores[ranked[0]])
    for d in ranked:
        if scores[d] < floor:   # the tail shares the words in passing
            break
        story = story_of.get(d)
        if story is not None and story in stories:
            continue
        stories.add(story)
        found.append((scores[d], d))
        if len(found) >= wanted:
            break
    return found

def complete_record(snapshot, doc: dict) -> dict:
    """A stored record with what other files say of it: `related_by_ids` (the
    items whose files list it, in the order of the first such file) and
    `source_files` (its own files, then every file listing it, by path), as
    the reader's merge gives them. The index stores only what an item's own
    files give (adding a file that lists X then changes no document of X);
    the rest is one lookup of the items listing X (their `lists` terms)."""
    iid = doc["id"]
    first_file: dict[str, str] = {}
    copies: set[str] = set()
    for docnum in docnums(snapshot.matches(ast.Word(iid, field="lists"))):
        lister = snapshot.record(docnum)
        if lister["id"] == iid:
            continue
        files = lister["source_files"]   # its own files: one unless `lists_from` says which of them list X
        if "lists_from" in lister:
            files = lister["lists_from"][lister["related_ids"].index(iid)]
        if files:
            copies.update(files)
            first_file[lister["id"]] = min(files)
    complete = {**doc, "source_files": tuple(dict.fromkeys((*doc["source_files"], *sorted(copies)))),
                "related_by_ids": tuple(sorted(first_file, key=first_file.get))}
    complete.pop("lists_from", None)
    return complete


def _excluded(tree) -> list:
    """The parts of a query no result may match: its `-word`, `NOT word` and
    `ANDNOT word`, as far as they bind the whole query (not inside an OR)."""
    kind = type(tree)
    if kind is ast.Not:
        return [tree.child]
    if kind is ast.AndNot:
        return [tree.negative, *_excluded(tree.positive)]
    if kind is ast.And:
        return [n for child in tree.children for n in _excluded(child)]
    return []

METADATA_FIELDS = ("provider", "topic")   # query fields that say which items, not which words
def _required_metadata(tree) -> list:
    """The parts of a query that name an outlet or a topic (`provider:reuters`,
    `(topic:AI OR topic:Robotics)`) and bind the whole query, as a filter would."""
    kind = type(tree)
    if kind is ast.And:
        return [n for child in tree.children for n in _required_metadata(child)]
    if kind is ast.AndNot:
        return _required_metadata(tree.positive)
    leaves = [n for n in ast.walk(tree) if type(n) in (ast.Word, ast.Phrase, ast.Pattern)]
    if leaves and all(n.field in METADATA_FIELDS for n in leaves) and kind is not ast.Not:
        return [tree]
    return []
