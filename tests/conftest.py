"""Shared fixtures: real indexes on disk, built from the sample corpus, the
shared real-news corpus (by path, skipped when absent) or small corpora the
tests write themselves."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml

from searchapp.indexing import update_index
from searchapp.ingest.reader import read_corpus
from searchapp.core.service import SearchEngine

PROJECT = Path(__file__).resolve().parents[1]
SAMPLE_CORPUS = PROJECT / "corpus"
SHARED = Path(os.environ.get("SEARCHAPP_SHARED", PROJECT.parent / "shared"))
SHARED_CORPUS = SHARED / "corpus"
SEEDS = SHARED_CORPUS / "seeds"


def need_shared() -> Path:
    if not SHARED_CORPUS.is_dir():
        pytest.skip(f"the shared real-news corpus is not at {SHARED_CORPUS} (set SEARCHAPP_SHARED to its folder)")
    return SHARED_CORPUS


def write_news(folder: Path, name: str, body: str = "", **fields) -> Path:
    """Write one news file in the corpus format (YAML front matter + body)."""
    fields.setdefault("title", name)
    fields.setdefault("webUrl", f"https://example.org/{name}")
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    front = yaml.safe_dump(fields, allow_unicode=True, sort_keys=False)
    path.write_text(f"---\n{front}---\n{body}\n", encoding="utf-8")
    return path


def same_day_news(root: Path, name: str, title: str, excerpt: str) -> Path:
    """One AI news item `name`.md, published on the day every ranking test's items share."""
    return write_news(root, f"{name}.md", title=title, excerpt=excerpt, topics=["AI"],
                      publishedDateTime="2023-05-01T10:00:00Z")


def thirty_fines(root: Path, marker: str | None = None) -> None:
    """Thirty near-identical items about a privacy fine, and with `marker` one more titled with it."""
    for n in range(30):
        write_news(root, f"item-{n}.md", title=f"Privacy regulator fines company {n}",
                   excerpt="The data protection authority fined it.", publishedDateTime=f"2023-01-{n % 28 + 1:02d}T10:00:00Z")
    if marker:
        write_news(root, "marker.md", title=f"{marker} regulation story")


def small_index(tmp_path: Path, count: int = 5, title: str = "Story {n}") -> tuple[Path, Path, Path]:
    """(corpus, index folder, current generation) of `count` one-line items built at tmp_path."""
    from searchapp.indexing import update_index
    from searchapp.store.generations import current_generation

    corpus, index_dir = tmp_path / "corpus", tmp_path / "index"
    for n in range(count):
        write_news(corpus, f"{n}.md", title=title.format(n=n), topics=["AI"])
    update_index(corpus, index_dir)
    return corpus, index_dir, current_generation(index_dir)


def dated_index(tmp_path: Path, count: int, date: str = "2023-{month:02d}-10T10:00:00Z",
                title: str = "Story {n} about the regulator") -> tuple[Path, Path, Path]:
    """(corpus, index folder, current generation) of `count` dated items, item n dated by
    `date` with {n}, {day} = 10 + n and {month} = 1 + n."""
    from searchapp.indexing import update_index
    from searchapp.store.generations import current_generation

    corpus, index_dir = tmp_path / "corpus", tmp_path / "index"
    for n in range(count):
        write_news(corpus, f"{n}.md", title=title.format(n=n), topics=["AI"],
                   publishedDateTime=date.format(n=n, day=10 + n, month=1 + n))
    update_index(corpus, index_dir)
    return corpus, index_dir, current_generation(index_dir)


def related(name: str, **fields) -> dict:
    fields.setdefault("title", name)
    fields.setdefault("webUrl", f"https://example.org/{name}")
    return fields


@pytest.fixture(scope="session")
def sample_corpus():
    return read_corpus(SAMPLE_CORPUS)


@pytest.fixture(scope="session")
def sample_index(tmp_path_factory, sample_corpus) -> Path:
    index_dir = tmp_path_factory.mktemp("sample-index")
    update_index(SAMPLE_CORPUS, index_dir, full=True)
    return index_dir


@pytest.fixture(scope="session")
def sample_engine(sample_index):
    engine = SearchEngine(sample_index)
    yield engine
    engine.close()


@pytest.fixture(scope="session")
def shared_corpus():
    return read_corpus(need_shared())


@pytest.fixture(scope="session")
def shared_index(tmp_path_factory, shared_corpus) -> Path:
    index_dir = tmp_path_factory.mktemp("shared-index")
    update_index(need_shared(), index_dir, full=True)
    return index_dir


