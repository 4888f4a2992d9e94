"""Postings written at indexing (backends/whoosh/tables.py): each title and excerpt stem's and
each facet value's documents and weights, and each document's story, mapped by every worker.
They must be exactly what Whoosh's postings and columns give, deleted documents included."""

from __future__ import annotations

import numpy as np
import pytest
from whoosh import index as whoosh_index

from conftest import write_news
from searchapp.backends.whoosh import derived, tables
from searchapp.bitmaps import bits_of
from searchapp.core.service import SearchEngine
from searchapp.indexing import update_index
from searchapp.store.generations import current_generation


def _whoosh_postings(searcher, fieldname, term):
    """What Whoosh's own matchers give for a term: (docnum, weight) of every live posting."""
    found = []
    for leaf, offset in searcher.leaf_searchers():
        reader = leaf.reader()
        if (fieldname, term) in reader:
            found += [(offset + d, w) for d, w in reader.postings(fieldname, term).items_as("weight")]
    return found


def _agree(searcher, found: dict) -> int:
    """Every term of every table's field: the table's postings are Whoosh's. How many terms."""
    checked = 0
    for fieldname in tables.POSTING_FIELDS:
        table = tables.postings(found, fieldname)
        assert table is not None, fieldname
        terms = list(searcher.reader().lexicon(fieldname))
        assert [table.term(n) for n in range(table.size)] == terms, fieldname
        for term in terms:
            docs, weights = table.postings(table.find(term))
            expected = _whoosh_postings(searcher, fieldname, term)
            assert docs.tolist() == [d for d, _ in expected], (fieldname, term)
            # the weights Whoosh's scorer reads (a block's single precision, or an inline posting's value)
            assert weights.astype(np.float64).tolist() == derived.postings(searcher, fieldname, term)[1].tolist()
            assert weights.tolist() == pytest.approx([w for _, w in expected], rel=1e-6), (fieldname, term)
            checked += 1
        assert table.find("no such term at all") == -1 and table.find(b"") == -1
    return checked


def test_tables_hold_whooshs_postings_for_every_term(sample_index):
    with SearchEngine(sample_index) as engine:
        snapshot = engine._snapshot()
        assert _agree(snapshot.searcher, snapshot._order) > 500
        for fieldname in ("title", "f_regulator"):    # read from the mapped tables, not from Whoosh
            term = snapshot.values(fieldname)[0]
            docs, _ = snapshot.postings(fieldname, term)
            assert np.shares_memory(docs, snapshot._order[f"term-docs-{fieldname}"])
        for fieldname in tables.POSTING_FIELDS:
            assert snapshot.values(fieldname) == list(snapshot.searcher.reader().field_terms(fieldname))


def _with_deletions(tmp_path):
    """A generation whose segments hold deleted documents (a Whoosh writer's deletes,
    not merged: our builds rewrite instead, but a generation may still have them)."""
    corpus, index_dir = tmp_path / "corpus", tmp_path / "index"
    for n in range(30):
        write_news(corpus, f"item-{n}.md", title=f"Privacy regulator fines company {n} quokka{n % 4}",
                   excerpt="The data protection authority fined it." + " again" * (n % 5),
                   topics=["AI", "Privacy"][: 1 + n % 2], publishedDateTime=f"2023-01-{n % 28 + 1:02d}T10:00:00Z")
    update_index(corpus, index_dir, full=True)
    generation = current_generation(index_dir)
    ix = whoosh_index.open_dir(str(generation))
    with ix.searcher() as searcher:
        ids = [searcher.stored_fields(d)["doc"]["id"] for d in (0, 5, 12, 13)]
    writer = ix.writer()
    for item_id in ids:
        writer.delete_by_term("id", item_id)
    writer.commit(merge=False, optimize=False)
    return ix


def test_tables_leave_out_deleted_documents_as_whooshs_postings_do(tmp_path):
    ix = _with_deletions(tmp_path)
    with ix.searcher() as searcher:
        reader = searcher.reader()
        assert reader.has_deletions() and reader.doc_count() == 26
        live = np.zeros(reader.doc_count_all(), dtype=bool)
        live[list(reader.all_doc_ids())] = True
        found = tables.compute(searcher, live)
        assert _agree(searcher, found) > 20
        table = tables.postings(found, "title")
        docs, _ = table.postings(table.find("quokka1"))
        titled = {d: searcher.stored_fields(d)["doc"]["title"] for d in range(reader.doc_count_all())}
        having = [d for d, title in titled.items() if title.endswith("quokka1")]
        assert len(having) == 8 and docs.tolist() == [d for d in having if not reader.is_deleted(d)]
        assert len(docs) < len(having)   # a deleted document had the word
    ix.close()


