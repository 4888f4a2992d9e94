"""The build's add_document (compat.FastAdder) writes the same segment files,
byte for byte, as Whoosh's own SegmentWriter.add_document."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

from whoosh import index as whoosh_index

from searchapp.backends.whoosh import compat
from searchapp.backends.whoosh.schema import item_document, make_schema
from searchapp.ingest.reader import read_corpus
from searchapp.model import NewsItem, Provider

from conftest import SAMPLE_CORPUS


def _segment_files(folder: Path) -> dict[str, str]:
    """Each segment file's hash, by its kind (the segment id is random)."""
    return {f.name.split(".", 1)[1]: hashlib.sha1(f.read_bytes()).hexdigest()
            for f in folder.iterdir() if f.name.startswith("MAIN_") and "." in f.name}


def _write(folder: Path, documents: list[dict], fast: bool, limitmb: int = 64) -> dict[str, str]:
    folder.mkdir()
    compat.remember_missing_columns()
    writer = whoosh_index.create_in(str(folder), make_schema()).writer(limitmb=limitmb, compound=False)
    adder = compat.FastAdder(writer) if fast else None
    for document in documents:
        if fast:
            adder.add(dict(document))
        else:
            writer.add_document(**document)
    writer.commit()
    return _segment_files(folder)


def _odd_items() -> list[NewsItem]:
    """Texts that exercise every branch: only stop words, one-letter words,
    repeats (several positions), case folding, dotted words, non-ASCII."""
    texts = [
        ("The and of a", "A I o"),
        ("Data data DATA, data-protection rules", "the data of the data act: data, data."),
        ("U.S. regulators fine e.g. Meta", "İstanbul straße ÉCOLE naïve café — x y z 3.14 v2.0"),
        ("Stemming: regulations regulating regulated regulator", "running runs ran runner"),
        ("", ""),
    ]
    items = []
    for n, (title, excerpt) in enumerate(texts):
        items.append(NewsItem(id=f"odd{n}", url=f"https://example.org/odd{n}", title=title, excerpt=excerpt,
                              body=excerpt * 3, published=dt.datetime(2020, 1, n + 1, tzinfo=dt.timezone.utc),
                              provider=Provider("Example", "example.org"), topics=("Privacy",),
                              related_text=title))
    return items


def test_fast_adder_writes_whooshs_bytes(tmp_path):
    items = list(read_corpus(SAMPLE_CORPUS).items) + _odd_items()
    documents = [item_document(item, "story-1" if n % 7 == 0 else "") for n, item in enumerate(items)]
    whoosh_files = _write(tmp_path / "whoosh", documents, fast=False)
    fast_files = _write(tmp_path / "fast", documents, fast=True)
    assert {"pst", "trm", "_stored.col", "_title_len.col"} <= set(whoosh_files)
    assert fast_files == whoosh_files


def test_fast_adder_spilling_pool(tmp_path):
    """A pool that spills to disk runs (limit 1 MB; 108 documents make 3 runs): still Whoosh's bytes."""
    documents = [item_document(item, "") for item in read_corpus(SAMPLE_CORPUS).items] * 2
    assert _write(tmp_path / "fast", documents, fast=True, limitmb=1) == \
        _write(tmp_path / "whoosh", documents, fast=False, limitmb=1)
