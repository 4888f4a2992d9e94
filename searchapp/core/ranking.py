"""Ranking a query's matches into a page: strict tiers (all words, then some),
a relaxed query's soft coverage ranking (score x coverage ** COVERAGE_POWER)
re-ranked with pseudo-relevance feedback, proximity boosts, and the leaders
of a bitmap one per story. Engine-neutral: scores and bitmaps come from the
Snapshot (core/protocol.py); the measured reasons for each constant are
beside it (tuning half of bench/relevance.py)."""

from __future__ import annotations

import math

from searchapp.bitmaps import as_bytes, has
from searchapp.core import feedback
from searchapp.core.grouping import results_count, story_members
from searchapp.query import ast
from searchapp.query.expand import adjacent_pairs, concepts

COVERAGE_CONCEPTS = 8     # the rarest concepts of a relaxed query weigh in its coverage
# A relaxed query's partial matches rank by score x coverage ** COVERAGE_POWER, not by coverage
# tiers first: an item matching a rare concept only (a place's tag) no longer outranks one with
# every other word. Tuning half, nDCG@10: strict tiers 0.858; power 1 0.858, 2 0.868, 3 0.871, 4 0.863.
COVERAGE_POWER = 3
# A named place or body weighs this many times the query's rarest concept. Tuning half, nDCG@10:
# as much as the rarest (1.0): 0.833 -> 0.861 when introduced (it weighed its IDF before); at 0.912
# since: 0.8 -> 0.889, 1.1 -> 0.914, 1.25 -> 0.916, 1.5 -> 0.919, 2 and 3 -> 0.920, 5 -> 0.920
# (four queries up, none down at 1.5: the place breaks a tie with a rare word in its favour).
ENTITY_WEIGHT = 1.5
SOFT_LEVELS = 8            # coverage levels merged by that product; the rest follow in coverage order


def strict_tiers(snapshot, q_all, q_any, relaxed, all_bits, some_bits, restricted, sort, start, end, boosts):
    """(score, docnum, tree) of the page's results: the items matching all
    words, then (a relaxed query sorted by date) those matching some; and
    how many results there are."""
    tiers = [(q_all, all_bits, restricted)]
    if relaxed:
        tiers.append((q_any, some_bits & ~all_bits, True))
    return in_order(snapshot, tiers, sort, start, end, boosts)

def in_order(snapshot, tiers, sort, start, end, boosts, offset: int = 0, listed: int = 0):
    """(score, docnum, tree) of the places start..end among `tiers`, (tree,
    bitmap, restricted) listed one after the other from place `offset`, each
    by score (or date); and the place after them. A story is listed once, in
    the first tier having it (and not at all when in `listed`), with every
    matching copy under it."""
    found = []
    for tree, bits, restricted in tiers:
        bits &= ~listed
        if not bits:
            continue
        count = results_count(snapshot, bits)
        if offset < end and offset + count > start:
            leaders = story_leaders(snapshot, tree, bits, restricted, sort, end - offset, boosts)
            found += [(score, d, tree) for score, d in leaders[max(0, start - offset):]]
        offset += count
        listed |= story_members(snapshot, bits)
    return found, offset

def soft_ranking(snapshot, q_all, q_any, all_bits, some_bits, sort, start, end, boosts):
    """(score, docnum, tree) of the page's results of a relaxed query, and how
    many there are.

    The items of the first SOFT_LEVELS coverage levels (coverage_levels) rank
    by score x coverage ** COVERAGE_POWER: one ranking of them all, each
    level's factor a boost, so the order is exact and as cheap as one tier.
    Then the first FEEDBACK_DEPTH places are re-ranked with the words the
    best results share (with_feedback). Items of lower levels follow, level
    by level, by score."""
    levels = [(level, bits) for level, bits in coverage_levels(snapshot, q_all, some_bits) if bits]
    soft = [(level, bits) for level, bits in levels[:SOFT_LEVELS] if level > 0]
    rest = levels[len(soft):]
    merged_bits, ranked, level_boosts = 0, [], ()
    for _, bits in soft:
        merged_bits |= bits
    if soft:
        lowest = soft[-1][0]
        # factors relative to the lowest level's: every factor >= 1, as the score bounds need
        level_boosts = tuple((bits, (level / lowest) ** COVERAGE_POWER) for level, bits in soft if level > lowest)
        depth = max(end, feedback.FEEDBACK_DEPTH)
        ranked = story_leaders(snapshot, q_any, merged_bits, True, sort, depth, tuple(boosts) + level_boosts)
    factors = [(as_bytes(bits), factor) for bits, factor in level_boosts]

    def factor(d):
        return next((f for data, f in factors if has(data, d)), 1.0)

    ranked = with_feedback(snapshot, q_all, [(score or 0.0, d, factor(d)) for score, d in ranked])
    all_data = as_bytes(all_bits)
    head_count = results_count(snapshot, merged_bits) if merged_bits else 0
    found = [(score, d, q_all if has(all_data, d) else q_any) for score, d in ranked[start:min(end, head_count)]]
    lower, total = in_order(snapshot, [(q_any, bits, True) for _, bits in rest], sort, start, end, boosts,
                             offset=head_count, listed=story_members(snapshot, merged_bits) if merged_bits else 0)
    return found + lower, total

