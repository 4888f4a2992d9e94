"""The CLI: exit codes, output, JSON shape. In process with click's CliRunner
(a real index on disk, no mocks), plus one real `python -m searchapp` process."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from types import SimpleNamespace

import pytest
from click.testing import CliRunner

from conftest import SAMPLE_CORPUS, write_news
from searchapp.cli import main
from searchapp.ingest.reader import read_corpus
from searchapp.store.generations import current_generation


@contextlib.contextmanager
def _working_folder(path):
    before = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)


def run(*args, cwd=None):
    """The command's exit status, stdout and stderr; a traceback is a failure."""
    with _working_folder(cwd or os.getcwd()):
        result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=True)
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"the command raised {result.exception!r}")
    return SimpleNamespace(returncode=result.exit_code, stdout=result.stdout, stderr=result.stderr)


def test_a_real_process_indexes_and_searches(tmp_path):
    """`python -m searchapp` as a user runs it: the module entry point, real exit codes."""
    write_news(tmp_path / "corpus", "a.md", title="Entry point works")
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    for args in (["index"], ["search", "entry", "point", "--json"]):
        done = subprocess.run([sys.executable, "-m", "searchapp", *args], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["total"] == 1
    bad = subprocess.run([sys.executable, "-m", "searchapp", "search", '"open'], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and bad.stderr.splitlines() == ['Error: unclosed quote: add the closing " or remove the opening one']


@pytest.fixture(scope="module")
def cli_index(tmp_path_factory):
    index_dir = tmp_path_factory.mktemp("cli") / "index"
    done = run("index", "--corpus", SAMPLE_CORPUS, "--index", index_dir)
    assert done.returncode == 0, done.stderr
    return index_dir, done


def test_index_summary_counts_files_and_items(cli_index):
    index_dir, done = cli_index
    truth = read_corpus(SAMPLE_CORPUS)
    assert (f"Read {truth.files_read} files ({truth.files_read} parsed), indexed {len(truth.items)} items "
            "(full rebuild), skipped 0 files") in done.stdout
    assert current_generation(index_dir) is not None
    assert done.stderr == ""  # no progress bar when not on a terminal


def test_defaults_are_corpus_and_index_in_the_working_folder(tmp_path):
    write_news(tmp_path / "corpus", "a.md", title="Default folders work")
    done = run("index", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert current_generation(tmp_path / "index") is not None
    found = run("search", "default", "folders", "--json", cwd=tmp_path)
    assert json.loads(found.stdout)["total"] == 1


def test_missing_or_empty_corpus_exits_1_with_one_line(tmp_path):
    missing = run("index", "--corpus", tmp_path / "nope", "--index", tmp_path / "ix")
    assert missing.returncode == 1
    assert missing.stderr.strip().splitlines() == [f"Error: corpus folder not found: {tmp_path / 'nope'}"]
    (tmp_path / "empty").mkdir()
    empty = run("index", "--corpus", tmp_path / "empty", "--index", tmp_path / "ix")
    assert empty.returncode == 1 and "no news files" in empty.stderr
    assert len(empty.stderr.strip().splitlines()) == 1


def test_broken_files_are_reported_and_the_rest_indexed(tmp_path):
    corpus = tmp_path / "corpus"
    write_news(corpus, "good.md", title="Good news")
    (corpus / "bad.md").write_text("---\ntopics: AI\ntitle: x\n---\n")
    done = run("index", "--corpus", corpus, "--index", tmp_path / "ix")
    assert done.returncode == 0
    assert "skipped bad.md: field 'topics' must be a list of names" in done.stderr
    assert "indexed 1 item (full rebuild), skipped 1 file" in done.stdout
    assert json.loads(run("search", "good", "--json", "--index", tmp_path / "ix").stdout)["total"] == 1


def test_strict_refuses_and_leaves_the_index_unchanged(tmp_path):
    corpus = tmp_path / "corpus"
    write_news(corpus, "good.md", title="Good news")
    assert run("index", "--corpus", corpus, "--index", tmp_path / "ix").returncode == 0
    before = current_generation(tmp_path / "ix")
    (corpus / "bad.md").write_bytes(b"\xff\xfe not utf-8")
    strict = run("index", "--strict", "--corpus", corpus, "--index", tmp_path / "ix")
    assert strict.returncode == 1
    assert "skipped bad.md: no YAML front matter" in strict.stderr or "not UTF-8" in strict.stderr
    assert "--strict: 1 of 2 files could not be read; the index was not changed" in strict.stderr
    assert current_generation(tmp_path / "ix") == before


def test_search_json_has_the_api_shape(cli_index):
    index_dir, _ = cli_index
    done = run("search", "facial", "recognition", "--json", "--limit", "3", "--index", index_dir)
    assert done.returncode == 0, done.stderr
    page = json.loads(done.stdout)
    assert {"query", "total", "page", "per_page", "results", "facets"} <= set(page)
    assert page["query"] == "facial recognition" and page["per_page"] == 3 and page["page"] == 1
    assert 0 < len(page["results"]) <= 3 <= page["total"]
    for hit in page["results"]:
        assert set(hit) >= {"id", "url", "title", "excerpt", "snippet", "published", "provider", "topics", "score"}
        assert set(hit["provider"]) == {"name", "domain"}
        assert isinstance(hit["topics"], list) and isinstance(hit["score"], float)
        assert "<mark>" in hit["snippet"] + hit["title"]   # every hit says where the words are
    assert set(page["facets"]) == {"topic", "jurisdiction", "regulator", "provider", "year", "month"}
    for values in page["facets"].values():
        for value in values:
            assert set(value) == {"value", "count", "selected"} and value["count"] > 0


def test_search_filters_sort_and_text_output(cli_index):
    index_dir, _ = cli_index
    done = run("search", "--topic", "Biometrics", "--sort", "newest", "--json", "--limit", "100", "--index", index_dir)
    page = json.loads(done.stdout)
    truth = [i for i in read_corpus(SAMPLE_CORPUS).items if "Biometrics" in i.topics]
    assert page["total"] == len(truth) > 0
    dates = [h["published"] for h in page["results"]]
    assert dates == sorted(dates, reverse=True)
    assert [v for v in page["facets"]["topic"] if v["selected"]] == [
        {"value": "Biometrics", "count": len(truth), "selected": True}]
    text = run("search", "--topic", "Biometrics", "--sort", "newest", "--index", index_dir)
    assert text.returncode == 0
    first = page["results"][0]
    assert f"  1. {first['title']}" in text.stdout and first["url"] in text.stdout
    assert f"*Biometrics ({len(truth)})" in text.stdout


def test_search_errors_have_exit_codes(tmp_path, cli_index):
    index_dir, _ = cli_index
    bad = run("search", '"unclosed', "--index", index_dir)
    assert bad.returncode == 2 and bad.stderr.startswith("Error: unclosed quote")
    assert "Traceback" not in bad.stderr
    missing = run("search", "x", "--index", tmp_path / "none")
    assert missing.returncode == 1 and "no index in" in missing.stderr
    assert run("search", "x", "--limit", "1000", "--index", index_dir).returncode == 2
    assert run("search", "x", "--from", "yesterday", "--index", index_dir).returncode == 2


def test_search_by_jurisdiction_and_regulator(cli_index):
    index_dir, _ = cli_index
    everything = json.loads(run("search", "--json", "--index", index_dir).stdout)
    place = everything["facets"]["jurisdiction"][0]
    done = run("search", "--jurisdiction", place["value"], "--json", "--limit", "100", "--index", index_dir)
    assert done.returncode == 0, done.stderr
    page = json.loads(done.stdout)
    assert page["total"] == place["count"] and all(place["value"] in h["jurisdictions"] for h in page["results"])
    regulator = everything["facets"]["regulator"][0]
    text = run("search", "--regulator", regulator["value"], "--sort", "recent", "--index", index_dir)
    assert text.returncode == 0 and f"*{regulator['value']} ({regulator['count']})" in text.stdout
    assert "sorted by newest" in text.stdout  # no words: recency alone
    assert run("search", "--sort", "sideways", "--index", index_dir).returncode == 2


def test_a_correction_is_said_and_can_be_refused(cli_index):
    index_dir, _ = cli_index
    corrected = run("search", "facal", "recognition", "--index", index_dir)
    assert corrected.returncode == 0
    assert 'showing results for "facial recognition"; search instead for "facal recognition"' in corrected.stdout
    exact = run("search", "facal", "recognition", "--no-autocorrect", "--json", "--index", index_dir)
    page = json.loads(exact.stdout)
    assert page["corrected_from"] is None and page["query"] == "facal recognition"
