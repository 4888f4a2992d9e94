"""Suggestions while typing: completions of the last word (ranked by how many
items have them with the earlier words), the places and bodies whose name
starts with it, then the newest articles matching what is typed. Each
prefix's candidates are cached per generation (core/service.py warms them on
a new generation before it serves)."""

from __future__ import annotations

import bisect
import re

from searchapp.core import spelling
from searchapp.core.reading import known_tags, read_query
from searchapp.errors import QueryError
from searchapp.lru import Lru
from searchapp.model import Suggestion
from searchapp.query import ast

SUGGEST_CANDIDATES = 12   # completions ranked by co-occurrence with the earlier words
SUGGEST_MIN_SHARE = 0.05  # a completion needs 5% of the best one's count ("facial reckless" is junk)
SUGGEST_TYPED_SHARE = 0.25  # ... and a quarter of the typed word's, when that is a word ("eu aim")
SUGGEST_FACETS = 3        # regulators and places offered
PREFIXES_KEPT = 4096      # prefixes whose best completions and matching facet values are kept, per generation
SUGGEST_FACET_SHARE = 0.1   # ... with earlier words: a tenth of the best completion's count ("facial r": no "Russia")
SUGGEST_FACET_MIN_ITEMS = 2  # ... and two items ("eu ai act f": no "FDA" from a single item)


