"""Our query tree -> Whoosh queries: the one place that knows how.

A bare word searches every text field (an Or of its terms, one per field);
`field:word` one field; a phrase is a Phrase per field (slop 1); a wildcard a
Prefix or Wildcard per field. Words are analysed with the field's own
analyser (stemming and stop words for text, plain words for provider and
topic), exactly as Whoosh's query parser did, so ranks did not move when
the parser became ours. Nested ANDs and ORs are flattened as Whoosh's
`normalize()` does, except a synonym concept, which stays one Or.
"""

from __future__ import annotations

from functools import lru_cache

from whoosh import query as Q

from searchapp.backends.whoosh.schema import TEXT_FIELDS, make_schema
from searchapp.query import ast

OWN_TEXT_FIELDS = tuple(f for f in TEXT_FIELDS if f != "related_text")
_TAG_FIELDS = {"jurisdiction": "f_jurisdiction", "regulator": "f_regulator"}
# A named place's or body's tag is another form of the name typed, so it weighs as an expansion
# (typed words weigh more than their expansions); its score is its IDF (schema.SCORED_TAG_FIELDS).
# Round 22, tuning halves (tune / tune2 / tune3 / tune4): 0.5 gives 0.924 / 0.820 / 0.862 / 0.772,
# 1.0 0.926 / 0.821 / 0.862 / 0.772, 2.0 0.923 / 0.817 / 0.862 / 0.772: level within a query. Over
# 616 made-up "<place> <topic>" queries (review 22), the top-10 rows matching only the place went
# 1,942 -> 2,142 at 0.5 and 2,251 at 1.0 (18 Detroit items under "michigan political deepfakes").
TAG_WEIGHT = ast.EXPANDED_WEIGHT
_SCHEMA = make_schema()


@lru_cache(maxsize=65536)
def analyze(field: str | None, text: str) -> tuple[str, ...]:
    """The terms the index holds for this text in this field (a text field when None)."""
    return tuple(token.text for token in _SCHEMA[field or "title"].analyzer(text))


def compile_own_text(node) -> Q.Query:
    """The Whoosh query for a tree, its bare words searched in the item's own
    text only (title, excerpt, body), not in the titles of the items it lists."""
    return compile_query(node, OWN_TEXT_FIELDS)


def _either(queries: list) -> Q.Query:
    queries = [q for q in queries if q is not Q.NullQuery]
    if not queries:
        return Q.NullQuery
    return queries[0] if len(queries) == 1 else Q.Or(queries)


def _word(field: str, text: str) -> Q.Query:
    terms = analyze(field, text)
    if not terms:
        return Q.NullQuery
    if len(terms) == 1:
        return Q.Term(field, terms[0])
    return Q.And([Q.Term(field, t) for t in terms])


def _phrase(field: str, words: tuple[str, ...]) -> Q.Query:
    terms = analyze(field, " ".join(words))
    if not terms:
        return Q.NullQuery
    if len(terms) == 1:
        return Q.Term(field, terms[0])
    return Q.Phrase(field, list(terms), slop=1)


def _pattern(field: str, node: ast.Pattern) -> Q.Query:
    if node.is_prefix:
        return Q.Prefix(field, node.text[:-1])
    return Q.Wildcard(field, node.text)


def compile_query(node, searched: tuple[str, ...] = TEXT_FIELDS) -> Q.Query:
    """The Whoosh query for a tree; bare words search the `searched` fields.
    (A pure function of its arguments: threads compile at once.)"""
    return _union_trees(_plain(_compile(node, searched)))


def _union_trees(query: Q.Query) -> Q.Query:
    """Every Or matched as a tree of union matchers, which skip to the few
    candidates a ranking scores. Left to choose, Whoosh preloads an Or of
    more than two parts in a segment of up to 5,000 documents, scoring every
    posting of every part in blocks of 2,048 documents: at 10k items (two
    such segments) 170,000 score calls for "facial recognition ba", 0.38 s."""
    if isinstance(query, Q.Or):
        query.matcher_type = Q.Or.DEFAULT_MATCHER
    for child in query.children():
        _union_trees(child)
    return query


def _weighted(query: Q.Query, node) -> Q.Query:
    """An expanded form scores at ast.EXPANDED_WEIGHT of a typed word (a boost multiplies its score)."""
    share = ast.weight(node)
    return query if share == 1.0 or query is Q.NullQuery else query.with_boost(share)


def _plain(query: Q.Query) -> Q.Query:
    return Q.Or(query.subqueries) if type(query) is _Concept else query


def _compile(node, searched: tuple[str, ...]) -> Q.Query:
    def fields(field):
        return (field,) if field else searched

    kind = type(node)
    if kind is ast.Word:
        return _weighted(_either([_word(f, node.text) for f in fields(node.field)]), node)
    if kind is ast.Phrase:
        return _weighted(_either([_phrase(f, node.words) for f in fields(node.field)]), node)
    if kind is ast.Pattern:
        return _either([_pattern(f, node) for f in fields(node.field)])
    if kind is ast.And:
        return _flat(Q.And, [_compile(c, searched) for c in node.children])
    if kind is ast.Or and node.keep:   # a relaxed query: one Or of its concepts' queries, as typed
        return Q.Or(list({repr(q): q for q in (compile_query(c, searched) for c in node.children)}.values()))
    if kind is ast.Or:
        return _flat(Q.Or, [_compile(c, searched) for c in node.children])
    if kind is ast.Not:
        inner = compile_query(node.child, searched)
        return Q.NullQuery if inner is Q.NullQuery else Q.Not(inner)
    if kind is ast.AndNot:
        return Q.AndNot(compile_query(node.positive, searched), compile_query(node.negative, searched))
    if kind is ast.AndMaybe:
        return Q.AndMaybe(compile_query(node.required, searched), compile_query(node.optional, searched))
    if kind is ast.Synonyms:
        return _Concept([compile_query(node.typed, searched), *(compile_query(o, searched) for o in node.others)])
    if kind is ast.Entity:
        tagged = Q.Term(_TAG_FIELDS[node.facet], node.value).with_boost(TAG_WEIGHT)
        typed = _plain(_compile(node.typed, searched))
        return _Concept([typed, tagged]) if typed is not Q.NullQuery else tagged
    if kind is ast.Everything:
        return Q.Every()
    return Q.NullQuery


class _Concept(Q.Or):
    """A synonym concept's Or: never merged into an enclosing Or."""


def _flat(kind, children: list) -> Q.Query:
    """As Whoosh's normalize(): nested queries of the same kind merged, repeats
    and NullQuery dropped, a single child alone. A synonym concept's Or stays
    whole, and an Or holding one keeps its other words whole too (the words
    of "ai OR gdpr" score as two words, not eight terms)."""
    children = [c for c in children if c is not Q.NullQuery]
    concepts = any(type(c) is _Concept for c in children)
    flat = []
    for child in children:
        if type(child) is kind and not (concepts and kind is Q.Or):
            flat.extend(child.subqueries)
        else:
            flat.append(child)
    unique, seen = [], set()
    for child in flat:
        key = repr(child)   # Whoosh's XOR hash gives every bare word one hash: compare reprs
        if key not in seen:
            seen.add(key)
            unique.append(child)
    if not unique:
        return Q.NullQuery
    if len(unique) == 1 and not (concepts and kind is Q.And):
        return unique[0]
    return kind([_plain(c) for c in unique])
