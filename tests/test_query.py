"""The query model on plain data: parser, pruning, synonyms, relaxing. No index.

A tiny analyser stands in for the backend's: lowercase, strip a final 's',
drop a few stop words, split on hyphens.
"""

from __future__ import annotations

import pytest

from searchapp.errors import QueryError
from searchapp.query import ast
from searchapp.query.ast import And, Not, Or, Pattern, Phrase, Synonyms, Word
from searchapp.query.expand import expand, prune, relax, synonym_table
from searchapp.query.parser import parse

STOP = {"the", "of", "a"}


def analyze(field, text):
    out = []
    for token in text.replace("-", " ").split():
        token = token.strip(".,'’\"").lower()
        if token and token not in STOP:
            out.append(token[:-1] if token.endswith("s") and len(token) > 3 else token)
    return tuple(out)


def read(text, groups=()):
    return expand(prune(parse(text), analyze), synonym_table(groups, analyze), analyze)


def test_words_phrases_fields_wildcards():
    assert parse("china facial") == And((Word("china"), Word("facial")))
    assert parse('"facial recognition" ban') == And((Phrase(("facial", "recognition")), Word("ban")))
    assert parse("title:china") == Word("china", "title")
    assert parse('topic:"computer vision"') == Phrase(("computer", "vision"), "topic")
    assert parse("title:(china OR eu)") == Or((Word("china", "title"), Word("eu", "title")))
    assert parse("regul*") == Pattern("regul*") and Pattern("regul*").is_prefix
    assert not Pattern("reg*lation").is_prefix


def test_operator_precedence_matches_the_documented_grammar():
    # explicit operators bind tighter than the implicit AND; NOT tightest
    assert parse("china fine OR ban") == And((Word("china"), Or((Word("fine"), Word("ban")))))
    assert parse("china AND fine OR ban") == Or((And((Word("china"), Word("fine")), explicit=True), Word("ban")))
    assert parse("meta -fine") == And((Word("meta"), Not(Word("fine"))))
    assert parse("ai -(china OR eu)") == And((Word("ai"), Not(Or((Word("china"), Word("eu"))))))
    assert parse("NOT china fine") == And((Not(Word("china")), Word("fine")))


@pytest.mark.parametrize("text, message", [
    ('"facial recognition', "unclosed quote"), ("(china", "not closed"), ("china)", "no matching"),
    ("china OR", "needs a word after"), ("OR china", "needs a word before"), ("china AND OR eu", "two operators"),
    ("title:", "needs a value"), ("*ion", "at least two letters"), ("a* b* c* d*", "at most 3"),
])
def test_bad_queries_say_what_to_change(text, message):
    with pytest.raises(QueryError, match=message):
        parse(text)


def test_prune_drops_stop_words_repeats_and_empty_groups():
    assert prune(parse("the ai act"), analyze) == And((Word("ai"), Word("act")))
    assert prune(parse("fine fines"), analyze) == Word("fine")      # one word to the index
    assert prune(parse("the"), analyze) is ast.NOTHING
    assert prune(parse("china ()"), analyze) == Word("china")


GROUPS = [("FTC", "Federal Trade Commission"), ("facial recognition", "face recognition"), ("self-driving", "driverless")]


def test_synonyms_become_one_concept_with_the_typed_form_first():
    tree = read("ftc fine", GROUPS)
    assert tree == And((Synonyms(Word("ftc"), (Phrase(("Federal", "Trade", "Commission"), origin=ast.EXPANDED),)),
                        Word("fine")))
    tree = read("federal trade commission rite aid", GROUPS)
    assert type(tree.children[0]) is Synonyms and tree.children[0].others == (Word("FTC", origin=ast.EXPANDED),)
    assert read('"federal trade commission"', GROUPS) == Phrase(("federal", "trade", "commission"))  # quoted: never
    assert read("title:ftc", GROUPS) == Word("ftc", "title")                                         # field: never
    # a one-word form the index splits ("self-driving") is a phrase when it stands for another form
    assert read("driverless", GROUPS).others == (Phrase(("self-driving",), origin=ast.EXPANDED),)


def test_relaxing_keeps_concepts_and_required_parts():
    tree = read('china facial recognition "consent rules"', GROUPS)
    some = relax(tree, analyze)
    assert type(some) is And and some.children[1] == Phrase(("consent", "rules"))       # the phrase stays required
    pieces = some.children[0].children
    assert Word("china") in pieces and Word("facial") in pieces and Phrase(("face", "recognition"), origin=ast.EXPANDED) in pieces
    assert relax(read("china AND fine"), analyze) is None          # an explicit AND is taken at its word
    assert relax(read("china"), analyze) is None                   # one word: nothing to relax
    assert relax(read("real-world china ban"), analyze).children[1] == Word("real-world")  # split word: required


def test_every_field_name_in_any_case_and_one_spelling_of_each_character():
    assert parse("Excerpt:china BODY:rules") == And((Word("china", "excerpt"), Word("rules", "body")))
    with pytest.raises(QueryError, match="needs a value"):
        parse("excerpt: china")
    assert parse("fa\u0301cial zero\u200bwidth") == parse("f\u00e1cial zerowidth")
