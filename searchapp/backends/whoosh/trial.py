"""A trial open: is this generation usable? Open it and read it for real, cheaply.

Checksums catch damage only while the manifest tells the truth; a file
garbled and a manifest rewritten to match passed every check, and the
server then answered 500s or wrong results (found in review). So before a
generation is served or built on, it is opened through Whoosh and each part
a search reads is read and cross-checked:

- the document count against build.json's;
- each segment's term dictionary, field by field: terms in order, each
  entry sane (document frequency, ids, weight);
- postings, opened by a hash lookup of the term: ids ascending and inside
  the segment, as many as the entry read in order says, weights positive,
  positions in order (the first few of each list);
- stored documents: each a record whose id term's postings point back at
  it, and whose title words' postings include it;
- one ranked query, which must find the document it was taken from.

Segments of up to WHOLE_DOCS documents are read whole (every term, every
postings list, every stored document); bigger ones in evenly spread samples.
"""

from __future__ import annotations

import math
from pathlib import Path

from whoosh import fields, index as whoosh_index, query as Q

from searchapp.backends.whoosh.compile import analyze
from searchapp.backends.whoosh.schema import TEXT_FIELDS

WHOLE_DOCS = 100          # a segment this small is read whole
SAMPLE_DOCS = 16          # stored documents read per bigger segment, evenly spread (first and last included)
SAMPLE_TERMS = 8          # dictionary terms read in order at the start of each field and after each looked-up word
WORDS_PER_DOC = 1         # title words of each sampled document whose postings are read in every text field
SAMPLE_POSTINGS = 32      # postings read per list in a bigger segment
FIELD_POSTINGS = 2        # postings lists read at the start of each field in a bigger segment
POSITIONS_CHECKED = 8     # postings per list whose positions are decoded and checked


class Unusable(Exception):
    """One line: what the trial open found wrong."""


def trial_open(generation: Path, expected_items: int | None = None,
               trusted: frozenset[str] = frozenset()) -> str | None:
    """None when the generation opens and answers; else why, in one line. Never raises.

    `trusted`: names of files linked unchanged from a generation that passed;
    a segment made only of them is not read again (an append's writer checks
    only its new segment: the old ones were 0.07 of its 0.09 s at 10k)."""
    return _with_searcher(generation, "a trial open",
                          lambda searcher: _check(searcher, expected_items, _trusted_segment(generation, trusted)))


def _trusted_segment(generation: Path, trusted: frozenset[str]):
    """reader -> whether all of its segment's files are in `trusted`."""
    if not trusted:
        return lambda reader: False
    names = [p.name for p in generation.iterdir()]

    def whole(reader) -> bool:
        prefix = reader.segment().make_filename(".")
        own = [name for name in names if name.startswith(prefix)]
        return bool(own) and all(name in trusted for name in own)
    return whole


def _with_searcher(generation: Path, what: str, check) -> str | None:
    """Open the generation, run `check(searcher)`, close; None, or why `what` failed. Never raises."""
    try:
        index = whoosh_index.open_dir(str(generation))
        try:
            searcher = index.searcher()
            try:
                check(searcher)
            finally:
                searcher.close()
        finally:
            index.close()
        return None
    except Unusable as problem:
        return f"{what} failed: {problem}"
    except Exception as error:  # whatever a damaged file makes Whoosh raise
        return f"{what} failed: {raised(error, generation)}"


def raised(error: BaseException, generation: Path | None = None) -> str:
    """One line naming an exception a damaged file raised; never an empty cause
    (found in review: an extra .toc gave "AssertionError: " and nothing more)."""
    name = type(error).__name__
    if name == "error":   # zlib.error, struct.error
        name = f"{type(error).__module__}.error"
    detail = " ".join(str(error).split())[:160]
    if isinstance(error, AssertionError) and not detail:
        tocs = sorted(p.name for p in generation.glob("*.toc")) if generation is not None else []
        detail = (f"{len(tocs)} table-of-contents files ({', '.join(tocs[:4])}), whose names and contents "
                  "disagree" if len(tocs) > 1 else "its table of contents and segments disagree")
    return f"{name}: {detail or 'no detail'}"


