"""Our query parser: the text a user typed -> a query tree (searchapp.query.ast).

Grammar (what the README documents), loosest first:
    query    := or_expr*                       (the implicit AND between words)
    or_expr  := and_expr ("OR" and_expr)*
    and_expr := unary (("AND" | "ANDNOT" | "ANDMAYBE") unary)*
    unary    := "NOT" unary | primary          ("-x" is rewritten to "NOT x" first)
    primary  := "(" query ")" | FIELD ":" primary | '"phrase"' | word | word*
Explicit operators bind tighter than the implicit AND ("a b OR c" is a AND
(b OR c)); NOT binds tightest. Words are kept as typed; the backend analyses
them (stemming, stop words) when it compiles the tree.
"""

from __future__ import annotations

import re

from searchapp.errors import QueryError
from searchapp.query import ast
from searchapp.query.syntax import FIELDS, normalize_query

_TOKEN = re.compile(r'"[^"]*"|\(|\)|[^\s()"]+')
_BINARY = ("AND", "ANDNOT", "ANDMAYBE")


def parse(text: str) -> object:
    """The tree of a query (after the syntax checks of normalize_query)."""
    return _Parser(_TOKEN.findall(normalize_query(text))).parse()


class _Parser:
    def __init__(self, tokens: list[str]):
        self.tokens, self.at = tokens, 0

    def peek(self) -> str | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def take(self) -> str:
        token = self.tokens[self.at]
        self.at += 1
        return token

    def parse(self):
        node = self.sequence()
        if self.peek() is not None:  # a stray ')' (normalize_query refuses unbalanced ones)
            raise QueryError("unbalanced parentheses: a ')' has no matching '('")
        return node

    def sequence(self):
        children = []
        while self.peek() not in (None, ")"):
            children.append(self.or_expr())
        return _and(children, explicit=False)

    def or_expr(self):
        children = [self.and_expr()]
        while self.peek() == "OR":
            self.take()
            if self.peek() in (None, ")"):
                raise QueryError("'OR' needs a word after it")
            children.append(self.and_expr())
        return ast.Or(tuple(children)) if len(children) > 1 else children[0]

    def and_expr(self):
        node = self.unary()
        while self.peek() in _BINARY:
            operator = self.take()
            if self.peek() in (None, ")"):
                raise QueryError(f"'{operator}' needs a word after it")
            right = self.unary()
            if operator == "AND":
                node = _and([node, right], explicit=True)
            elif operator == "ANDNOT":
                node = ast.AndNot(node, right)
            else:
                node = ast.AndMaybe(node, right)
        return node

    def unary(self):
        if self.peek() == "NOT":
            self.take()
            if self.peek() in (None, ")"):
                raise QueryError("'NOT' needs a word after it")
            return ast.Not(self.unary())
        return self.primary()

    def primary(self, field: str | None = None):
        token = self.take()
        if token == "(":
            node = self.sequence()
            if self.peek() == ")":
                self.take()
            if node is ast.EVERYTHING:   # "()" matches nothing, it does not lift the other words
                return ast.NOTHING
            return _with_field(node, field) if field else node
        if token.startswith('"'):
            words = tuple(token[1:-1].split())
            return ast.Phrase(words, field) if words else ast.NOTHING
        name, colon, rest = token.partition(":")
        if colon and name in FIELDS and field is None:
            if rest:
                return self.primary_text(rest, name)
            if self.peek() not in (None, ")"):
                return self.primary(name)
            raise QueryError(f"'{name}:' needs a value, as in {name}:word")
        return self.primary_text(token, field)

    @staticmethod
    def primary_text(token: str, field: str | None):
        if "*" in token:
            return ast.Pattern(token.lower(), field)
        return ast.Word(token, field)


def _and(children: list, explicit: bool):
    """An AND of these, nested ANDs of the same kind flattened."""
    flat = []
    for child in children:
        if type(child) is ast.And:
            flat.extend(child.children)
            explicit = explicit or child.explicit
        else:
            flat.append(child)
    if not flat:
        return ast.EVERYTHING
    return flat[0] if len(flat) == 1 else ast.And(tuple(flat), explicit)


def _with_field(node, field: str):
    """`title:(a OR "b c")`: the field applies to every word inside that has none."""
    if type(node) in (ast.Word, ast.Phrase, ast.Pattern):
        return node if node.field else type(node)(**{**node.__dict__, "field": field})
    if type(node) is ast.And:
        return ast.And(tuple(_with_field(c, field) for c in node.children), node.explicit)
    if type(node) is ast.Or:
        return ast.Or(tuple(_with_field(c, field) for c in node.children))
    if type(node) is ast.Not:
        return ast.Not(_with_field(node.child, field))
    if type(node) is ast.AndNot:
        return ast.AndNot(_with_field(node.positive, field), _with_field(node.negative, field))
    if type(node) is ast.AndMaybe:
        return ast.AndMaybe(_with_field(node.required, field), _with_field(node.optional, field))
    return node