def test_a_generation_opens_with_the_same_live_documents_stories_and_facets_as_computed(tmp_path):
    """Opening reads the live documents, the story groups and every facet value's bitmap from
    the tables; a generation without them computes the same from Whoosh."""
    corpus, index_dir = tmp_path / "corpus", tmp_path / "index"
    for n in range(40):   # copies: the same title from several providers makes stories
        write_news(corpus, f"item-{n}.md", title=f"Court blocks facial recognition ban {n % 9}",
                   excerpt="A court ruled." if n % 3 else "Another outlet reports it.",
                   provider={"name": f"Outlet {n % 4}", "domain": f"outlet{n % 4}.example"},
                   topics=["AI"], publishedDateTime=f"2023-0{1 + n % 9}-{1 + n % 27:02d}T10:00:00Z")
    update_index(corpus, index_dir, full=True)
    with SearchEngine(index_dir) as engine:
        mapped = engine._snapshot()
        assert "story-of" in mapped._order
        with_tables = (mapped.live, mapped.stories(), dict(mapped._facet_terms))
    assert with_tables[1][2], "the corpus makes no stories"
    from searchapp.backends.whoosh.snapshot import WhooshSnapshot
    generation = current_generation(index_dir)
    plain = WhooshSnapshot(whoosh_index.open_dir(str(generation)), None)   # no tables: computed
    try:
        assert plain._order == {} or "story-of" not in plain._order
        assert plain.live == with_tables[0] == bits_of(plain.searcher.reader().all_doc_ids())
        assert plain.stories() == with_tables[1]
        assert list(plain.stories()[2]) == list(with_tables[1][2])   # the same order too
        assert plain._facet_terms == with_tables[2]
    finally:
        plain.close()


def test_word_scores_and_bitmaps_from_the_tables_are_whooshs_bit_for_bit(sample_index):
    with SearchEngine(sample_index) as engine:
        snapshot = engine._snapshot()
        words = ["privacy", "facial", "recognition", "ban", "court", "gdpr", "fine", "data", "ai", "police"]
        from_tables = {w: derived._word_arrays(snapshot, snapshot.stem(w)) for w in words}
        terms = {(f, snapshot.stem(w)): derived.arrays(snapshot).term(snapshot, f, snapshot.stem(w))
                 for f in ("title", "excerpt", "body", "related_text") for w in words}
        order = snapshot._order
        snapshot._order = {k: v for k, v in order.items() if not k.startswith("term")}
        snapshot._shared.pop("postings", None)
        snapshot._shared.pop("term-arrays", None)
        try:
            for w in words:
                docs, scores = derived._word_arrays(snapshot, snapshot.stem(w))
                assert np.array_equal(docs, from_tables[w][0]) and np.array_equal(scores, from_tables[w][1]), w
            for (f, t), (docs, scores) in terms.items():
                again = derived.arrays(snapshot).term(snapshot, f, t)
                assert np.array_equal(docs, again[0]) and np.array_equal(scores, again[1]), (f, t)
            assert any(s[0].size for s in from_tables.values())
        finally:
            snapshot._order = order
            snapshot._shared.pop("postings", None)


def test_spelling_from_the_tables_is_whooshs_term_dictionary(sample_index):
    """Did-you-mean's neighbours (words, counts), its vocabulary and `known` read the word and
    postings tables: the same answers as Whoosh's term dictionary."""
    words = ["privacy", "privcy", "facal", "recgnition", "gdrp", "cour", "polce", "zzzz", "ai", "data",
             "regulaton", "biometirc", "ban", "clearview", "fines", "übers", "q"]
    with SearchEngine(sample_index) as engine:
        snapshot = engine._snapshot()
        mapped = ({w: (snapshot.neighbours(w, 1), snapshot.neighbours(w, 2), snapshot.known(w)) for w in words},
                  dict(snapshot.shared_cache("vocabulary", dict)))
        order = snapshot._order
        snapshot._order = {k: v for k, v in order.items() if not k.startswith(("term", "word"))}
        snapshot._shared.pop("postings", None)
        snapshot._shared.pop("vocabulary", None)
        try:
            walked = ({w: (snapshot.neighbours(w, 1), snapshot.neighbours(w, 2), snapshot.known(w)) for w in words},
                      dict(snapshot.shared_cache("vocabulary", dict)))
        finally:
            snapshot._order = order
            snapshot._shared.pop("postings", None)
    assert mapped == walked
    assert sum(bool(n1) for n1, _, _ in mapped[0].values()) >= 5 and sum(k for _, _, k in mapped[0].values()) >= 5