@pytest.fixture(scope="session")
def shared_engine(shared_index):
    engine = SearchEngine(shared_index)
    yield engine
    engine.close()


# ---------------------------------------------------------------- real servers



def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    def __init__(self, base: str, process: subprocess.Popen):
        self.base = base
        self.process = process

    def get(self, path: str, accept_errors: bool = True):
        """(status, headers, body bytes) of a GET."""
        try:
            with urllib.request.urlopen(self.base + path, timeout=30) as response:
                return response.status, response.headers, response.read()
        except urllib.error.HTTPError as error:
            if not accept_errors:
                raise
            return error.code, error.headers, error.read()

    def json(self, path: str):
        status, _, body = self.get(path)
        return status, json.loads(body)


SESSION_SERVER_ARGS = ["--client-share", "0"]


@contextmanager
def running_server(index_dir: Path, corpus_dir: Path | None = None, extra_args: list[str] = ()):
    """`searchapp serve` as a user starts it, on a free port; stopped afterwards."""
    port = free_port()
    args = [sys.executable, "-m", "searchapp", "serve", "--port", str(port), "--index", str(index_dir), *extra_args]
    if corpus_dir is not None:
        args += ["--corpus", str(corpus_dir)]
    log = open(index_dir.parent / f"server-{port}.log", "w+")
    process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ, PYTHONWARNINGS="ignore"))
    server = Server(f"http://127.0.0.1:{port}", process)
    deadline = time.monotonic() + 60
    try:
        while True:
            if process.poll() is not None:
                log.seek(0)
                raise RuntimeError(f"server exited with {process.returncode}:\n{log.read()}")
            try:
                if server.get("/healthz")[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("server did not answer /healthz within 60 s")
            time.sleep(0.1)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


@pytest.fixture(scope="session")
def sample_server(tmp_path_factory):
    """Started on a folder with no index yet: `serve` builds it from the corpus first."""
    index_dir = tmp_path_factory.mktemp("served") / "index"
    # the whole session's tests ask from one address, far beyond a person's pace: the per-client budget
    # (tested on its own in test_fairness.py) would make them wait and time out
    with running_server(index_dir, SAMPLE_CORPUS, extra_args=SESSION_SERVER_ARGS) as server:
        yield server


@pytest.fixture(scope="session")
def shared_server(shared_index):
    with running_server(shared_index, extra_args=SESSION_SERVER_ARGS) as server:
        yield server


# ---------------------------------------------------------------- layers
# `python -m pytest` runs everything (what CI runs). The quick layer,
# `python -m pytest -m "not slow and not browser"`, leaves out system tests:
# real processes and servers, crash/load/bench runs, and the shared real
# corpus (so it never skips when ../shared is absent).

SYSTEM_MODULES = {"test_crash", "test_live_refresh", "test_bench_load", "test_bench_run",
                  "test_damaged"}   # the damaged-state catalogue: real servers, users, kills, big indexes
SHARED_FIXTURES = {"shared_corpus", "shared_index", "shared_engine", "shared_server"}
# property-based and real-process tests: thorough, and seconds each
SLOW_NAMES = ("test_random_", "test_a_real_process", "test_cli_survives", "test_thousands_of_copies",
              "test_a_second_reindex_waits", "test_deeply_nested_or_unclosed_markup", "test_after_deletions",
              "test_unclosed_liquid")


def _mentions_shared(function) -> bool:
    try:
        import inspect

        source = inspect.getsource(function)
    except (OSError, TypeError):
        return False
    return "need_shared(" in source or "SHARED_CORPUS" in source


def _uses_shared_data(item) -> bool:
    """The test, or a fixture it uses, reads the shared real corpus."""
    if SHARED_FIXTURES & set(getattr(item, "fixturenames", ())):
        return True
    if _mentions_shared(getattr(item, "function", None)):
        return True
    info = getattr(item, "_fixtureinfo", None)
    for definitions in (info.name2fixturedefs.values() if info else ()):
        if any(_mentions_shared(getattr(d, "func", None)) for d in definitions):
            return True
    return False


def pytest_collection_modifyitems(config, items):
    for item in items:
        module = item.module.__name__.rsplit(".", 1)[-1] if item.module else ""
        names = set(getattr(item, "fixturenames", ()))
        if item.get_closest_marker("browser") or module == "test_browser" or {"page", "browser"} & names:
            item.add_marker(pytest.mark.browser)
        elif (module in SYSTEM_MODULES or any("server" in name for name in names) or _uses_shared_data(item)
              or item.name.startswith(SLOW_NAMES)):
            item.add_marker(pytest.mark.slow)
