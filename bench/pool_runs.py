"""Whoosh's posting pool against compat.GroupedPool, spilling to run files, in one run.

    python bench/pool_runs.py [--postings 600000] [--runs 6]

A 100k build's writers spill their posting pools to temporary run files and merge
them back (round 12: 28% of its samples were writing and reading those files one
posting per marshal call; round 13: the sort of every posting at each spill was 7.5%).
This times adding the postings in document order (as a writer does), `save` of each
run, and the merge (`items()`), on the same postings, with:
- whoosh: Whoosh's PostingPool (a 5-tuple per posting, all sorted at each spill, one
  marshal record per posting);
- grouped: compat.GroupedPool (each term's postings together, only the terms sorted,
  a length and one marshal record per 2,048 postings);
and checks that both give the same postings in the same order. CPU seconds of this
process; ratios are what to read (the machine is shared).
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
if str(PROJECT) not in sys.path:
    sys.path.insert(0, str(PROJECT))


def postings(count: int, seed: int = 7) -> list[tuple]:
    """(field, term, docnum, weight, value) in document order: 30 postings a document, each term
    once in it."""
    rng = random.Random(seed)
    words = [f"w{n}".encode() for n in range(count // 20)]
    items = []
    for doc in range(-(-count // 30)):
        for term in sorted(set(rng.sample(words, 30))):
            items.append(("body", term, doc, float(rng.randrange(1, 4)), b"\x01\x80\x02]q\x00K%c" % (doc % 200)))
    return items[:count]


def timed(items: list[tuple], runs: int, grouped: bool) -> tuple[float, list]:
    from whoosh import index as whoosh_index

    from searchapp.backends.whoosh import compat
    from searchapp.backends.whoosh.schema import make_schema

    with tempfile.TemporaryDirectory() as folder:
        writer = whoosh_index.create_in(folder, make_schema()).writer(limitmb=1024, compound=False)
        if grouped:
            compat.FastAdder(writer)
        pool = writer.pool
        size = -(-len(items) // runs)
        started = time.process_time()
        for start in range(0, len(items), size):
            if grouped:   # what FastAdder.add does per posting
                for field, term, docnum, weight, value in items[start:start + size]:
                    postings = pool.terms(field).get(term)
                    if postings is None:
                        pool.terms(field)[term] = [(docnum, weight, value)]
                    else:
                        postings.append((docnum, weight, value))
            else:         # what SegmentWriter.add_document does, without the size estimate
                append = pool.current.append
                for posting in items[start:start + size]:
                    append(posting)
            pool.save()
        merged = list(pool.items())
        spent = time.process_time() - started
        writer.cancel()
    return spent, merged


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postings", type=int, default=600_000)
    parser.add_argument("--runs", type=int, default=6)
    args = parser.parse_args()
    items = postings(args.postings)
    whoosh_s, whoosh_items = timed(items, args.runs, grouped=False)
    grouped_s, grouped_items = timed(items, args.runs, grouped=True)
    assert grouped_items == whoosh_items, "the grouped pool gave other postings"
    print(f"{args.postings:,} postings in {args.runs} runs: whoosh {whoosh_s:.2f} CPU s, "
          f"grouped {grouped_s:.2f} CPU s ({whoosh_s / grouped_s:.1f}x); same postings, same order")


if __name__ == "__main__":
    main()