def _check(searcher, expected_items: int | None, trusted=lambda reader: False) -> None:
    count = searcher.doc_count()
    if expected_items is not None and count != expected_items:
        raise Unusable(f"{count:,} documents, build.json says {expected_items:,}")
    probe = None
    for leaf, offset in searcher.leaf_searchers():
        reader = leaf.reader()
        if trusted(reader):
            continue
        whole = reader.doc_count_all() <= WHOLE_DOCS
        _dictionary(reader, whole)
        found = _documents(reader, whole)
        if found and probe is None:
            probe = (offset + found[0], found[1])
    if probe is not None:
        docnum, word = probe
        hits = searcher.search(Q.Term("title", word), limit=None)
        if docnum not in {hit.docnum for hit in hits}:
            raise Unusable(f"a query for title:{word!r} misses the document it was read from")


def _dictionary(reader, whole: bool) -> None:
    """Each field's terms in order (all of them in a small segment), each term's information sane."""
    for fieldname in sorted(reader.indexed_field_names()):
        if fieldname not in reader.schema:
            continue
        items = reader.iter_field(fieldname, b"")   # bytes: every field type takes them as they are
        # a spelling field's postings all name document 0 (it holds words only)
        if isinstance(reader.schema[fieldname], fields.SpellField):
            postings = 0
        else:
            postings = None if whole else FIELD_POSTINGS
        _terms_in_order(reader, fieldname, items, None if whole else SAMPLE_TERMS, postings,
                        None if whole else SAMPLE_POSTINGS)


def _terms_in_order(reader, fieldname: str, items, limit: int | None, postings: int | None,
                    postings_limit: int | None = None) -> None:
    """`limit` terms (None: all) read in order; the postings of the first
    `postings` of them (None: all), `postings_limit` postings of each."""
    previous = None
    for n, (text, info) in enumerate(items):   # the terms as stored (bytes), in the dictionary's order
        if limit is not None and n >= limit:
            break
        if previous is not None and text <= previous:
            raise Unusable(f"the terms of {fieldname} are out of order")
        previous = text
        _sane(reader, fieldname, text, info)
        if postings is None or n < postings:
            _postings(reader, fieldname, text, info, postings_limit)


def _sane(reader, fieldname: str, text, info) -> None:
    docs = reader.doc_count_all()
    frequency = info.doc_frequency()
    if not 1 <= frequency <= docs or not 0 <= (info.min_id() or 0) <= (info.max_id() or 0) < docs:
        raise Unusable(f"the dictionary entry of {fieldname}:{text!r} is damaged")
    if not (math.isfinite(info.weight()) and info.weight() > 0):
        raise Unusable(f"the dictionary entry of {fieldname}:{text!r} has a bad weight")


def _postings(reader, fieldname: str, text, info=None, limit: int | None = None) -> list[int]:
    """A term's postings (its first `limit` in a big segment), checked against
    its dictionary entry; their ids. Positions are decoded for the first few
    of each list: decoding is most of the cost."""
    info = info or reader.term_info(fieldname, text)
    matcher = reader.postings(fieldname, text)
    positions = reader.schema[fieldname].format.supports("positions")
    ids: list[int] = []
    while matcher.is_active() and (limit is None or len(ids) < limit):
        docnum = matcher.id()
        if (ids and docnum <= ids[-1]) or not 0 <= docnum <= info.max_id():
            raise Unusable(f"the postings of {fieldname}:{text!r} are damaged (document numbers)")
        weight = matcher.weight()
        if not (math.isfinite(weight) and weight > 0):
            raise Unusable(f"the postings of {fieldname}:{text!r} are damaged (weights)")
        if positions and len(ids) < POSITIONS_CHECKED:
            where = matcher.value_as("positions")
            if not where or where[0] < 0 or any(b <= a for a, b in zip(where, where[1:])):
                raise Unusable(f"the postings of {fieldname}:{text!r} are damaged (positions)")
        ids.append(docnum)
        matcher.next()
    if (limit is None or len(ids) < limit) and (len(ids) != info.doc_frequency() or ids[-1] != info.max_id()):
        raise Unusable(f"the postings of {fieldname}:{text!r} disagree with the dictionary")
    return ids