def with_feedback(snapshot, q_all, ranked: list[tuple[float, int, float]]) -> list[tuple[float, int]]:
    """(key, docnum, coverage factor) ranked, as (key, docnum): the first
    FEEDBACK_DEPTH re-ranked by key + FEEDBACK_STRENGTH x factor x the item's
    score for the words the best FEEDBACK_DOCS share (feedback.py)."""
    head, tail = ranked[:feedback.FEEDBACK_DEPTH], ranked[feedback.FEEDBACK_DEPTH:]
    best = [d for _, d, _ in head[:feedback.FEEDBACK_DOCS]]
    if not best:
        return []
    words = feedback.feedback_words(snapshot, feedback.texts_of(snapshot, best),
                                    feedback.query_terms(q_all, snapshot.analyze))
    if words:
        bonus = feedback.feedback_scores(snapshot, words, [d for _, d, _ in head])
        strength = feedback.FEEDBACK_STRENGTH
        head = sorted(((key + strength * factor * bonus[d], d, factor) for key, d, factor in head),
                      key=lambda p: (-p[0], p[1]))
    return [(key, d) for key, d, _ in head + tail]

def _concept_weight(total: int, df: int) -> float:
    # IDF: a rare word carries more of the query than a common one. Measured on
    # the tuning half: sqrt(IDF) and a plain count of concepts rank the same
    # within 0.002 nDCG@10; IDF is the documented rule.
    return math.log(1 + total / max(1, df))

def coverage_levels(snapshot, tree, bits: int) -> list[tuple[float, int]]:
    """`bits` split by which of the query's concepts each item's own text
    matches, as (coverage, bitmap), best coverage first: coverage is the
    IDF-weighted share of the concepts matched (a synonym concept, or a word
    with its completions, counts once)."""
    found = concepts(tree, snapshot.analyze)
    if len(found) < 2:
        return [(1.0, bits)]
    # what an item is about: a concept found only in the titles of the items it lists does not cover
    matched = [snapshot.matches_own_text(c) for c in found]
    total = max(1, snapshot.live.bit_count())
    weights = [_concept_weight(total, m.bit_count()) for m in matched]
    # A place or public body named in the query is what a regulation search is
    # about ("China facial recognition consent" wants China's rules first): it
    # weighs ENTITY_WEIGHT x the rarest concept, however many items carry its tag.
    # A run of words standing together is one concept weighing its heaviest word,
    # so the rarest concept is the heaviest single weight, taken before the run's
    # words share theirs (review 21: a share made the place weigh less than the name).
    heaviest = max(weights)
    weights = [ENTITY_WEIGHT * heaviest if type(c) is ast.Entity else w for c, w in zip(found, weights)]
    # the rarest concepts are picked by their own weights: a run's shares would let its
    # words drop out of a long query's coverage altogether (review 21)
    rarest = sorted(range(len(found)), key=lambda i: -weights[i])[:COVERAGE_CONCEPTS]
    weights = collocated(snapshot, found, matched, weights, frozenset(adjacent_pairs(tree)))
    matched, weights = [matched[i] for i in rarest], [weights[i] for i in rarest]
    whole = sum(weights)

    def coverage(combo):
        # exact shares: rounding them into buckets moved the tuning half's nDCG@10
        # between 0.856 and 0.875 with no trend across bucket sizes (noise, not a rule)
        return round(sum(w for i, w in enumerate(weights) if combo >> i & 1) / whole, 9)

    combos = sorted(range(1, 1 << len(matched)), key=lambda m: (-coverage(m), m))
    tiers, left = {}, bits
    for combo in combos:
        if not left:
            break
        tier = left
        for i, concept_bits in enumerate(matched):
            tier &= concept_bits if combo >> i & 1 else ~concept_bits
            if not tier:
                break
        if tier:
            level = coverage(combo)   # combinations of equal coverage share a level
            tiers[level] = tiers.get(level, 0) | tier
            left &= ~tier
    ordered = [(level, tiers[level]) for level in sorted(tiers, reverse=True)]
    if left:
        ordered.append((0.0, left))
    return ordered

