"""The place data's on-disk cache: used when sound, recomputed when not."""

from __future__ import annotations

import hashlib
import re

import pytest

from searchapp.enrich import places


def test_regex_cache_is_written_then_used_and_a_damaged_one_is_recomputed(tmp_path, monkeypatch):
    monkeypatch.setenv("SEARCHAPP_CACHE", str(tmp_path))
    pattern = r"(?<!\w)(?:New (?:York|Jersey)|Oakland|S[aã]o Paulo)(?!\w)"
    text = "Police in Oakland, New York and São Paulo; not Newark"
    first = places.cached_regex(pattern)
    [cached] = tmp_path.glob("regex-*.bin")
    second = places.cached_regex(pattern)
    assert first.findall(text) == second.findall(text) == re.compile(pattern).findall(text)
    whole = cached.read_bytes()
    # a program of the right checksum but damaged, a cut file, a flipped byte, nothing, not ours
    header = b'{"flags": 32, "typecode": "I", "groups": 0, "groupindex": {}, "indexgroup": [null]}'
    rest = len(header).to_bytes(8, "little") + header + bytes(12)
    forged = hashlib.sha256(rest).hexdigest().encode() + b"\n" + rest
    for damage in (forged, whole[:-7], whole[:100] + bytes([whole[100] ^ 1]) + whole[101:], b"", b"not ours"):
        cached.write_bytes(damage)
        assert places.cached_regex(pattern).findall(text) == ["Oakland", "New York", "São Paulo"]
    assert places.cache_read_bytes(cached.name) is not None   # rewritten whole by the last call


def test_a_lazy_gazetteer_table_answers_a_damaged_entry_from_the_yaml(tmp_path, monkeypatch):
    # The compiled gazetteer's forms and places are made into objects when first looked up
    # (most of a cache read's time went to making all of them); an entry that does not convert
    # is answered from the table built from the yaml, never raised.
    from searchapp.enrich import gazetteer
    monkeypatch.setenv("SEARCHAPP_CACHE", str(tmp_path))
    gazetteer._compiled.cache_clear()
    try:
        built = gazetteer._compiled()
        gazetteer._compiled.cache_clear()
        cached = gazetteer._compiled()
        assert isinstance(cached.forms, gazetteer._Lazy)
        assert cached.forms["california"] == built.forms["california"]
        assert len(cached.forms._made) == 1          # one entry made, not the 9,000
        cached.forms._raw["cnil"] = [["not a rule"]]   # an entry of another shape
        assert cached.forms["cnil"] == built.forms["cnil"]
        assert cached.forms.get("no such form") is None and "no such form" not in cached.forms
        with pytest.raises(ValueError):
            gazetteer._Lazy([], gazetteer._forms_entry, dict)
    finally:
        gazetteer._compiled.cache_clear()


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
