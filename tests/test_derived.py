"""Ranking from per-generation arrays (backends/whoosh/derived.py) gives the
answers of Whoosh scoring every match: bare words the same (score, docnum)
pairs bit for bit, compiled queries the same ranks with scores equal up to
their last bits, and no Whoosh matcher for a query the arrays model."""

from __future__ import annotations

import heapq

import pytest

from searchapp.backends.whoosh import compat, derived
from searchapp.backends.whoosh.snapshot import _boosted, _compiled, word_concepts
from searchapp.bitmaps import as_bytes, bits_of, docnums, has
from searchapp.core.ranking import proximity_boosts
from searchapp.core.service import SearchEngine
from searchapp.query.expand import adjacent_pairs

# synonym groups with phrases, entities (tags scored by their IDF), OR, phrases, relaxed words
SCORED = ("facial recognition ban", "face recognition", "gdpr fine", '"data protection" OR privacy',
          "european commission antitrust", "china facial recognition consent", "ai act", "clearview",
          "right to be forgotten", "data protection authority fine")
WORDS = ("privacy", "fine regulator", "data protection", "google antitrust", "privacy OR data", "privacy law")


def _every_match(snapshot, query, bits, limit, boosts, recent):
    """The reference: Whoosh scores every document of `bits`, then the boosts pick the top."""
    searcher = snapshot.recency_searcher() if recent else snapshot.searcher
    everything = compat.exact_top(searcher, query, 10_000_000, None, None, docnums(bits)).top_n
    return _boosted(everything, boosts, limit)


@pytest.fixture()
def engine(sample_index):
    with SearchEngine(sample_index) as engine:
        yield engine


def _cases(engine, texts):
    snapshot = engine._snapshot()
    for text in texts:
        tree = engine.read(text)
        bits = snapshot.matches(tree)
        if not bits:
            continue
        boosts = proximity_boosts(snapshot, adjacent_pairs(tree))
        for subset in (bits, bits_of(d for n, d in enumerate(docnums(bits)) if n % 3 != 1) or bits):
            for limit in (1, 3, 10, 1000):
                for recent in (False, True):
                    for boost in (boosts, ()):
                        yield text, tree, subset, limit, recent, boost


def _ranks_and_scores_agree(found, reference):
    """Whoosh sums a query's term scores in the order of the matcher trees it builds per
    segment; the arrays sum them in the query's order: the same ranks, scores equal up to
    their last bits."""
    assert [d for _, d in found] == [d for _, d in reference]
    for (mine, _), (whooshs, _) in zip(found, reference):
        assert mine == pytest.approx(whooshs, rel=1e-12, abs=0)


def test_modelled_scores_rank_as_whoosh_scoring_every_match(engine):
    snapshot = engine._snapshot()
    checked = 0
    for text, tree, bits, limit, recent, boosts in _cases(engine, SCORED):
        query = _compiled(tree)
        found = derived.modelled_top(snapshot, query, bits, limit, boosts, recent)
        assert found is not None, text   # every query here is modelled
        reference = _every_match(snapshot, query, bits, limit, boosts, recent)
        try:
            _ranks_and_scores_agree(found, reference)
        except AssertionError as failure:
            raise AssertionError(f"{text!r} limit {limit} recent {recent}: {failure}") from None
        checked += 1
    assert checked > 100


def test_a_modelled_query_builds_no_whoosh_matcher(engine, monkeypatch):
    def refused(*args, **kwargs):
        raise AssertionError("Whoosh scored a modelled query")

    monkeypatch.setattr(compat, "exact_top", refused)
    snapshot = engine._snapshot()
    for text in SCORED:
        tree = engine.read(text)
        bits = snapshot.matches(tree)
        top = snapshot.ranked(tree, bits, 3, "relevance", False, proximity_boosts(snapshot, adjacent_pairs(tree)))
        assert len(top) == min(3, bits.bit_count()), text


def test_documents_the_query_does_not_match_are_not_ranked(engine):
    snapshot = engine._snapshot()
    tree = engine.read("facial recognition ban")
    query, bits = _compiled(tree), snapshot.matches(tree)
    found = derived.modelled_top(snapshot, query, snapshot.live, 1000)
    assert {d for _, d in found} == set(docnums(bits))


def test_a_query_the_model_does_not_cover_is_left_to_whoosh(engine):
    snapshot = engine._snapshot()
    for text in ("priva*", "privacy NOT facebook"):
        tree = engine.read(text)
        bits = snapshot.matches(tree)
        assert bits, text
        assert derived.modelled_top(snapshot, _compiled(tree), bits, 3) is None, text
        assert snapshot.ranked(tree, bits, 3, "relevance", False) == _every_match(
            snapshot, _compiled(tree), bits, 3, (), False), text