def _documents(reader, whole: bool) -> tuple[int, str] | None:
    """Stored documents (all of a small segment, else a spread sample) and their
    words' postings; (a docnum, a title word it has) for the one query."""
    docs = reader.doc_count_all()
    if whole:
        sample = range(docs)
    else:
        step = max(1, (docs - 1) / (SAMPLE_DOCS - 1))
        sample = sorted({min(docs - 1, round(n * step)) for n in range(SAMPLE_DOCS)})
    probe = None
    for docnum in sample:
        if reader.is_deleted(docnum):
            continue
        stored = reader.stored_fields(docnum)
        record = stored.get("doc") if isinstance(stored, dict) else None
        item_id = stored.get("id") if isinstance(stored, dict) else None
        if not isinstance(record, dict) or not isinstance(item_id, str) or record.get("id") != item_id:
            raise Unusable(f"stored document {docnum} is damaged")
        if _postings(reader, "id", item_id) != [docnum]:
            raise Unusable(f"the id of stored document {docnum} does not find it")
        title = record.get("title")
        if not isinstance(title, str):
            raise Unusable(f"stored document {docnum} has no title")
        # its rarest title words: short postings lists, spread over the whole dictionary
        words = sorted(set(analyze("title", title)), key=lambda w: (reader.doc_frequency("title", w), w))
        for word in words[:WORDS_PER_DOC]:
            for fieldname in TEXT_FIELDS:
                if (fieldname, word) not in reader:
                    if fieldname == "title":
                        raise Unusable(f"the title word {word!r} of document {docnum} is not in the dictionary")
                    continue
                ids = _postings(reader, fieldname, word, limit=None if whole else SAMPLE_POSTINGS)
                if fieldname == "title" and docnum not in ids and (whole or len(ids) < SAMPLE_POSTINGS):
                    raise Unusable(f"the postings of title:{word!r} miss document {docnum}")
                if not whole and fieldname == "title":   # the dictionary read in order from here too
                    _terms_in_order(reader, fieldname, reader.iter_field(fieldname, word), SAMPLE_TERMS, 0)
            if probe is None:
                probe = (docnum, word)
    return probe


# ---------------------------------------------------------------- the full check (`searchapp index --verify`)

def full_check(generation: Path, expected_items: int | None = None) -> str | None:
    """Every byte a search can read, decoded and cross-checked: a manifest
    rewritten to match garbled files cannot survive it (the sampled trial
    misses damage outside its samples: found in review, 300 bytes flipped in
    the middle of a 1,291-item segment's files passed it). None when whole;
    else why, in one line. Never raises. About 2 s at 1,291 items."""
    def check(searcher) -> None:
        count = searcher.doc_count()
        if expected_items is not None and count != expected_items:
            raise Unusable(f"{count:,} documents, build.json says {expected_items:,}")
        for leaf, _ in searcher.leaf_searchers():
            _whole_segment(leaf.reader())
        _tables_agree(generation, searcher)

    return _with_searcher(generation, "a full check", check)


def _tables_agree(generation: Path, searcher) -> None:
    """The generation's tables file (titles suggestions show, postings, orders,
    stories) equals what its segments give, table by table: it is derived, so a
    manifest rewritten over a changed one passed the byte checks, and appends
    extend the previous file (review 8). Recency factors that did not yet hold
    for good when written (an item dated after the build) may differ by now."""
    import numpy as np

    from searchapp.backends.whoosh import tables

    stored = tables.load(generation)
    if not stored:
        return   # a generation without tables reads Whoosh (older format)
    reader = searcher.reader()
    live = np.zeros(reader.doc_count_all(), dtype=bool)
    live[list(reader.all_doc_ids())] = True
    derived = tables.compute(searcher, live)
    if "decay" not in stored:
        derived.pop("decay", None)
    for name in [n for n in derived if n.startswith(("tokens-", "token-starts-")) and n not in stored]:
        del derived[name]   # a generation written before round 17 has no phrase tables (Whoosh's matchers read it)
    for name in [n for n in derived if n.startswith("dense-") and n not in stored]:
        del derived[name]   # nor one before round 23 common terms' bitmaps (built from postings when asked)
    if set(stored) != set(derived):
        raise Unusable(f"the tables file has tables {sorted(set(stored) ^ set(derived))[:3]} that the segments do not")
    for name in sorted(derived):
        want, got = derived[name], stored[name]
        if want.dtype != got.dtype or want.shape != got.shape or not np.array_equal(want, got):
            raise Unusable(f"the tables file's {name!r} disagrees with the segments")


