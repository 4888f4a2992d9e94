"""Round 22: a place named in a query ranks the items tagged with it by what the tag says,
not by the one point Whoosh gave a field without lengths (see README, "Round 22")."""

from __future__ import annotations

from conftest import same_day_news

from searchapp.core.service import SearchEngine
from searchapp.indexing import update_index


def _korea_corpus(tmp_path):
    root = tmp_path / "corpus"
    # tagged South Korea through Incheon; never spells "South" or "Korea"
    same_day_news(root, "incheon", "Airport face scanning plan draws critics",
                  "Critics say the ministry plan to scan travellers at Incheon airport goes too far.")
    for n in range(6):   # the query's other words, anywhere but Korea
        same_day_news(root, f"eu-{n}", f"European lawmakers debate AI legislation, round {n}",
                      f"Parliament in Brussels weighed the AI legislation again on day {n}.")
    for n in range(30):
        same_day_news(root, f"filler-{n}", f"Harbour news {n}", f"Nothing of note happened on day {n}.")
    update_index(root, tmp_path / "index", full=True)
    return tmp_path / "index"


def test_an_item_tagged_with_the_named_place_ranks_first_though_it_never_spells_it(tmp_path):
    with SearchEngine(_korea_corpus(tmp_path)) as engine:
        page = engine.search("South Korea AI legislation")
        assert [(i.facet, i.value) for i in page.interpreted] == [("jurisdiction", "South Korea")]
        names = [h.url.rsplit("/", 1)[1].removesuffix(".md") for h in page.hits]
        assert names[0] == "incheon", names   # with the tag scored 1 point it ranked last of 7
        assert sorted(names[1:7]) == [f"eu-{n}" for n in range(6)]


def test_a_tag_scores_its_idf_in_whoosh_and_in_the_arrays_alike(tmp_path):
    from searchapp.backends.whoosh import compat, derived
    from searchapp.bitmaps import docnums

    with SearchEngine(_korea_corpus(tmp_path)) as engine:
        snapshot = engine._snapshot()
        searcher = snapshot.searcher
        docs, scores = derived.arrays(snapshot).term(snapshot, "f_jurisdiction", "South Korea")
        assert len(docs) == 1
        idf = searcher.idf("f_jurisdiction", "South Korea")
        assert scores[0] == idf > 3   # one item of 37: a rare tag weighs like a rare word
        from whoosh import query as Q

        top = compat.exact_top(searcher, Q.Term("f_jurisdiction", "South Korea"), 10, None, None,
                               docnums(snapshot.live)).top_n
        assert [(s, d) for s, d in top] == [(idf, int(docs[0]))]


# ---------------------------------------------------------------- suggestions (review 22)

def _suggestion_corpus(tmp_path):
    root = tmp_path / "corpus"
    # tagged South Korea through Incheon and Seoul; no item has both "south" and "korea"
    same_day_news(root, "incheon", "Airport face scanning plan draws critics",
                  "Critics say the ministry plan to scan travellers at Incheon airport goes too far.")
    same_day_news(root, "seoul", "Seoul council drafts AI rules for airports",
                  "The council in Seoul wants limits on scanning faces at airports.")
    same_day_news(root, "korean", "Korean airlines test face boarding", "Passengers board with a face scan.")
    same_day_news(root, "south", "South Africa weighs AI rules", "Officials in Pretoria debated the draft.")
    for n in range(4):
        same_day_news(root, f"ftc-{n}", f"FTC fines firm {n} over facial recognition claims",
                      f"The Federal Trade Commission settled with firm {n}.")
    for n in range(10):   # "ftc" is the commonest word starting with "f" under "ftc"
        same_day_news(root, f"ftc-note-{n}", f"FTC note {n}", f"The agency published note {n}.")
    for n in range(12):
        same_day_news(root, f"google-{n}", f"Google fine {n} announced", f"Regulators fined Google again, case {n}.")
    update_index(root, tmp_path / "index", full=True)
    return tmp_path / "index"


