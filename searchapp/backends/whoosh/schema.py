"""The Whoosh schema, and the document written for one item."""

from __future__ import annotations

import datetime as dt
from dataclasses import fields

from whoosh.analysis import RegexTokenizer, StandardAnalyzer, StemmingAnalyzer
from whoosh.fields import ID, KEYWORD, NUMERIC, STORED, TEXT, Schema

from searchapp.ingest.reader import NewsItem

FACET_FIELDS = {"topic": "f_topic", "jurisdiction": "f_jurisdiction", "regulator": "f_regulator",
                "provider": "f_provider", "year": "f_year"}
# The tags a place or body named in a query also matches (ast.Entity). These fields keep no
# lengths, and Whoosh scored a posting of theirs as its weight, 1: an item matched through its
# tag alone ("Korean Facial Recognition Project" for "South Korea AI legislation") scored 0.5
# against 5-20 for items matching the query's common words, more than its coverage could make
# up. A tag now scores as a word found once in a field of average length does: its IDF
# (snapshot._BM25F, derived.term). Round 22: tune4 0.755 -> see README.
SCORED_TAG_FIELDS = frozenset(("f_jurisdiction", "f_regulator"))
MULTI_VALUED = "\x1f"         # joins the values of a multi-valued facet (the reader removes it from all text)
TEXT_FIELDS = ("title", "excerpt", "body", "related_text")
SPELLING_FIELDS = ("spell_title", "spell_excerpt")  # unstemmed words, for suggestions
NO_DATE_KEY = 2**62           # undated items sort last, both ways
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


def date_key(moment: dt.datetime) -> int:
    """A date as whole seconds since 1970, rounded down exactly (timedelta arithmetic, not the
    float `timestamp()`, which rounds a microsecond before midnight in year 9999 up to midnight,
    and whose `int()` rounds dates before 1970 up): the `oldest_key` column, which the date
    orders and the date filters read (snapshot.dated_between)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return (moment - _EPOCH) // dt.timedelta(seconds=1)


class SortKey(NUMERIC):
    """A number kept only as a column (the date orders read it), never indexed: NUMERIC indexes
    16 tiered terms a value, and the two date keys' terms, which no query reads, were 47% of a
    10k index's terms and 18% of its postings (round 13). A generation written before keeps its
    own schema, so appends to it index them as before."""

    indexed = False


def make_schema() -> Schema:
    stem = StemmingAnalyzer()
    words = StandardAnalyzer(stoplist=None)
    return Schema(
        id=ID(stored=True, unique=True),
        # Full text, weighted: a title match counts most, related coverage least.
        title=TEXT(analyzer=stem, stored=True, field_boost=3.0, spelling=True),
        excerpt=TEXT(analyzer=stem, stored=True, field_boost=1.5, spelling=True),
        body=TEXT(analyzer=stem, stored=True),
        related_text=TEXT(analyzer=stem, field_boost=0.3),
        # `provider:` and `topic:` in queries match words of the names.
        provider=TEXT(analyzer=words, phrase=True),
        topic=TEXT(analyzer=words, phrase=True),
        # Facets: exact values. Topics joined by U+001F, a control character the
        # reader removes from all text, so any topic name survives as it is.
        f_topic=KEYWORD(analyzer=RegexTokenizer(r"[^\x1f]+"), sortable=True),
        f_jurisdiction=KEYWORD(analyzer=RegexTokenizer(r"[^\x1f]+")),
        f_regulator=KEYWORD(analyzer=RegexTokenizer(r"[^\x1f]+")),
        f_provider=ID(sortable=True),
        f_year=ID(sortable=True),
        f_month=ID(),   # YYYY-MM, for the timeline
        # The ids of the items this one lists (not stored): "which items list X" is a
        # lookup at query time, so a file added later changes no document it lists.
        lists=KEYWORD(analyzer=RegexTokenizer(r"[^\x1f]+")),
        # Near-duplicate reports of one story share its id (see stories.py).
        story=ID(sortable=True),
        # No `published` field: date filters read the date order's keys (tables.py), and its
        # DATETIME terms (8 tiers a date) were half of the terms left after round 13.
        newest_key=SortKey(bits=64, sortable=True),
        oldest_key=SortKey(bits=64, sortable=True),
        # Everything a result or an item page shows, in one stored blob.
        doc=STORED(),
    )


_NOT_STORED = ("body", "related_text", "own_files", "lists_from")


def item_document(item: NewsItem, story: str, legacy_published: bool = False) -> dict:
    """The Whoosh document for one item (derived fields are computed here, once).
    `legacy_published`: for an append to a generation written before round 14, whose
    schema has the `published` field and whose date filters read it."""
    from searchapp.enrich.gazetteer import tag_item   # here: loading the gazetteer takes 1.4 s, and a
    # nothing-changed run, which tags nothing, was mostly that (at 10k items)
    stamp = date_key(item.published) if item.published else None
    topics = item.topics
    tags = tag_item(item.title, item.excerpt, item.body)   # not related_text: see gazetteer's docstring
    document = dict(
        id=item.id,
        title=item.title,
        excerpt=item.excerpt,
        body=item.body,
        related_text=item.related_text,
        provider=f"{item.provider.name} {item.provider.domain}",
        topic=" ; ".join(topics),
        f_topic=MULTI_VALUED.join(topics),
        f_jurisdiction=MULTI_VALUED.join(tags.jurisdictions),
        f_regulator=MULTI_VALUED.join(tags.regulators),
        f_provider=item.provider.name,
        lists=MULTI_VALUED.join(item.related_ids),
        story=story,
        newest_key=-stamp if stamp is not None else NO_DATE_KEY,
        oldest_key=stamp if stamp is not None else NO_DATE_KEY,
        doc=stored_doc(item, tags),
    )
    if item.published:
        if legacy_published:
            document["published"] = item.published.replace(tzinfo=None)
        document["f_year"] = str(item.published.year)
        document["f_month"] = f"{item.published:%Y-%m}"
    return {k: v for k, v in document.items() if v != ""}


def stored_doc(item: NewsItem, tags) -> dict:
    """Every field but the long texts (built by hand: `asdict` deep-copies, 10x
    slower), and only what the item's own files give: its own files as
    `source_files` and no `related_by_ids` (an empty placeholder keeps the
    keys' order); the items and files listing it are found when a page asks
    (core/related.complete_record). So adding a file that lists existing
    items changes none of their documents."""
    doc = {f.name: getattr(item, f.name) for f in fields(NewsItem) if f.name not in _NOT_STORED}
    doc["source_files"] = item.own_files
    doc["related_by_ids"] = ()
    if item.lists_from:
        doc["lists_from"] = item.lists_from
    doc["provider"] = {"name": item.provider.name, "domain": item.provider.domain}
    doc["jurisdictions"] = tags.jurisdictions
    doc["regulators"] = tags.regulators
    doc["published"] = item.published.isoformat().replace("+00:00", "Z") if item.published else None
    return doc
