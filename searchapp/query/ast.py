"""Our query model: a small tree that our parser produces and every rule works on.

Synonym expansion, relaxing, coverage and entity reading operate on these
nodes (plain frozen data, testable without an index); a backend compiles
them to its own queries in one place (`backends/whoosh/compile.py`).

Words are kept as typed (not stemmed): the backend analyses them when it
compiles, and `Word.key` compares two words as the index would.
"""

from __future__ import annotations

from dataclasses import dataclass

TYPED, EXPANDED = "typed", "expanded"   # where a node came from: the user's words or a synonym table
# An expanded form (another name from the synonym table, a completion of a
# half-typed word) scores at this share of a typed word: items about the whole
# query, in the user's words, rank above items that only match an expansion.
EXPANDED_WEIGHT = 0.5


@dataclass(frozen=True)
class Word:
    """A bare word, searched in every text field (or in `field` only)."""

    text: str
    field: str | None = None
    origin: str = TYPED


@dataclass(frozen=True)
class Phrase:
    """Words that must stand together, in this order."""

    words: tuple[str, ...]
    field: str | None = None
    origin: str = TYPED


@dataclass(frozen=True)
class Pattern:
    """A wildcard word: `regul*` (a prefix) or `reg*lation`."""

    text: str                 # with its '*'
    field: str | None = None

    @property
    def is_prefix(self) -> bool:
        return self.text.count("*") == 1 and self.text.endswith("*")


@dataclass(frozen=True)
class And:
    children: tuple
    explicit: bool = False    # written with AND (never relaxed), not the implicit AND between words


@dataclass(frozen=True)
class Or:
    children: tuple
    keep: bool = False        # a relaxed query's concepts: scored as one OR of them, never merged


@dataclass(frozen=True)
class Not:
    child: object


@dataclass(frozen=True)
class AndNot:
    """`a ANDNOT b`."""

    positive: object
    negative: object


@dataclass(frozen=True)
class AndMaybe:
    """`a ANDMAYBE b`: b only adds to the score."""

    required: object
    optional: object


@dataclass(frozen=True)
class Synonyms:
    """One concept under several names: what the user typed, and the other
    names from the synonym table (each a Word or a Phrase, origin EXPANDED).
    It matches any of them and counts as one concept for coverage."""

    typed: object             # a Word, or an And of the typed Words
    others: tuple


@dataclass(frozen=True)
class Entity:
    """A place or public body named in the query ("NYC", "the FTC"): the words
    as typed, or items tagged with that jurisdiction or regulator. One concept."""

    typed: object             # the typed words (a Word, an And of Words, or NOTHING for a stop word like "US")
    facet: str                # "jurisdiction" or "regulator"
    value: str                # the tag
    text: str = ""            # how the user wrote it


@dataclass(frozen=True)
class Everything:
    """No words: every item."""


@dataclass(frozen=True)
class Nothing:
    """Only stop words or empty groups: no item."""


EVERYTHING, NOTHING = Everything(), Nothing()


def is_bare_word(node) -> bool:
    return type(node) is Word and node.field is None


def weight(node) -> float:
    return EXPANDED_WEIGHT if getattr(node, "origin", TYPED) == EXPANDED else 1.0


def walk(node):
    """Every node of a tree, parents first."""
    yield node
    if isinstance(node, (And, Or)):
        for child in node.children:
            yield from walk(child)
    elif isinstance(node, Not):
        yield from walk(node.child)
    elif isinstance(node, AndNot):
        yield from walk(node.positive)
        yield from walk(node.negative)
    elif isinstance(node, AndMaybe):
        yield from walk(node.required)
        yield from walk(node.optional)
    elif isinstance(node, Synonyms):
        yield from walk(node.typed)
        for other in node.others:
            yield from walk(other)
    elif isinstance(node, Entity):
        yield from walk(node.typed)
