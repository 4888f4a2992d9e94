"""Review of round 8 (review8): failing tests for what the review found.

Each test states what was expected; each failed on main at 35b2e50 (the gazetteer tests
rewritten for the cache's checksummed format of the fix)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import small_index
from searchapp.indexing import update_index
from searchapp.store import generations as G

PROJECT = Path(__file__).resolve().parent.parent


def _gazetteer_cache(tmp_path, monkeypatch):
    from searchapp.enrich import gazetteer
    monkeypatch.setenv("SEARCHAPP_CACHE", str(tmp_path))
    gazetteer._compiled.cache_clear()
    built = gazetteer._compiled()
    [cached] = tmp_path.glob("gazetteer-*.json")
    return gazetteer, built, cached


def _rewrite(cached: Path, payload_text: str, checksum: str | None = None) -> None:
    """The cache file with `payload_text` inside, under its own SHA-256 or `checksum`."""
    import hashlib
    digest = checksum or hashlib.sha256(payload_text.encode("utf-8")).hexdigest()
    cached.write_text(json.dumps({"sha256": digest, "text": payload_text}), "utf-8")


@pytest.mark.parametrize("damage", [
    "forms-a-list",     # valid JSON, consistent checksum, a table of the wrong type: AttributeError escaped
    "deep-nesting",     # valid JSON nested deeper than the parser's recursion: RecursionError escaped
    "deep-inside",      # the same nesting inside a consistent wrapper
])
def test_a_damaged_gazetteer_cache_of_another_shape_is_rebuilt_not_raised(tmp_path, monkeypatch, damage):
    # README: "a damaged cache is rebuilt". Got: every `searchapp index` (--full too) and
    # `searchapp search` failed with "unexpected error (AttributeError: 'list' object has no
    # attribute 'items')" until the file was deleted.
    gazetteer, built, cached = _gazetteer_cache(tmp_path, monkeypatch)
    try:
        if damage == "forms-a-list":
            data = json.loads(json.loads(cached.read_text("utf-8"))["text"])
            data["forms"] = []
            _rewrite(cached, json.dumps(data))
        elif damage == "deep-nesting":
            cached.write_text("[" * 100_000 + "]" * 100_000, "utf-8")
        else:
            _rewrite(cached, "[" * 100_000 + "]" * 100_000)
        gazetteer._compiled.cache_clear()
        assert gazetteer._compiled() == built
    finally:
        gazetteer._compiled.cache_clear()


def test_an_altered_gazetteer_cache_that_still_parses_is_not_trusted(tmp_path, monkeypatch):
    # A cache file altered in place (its tables emptied, the checksum left as written) was
    # trusted as long as its shape fit: items were then tagged by the altered tables, and since
    # the gazetteer's version did not change, later runs kept the wrong tags. Now each cache
    # file carries its text's SHA-256 and is rebuilt when they disagree.
    gazetteer, built, cached = _gazetteer_cache(tmp_path, monkeypatch)
    try:
        wrapper = json.loads(cached.read_text("utf-8"))
        data = json.loads(wrapper["text"])
        data["forms"], data["context_forms"], data["pattern"] = {}, {}, "(?!x)x"
        _rewrite(cached, json.dumps(data), checksum=wrapper["sha256"])
        gazetteer._compiled.cache_clear()
        assert gazetteer._compiled() == built
        text = "France's CNIL fined the company."
        assert gazetteer.tag_item(text).jurisdictions == ("France",)
    finally:
        gazetteer._compiled.cache_clear()


def test_verify_finds_a_tables_file_that_disagrees_with_the_segments(tmp_path):
    # README: `index --verify` is what to run "where a lying manifest is a threat"; its full
    # check "decodes everything ... and cross-checks what is derived". The tables file
    # (titles shown by suggestions, postings, story numbers) is not checked at all: a title
    # replaced and the manifest rewritten passes `--verify` (exit 0), suggestions show the
    # altered title, and since this round every append extends the previous tables file
    # (tables.write(appending=True)) instead of recomputing it, the damage is carried into
    # every later generation with an honest manifest.
    from searchapp.backends.whoosh import tables
    corpus, index_dir, _ = small_index(tmp_path, 4, "Story {n} about facial recognition")
    generation = G.current_generation(index_dir)
    found = {k: np.array(v) for k, v in tables.load(generation).items()}
    titles, offsets = found["titles"], found["titles-offsets"]
    raw = bytearray(titles.tobytes())
    start, end = int(offsets[0]), int(offsets[1])
    raw[start:end] = b"X" * (end - start)
    found["titles"] = np.frombuffer(bytes(raw), dtype=titles.dtype)
    for old in generation.glob("tables.*"):
        old.unlink()
    tables.save(generation, found)
    G.write_manifest(generation)
    run = subprocess.run([sys.executable, "-m", "searchapp", "index", "--verify", "--index", str(index_dir),
                          "--corpus", str(corpus)], capture_output=True, text=True, cwd=PROJECT)
    assert run.returncode == 1, run.stdout + run.stderr


def test_a_next_file_left_by_a_killed_build_is_removed_by_the_next_run(tmp_path):
    # `searchapp index` killed (kill -9) while it waits for servers leaves index/NEXT naming a
    # generation CURRENT never named. Nothing removes it (remove_old cleans .building-*, CURRENT
    # and .verified temporaries, not NEXT): every later run without servers keeps it, and each
    # server started afterwards warms that dead generation (or the missing one) at start and
    # reports it ready. Expected, as for the other leftovers of killed builds: removed by the
    # next run (it holds the writer lock, so no build of its own is announcing).
    corpus, index_dir, _ = small_index(tmp_path, 3, "Story {n} about facial recognition")
    (index_dir / G.NEXT).write_text("gen-20200101T000000000000-000000\n")   # what the killed build left
    update_index(corpus, index_dir)
    assert not (index_dir / G.NEXT).exists()