def _texts(suggestions):
    return [(s.kind, s.text) for s in suggestions]


def test_a_place_typed_before_the_last_word_is_read_not_corrected(tmp_path):
    with SearchEngine(_suggestion_corpus(tmp_path)) as engine:
        offered = _texts(engine.suggest("South Korea ai"))
        # the earlier words name a place: its tagged items are the scope, so "airports" goes with them
        assert ("query", "South Korea airport") in offered, offered
        assert not any("korean" in text.lower() for _, text in offered), offered   # was "South korean ai..."


def test_the_words_before_the_last_may_begin_a_places_name(tmp_path):
    with SearchEngine(_suggestion_corpus(tmp_path)) as engine:
        offered = engine.suggest("south kor")
        facets = [(s.value, s.query) for s in offered if s.kind == "facet"]
        assert facets and facets[0] == ("South Korea", ""), _texts(offered)


def test_a_word_typed_already_is_not_offered_again(tmp_path):
    with SearchEngine(_suggestion_corpus(tmp_path)) as engine:
        offered = [text for kind, text in _texts(engine.suggest("ftc f")) if kind == "query"]
        assert "ftc ftc" not in offered and "ftc fine" in offered, offered


def test_suggestions_read_the_text_as_the_search_does(tmp_path):
    with SearchEngine(_suggestion_corpus(tmp_path)) as engine:
        assert _texts(engine.suggest("Ｇｏｏｇｌｅ")) == _texts(engine.suggest("Google")) != []
        for suggestion in engine.suggest("ftc\x01f"):
            assert "\x01" not in suggestion.text and "\x01" not in (suggestion.query or "")
        assert _texts(engine.suggest("ftc\x01f")) == _texts(engine.suggest("ftc f"))


# ---------------------------------------------------------------- the page (review 22)

def test_the_page_says_one_item_matches_and_drops_a_reading_once_applied(tmp_path):
    from searchapp.web import create_app

    index_dir = _korea_corpus(tmp_path)
    same_day_news(tmp_path / "corpus", "critics-debate", "Critics debate the airport plan", "They met on Monday.")
    update_index(tmp_path / "corpus", index_dir)
    client = create_app(index_dir).test_client()
    # one item has "critics" and "debate", others one of them: the query is relaxed
    html = client.get("/search?q=critics+debate").get_data(as_text=True)
    assert "1 item matches all your words; the others match some of them." in html   # was "1 item match"
    html = client.get("/search?q=South+Korea+AI+legislation").get_data(as_text=True)
    assert "also finds news tagged" in html and "South Korea" in html
    applied = client.get("/search?q=South+Korea+AI+legislation&jurisdiction=South+Korea").get_data(as_text=True)
    assert "also finds news tagged" not in applied   # the note would only take the filter off again


def test_an_abbreviation_being_typed_is_not_completed_as_a_word(tmp_path):
    with SearchEngine(_suggestion_corpus(tmp_path)) as engine:
        assert engine.suggest("U.S") == []   # offered "U.said", "U.state" (review 22)
        assert engine.suggest("ftc. fi") != []   # a full stop then a space ends a word as before


def test_skipped_files_are_listed_once_on_a_terminal(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from conftest import write_news
    from searchapp import cli

    corpus = tmp_path / "corpus"
    write_news(corpus, "good.md", title="Good news")
    (corpus / "bad.md").write_text("---\ntopics: AI\ntitle: x\n---\n")
    monkeypatch.setattr(cli, "_one_terminal", lambda: True)
    out = CliRunner().invoke(cli.main, ["index", "--corpus", str(corpus), "--index", str(tmp_path / "ix")]).output
    assert out.count("skipped bad.md:") == 1, out   # stderr's line only (it was repeated under the summary)
    monkeypatch.setattr(cli, "_one_terminal", lambda: False)
    out = CliRunner().invoke(cli.main, ["index", "--corpus", str(corpus), "--index", str(tmp_path / "ix2")]).output
    assert out.count("skipped bad.md:") == 2, out   # piped: the summary still lists it on stdout
