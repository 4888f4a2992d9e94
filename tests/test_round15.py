"""Round 15: a place's ambiguous alias read from a query when it names one place
only (issue 12); an append's writer trial-opens only its new segment and takes
the previous documents' dates from the previous tables (issue 15)."""

from __future__ import annotations

import numpy as np
import pytest
from whoosh import index as whoosh_index

from conftest import write_news
from searchapp.backends.whoosh import tables, trial
from searchapp.core.service import SearchEngine
from searchapp.enrich.entities import find_names
from searchapp.indexing import update_index
from searchapp.store import generations as G
from searchapp.store.generations import current_generation


def _read(query: str) -> list[tuple[str, str]]:
    words = query.split()
    return [(" ".join(words[f.start:f.end]), f.value) for f in find_names(words)]


@pytest.mark.parametrize("query, expected", [
    ("New York deepfake bills", [("New York", "New York")]),        # the city rolls up to the state
    ("new york schools", [("new york", "New York")]),
    ("NY deepfake bills", [("NY", "New York")]),
    ("Korea facial recognition", []),                               # one word, and inside "North Korea"
    ("N. Korea hackers", []),
    ("New York Post lawsuit", []),                                  # a capitalised word continues the name
    ("New York AI hiring law", [("New York", "New York")]),         # an acronym does not
    ("Washington DC privacy", [("Washington DC", "District of Columbia")]),
    ("America AI rules", []),                                       # one word: "Latin America", "Captain America"
    ("thanksgiving turkey recipes", []),
    ("Detroit news facial recognition", [("Detroit", "Detroit")]),  # stop phrases only stop names read alone
    ("New York Times vs OpenAI", []),                               # a stop phrase: the newspaper
    ("NY Times lawsuit", []),
    ("Bank of America AI", []),
    ("Georgia privacy law", []),                                    # the state or the country
    ("Portland facial recognition ban", []),                        # Maine or Oregon
    ("Washington facial recognition", []),                          # the state or the US government
    ("Victoria privacy law", []),                                   # one of the gazetteer's ambiguous names
    ("Washington state facial recognition law", [("Washington state", "Washington")]),
    ("ny facial recognition", []),                                  # a two-letter code only in capitals
])
def test_an_ambiguous_alias_naming_one_place_is_read_from_a_query(query, expected):
    assert _read(query) == expected


def test_new_york_in_a_query_finds_the_states_items_that_say_ny(tmp_path):
    """"New York deepfake bills": the state's deepfake bills (tagged New York,
    written "NY") rank above a New York item about bills on something else;
    read as the two words "new" and "york", the other item covered more of
    the query and ranked first."""
    root = tmp_path / "corpus"

    def news(name, title, excerpt):
        write_news(root, f"{name}.md", title=title, excerpt=excerpt, topics=["AI"],
                   publishedDateTime="2023-05-01T10:00:00Z")

    news("deepfakes", "NY bills would ban deepfakes",
         "Measures passed by the State Legislature this session include banning deepfake images.")
    news("schools", "New York schools pause face scanning under new bills",
         "Albany lawmakers passed bills pausing face scanning in New York schools.")
    for n in range(8):
        news(f"filler-{n}", f"New harbour rules, part {n}", "New rules for the harbour were announced today.")
    update_index(root, tmp_path / "index", full=True)
    with SearchEngine(tmp_path / "index") as engine:
        page = engine.search("New York deepfake bills")
        assert [hit.url.rsplit("/", 1)[1] for hit in page.hits][:2] == ["deepfakes.md", "schools.md"]
        assert [(i.text, i.facet, i.value) for i in page.interpreted] == [("New York", "jurisdiction", "New York")]
        assert engine.search("New York Times deepfake bills").interpreted == ()


