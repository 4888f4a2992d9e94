"""One hit as shown: its highlighted title and snippet (typed words marked by
the backend, each expansion marked whole, as a phrase) and its story's copies."""

from __future__ import annotations

import html
import re
from functools import lru_cache

from searchapp.core.grouping import story_copies
from searchapp.model import Hit, Provider
from searchapp.query import ast
from searchapp.query.expand import expansion_words, typed_only


def make_hit(snapshot, tree, score, docnum: int, matched_all: bool, bits: int) -> Hit:
    # Typed words are highlighted by the backend; each expansion (another name,
    # a completion) as one span: "General Data Protection Regulation", never
    # "Data" and "Protection" wherever they stand.
    typed = typed_only(tree)
    doc, title_html, snippet = snapshot.highlights(typed if typed is not ast.NOTHING else tree, docnum, score)
    phrases = expansion_words(tree)
    title_html, snippet = mark_phrases(title_html, phrases), mark_phrases(snippet, phrases)
    return Hit(
        id=doc["id"],
        url=doc["url"],
        title=doc["title"],
        title_html=title_html,
        excerpt=doc["excerpt"],
        snippet=snippet,
        published=doc["published"],
        provider=Provider(**doc["provider"]),
        topics=tuple(doc["topics"]),
        score=round(score, 4) if isinstance(score, (int, float)) else None,
        matched_all=matched_all,
        jurisdictions=tuple(doc.get("jurisdictions", ())),
        regulators=tuple(doc.get("regulators", ())),
        also_reported_by=story_copies(snapshot, docnum, bits),
    )

@lru_cache(maxsize=1024)
def _phrases_pattern(phrases: tuple[tuple[str, ...], ...]) -> re.Pattern:
    """One pattern for every phrase, longest first. Each word may already be
    marked (a typed word inside the phrase: "face <mark>recognition</mark>")."""
    def word(w, last):
        return r"(?:<mark>)?" + re.escape(html.escape(w, quote=True)) + (r"\w*" if last else "") + r"(?:</mark>)?"
    alternatives = [r"\s+".join(word(w, n == len(words) - 1) for n, w in enumerate(words)) for words in phrases]
    return re.compile(r"(?<![\w&;>])(?:" + "|".join(alternatives) + r")(?![\w<])", re.I)

def mark_phrases(fragment: str, phrases: list[tuple[str, ...]]) -> str:
    """An escaped HTML fragment with each phrase's occurrences wrapped in one
    <mark> (marks inside it merged), in one pass: marks never nest."""
    if not phrases:
        return fragment
    pattern = _phrases_pattern(tuple(phrases))
    return pattern.sub(lambda m: "<mark>" + m.group(0).replace("<mark>", "").replace("</mark>", "") + "</mark>",
                       fragment)