def suggestions(snapshot, text: str, limit: int = 8, fixed_earlier: bool = False) -> list[Suggestion]:
    """Suggestions for `text` (checked by SearchEngine.suggest: it ends in a word) on one generation."""
    match = re.search(r"([^\W_][\w'’-]*)$", text)
    head, prefix = text[: match.start()], match.group(1).lower()
    if head[-2:-1].isalpha() and head.endswith("."):
        return []   # an abbreviation being typed ("U.S"): its last letter is no word to complete ("U.said")
    try:
        # the places and bodies the earlier words name count their tagged items (review 22: "South
        # Korea AI" had no item with both words, so the earlier words were "corrected" to "korean")
        earlier = read_query(head, snapshot.analyze, known_tags(snapshot)) if head.strip() else None
    except QueryError:
        earlier = None
    if earlier is ast.NOTHING or earlier is ast.EVERYTHING:
        earlier = None
    scope = snapshot.matches(earlier) if earlier is not None else snapshot.live
    if earlier is not None and not scope and not fixed_earlier:
        # nothing has the earlier words ("gdrp f"): go on from their one-edit spelling fix
        fixed = spelling.correct(snapshot, head.strip())
        if fixed and fixed[1] <= 1:
            return suggestions(snapshot, f"{fixed[0]} {match.group(1)}", limit, fixed_earlier=True)
    counts = candidates(snapshot, prefix)
    best = list(counts)
    counter = snapshot.counter(scope)
    together = {w: counter.word(w) for w in best}
    best = sorted((w for w in best if together[w]), key=lambda w: (-together[w], -counts[w], w))
    if best:
        floor = together[best[0]] * SUGGEST_MIN_SHARE
        if prefix in together:
            floor = max(floor, together[prefix] * SUGGEST_TYPED_SHARE)
            best = [prefix] + [w for w in best if w != prefix]
        kept, stems = [], set()
        for w in best:
            stem = snapshot.stem(w)
            if (w == prefix or together[w] >= floor) and stem not in stems:
                kept.append(w)
                stems.add(stem)
        best = kept
    # the typed word itself is offered after earlier words, unless it is a
    # fragment of one or two letters ("facial re" is no search); a word typed already is not
    # offered again ("ftc f" offered "ftc ftc", review 22)
    typed_before = set(head.casefold().split())
    words = [w for w in best if (w != prefix or (head and len(prefix) >= 3)) and w not in typed_before]
    words = words[: max(1, limit // 2)]
    found = [Suggestion(text=f"{head}{w}", kind="query") for w in words]
    # with earlier words, a place or body must go with them about as well
    # as the words offered ("facial r" offers no Russia: 1 item, against
    # 197 for "facial recognition")
    floor = max(SUGGEST_FACET_MIN_ITEMS, max(together.values(), default=0) * SUGGEST_FACET_SHARE) if head.strip() else 1
    places = named_in_full(snapshot, head, prefix, SUGGEST_FACETS)
    named = {p.value for p in places}
    places += [p for p in facet_suggestions(snapshot, head, prefix, scope, SUGGEST_FACETS, floor)
               if p.value not in named][: SUGGEST_FACETS - len(places)]
    if not found and not places and len(prefix) >= 3:
        # nothing goes on from what was typed ("gdrp", "gdrp fine"): offer
        # the spelling fix, when it is one edit (a swap counts as one)
        fixed = spelling.correct(snapshot, text)
        if fixed and fixed[1] <= 1:
            found.append(Suggestion(text=fixed[0], kind="query"))
    found += places
    # Newest articles having the earlier words and the best completion in the title.
    if best:  # the best completion, even when it is the typed word itself
        titles = scope & snapshot.title_bits(best[0])
        seen = set()
        _, story_of, _ = snapshot.stories()
        for docnum in snapshot.first_by_date(titles, "newest", 4 * limit):
            item_id, title = snapshot.title(docnum)   # not the stored record: 1.9 ms each at 100k
            title_key = " ".join(title.casefold().split())
            story = story_of.get(docnum)
            if title_key in seen or (story is not None and story in seen):
                continue
            seen.update({title_key, story} - {None})
            found.append(Suggestion(text=title, kind="item", id=item_id))
            if len(found) >= limit:
                break
    return found[:limit]


def candidates(snapshot, prefix: str) -> dict[str, int]:
    """The SUGGEST_CANDIDATES most frequent completions of a prefix with their counts, most
    frequent first, once per prefix and generation (sorting all ~300 for every keystroke was
    0.1 of 0.6 ms of a warm suggestion at 100k)."""
    cache = snapshot.shared_cache("suggest-candidates", lambda: Lru(PREFIXES_KEPT))
    found = cache.get_fresh(prefix)
    if found is None:
        counts = snapshot.completions(prefix)
        found = tuple((w, counts[w]) for w in sorted(counts, key=lambda w: (-counts[w], w))[:SUGGEST_CANDIDATES])
        cache.put(prefix, found)
    return dict(found)


SHORT_PREFIX_CHARACTERS = "abcdefghijklmnopqrstuvwxyz0123456789"


def short_prefixes(snapshot) -> list[str]:
    """Every one- and two-character prefix of the index's words (letters and digits), for
    warm_short_prefixes: two characters only after a first one that begins some word."""
    firsts = [c for c in SHORT_PREFIX_CHARACTERS if candidates(snapshot, c)]
    return firsts + [a + b for a in firsts for b in SHORT_PREFIX_CHARACTERS]


def warm_short_prefixes(snapshot) -> None:
    """The best completions of every one- and two-character prefix, computed before anyone
    types: after a space and a letter ("children o") a cold suggestion sorted ~300 words for
    them, the second largest cost of the slowest 5% of the typing workload at 100k (round 23:
    all of them take ~60 ms, in a new worker's boot warm-up and a new generation's)."""
    for prefix in short_prefixes(snapshot):
        candidates(snapshot, prefix)


NAME_WORDS_BEFORE = 2   # earlier words that may begin a place's or body's name ("new york ci")


def named_in_full(snapshot, head: str, prefix: str, limit: int) -> list[Suggestion]:
    """The places and bodies whose name the last earlier words and the word being typed begin
    ("south kor": South Korea), most items first, the words before the name as their query.
    Counted under the earlier words, no item of South Korea has "south": review 22 found
    "south kor" offered no South Korea, though "kor" did."""
    words = head.split()
    for k in range(min(NAME_WORDS_BEFORE, len(words)), 0, -1):
        phrase = " ".join([*words[-k:], prefix]).casefold()
        found = [(negative_total, value, facet) for _, negative_total, value, facet
                 in facet_candidates(snapshot, words[-k].casefold())
                 if _begins_a_word(value.casefold(), phrase)]
        if found:
            query = " ".join(words[:-k])
            return [Suggestion(text=value, kind="facet", facet=facet, value=value, query=query)
                    for _, value, facet in sorted(found)[:limit]]
    return []


def _begins_a_word(name: str, phrase: str) -> bool:
    return name.startswith(phrase) or f" {phrase}" in name or f"({phrase}" in name


def facet_suggestions(snapshot, head: str, prefix: str, scope: int, limit: int, floor: float = 1) -> list[Suggestion]:
    """Regulators and places with a word starting with the last word typed
    (the whole name starting with it first), most items under the earlier
    words first; only those with at least `floor` such items."""
    found, counter = [], snapshot.counter(scope)
    values = facet_candidates(snapshot, prefix)
    # Counted in that order, and only while a value's items could still place it in the top:
    # after "federal trade c", 87 values start with "c"; counting each under the earlier words
    # was 0.6 of 1.3 ms of a suggestion at 300k (round 20).
    best: dict[bool, list[int]] = {False: [], True: []}   # each group's counts, largest first
    for later, negative_total, value, facet in values:
        room = limit - (len(best[False]) if later else 0)
        counted = best[later]
        if room <= 0 or -negative_total < floor or (len(counted) >= room and -negative_total < counted[room - 1]):
            continue   # this value cannot place (the rest of its group are no larger)
        count = counter.value(facet, value)
        if count and count >= floor:
            found.append((later, -count, value, facet))
            counted.append(count)
            counted.sort(reverse=True)
    found.sort()
    return [Suggestion(text=value, kind="facet", facet=facet, value=value, query=head.strip())
            for _, _, value, facet in found[:limit]]


def facet_tables(snapshot) -> tuple[list, dict]:
    """Every regulator's and place's words, sorted, and each value's live items, once per
    generation."""
    # each value's words, sorted: the values having a word that starts with the prefix are then
    # one range of it (splitting every name on every keystroke was 0.6 of 9.9 s of suggestions in
    # the 10k typing profile; looking through every value's words for each new prefix, 0.18 of
    # 1.1 s in the 300k one)
    named = snapshot.shared_cache("facet-words", lambda: sorted(
        (word, facet, value, value.casefold()) for facet in ("regulator", "jurisdiction")
        for value in snapshot.facet_values(facet) for word in set(value.casefold().replace("(", " ").split())))
    # each value's live items: no value has more items under the earlier words
    totals = snapshot.shared_cache("facet-totals", lambda: {
        facet: dict(zip(snapshot.facet_values(facet), snapshot.value_counts(facet, snapshot.live)))
        for facet in ("regulator", "jurisdiction")})
    return named, totals


def facet_candidates(snapshot, prefix: str) -> list[tuple[bool, int, str, str]]:
    """(not a whole name starting with the prefix, -live items, value, facet) of the values with
    a word starting with `prefix`, whole names first, then by their items; once per prefix and
    generation: looking through all ~750 for every keystroke was 0.8 of 7 ms of a suggestion at
    300k (round 19)."""
    by_prefix = snapshot.shared_cache("facet-prefixes", lambda: Lru(PREFIXES_KEPT))
    values = by_prefix.get_fresh(prefix)
    if values is None:
        named, totals = facet_tables(snapshot)
        having = set()
        for word, facet, value, folded in named[bisect.bisect_left(named, (prefix,)):]:
            if not word.startswith(prefix):
                break
            having.add((not folded.startswith(prefix), -totals[facet][value], value, facet))
        values = sorted(having)
        by_prefix.put(prefix, values)
    return values