def _per_document(snapshot, concepts, bits, limit, recent, boosts):
    """The reference: each document's sum of weight x word score, in Python, one by one."""
    weighted = [(snapshot.word_scores(t), w) for c in concepts for t, w in c]
    factors = snapshot.decay()
    marks = [(as_bytes(b), f) for b, f in boosts]
    scored = []
    for d in docnums(bits):
        score = sum(w * m.get(d, 0.0) for m, w in weighted)
        if recent:
            score *= factors[d]
        for data, factor in marks:
            if has(data, d):
                score *= factor
        scored.append((-score, d))
    return [(-negative, d) for negative, d in heapq.nsmallest(limit, scored)]


def test_word_scores_from_arrays_are_the_per_document_sums(engine):
    snapshot = engine._snapshot()
    checked = 0
    for text, tree, bits, limit, recent, boosts in _cases(engine, WORDS):
        concepts = word_concepts(tree, snapshot.analyze)
        assert concepts is not None, text
        found = snapshot.ranked(tree, bits, limit, "recent" if recent else "relevance", False, boosts)
        assert found == _per_document(snapshot, concepts, bits, limit, recent, boosts), (text, limit, recent)
        checked += 1
    assert checked > 50


def test_phrase_bitmaps_are_whooshs_phrase_matches(engine):
    """Phrases from positions (snapshot._phrase_bits) match what Whoosh's span matcher matches."""
    from whoosh import query as Q
    snapshot = engine._snapshot()
    checked = 0
    for text in ("facial recognition", "data protection authority", "european commission", "right to be forgotten",
                 "the data", "protection data", "recognition recognition", "ai act", "fine fine fine"):
        for field in ("title", "excerpt", "body", "related_text"):
            words = list(snapshot.analyze(field, text))
            if len(words) < 2:
                continue
            phrase = Q.Phrase(field, words, slop=1)
            expected = 0
            for d in snapshot.searcher.docs_for_query(phrase):
                expected |= 1 << d
            assert snapshot._phrase_bits(field, words) == expected & snapshot.live, (text, field)
            checked += bool(expected)
    assert checked >= 6


def test_term_bitmaps_from_posting_blocks_are_whooshs_matches(engine):
    """Word and facet-value bitmaps read a block of postings at a time: the
    documents Whoosh finds for the term, every one (long posting lists span blocks)."""
    from whoosh import query as Q
    snapshot = engine._snapshot()
    longest = 0
    for field in ("title", "excerpt", "body", "related_text", "f_topic", "f_regulator", "f_year"):
        for value in snapshot.values(field):
            expected = 0
            for d in snapshot.searcher.docs_for_query(Q.Term(field, value)):
                expected |= 1 << d
            snapshot._terms.pop((field, value), None)
            snapshot._facet_terms.pop((field, value), None)
            assert snapshot.term_bits(field, value) == expected & snapshot.live, (field, value)
            longest = max(longest, expected.bit_count())
    assert longest > 20


def test_posting_blocks_read_every_block(tmp_path):
    """A posting list longer than a block (Whoosh writes 128 postings a block) is read whole."""
    from conftest import write_news
    from searchapp.indexing import update_index
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    for n in range(300):
        write_news(corpus, f"item-{n}.md", title=f"Privacy regulator fines company {n}" + " privacy" * (n % 3),
                   excerpt="The authority fined it.", publishedDateTime=f"2023-01-{n % 28 + 1:02d}T10:00:00Z")
    update_index(corpus, index, full=True)
    with SearchEngine(index) as engine:
        snapshot = engine._snapshot()
        for leaf, _ in snapshot.searcher.leaf_searchers():
            reader = leaf.reader()
            expected = list(reader.postings("title", "privaci").items_as("weight"))
            docs, weights = compat.posting_blocks(reader, "title", "privaci")
            assert docs == [d for d, _ in expected]
            assert weights == pytest.approx([w for _, w in expected], rel=1e-6)
        assert snapshot.term_bits("title", "privaci") == snapshot.live
        assert snapshot.live.bit_count() == 300


def test_highlights_from_cached_tokens_are_whooshs(engine, monkeypatch):
    """Titles and excerpts are analysed once: the snippets equal Whoosh's own
    highlighter's, the first time and from the cache, and the second time
    nothing is analysed or read from the stored documents again."""
    from whoosh import highlight
    from searchapp.backends.whoosh import snapshot as whoosh_snapshot
    snapshot = engine._snapshot()
    plain = {"_WHOLE": highlight.Highlighter(fragmenter=highlight.WholeFragmenter(),
                                             formatter=compat.EscapingFormatter()),
             "_CONTEXT": highlight.Highlighter(fragmenter=highlight.ContextFragmenter(maxchars=240, surround=60),
                                               formatter=compat.EscapingFormatter())}
    cases = []
    for text in SCORED + WORDS + ("rules", "court"):
        tree = engine.read(text)
        for score, docnum in snapshot.ranked(tree, snapshot.matches(tree), 10, "relevance", False):
            cases.append((tree, docnum, score))
    assert len(cases) > 50
    cached = [snapshot.highlights(*case) for case in cases]
    with monkeypatch.context() as patch:
        for name, highlighter in plain.items():
            patch.setattr(whoosh_snapshot, name, highlighter)
        expected = [snapshot.highlights(*case) for case in cases]
    assert cached == expected
    assert any("<mark>" in title for _, title, _ in cached) and any("<mark>" in s for _, _, s in cached)

    def fails(*args, **kwargs):
        raise AssertionError("analysed or read again")

    for field in ("title", "excerpt"):
        monkeypatch.setattr(snapshot.searcher.schema[field], "analyzer", fails)
    monkeypatch.setattr(snapshot.searcher, "stored_fields", fails)
    assert [snapshot.highlights(*case) for case in cases if len(snapshot.record(case[1])["excerpt"]) > 0] == [
        e for case, e in zip(cases, expected) if len(snapshot.record(case[1])["excerpt"]) > 0]


