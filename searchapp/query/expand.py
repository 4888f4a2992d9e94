"""Rules on the query tree: drop what the index cannot match, expand synonyms, relax.

All take an `analyze(field, text) -> tuple[str, ...]` callable (the backend's
analyser: stems, no stop words), so two words compare as the index would see
them, and nothing here knows the search library.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Callable, Iterable

from searchapp.enrich.entities import Found, find_names
from searchapp.query import ast
from searchapp.query.parser import parse

Analyze = Callable[[str | None, str], tuple[str, ...]]


# ---------------------------------------------------------------- pruning

def prune(node, analyze: Analyze):
    """Words and phrases that analyse to nothing (stop words) dropped, groups
    left empty with them, and repeats, as the index would read the query."""
    kind = type(node)
    if kind is ast.Word:
        return node if analyze(node.field, node.text) else ast.NOTHING
    if kind is ast.Phrase:
        return node if analyze(node.field, " ".join(node.words)) else ast.NOTHING
    if kind in (ast.And, ast.Or):
        children, seen = [], set()
        for child in (prune(c, analyze) for c in node.children):
            # "police police" and "fine fines" are one word to the index
            key = (child.field, analyze(child.field, child.text)) if type(child) is ast.Word else child
            if child is not ast.NOTHING and key not in seen:
                seen.add(key)
                children.append(child)
        if not children:
            return ast.NOTHING
        if len(children) == 1:
            return children[0]
        return ast.And(tuple(children), node.explicit) if kind is ast.And else ast.Or(tuple(children))
    if kind is ast.Not:
        child = prune(node.child, analyze)
        return ast.NOTHING if child is ast.NOTHING else ast.Not(child)
    if kind is ast.Entity:   # "US" is a stop word to the index, but still names a country
        return ast.Entity(prune(node.typed, analyze), node.facet, node.value, node.text)
    if kind is ast.AndNot:
        positive, negative = prune(node.positive, analyze), prune(node.negative, analyze)
        if positive is ast.NOTHING:
            return ast.NOTHING
        return positive if negative is ast.NOTHING else ast.AndNot(positive, negative)
    if kind is ast.AndMaybe:
        required, optional = prune(node.required, analyze), prune(node.optional, analyze)
        if required is ast.NOTHING:
            return optional
        return required if optional is ast.NOTHING else ast.AndMaybe(required, optional)
    return node


# ---------------------------------------------------------------- synonyms

Table = dict  # first word's key -> [(the form's word keys, its other forms as nodes)], longest forms first


def synonym_table(groups: Iterable[tuple[str, ...]], analyze: Analyze) -> Table:
    """Each group's forms as sequences of word keys, and the group's other
    forms as nodes: a one-word form as a Word, a longer one as a Phrase (so
    "Federal Trade Commission" never matches its words scattered about).
    A form in two groups: the first group wins."""
    table: dict[tuple, tuple] = {}
    for group in groups:
        forms: dict[tuple, object] = {}
        for form in group:
            words = _bare_words(prune(parse(form), analyze))   # read as a query typed the same would be
            keys = tuple(analyze(None, w.text) for w in words) if words else ()
            if not keys:
                continue
            if len(keys) == 1 and len(keys[0]) == 1:
                node = ast.Word(words[0].text, origin=ast.EXPANDED)
            else:
                node = ast.Phrase(tuple(form.split()), origin=ast.EXPANDED)
            forms.setdefault(keys, node)
        for key in forms:
            others = tuple(node for other, node in forms.items() if other != key)
            if others:
                table.setdefault(key, others)
    by_first: Table = {}
    for key, others in sorted(table.items(), key=lambda entry: -len(entry[0])):
        by_first.setdefault(key[0], []).append((key, others))
    return by_first


def _bare_words(node) -> list | None:
    """The words of a form made only of bare words, else None."""
    if ast.is_bare_word(node):
        return [node]
    if type(node) is ast.And and all(ast.is_bare_word(c) for c in node.children):
        return list(node.children)
    return None


def expand(node, table: Table, analyze: Analyze):
    """Bare words that spell a synonym form become one Synonyms concept: what
    was typed, or the group's other forms. Phrases, field:value and wildcards
    are not bare words: never expanded."""
    kind = type(node)
    if kind is ast.And:
        children, out, n = list(node.children), [], 0
        while n < len(children):
            child = children[n]
            match = None
            if ast.is_bare_word(child):
                for key, others in table.get(analyze(None, child.text), ()):
                    run = children[n:n + len(key)]
                    if len(run) == len(key) and all(ast.is_bare_word(c) and analyze(None, c.text) == k
                                                    for c, k in zip(run, key)):
                        match = (run, others)
                        break
            if match:
                run, others = match
                typed = run[0] if len(run) == 1 else ast.And(tuple(run))
                out.append(ast.Synonyms(typed, others))
                n += len(run)
            else:
                out.append(expand(child, table, analyze))
                n += 1
        return ast.And(tuple(out), node.explicit)
    if ast.is_bare_word(node):
        key = analyze(None, node.text)
        for form, others in table.get(key, ()):
            if form == (key,):
                return ast.Synonyms(node, others)
        return node
    if kind is ast.Or:
        return ast.Or(tuple(expand(c, table, analyze) for c in node.children))
    if kind is ast.Not:
        return ast.Not(expand(node.child, table, analyze))
    if kind is ast.AndNot:
        return ast.AndNot(expand(node.positive, table, analyze), expand(node.negative, table, analyze))
    if kind is ast.Entity:
        typed = node.typed
        expanded = expand(typed if type(typed) is not ast.And else ast.And(typed.children), table, analyze)
        if type(expanded) is ast.And and len(expanded.children) == 1:
            expanded = expanded.children[0]
        return ast.Entity(expanded, node.facet, node.value, node.text)
    return node


# ---------------------------------------------------------------- relaxing

def relax(node, analyze: Analyze):
    """The query that items matching only some of the words satisfy, or None
    when nothing can be relaxed. Only the implicit AND between concepts
    relaxes: a bare word, a synonym concept, or an OR of bare words ("fine OR
    ban"). Phrases, field:value, NOT and wildcards stay required, and an
    explicit AND anywhere is taken at its word. A synonym concept relaxes into
    its typed words and its other forms."""
    if type(node) is not ast.And or any(type(n) is ast.And and n.explicit for n in ast.walk(node)):
        return None
    words = [c for c in node.children if is_concept(c, analyze)]
    required = [c for c in node.children if not is_concept(c, analyze)]
    if len(words) < 2:
        return None
    pieces = []
    for word in words:
        if type(word) is ast.Entity:
            found = (word,)
        elif type(word) is ast.Synonyms:
            typed = word.typed.children if type(word.typed) is ast.And else (word.typed,)
            found = (*typed, *word.others)
        else:
            found = (word,)
        pieces.extend(p for p in found if p not in pieces)
    some = ast.Or(tuple(pieces), keep=True)
    return ast.And((some, *required)) if required else some


def is_concept(node, analyze: Analyze) -> bool:
    """One thing the user asks about: a bare word, a synonym concept, or an OR
    of bare words. A word the index splits in several ("real-world") must
    match as written, like a phrase: it is not relaxed."""
    def word(n):
        return ast.is_bare_word(n) and len(analyze(None, n.text)) == 1
    return (word(node) or type(node) in (ast.Synonyms, ast.Entity)
            or (type(node) is ast.Or and all(word(c) for c in node.children)))


# ---------------------------------------------------------------- as you type

COMPLETIONS = 8   # words an unfinished last word also matches, most frequent first


def complete_last_word(tree, completions, analyze: Analyze, last_typed: str | None = None):
    """While typing, the last word may be unfinished ("clearvi"): it also
    matches the most frequent indexed words it begins, as one concept in which
    the word as typed weighs fully and each completion like an expansion, so
    whole-word matches rank above completions. `completions(prefix)` gives
    indexed words with their document counts."""
    children = list(tree.children) if type(tree) is ast.And else [tree]
    last = children[-1]
    if not ast.is_bare_word(last) or len(last.text) < 2 or not last.text.isalnum():
        return tree
    if last_typed is not None and last.text != last_typed:
        return tree   # the last word typed was dropped (a stop word: "data in"): nothing to complete
    counts = completions(last.text.lower())
    typed_terms = analyze(None, last.text)
    others, seen = [], {typed_terms}
    for word in sorted(counts, key=lambda w: (-counts[w], w)):
        terms = analyze(None, word)
        if terms and terms not in seen:
            seen.add(terms)
            others.append(ast.Word(word, origin=ast.EXPANDED))
            if len(others) >= COMPLETIONS:
                break
    if not others:
        return tree
    children[-1] = ast.Synonyms(last, tuple(others))
    return ast.And(tuple(children), tree.explicit) if type(tree) is ast.And else children[0]


# ---------------------------------------------------------------- compounds

def compound_forms(tree, split, join, typing: bool = False):
    """A word written as one or as two ("deepfake" / "deep fake", "antitrust"
    / "anti-trust", "cyber security" / "cybersecurity") matches both ways, as
    one concept whose other form weighs like an expansion. `split(word)` gives
    the two words a typed word is written as elsewhere in the index (a phrase
    that matches), `join(a, b)` the indexed word two typed neighbours make,
    or None. Only typed bare words of the top level: phrases, fields,
    completions and synonym concepts stay as they are. `typing`: the last
    word is being typed, and its completions (complete_last_word) are kept
    inside the joined concept ("face book" finds Facebook before Enter too)."""
    children = list(tree.children) if type(tree) is ast.And else [tree]
    out, n, changed = [], 0, False
    while n < len(children):
        word = children[n]
        if _plain_typed(word):
            after = children[n + 1] if n + 1 < len(children) else None
            typed_after = after.typed if typing and n + 2 == len(children) and _completed(after) else after
            joined = join(word.text, typed_after.text) if _plain_typed(typed_after) else None
            if joined:
                out.append(ast.Synonyms(ast.And((word, after)), (ast.Word(joined, origin=ast.EXPANDED),)))
                n, changed = n + 2, True
                continue
            parts = split(word.text)
            if parts:
                out.append(ast.Synonyms(word, (ast.Phrase(parts, origin=ast.EXPANDED),)))
                n, changed = n + 1, True
                continue
        out.append(word)
        n += 1
    if not changed:
        return tree
    if len(out) == 1:
        return out[0]
    return ast.And(tuple(out), tree.explicit if type(tree) is ast.And else False)


def _completed(node) -> bool:
    """A last word with its completions (complete_last_word), not a synonym concept."""
    return (type(node) is ast.Synonyms and type(node.typed) is ast.Word
            and all(type(o) is ast.Word and o.text.lower().startswith(node.typed.text.lower()) for o in node.others))


def _plain_typed(node) -> bool:
    return ast.is_bare_word(node) and node.origin == ast.TYPED and node.text.isalpha()


# ---------------------------------------------------------------- coverage

def concepts(tree, analyze: Analyze) -> list:
    """The things a query asks about, for coverage: its relaxable concepts."""
    if type(tree) is ast.And:
        return [c for c in tree.children if is_concept(c, analyze)]
    return [tree] if is_concept(tree, analyze) else []


# ---------------------------------------------------------------- places and bodies

def read_names(tree, known, lower: bool | None = None) -> object:
    """Runs of bare words that name a place or public body ("NYC", "New York
    City", "the U.S.", "FTC") become Entity concepts: those words, or items
    tagged with that jurisdiction or regulator. `known(facet, value)` says
    whether the index has the tag (no point matching a tag nobody carries).
    Each alternative of an OR is read as a query of its own ("Congress OR
    Senate" finds what each finds alone), with the whole query's case
    (`lower`: typed all in lower case)."""
    if lower is None:
        lower = not any(c.isupper() for word in _words_read(tree) for c in word)
    if type(tree) is ast.Or:
        return ast.Or(tuple(read_names(c, known, lower) for c in tree.children), tree.keep)
    children = list(tree.children) if type(tree) is ast.And else [tree]
    out, n = [], 0
    words = [c.text if ast.is_bare_word(c) else "\x00" for c in children]
    named = [f for f in find_names(words, known) if "\x00" not in words[f.start:f.end]]
    # a body named by an alias keeps the alias's words ("Garante", not "Garante OpenAI": alone, the
    # tagger wants context for the word)
    aliased = {f.value for f in named}
    described = [f for f in bodies_described(words, known, lower) if f.value not in aliased]
    found = {f.start: f for f in _without_overlaps(named + described)}
    while n < len(children):
        hit = found.get(n)
        if hit is None:
            child = children[n]
            out.append(read_names(child, known, lower) if type(child) is ast.Or else child)
            n += 1
            continue
        run = children[hit.start:hit.end]
        typed = run[0] if len(run) == 1 else ast.And(tuple(run))
        out.append(ast.Entity(typed, hit.facet, hit.value, " ".join(w.text for w in run)))
        n = hit.end
    if len(out) == 1:
        return out[0]
    return ast.And(tuple(out), tree.explicit if type(tree) is ast.And else False)


def _words_read(tree):
    """The bare words read_names reads: the top level's and its ORs'."""
    for child in tree.children if type(tree) in (ast.And, ast.Or) else (tree,):
        if ast.is_bare_word(child):
            yield child.text
        elif type(child) is ast.Or or (type(tree) is ast.Or and type(child) is ast.And):
            yield from _words_read(child)


BODY_SPAN_WORDS = 3   # the longest description of a body read from a query ("Dutch privacy regulator")
# A description ends with a noun that designates a body: the tagger also
# reads acting verbs as bodies in text ("US plans ...": the White House), which
# in a query would swallow the words around them.
BODY_NOUNS = frozenset("""congress senate house parliament assembly legislature legislatures lawmakers legislators
    council government administration cabinet ministry department agency office commission commissioner
    authority authorities regulator regulators watchdog watchdogs police court courts judiciary committee""".split())


@lru_cache(maxsize=4096)
def _bodies(text: str) -> tuple[str, ...]:
    from searchapp.enrich.gazetteer import tag_item   # here: loading it costs 1.8 s, and `index` imports this module
    return tag_item(text).regulators


def bodies_described(words: list[str], known, lower: bool | None = None) -> list[Found]:
    """Public bodies a query describes rather than names, read by the
    tagger's own patterns, so a query finds what the tagger tagged: "UK data
    watchdog" is the ICO, "Illinois lawmakers" the Illinois General Assembly,
    "Boston city council" Boston's. Each body is read from the shortest run
    of words that describes it and ends with a noun of BODY_NOUNS (at most
    BODY_SPAN_WORDS, never across a phrase or an operator: those are "\x00"
    in `words`). A query typed all in lower case is read with capitals, as
    the tagger reads a headline ("congress" is Congress there; the guard
    above keeps "reading police" from being anything but a known body)."""
    found = []
    if lower is None:
        lower = not any(c.isupper() for w in words for c in w)
    for run_start, run in _runs(words):
        if not any(_body_noun(w) in BODY_NOUNS for w in run):
            continue   # no description ends in this run: the tagger (3 s to compile in a new process) is not asked
        if lower:
            run = [_headline(w) for w in run]
        wanted = [v for v in _bodies(" ".join(run)) if known("regulator", v)]
        for value in wanted:
            span = _shortest_span(run, value)
            if span is not None:
                found.append(Found(run_start + span[0], run_start + span[1], "regulator", value))
    return found


ACRONYM_LETTERS = 3   # "uk", "eu", "nyc"; "iowa" is Iowa


def _headline(word: str) -> str:
    """A word typed in lower case as a headline writes it: a place's acronym
    in capitals ("uk" is UK: the tagger reads no "Uk Data Watchdog"), any
    other word capitalised ("us" is no place in lower case: it stays "Us")."""
    if len(word) <= ACRONYM_LETTERS and find_names([word]):
        return word.upper()
    return word[:1].upper() + word[1:]


def _body_noun(word: str) -> str:
    # "Congress's", "Congress’", "congress." and "Congress," end a description as "Congress" does
    return word.lower().replace("’", "'").rstrip(".,;:!?").removesuffix("'s").rstrip("'")


def warm_body_reading() -> None:
    """Compile the tagger now (about 3 s once per process), not in a user's first query."""
    _bodies("Congress")


def _runs(words: list[str]):
    start = 0
    for n, word in enumerate(words + ["\x00"]):
        if word == "\x00":
            if n > start:
                yield start, words[start:n]
            start = n + 1


def _shortest_span(run: list[str], value: str) -> tuple[int, int] | None:
    for size in range(1, min(BODY_SPAN_WORDS, len(run)) + 1):
        for start in range(len(run) - size + 1):
            if _body_noun(run[start + size - 1]) in BODY_NOUNS and value in _bodies(" ".join(run[start:start + size])):
                return start, start + size
    return None


def _without_overlaps(found: list[Found]) -> list[Found]:
    """Longest first (a body described by "Illinois lawmakers" over the place
    "Illinois" inside it), then leftmost; no two share a word."""
    kept, used = [], set()
    for f in sorted(found, key=lambda f: (-(f.end - f.start), f.start)):
        words = set(range(f.start, f.end))
        if not words & used:
            kept.append(f)
            used |= words
    return sorted(kept, key=lambda f: f.start)


def interpreted(tree) -> list:
    """The places and bodies a query was read as naming, in order."""
    return [node for node in ast.walk(tree) if type(node) is ast.Entity]


# ---------------------------------------------------------------- proximity

PROXIMITY_PAIRS = 4   # neighbouring typed words checked for standing together


def adjacent_pairs(tree) -> list:
    """Each pair of neighbouring words the user typed (in concepts), as a
    query for the two standing together in a title or an excerpt."""
    children = tree.children if type(tree) is ast.And else (tree,)
    words = []
    for child in children:
        typed = child.typed if type(child) in (ast.Synonyms, ast.Entity) else child
        parts = typed.children if type(typed) is ast.And else (typed,)
        # a joined compound's last word may be a word being completed
        parts = tuple(p.typed if type(p) is ast.Synonyms else p for p in parts)
        if all(ast.is_bare_word(p) for p in parts):
            words.extend(parts)
        else:
            words.append(None)   # a phrase, a field or NOT breaks the sequence
    pairs = []
    for a, b in zip(words, words[1:]):
        if a is not None and b is not None:
            together = (a.text, b.text)
            pairs.append(ast.Or((ast.Phrase(together, "title"), ast.Phrase(together, "excerpt"))))
    return pairs[:PROXIMITY_PAIRS]


# ---------------------------------------------------------------- highlighting

def typed_only(tree):
    """The query as the user typed it: synonym concepts and named places keep
    only their typed words (expansions are highlighted separately, as phrases)."""
    kind = type(tree)
    if kind is ast.AndNot:
        return ast.AndNot(typed_only(tree.positive), typed_only(tree.negative))
    if kind is ast.AndMaybe:
        return ast.AndMaybe(typed_only(tree.required), typed_only(tree.optional))
    if kind is ast.Synonyms:
        return typed_only(tree.typed)
    if kind is ast.Entity:
        return typed_only(tree.typed) if tree.typed is not ast.NOTHING else ast.NOTHING
    if kind is ast.And:
        return ast.And(tuple(typed_only(c) for c in tree.children), tree.explicit)
    if kind is ast.Or:
        children = tuple(typed_only(c) for c in tree.children if getattr(c, "origin", ast.TYPED) == ast.TYPED)
        return ast.Or(children, tree.keep) if children else ast.NOTHING
    if kind is ast.Not:
        return ast.Not(typed_only(tree.child))
    return tree


def expansion_words(tree) -> list[tuple[str, ...]]:
    """The other forms a query was expanded with (synonyms, completions), as
    word sequences, longest first: each is highlighted whole, never word by word."""
    found = []
    for node in ast.walk(tree):
        if type(node) is ast.Synonyms:
            for other in node.others:
                words = other.words if type(other) is ast.Phrase else (other.text,)
                if words not in found:
                    found.append(words)
    return sorted(found, key=lambda words: -len(words))