# Neighbouring typed words that stand together in at least this share of the items having the
# rarer of the two form one name or term ("New York Times", "open source"): coverage counts the
# run once, at its rarest word's weight, shared among its words. Summed, "New York Times" weighed
# three concepts and outweighed "OpenAI" in "New York Times vs OpenAI", so an item citing the
# newspaper outranked the lawsuit. Tuning halves, nDCG@10 (tune / tune2 / tune3): without
# 0.923 / 0.811 / 0.857; share 0.3: 0.920 / 0.817 / 0.865; 0.5: 0.923 / 0.820 / 0.862 (three
# queries up, none down); 0.7: 0.923 / 0.817 / 0.857.
COLLOCATION_SHARE = 0.5

def collocated(snapshot, found: list, matched: list[int], weights: list[float], pairs: frozenset) -> list[float]:
    """Coverage weights with each run of collocated typed words (neighbours in
    `found` that stand together in COLLOCATION_SHARE of the items having the
    rarer one) weighing as much as its heaviest word, shared in proportion.
    Only the proximity boost's `pairs` (adjacent_pairs) are looked at: their
    bitmaps are in the query cache already."""
    weights = list(weights)
    run = [0]
    for i in range(1, len(found) + 1):
        if i < len(found) and _together(snapshot, found[i - 1], found[i], matched[i - 1], matched[i], pairs):
            run.append(i)
            continue
        if len(run) > 1:
            share = max(weights[j] for j in run) / sum(weights[j] for j in run)
            for j in run:
                weights[j] *= share
        run = [i]
    return weights

def _together(snapshot, a, b, a_bits: int, b_bits: int, pairs: frozenset) -> bool:
    if not (ast.is_bare_word(a) and ast.is_bare_word(b) and a.origin == b.origin == ast.TYPED):
        return False
    together = (a.text, b.text)
    pair = ast.Or((ast.Phrase(together, "title"), ast.Phrase(together, "excerpt")))
    if pair not in pairs:
        return False
    both = snapshot.matches(pair).bit_count()
    return both > 0 and both >= COLLOCATION_SHARE * min(a_bits.bit_count(), b_bits.bit_count())

PROXIMITY_BOOST = 1.0    # every pair together: x2 (tuning half: 0.5, 1 and 2 within 0.001 nDCG@10)
def proximity_boosts(snapshot, pairs: list) -> tuple[tuple[int, float], ...]:
    """Each pair of neighbouring query words standing together in an item's
    title or excerpt multiplies its score: "facial recognition ban" ranks
    "... facial recognition ban ..." above the same words scattered."""
    if not pairs:
        return ()
    factor = (1 + PROXIMITY_BOOST) ** (1 / len(pairs))   # every pair together: x(1 + PROXIMITY_BOOST)
    return tuple((bits, factor) for bits in (snapshot.matches(pair) for pair in pairs) if bits)

def story_leaders(snapshot, tree, bits, restricted, sort, wanted, boosts=()) -> list[tuple[float | None, int]]:
    """The first `wanted` results of `bits`, one per story (its best-ranked
    matching item); asks for more when copies took places."""
    copies, story_of, _ = snapshot.stories()
    # Copies can take at most as many places as there are matching copies.
    most = min(bits.bit_count(), wanted + (bits & copies).bit_count())
    # A ranking of `limit` is the first `limit` of the whole ranking (ties by docnum), so a short
    # one is asked first, and a longer one only when copies took too many places: at 100k items
    # "facial recognit" had 10,000 matching copies, and a top 10,000 was asked for 10 hits.
    limit = min(most, 2 * wanted + 8)
    while True:
        ranked = snapshot.ranked(tree, bits, limit, sort, restricted, boosts)
        leaders, seen = [], set()
        for score, docnum in ranked:
            story = story_of.get(docnum)
            if story is None or story not in seen:
                seen.add(story)
                leaders.append((score, docnum))
                if len(leaders) >= wanted:
                    return leaders
        if limit >= most or len(ranked) < limit:
            return leaders
        limit = min(most, 4 * limit)