def test_word_arrays_are_the_per_posting_scores_bit_for_bit(engine):
    """Ranking reads a word's scores as arrays built from posting blocks (single-precision
    weights turned back into frequency x field boost); they equal the per-posting loop."""
    snapshot = engine._snapshot()
    reader = snapshot.searcher.reader()
    words = {t.decode() if isinstance(t, bytes) else t
             for field in ("title", "excerpt", "body", "related_text")
             for _, t in reader.most_frequent_terms(field, 40)}
    words |= {"privacy", "recognition", "zebra"}
    for word in sorted(words):
        docs, scores = derived._word_arrays(snapshot, word)
        assert dict(zip(docs.tolist(), scores.tolist())) == snapshot.word_scores(word), word
    assert len(words) > 40


def test_an_or_is_matched_as_a_union_tree_in_a_small_segment(engine):
    """Whoosh preloads an Or of more than two parts in a segment of up to
    5,000 documents, scoring every posting of every part, however few
    candidates the ranking asks for (0.38 s for "facial recognition ba" at
    10k items). Compiled queries ask for union trees, which skip to them."""
    snapshot = engine._snapshot()
    query = _compiled(engine.read("facial recognition ban privacy"))
    leaf, _ = snapshot.searcher.leaf_searchers()[0]
    assert leaf.doc_count_all() <= 5000   # where Whoosh would preload
    kinds, todo = [], [query.matcher(leaf, leaf.context())]
    while todo:
        matcher = todo.pop()
        kinds.append(type(matcher).__name__)
        todo.extend(matcher.children())
    assert "UnionMatcher" in kinds and "ArrayUnionMatcher" not in kinds, kinds


def test_a_compound_of_one_part_scores_as_whoosh_ignoring_its_boost(engine):
    """Review 19: Whoosh scores an Or or And of one part as the part alone (its boost is
    dropped); an empty one matches nothing, and is left to Whoosh."""
    from whoosh import query as Q

    snapshot = engine._snapshot()
    term = Q.Term("excerpt", snapshot.stem("privacy"))
    for query in (Q.Or([term], boost=0.5), Q.And([term], boost=2.0), Q.Or([Q.And([term], boost=3.0), term])):
        bits = snapshot.query_bits(query)
        assert bits, query
        found = derived.modelled_top(snapshot, query, bits, 1000)
        _ranks_and_scores_agree(found, _every_match(snapshot, query, bits, 1000, (), False))
    assert derived.modelled_top(snapshot, Q.And([]), snapshot.live, 10) is None


def test_copies_in_different_segments_score_alike_and_the_first_indexed_leads(tmp_path):
    """Review 19: an item and its copy under another URL, appended in a later segment, have
    the same text: the arrays give them the same score (Whoosh's per-segment order of
    addition could differ in the last bit), and the tie goes to the lower docnum."""
    from conftest import write_news
    from searchapp.indexing import update_index

    corpus, index_dir = tmp_path / "corpus", tmp_path / "index"
    story = dict(title="Quantum privacy ruling against the data broker",
                 excerpt="The court found the quantum broker sold privacy data.", topics=["AI"])
    write_news(corpus, "original.md", webUrl="https://example.org/original", **story)
    for n in range(6):
        write_news(corpus, f"other-{n}.md", title=f"Privacy story {n} about quantum sensors and data")
    update_index(corpus, index_dir)
    write_news(corpus, "zz-copy.md", webUrl="https://example.net/copy", **story)
    update_index(corpus, index_dir)   # the copy goes into a new segment
    with SearchEngine(index_dir) as engine:
        snapshot = engine._snapshot()
        assert len(list(snapshot.searcher.leaf_searchers())) >= 2
        docnum = {snapshot.record(d)["url"]: d for d in docnums(snapshot.live)}
        original, copy = docnum["https://example.org/original"], docnum["https://example.net/copy"]
        assert original < copy
        tree = engine.read('"quantum privacy" OR quantum OR broker OR privacy data')
        found = derived.modelled_top(snapshot, _compiled(tree), snapshot.matches(tree), 100)
        score = {d: s for s, d in found}
        assert score[original] == score[copy]
        assert [d for _, d in found].index(original) + 1 == [d for _, d in found].index(copy)