def _whole_segment(reader) -> None:
    """Every term, every posting (every position), every stored document,
    every column value; field lengths and column values checked against what
    they are derived from (postings, stored dates)."""
    from whoosh.util.numeric import byte_to_length, length_to_byte

    docs = reader.doc_count_all()
    lengths: dict[tuple[str, int], int] = {}
    column_terms: dict[tuple[str, int], set] = {}
    columns = [name for name in reader.schema.names() if reader.has_column(name)]
    for fieldname in sorted(reader.indexed_field_names()):
        if fieldname not in reader.schema:
            continue
        field = reader.schema[fieldname]
        spelling = isinstance(field, fields.SpellField)
        positions, frequency = field.format.supports("positions"), field.format.supports("frequency")
        previous = None
        for text, info in reader.iter_field(fieldname, b""):
            if previous is not None and text <= previous:
                raise Unusable(f"the terms of {fieldname} are out of order")
            previous = text
            _sane(reader, fieldname, text, info)
            if spelling:
                continue
            matcher, ids = reader.postings(fieldname, text), []
            while matcher.is_active():
                docnum = matcher.id()
                if (ids and docnum <= ids[-1]) or not 0 <= docnum <= info.max_id():
                    raise Unusable(f"the postings of {fieldname}:{text!r} are damaged (document numbers)")
                weight = matcher.weight()
                if not (math.isfinite(weight) and weight > 0):
                    raise Unusable(f"the postings of {fieldname}:{text!r} are damaged (weights)")
                if positions:
                    where = matcher.value_as("positions")
                    if not where or where[0] < 0 or any(b <= a for a, b in zip(where, where[1:])):
                        raise Unusable(f"the postings of {fieldname}:{text!r} are damaged (positions)")
                    times = len(where)
                else:
                    times = matcher.value_as("frequency") if frequency else 1
                lengths[fieldname, docnum] = lengths.get((fieldname, docnum), 0) + times
                if fieldname in columns:
                    column_terms.setdefault((fieldname, docnum), set()).add(text)
                ids.append(docnum)
                matcher.next()
            if len(ids) != info.doc_frequency() or (ids and ids[-1] != info.max_id()):
                raise Unusable(f"the postings of {fieldname}:{text!r} disagree with the dictionary")
    for fieldname in reader.schema.scorable_names():
        for docnum in range(docs):
            expected = byte_to_length(length_to_byte(lengths.get((fieldname, docnum), 0)))
            if (reader.doc_field_length(docnum, fieldname) or 0) != expected:
                raise Unusable(f"the length of {fieldname} in document {docnum} disagrees with its postings")
    stored = []
    for docnum in range(docs):
        fields_ = reader.stored_fields(docnum)
        record = fields_.get("doc") if isinstance(fields_, dict) else None
        item_id = fields_.get("id") if isinstance(fields_, dict) else None
        if not isinstance(record, dict) or not isinstance(item_id, str) or record.get("id") != item_id:
            raise Unusable(f"stored document {docnum} is damaged")
        if not reader.is_deleted(docnum) and docnum not in _postings(reader, "id", item_id):
            raise Unusable(f"the id of stored document {docnum} does not find it")
        stored.append(record)
    legacy = "published" in reader.schema   # a generation written before round 14
    for fieldname in columns:
        column = reader.column_reader(fieldname)
        for docnum in range(docs):
            try:
                value = column[docnum]
            except OverflowError:   # an undated item's date column holds a default no date can show
                value = None
            _column_value(fieldname, docnum, value, stored[docnum], column_terms, legacy)


def _column_value(fieldname: str, docnum: int, value, record: dict, terms: dict, legacy: bool = False) -> None:
    """A column value against what it is derived from: the stored date for
    the date keys, the field's own terms for the text columns. `legacy`: a
    generation written before round 14 (it has a `published` field), whose
    keys were `int(timestamp())`, a second off schema.date_key's before 1970."""
    import datetime as dt

    from searchapp.backends.whoosh.schema import MULTI_VALUED, NO_DATE_KEY, date_key

    published = record.get("published")
    stamp = None
    if isinstance(published, str):
        stamp = dt.datetime.fromisoformat(published.replace("Z", "+00:00"))
    if fieldname in ("newest_key", "oldest_key"):
        if stamp is None:
            expected = {NO_DATE_KEY}
        else:
            seconds = {date_key(stamp), int(stamp.timestamp())} if legacy else {date_key(stamp)}
            expected = {-s for s in seconds} if fieldname == "newest_key" else seconds
        if value not in expected:
            raise Unusable(f"the {fieldname} of document {docnum} disagrees with its stored date")
    elif fieldname == "published":
        if value != (stamp.astimezone(dt.timezone.utc).replace(tzinfo=None) if stamp is not None else None):
            raise Unusable(f"the published date of document {docnum} disagrees with its stored date")
    elif isinstance(value, str):
        have = {t.decode("utf-8") if isinstance(t, bytes) else t for t in terms.get((fieldname, docnum), ())}
        if value and not set(value.split(MULTI_VALUED)) <= have:
            raise Unusable(f"the {fieldname} column of document {docnum} disagrees with its terms")
    else:
        raise Unusable(f"the {fieldname} column of document {docnum} is damaged")
