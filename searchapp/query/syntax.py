"""Query syntax: the checks that say what is wrong with a query, and its normal form.

Outside quotes: `-word`, `-"phrase"` and `-(group)` become NOT; `NOT(` gets
its space; field names are lowercased; `?` is punctuation (people ask
questions), not a one-letter wildcard.
"""

from __future__ import annotations

import re
import unicodedata

from searchapp.errors import QueryError
from searchapp.model import CONTROLS as _CONTROLS
from searchapp.model import INVISIBLE as _INVISIBLE

MAX_QUERY_CHARS = 500
MAX_WILDCARDS = 3
MAX_WORDS = 32            # words and phrases outside quotes count one each (83 near-words took 0.15 s a query)
MAX_DEPTH = 20            # nested parentheses (198 levels overflowed the parser's recursion)
FIELDS = ("title", "excerpt", "body", "related_text", "provider", "topic")   # what `field:` may name

OPERATORS = frozenset({"AND", "OR", "NOT"})

QUOTED = re.compile(r'("[^"]*")')
_MINUS = re.compile(r"(^|(?<=[\s(]))-(?=[^\s\-])")
_FIELDS = "|".join(FIELDS)
_EMPTY_FIELD = re.compile(rf"\b({_FIELDS}):(?=\s|$|\))")
_OPERATOR_WORDS = ("AND", "OR", "NOT", "ANDNOT", "ANDMAYBE")
_FIELD_NAME = re.compile(rf"\b({_FIELDS}):", re.I)
_WILDCARD_TERM = re.compile(r"[^\s()\"]*\*[^\s()\"]*")


def clean_text(text: str) -> str:
    """One spelling of each character ("fa\u0301cial" is "facial", "ﬁne" is "fine"), no invisible
    ones, control characters as spaces, single spaces: a query's text as the index reads it."""
    return " ".join(_CONTROLS.sub(" ", _INVISIBLE.sub("", unicodedata.normalize("NFKC", text))).split())


def normalize_query(text: str) -> str:
    """Check the query, say what is wrong, and rewrite it for Whoosh's parser.

    Outside quotes: `-word`, `-"phrase"` and `-(group)` become NOT;
    `NOT(` gets its space; field names are lowercased; `?` is punctuation
    (people ask questions), not a one-letter wildcard."""
    text = clean_text(text)
    if len(text) > MAX_QUERY_CHARS:
        raise QueryError(f"query is too long ({len(text)} characters; the limit is {MAX_QUERY_CHARS})")
    if text.count('"') % 2:
        raise QueryError('unclosed quote: add the closing " or remove the opening one')
    parts = QUOTED.split(text)
    for n in range(0, len(parts), 2):
        part = parts[n].replace("?", " ")
        part = _FIELD_NAME.sub(lambda m: m.group(1).lower() + ":", part)
        part = re.sub(r"\bNOT\(", "NOT (", part)
        if n + 1 < len(parts) and re.search(r"(^|[\s(])-$", part):
            part = part[:-1] + "NOT "          # -"phrase"
        parts[n] = _MINUS.sub(r"\1NOT ", part)
    # Phrases stand in as one word, so that operators next to them are checked right.
    masked = "".join(p if n % 2 == 0 else '"q"' for n, p in enumerate(parts))
    depth = 0
    for char in masked:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth < 0:
            raise QueryError("unbalanced parentheses: a ')' has no matching '('")
        if depth > MAX_DEPTH:
            raise QueryError(f"too many nested parentheses (the limit is {MAX_DEPTH} levels)")
    if depth:
        raise QueryError("unbalanced parentheses: a '(' is not closed")
    words = masked.replace("(", " ").replace(")", " ").replace('"q"', ' "q" ').split()
    if words and words[0] in ("AND", "OR", "ANDNOT", "ANDMAYBE"):
        raise QueryError(f"'{words[0]}' needs a word before it")
    if words and words[-1] in _OPERATOR_WORDS:
        raise QueryError(f"'{words[-1]}' needs a word after it")
    for first, second in zip(words, words[1:]):
        if first in _OPERATOR_WORDS and second in ("AND", "OR", "ANDNOT", "ANDMAYBE"):
            raise QueryError(f"'{first} {second}': two operators in a row")
    empty = _EMPTY_FIELD.search(masked)
    if empty:
        raise QueryError(f"'{empty.group(0)}' needs a value, as in {empty.group(1)}:word")
    if sum(1 for w in words if w not in _OPERATOR_WORDS) > MAX_WORDS:
        raise QueryError(f"too many words (the limit is {MAX_WORDS}): keep the ones that matter")
    wildcards = _WILDCARD_TERM.findall(masked)
    if len(wildcards) > MAX_WILDCARDS:
        raise QueryError(f"at most {MAX_WILDCARDS} words with * in one query")
    for term in wildcards:
        literal = term.split(":", 1)[-1].lstrip("-").split("*", 1)[0]
        if len(literal) < 2:
            raise QueryError(f"'{term}': a * needs at least two letters before it, as in regul*")
    return "".join(parts)
