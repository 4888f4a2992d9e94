"""The place data's on-disk cache: used when sound, recomputed when not."""

from __future__ import annotations

import re

from searchapp.enrich import places


def test_regex_cache_is_written_then_used_and_a_damaged_one_is_recomputed(tmp_path, monkeypatch):
    monkeypatch.setenv("SEARCHAPP_CACHE", str(tmp_path))
    pattern = r"(?<!\w)(?:New (?:York|Jersey)|Oakland|S[aã]o Paulo)(?!\w)"
    text = "Police in Oakland, New York and São Paulo; not Newark"
    first = places.cached_regex(pattern)
    [cached] = tmp_path.glob("regex-*.json")
    second = places.cached_regex(pattern)
    assert first.findall(text) == second.findall(text) == re.compile(pattern).findall(text)
    for damage in ('{"flags": 32, "code": [1, 2, 3], "groups": 0, "groupindex": {}, "indexgroup": [null]}',
                   "not json", ""):
        cached.write_text(damage)
        assert places.cached_regex(pattern).findall(text) == ["Oakland", "New York", "São Paulo"]


def test_generated_places_come_back_equal_from_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SEARCHAPP_CACHE", str(tmp_path))
    yaml_entries = [{"name": "United States", "aliases": ["US"]}]
    computed = places.generated_jurisdictions(yaml_entries, ["reading"])
    assert list(tmp_path.glob("places-*.json"))
    assert places.generated_jurisdictions(yaml_entries, ["reading"]) == computed
    for path in tmp_path.glob("places-*.json"):
        path.write_text("[1]")
    assert places.generated_jurisdictions(yaml_entries, ["reading"]) == computed


def test_the_compiled_gazetteer_comes_back_equal_from_the_cache_and_a_damaged_one_is_rebuilt(tmp_path, monkeypatch):
    from searchapp.enrich import gazetteer
    monkeypatch.setenv("SEARCHAPP_CACHE", str(tmp_path))
    gazetteer._compiled.cache_clear()
    try:
        built = gazetteer._compiled()                  # no cache yet: built and written
        [cached] = tmp_path.glob("gazetteer-*.json")
        gazetteer._compiled.cache_clear()
        assert gazetteer._compiled() == built          # read back: every table equal
        text = ("The FTC fined Meta in California; Italy's privacy watchdog, the Garante, "
                "and Brazil's Congress acted. SPRINGFIELD, Mass. -- the city council voted.")
        want = gazetteer.tag_item(text)
        for damage in ("not json", '{"version": 8}', '{"version": 8, "pattern": "(", "forms": {}}', ""):
            cached.write_text(damage)
            gazetteer._compiled.cache_clear()
            assert gazetteer._compiled() == built
            assert gazetteer.tag_item(text) == want
    finally:
        gazetteer._compiled.cache_clear()
