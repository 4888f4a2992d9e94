"""Disjunctive facet counts on bitmaps.

Each facet is counted under the query and the *other* facets' filters, so a
selected value's siblings keep the count a user would get by adding them;
the month timeline is counted under the query and every filter but the dates.
"""

from __future__ import annotations

from searchapp.model import FACETS, TIMELINE_FACET, FacetValue, Filters

FACET_LIMIT = 30          # values shown per facet by default (selected values always are)
MAX_FACET_LIMIT = 1000    # facet_limit's upper bound (347 providers in the real corpus)


def count(snapshot, filters: Filters, base: int, group_bits: dict[str, int], limit: int = FACET_LIMIT,
          search: dict[str, str] | None = None) -> tuple[dict[str, tuple[FacetValue, ...]], dict[str, int]]:
    """(facet -> values shown, facet -> values with a count not shown).
    `search`: facet -> text; only values containing it (any case) are listed."""
    facets, more = {}, {}
    search = search or {}
    for facet in (*FACETS, TIMELINE_FACET):
        scope = base & snapshot.live
        for name, bits in group_bits.items():
            if name != facet and not (facet == TIMELINE_FACET and name == "date"):
                scope &= bits
        selected = set(filters.values(facet)) if facet in FACETS else set()
        counted = []
        needle = search.get(facet, "").casefold()
        counts = snapshot.value_counts(facet, scope)
        for value, n in zip(snapshot.facet_values(facet), counts):
            if needle and needle not in value.casefold() and value not in selected:
                continue
            if n or value in selected:
                counted.append(FacetValue(value, n, value in selected))
        if facet == TIMELINE_FACET:
            facets[facet] = tuple(sorted(counted, key=lambda v: v.value))
            continue
        if facet == "year":
            counted.sort(key=lambda v: v.value, reverse=True)
        else:
            counted.sort(key=lambda v: (-v.count, v.value.lower()))
        shown = counted[:limit] + [v for v in counted[limit:] if v.selected]
        facets[facet] = tuple(shown)
        more[facet] = sum(1 for v in counted[limit:] if not v.selected)
    return facets, more
