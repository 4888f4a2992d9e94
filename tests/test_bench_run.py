"""The speed benchmark runs (tiny) in the suite, so it cannot rot: the corpus
generator is deterministic and readable, every engine answers, the report
carries every row and ratio."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys

from conftest import PROJECT, need_shared

sys.path.insert(0, str(PROJECT / "bench"))

import make_corpus  # noqa: E402
import peers  # noqa: E402
from searchapp.ingest.reader import read_corpus  # noqa: E402


def test_generated_corpus_is_deterministic_and_reads_cleanly(tmp_path):
    source = need_shared()
    first = make_corpus.generate(60, tmp_path / "a", source, seed=3)
    again = make_corpus.generate(60, tmp_path / "b", source, seed=3)
    other = make_corpus.generate(60, tmp_path / "c", source, seed=4)
    assert len(first) == 60
    assert [p.read_bytes() for p in first] == [p.read_bytes() for p in again]
    assert [p.read_bytes() for p in first] != [p.read_bytes() for p in other]

    corpus = read_corpus(tmp_path / "a")
    assert corpus.problems == () and len(corpus.items) == 60  # related lists only point at other generated items
    assert all(item.topics and item.provider.name and item.published for item in corpus.items)
    years = {item.published.year for item in corpus.items}
    assert len(years) >= 5  # spread over ten years
    assert sum(1 for item in corpus.items if item.related_ids) > 10

    changed = make_corpus.change_fraction(tmp_path / "a", 0.05)
    assert len(changed) == 3
    assert all("Updated coverage follows." in p.read_text() for p in changed)


def test_the_fts5_peer_streams_the_same_items_read_corpus_holds(tmp_path):
    """At a million items the FTS5 peer is built from a stream (merged fields
    kept, bodies read back per item); it must be the items read_corpus makes,
    related copies merged and a damaged file skipped."""
    folder = tmp_path / "corpus"
    shutil.copytree(PROJECT / "corpus", folder)
    (folder / "zz-broken.md").write_text("---\ntitle: [unclosed\n---\n")
    held = read_corpus(folder)
    assert len(held.problems) == 1
    streamed = list(peers.stream_items(folder))
    assert streamed == list(held.items) and len(streamed) >= 20
    db = tmp_path / "fts.db"
    peers.Fts5Peer.build(peers.stream_items(folder), db)
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM items").fetchone()[0] == len(streamed)
        topics = sum(len(set(item.topics)) for item in streamed)
        assert conn.execute("SELECT count(*) FROM item_topics").fetchone()[0] == topics > 0


def test_benchmark_smoke_run(tmp_path):
    need_shared()
    done = subprocess.run([sys.executable, str(PROJECT / "bench" / "run.py"), "--sizes", "300", "--queries", "20",
                           "--work", str(tmp_path)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    [raw] = tmp_path.glob("report-*.json")
    [result] = json.loads(raw.read_text())
    assert result["items"] == 300
    engines = result["search"]
    assert {"ours", "naive", "fts5"} <= set(engines)
    for name, figures in engines.items():
        assert figures["median_total"] > 0, name  # queries come from the corpus: they find things
        assert figures["cold"]["n"] == 20 and figures["cold"]["p95"] >= figures["cold"]["p50"] > 0
    assert result["http"]["ours_c1"]["errors"] == 0 and result["http"]["ours_c8"]["errors"] == 0
    assert 0 < result["http"]["ours_c1"]["server_anon_mb"] <= result["http"]["ours_c1"]["server_peak_mb"]
    assert result["http"]["suggest"]["n"] == 20
    assert result["incremental"]["files_changed"] == 3
    assert result["naive_build"]["seconds"] > 0 and result["ours_build"]["index_mb"] > 0
    report = done.stdout
    for row in ("searchapp full build, s", "build speed vs naive", "searchapp cold p95", "SQLite FTS5 warm p95",
                "warm p95 / FTS5 p95", "/api/suggest p95", "searchapp private memory per server worker"):
        assert f"| {row}" in report or f"| **{row}" in report, row


def test_reuse_measures_search_and_http_on_an_index_built_before(tmp_path, sample_index):
    corpus = PROJECT / "corpus"
    db = tmp_path / "fts5.db"
    done = subprocess.run([sys.executable, str(PROJECT / "bench" / "run.py"), "--reuse", f"{corpus},{sample_index},{db}",
                           "--queries", "10", "--work", str(tmp_path), "--skip", "datasette"],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    [result] = json.loads(next(tmp_path.glob("report-*.json")).read_text())
    assert set(result["search"]) == {"ours", "fts5"} and "ours_build" not in result and db.exists()
    assert result["http"]["ours_c8"]["errors"] == 0
    assert "| searchapp cold p95" in done.stdout


def test_switch_bench_times_requests_after_each_switch(tmp_path, sample_index):
    import shutil

    index = tmp_path / "index"
    shutil.copytree(sample_index, index)
    done = subprocess.run([sys.executable, str(PROJECT / "bench" / "switch.py"), "--index", str(index), "--link",
                           "--rounds", "2", "--after", "1", "--queries", "2"],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert len(result["rounds"]) == 2 and len(list(index.glob("gen-*"))) >= 2
    for kind in ("suggest", "search"):
        assert result["rounds"][0]["after_switch"][kind]["n"] > 0
        assert result["worst_after_switch"][kind]["worst_over_same_request_warm"] > 0
    assert len(result["worker_private_mb"]) == 2 and all(mb > 0 for mb in result["worker_private_mb"])


def test_pool_runs_bench_times_both_ways_and_checks_the_same_postings():
    done = subprocess.run([sys.executable, str(PROJECT / "bench" / "pool_runs.py"), "--postings", "6000", "--runs", "3"],
                          capture_output=True, text=True, timeout=120, cwd=PROJECT)
    assert done.returncode == 0, done.stderr
    assert "6,000 postings in 3 runs: whoosh" in done.stdout and "same postings, same order" in done.stdout