def _segments_read(monkeypatch) -> list[tuple[str, str]]:
    """(generation, segment) of each segment whose stored documents a trial open reads."""
    read = []
    documents, opened = trial._documents, trial._with_searcher
    where = []

    def spy_documents(reader, whole):
        read.append((where[-1], reader.segment().segment_id()))
        return documents(reader, whole)

    def spy_opened(generation, *args):
        where.append(str(generation))
        return opened(generation, *args)
    monkeypatch.setattr(trial, "_documents", spy_documents)
    monkeypatch.setattr(trial, "_with_searcher", spy_opened)
    return read


def test_an_appends_writer_trial_opens_only_its_new_segment(tmp_path, monkeypatch):
    corpus, index_dir = tmp_path / "corpus", tmp_path / "index"
    for n in range(3):
        write_news(corpus, f"{n}.md", title=f"Story {n}", topics=["AI"], publishedDateTime="2023-05-01T10:00:00Z")
    update_index(corpus, index_dir)
    write_news(corpus, "9.md", title="A later story", topics=["AI"], publishedDateTime="2023-06-01T10:00:00Z")
    read = _segments_read(monkeypatch)
    G._checked.clear()
    assert update_index(corpus, index_dir).mode == "incremental"
    written = list(read)
    generation = index_dir / G.read_current(index_dir)[0]
    ix = whoosh_index.open_dir(str(generation))
    try:
        with ix.reader() as reader:
            segments = [leaf.segment().segment_id() for leaf, _ in reader.leaf_readers()]
    finally:
        ix.close()
    assert len(segments) == 2
    assert [s for g, s in written if g == str(generation)] == segments[1:]   # the new segment only
    # a reader that did not write it (a server) reads every segment
    read.clear()
    G._checked.clear()
    assert G.check_generation(generation)[0] == G.GOOD
    assert sorted(s for _, s in read) == sorted(segments)


def test_a_trusted_file_list_never_hides_a_damaged_new_segment(tmp_path):
    corpus, index_dir = tmp_path / "corpus", tmp_path / "index"
    write_news(corpus, "0.md", title="Story zero", topics=["AI"])
    update_index(corpus, index_dir)
    generation = current_generation(index_dir)
    victim = next(p for p in generation.iterdir() if p.name.endswith(".trm"))
    victim.write_bytes(victim.read_bytes()[:victim.stat().st_size // 2])
    others = frozenset(p.name for p in generation.iterdir() if p != victim)
    assert trial.trial_open(generation, None, others) is not None   # its segment has an untrusted file


def test_appended_dates_fall_back_to_the_column_when_the_previous_tables_do_not_fit(tmp_path):
    corpus, index_dir = tmp_path / "corpus", tmp_path / "index"
    for n in range(4):
        write_news(corpus, f"{n}.md", title=f"Story {n}", topics=["AI"],
                   publishedDateTime=f"2023-0{1 + n}-10T10:00:00Z")
    update_index(corpus, index_dir)
    ix = whoosh_index.open_dir(str(current_generation(index_dir)))
    try:
        with ix.searcher() as searcher:
            truth = tables.date_keys(searcher, "oldest")
            size = truth.size
            good = {"order-oldest": np.argsort(truth, kind="stable").astype(np.int32)}
            good["dates-oldest"] = truth[good["order-oldest"]]
            assert np.array_equal(tables._appended_dates(searcher, good, size, size, []), truth)
            for broken in ({**good, "order-oldest": good["order-oldest"][::-1].copy() * 0},   # not a permutation
                           {**good, "dates-oldest": good["dates-oldest"][:-1]}):             # one key short
                assert np.array_equal(tables._appended_dates(searcher, broken, size, size, []), truth)
            # as if documents 2 and 3 were appended, but no leaf holds them: the column, not
            # uninitialised memory
            first = np.argsort(truth[:2], kind="stable").astype(np.int32)
            assert np.array_equal(tables._appended_dates(
                searcher, {"order-oldest": first, "dates-oldest": truth[:2][first]}, 2, size, []), truth)
            assert np.array_equal(tables.newest_keys(truth), tables.date_keys(searcher, "newest"))
    finally:
        ix.close()
