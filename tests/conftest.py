"""Shared fixtures: real indexes on disk, built from the sample corpus, the
shared real-news corpus (by path, skipped when absent) or small corpora the
tests write themselves."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from searchapp.indexer import build_index
from searchapp.reader import read_corpus
from searchapp.search import SearchEngine

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
    build_index(sample_corpus, index_dir, corpus_dir=SAMPLE_CORPUS)
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
    build_index(shared_corpus, index_dir, corpus_dir=SHARED_CORPUS)
    return index_dir


@pytest.fixture(scope="session")
def shared_engine(shared_index):
    engine = SearchEngine(shared_index)
    yield engine
    engine.close()
