"""Round 8 (issue 15): a reindex hashes only the files of the current generation
that moved since the writer verified it (size, mtime, ctime, inode), and a
nothing-changed `searchapp index` imports neither Whoosh, numpy nor the search
service; damage is still found (tests/test_damaged.py covers every kind)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import small_index, write_news
from searchapp.indexing import update_index
from searchapp.store import generations as G

PROJECT = Path(__file__).resolve().parent.parent


def _corpus(tmp_path, count=6):
    return small_index(tmp_path, count, title="Story {n} about facial recognition")


@pytest.fixture
def hashed(monkeypatch):
    """Names of the files hashed in full, and the trial opens run."""
    seen = {"hashed": [], "trials": []}
    full_hash = G._full_hash
    monkeypatch.setattr(G, "_full_hash", lambda path: (seen["hashed"].append(Path(path).name), full_hash(path))[1])
    from searchapp.backends.whoosh import backend

    usable = backend.WhooshBackend.usable
    monkeypatch.setattr(backend.WhooshBackend, "usable",
                        lambda self, g, n, *trusted: (seen["trials"].append(g.name), usable(self, g, n, *trusted))[1])
    G._checked.clear()
    return seen


def test_a_nothing_changed_run_hashes_nothing_and_opens_nothing(tmp_path, hashed):
    corpus, index_dir, generation = _corpus(tmp_path)
    hashed["hashed"].clear(), hashed["trials"].clear()
    G._checked.clear()
    info = update_index(corpus, index_dir)
    assert info.mode == "unchanged"
    assert hashed == {"hashed": [], "trials": []}


def test_a_run_after_an_append_hashes_nothing_either(tmp_path, hashed):
    corpus, index_dir, _ = _corpus(tmp_path)
    write_news(corpus, "9.md", title="A later story")
    assert update_index(corpus, index_dir).mode == "incremental"
    hashed["hashed"].clear(), hashed["trials"].clear()
    G._checked.clear()
    assert update_index(corpus, index_dir).mode == "unchanged"
    assert hashed == {"hashed": [], "trials": []}


def test_a_file_garbled_with_its_size_and_mtime_restored_is_hashed_and_the_generation_rebuilt(tmp_path, hashed):
    corpus, index_dir, generation = _corpus(tmp_path)
    victim = next(p for p in sorted(generation.iterdir()) if p.name.endswith(".pst"))
    before = victim.stat()
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0x5A
    victim.write_bytes(bytes(data))
    os.utime(victim, ns=(before.st_atime_ns, before.st_mtime_ns))   # only the ctime tells
    hashed["hashed"].clear()
    info = update_index(corpus, index_dir)
    assert victim.name in hashed["hashed"]
    assert f"{generation.name} is damaged ({victim.name} content does not match" in info.repaired
    assert info.mode == "full" and G.current_generation(index_dir) != generation


def test_a_lying_manifest_in_place_voids_the_record_and_the_trial_open_runs(tmp_path, hashed):
    """Garbled terms under a manifest rewritten to match: the checksums pass, the trial open refuses it."""
    corpus, index_dir, generation = _corpus(tmp_path)
    victim = next(p for p in sorted(generation.iterdir()) if p.name.endswith(".trm"))
    data = bytearray(victim.read_bytes())
    for n in range(len(data) // 3, len(data) // 3 + 64):
        data[n] ^= 0x5A
    victim.write_bytes(bytes(data))
    G.write_manifest(generation)
    hashed["trials"].clear()
    info = update_index(corpus, index_dir)
    assert generation.name in hashed["trials"]
    assert info.mode == "full" and "is damaged" in info.repaired


def test_files_that_moved_are_hashed_alone_then_remembered_again(tmp_path, hashed):
    corpus, index_dir, generation = _corpus(tmp_path)
    moved = generation / "build.json"
    os.link(moved, tmp_path / "another-link")   # a link count change moves the ctime, not the content
    hashed["hashed"].clear(), hashed["trials"].clear()
    assert update_index(corpus, index_dir).mode == "unchanged"
    assert hashed == {"hashed": ["build.json"], "trials": []}   # same bytes as verified: no trial needed
    hashed["hashed"].clear()
    G._checked.clear()
    assert update_index(corpus, index_dir).mode == "unchanged"
    assert hashed["hashed"] == []


def test_a_record_of_another_generation_or_a_changed_listing_is_not_used(tmp_path):
    _, index_dir, generation = _corpus(tmp_path)
    same, moved = G.unverified_files(index_dir, generation)
    assert moved == frozenset() and "manifest.json" in same
    (generation / "extra-file").write_text("x")
    assert G.unverified_files(index_dir, generation) is None
    (generation / "extra-file").unlink()
    record = json.loads((index_dir / G.VERIFIED).read_text())
    (index_dir / G.VERIFIED).write_text(json.dumps({**record, "generation": "gen-20000101T000000000000-abcdef"}))
    assert G.unverified_files(index_dir, generation) is None
    (index_dir / G.VERIFIED).unlink()
    (index_dir / G.VERIFIED).symlink_to(tmp_path / "nowhere")
    assert G.unverified_files(index_dir, generation) is None


def test_a_file_changed_in_the_records_own_clock_tick_is_not_trusted(tmp_path):
    """File times are kept at the clock's tick: a file whose times are not older than the record
    may still change without moving them, so it is hashed next time (git's racy entries)."""
    _, index_dir, generation = _corpus(tmp_path)
    future = 4_000_000_000 * 10**9
    os.utime(generation / "build.json", ns=(future, future))
    G.record_verified(index_dir, generation)
    same, moved = G.unverified_files(index_dir, generation)
    assert moved == {"build.json"} and "manifest.json" in same


def test_a_nothing_changed_index_command_imports_no_whoosh_numpy_or_search_service(tmp_path):
    corpus, index_dir, _ = _corpus(tmp_path)
    code = ("import sys\n"
            "from searchapp.cli import main\n"
            f"main(['index', '--corpus', {str(corpus)!r}, '--index', {str(index_dir)!r}], standalone_mode=False)\n"
            "print(sorted({m.split('.')[0] for m in sys.modules if m.startswith(('whoosh', 'numpy'))}"
            " | {m for m in sys.modules if m.startswith(('searchapp.core', 'searchapp.backends.whoosh'))}))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=PROJECT,
                          env=dict(os.environ, PYTHONPATH=str(PROJECT)))
    assert done.returncode == 0, done.stderr
    assert "nothing changed" in done.stdout
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_a_dead_writers_record_temporary_is_removed_and_a_live_ones_kept(tmp_path):
    corpus, index_dir, _ = _corpus(tmp_path)
    dead, live = index_dir / f"{G.VERIFIED}.999999999.tmp", index_dir / f"{G.VERIFIED}.{os.getpid()}.tmp"
    dead.write_text("{")
    live.write_text("{")
    assert update_index(corpus, index_dir).mode == "unchanged"
    assert not dead.exists() and live.exists()


def test_the_clis_page_size_bound_is_the_services():
    from searchapp import cli
    from searchapp.core import service

    assert cli.MAX_PER_PAGE == service.MAX_PER_PAGE
