"""Answers of a fixed set of 200 queries, for checking that a refactor changes nothing.

    python bench/snapshot.py CORPUS_DIR OUT.json [--index DIR [--reuse]]

Builds an index of CORPUS_DIR with the production build path, runs a fixed mix
of 200 queries (the benchmark's generator, plus suggestions, item pages, and 40
date ranges: whole days around items' own dates, open at either end) and
writes every answer (ranks, scores, snippets, facets, totals, suggestions,
dated ids) as JSON, without timings. Two snapshots of the same corpus taken before and after
a change must be byte-identical (`cmp before.json after.json`). `--reuse`
answers from the index already in `--index` (a change of the query side only:
the build is the same, and a 10k build takes minutes).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from run import api_params, make_queries, suggest_prefixes  # noqa: E402


def _imports():
    try:  # the layout after the engine-boundary refactor
        from searchapp.indexing import update_index
        from searchapp.ingest.reader import read_corpus
        from searchapp.core.service import SearchEngine
        from searchapp.model import Filters
    except ImportError:  # the layout before it
        from searchapp.indexer import update_index
        from searchapp.reader import read_corpus
        from searchapp.search import Filters, SearchEngine
    return update_index, read_corpus, SearchEngine, Filters


def snapshot(corpus: Path, index_dir: Path, count: int = 200, reuse: bool = False) -> dict:
    update_index, read_corpus, SearchEngine, Filters = _imports()
    if not reuse:
        update_index(corpus, index_dir, full=True)
    items = read_corpus(corpus).items
    queries = make_queries(items, count)
    out = {"queries": [], "suggest": [], "items": []}
    with_engine = SearchEngine(index_dir)
    try:
        for query in queries:
            p = api_params(query)
            filters = Filters(topic=(query["topic"],) if query["topic"] else (),
                              provider=(query["provider"],) if query["provider"] else (),
                              year=(str(query["year"]),) if query["year"] else ())
            page = with_engine.search(p["q"], filters, p["sort"], p["page"], p["per_page"]).to_dict()
            page.pop("took_ms", None)
            out["queries"].append({"params": p, "page": page})
        for prefix in suggest_prefixes(queries):
            out["suggest"].append([s.__dict__ for s in with_engine.suggest(prefix)])
        out["dates"] = [_dated(with_engine, Filters, first, last) for first, last in date_ranges(items)]
        for query in out["queries"][:20]:
            for hit in query["page"]["results"][:1]:
                item = with_engine.get_item(hit["id"])
                out["items"].append(repr(item))
    finally:
        close = getattr(with_engine, "close", None)
        if close:
            close()
    return out


def date_ranges(items, count: int = 40, seed: int = 7) -> list[tuple]:
    """(first, last) days, either None at times: the days of items' own dates and the days
    around them, where a filter's ends cut."""
    rng = random.Random(seed)
    days = sorted({i.published.date() for i in items if i.published})
    if not days:
        return []
    ranges = []
    for n in range(count):
        a, b = sorted(rng.sample(days, 2) if len(days) > 1 else days * 2)
        a += dt.timedelta(days=rng.choice((-1, 0, 0, 1)))
        b += dt.timedelta(days=rng.choice((-1, 0, 0, 1)))
        ranges.append((None if n % 5 == 1 else a, None if n % 5 == 2 else max(a, b)))
    return ranges


def _dated(engine, Filters, first, last) -> dict:
    page = engine.search("", Filters(date_from=first, date_to=last), "oldest", 1, 20).to_dict()
    page.pop("took_ms", None)
    return {"from": str(first), "to": str(last), "total": page["total"], "ids": [h["id"] for h in page["results"]]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("corpus", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--index", type=Path)
    parser.add_argument("--reuse", action="store_true", help="answer from the index in --index, without building it")
    args = parser.parse_args()
    if args.reuse and not args.index:
        parser.error("--reuse needs --index")
    with tempfile.TemporaryDirectory() as tmp:
        data = snapshot(args.corpus, args.index or Path(tmp) / "index", reuse=args.reuse)
    args.out.write_text(json.dumps(data, indent=0, sort_keys=True, ensure_ascii=False, default=str))
    print(f"{len(data['queries'])} queries, {len(data['suggest'])} suggestions -> {args.out}")


if __name__ == "__main__":
    main()
