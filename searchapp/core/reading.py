"""Reading a query against one generation: the parsed tree with the places and
bodies it names (those the index carries), stop words and repeats dropped, and
synonyms expanded. Shared by the search and the suggestions (core/service.py,
core/suggest.py)."""

from __future__ import annotations

from functools import lru_cache

from searchapp.enrich.synonyms import synonym_groups
from searchapp.query.expand import expand, prune, read_names, synonym_table
from searchapp.query.parser import parse


def read_query(text: str, analyze, known=None) -> object:
    """The query tree as the index reads it: places and bodies it names read
    as such (when `known(facet, value)` says the index has the tag), stop
    words and repeats dropped, synonyms expanded."""
    tree = parse(text)
    if known is not None:
        tree = read_names(tree, known)
    tree = prune(tree, analyze)
    return expand(tree, synonyms_of(analyze), analyze)


def known_tags(snapshot):
    """`known(facet, value)`: whether the generation has items tagged with that place or body."""
    values = snapshot.shared_cache("tag-values", lambda: {
        facet: frozenset(snapshot.facet_values(facet)) for facet in ("jurisdiction", "regulator")})
    return lambda facet, value: value in values[facet]


@lru_cache(maxsize=4)
def synonyms_of(analyze):
    """The synonym table for an analyser, compiled once per process."""
    return synonym_table(synonym_groups(analyze), analyze)
