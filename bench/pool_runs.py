"""Whoosh's posting pool spilling to run files, timed three ways in one run.

    python bench/pool_runs.py [--postings 600000] [--runs 6]

A 100k build's writers spill their posting pools to temporary run files and merge
them back (28% of its samples were writing and reading those files). This times
`save` of each run plus the merge (`items()`), on the same postings, with:
- whoosh: Whoosh's own run files (one marshal record per posting);
- chunked: compat._chunked_runs (a length and one marshal record per 2,048 postings);
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
    rng = random.Random(seed)
    words = [f"w{n}".encode() for n in range(count // 20)]
    return [("body", rng.choice(words), d // 30, float(rng.randrange(1, 4)), b"\x01\x80\x02]q\x00K%c" % (d % 200))
            for d in range(count)]


def timed(items: list[tuple], runs: int, chunked: bool) -> tuple[float, list]:
    from whoosh import index as whoosh_index

    from searchapp.backends.whoosh import compat
    from searchapp.backends.whoosh.schema import make_schema

    with tempfile.TemporaryDirectory() as folder:
        writer = whoosh_index.create_in(folder, make_schema()).writer(limitmb=1024, compound=False)
        if chunked:
            compat.FastAdder(writer)
        pool = writer.pool
        size = -(-len(items) // runs)
        started = time.process_time()
        for start in range(0, len(items), size):
            pool.current.extend(items[start:start + size])
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
    random.Random(1).shuffle(items)
    whoosh_s, whoosh_items = timed(items, args.runs, chunked=False)
    chunked_s, chunked_items = timed(items, args.runs, chunked=True)
    assert chunked_items == whoosh_items, "the chunked runs gave other postings"
    print(f"{args.postings:,} postings in {args.runs} runs: whoosh {whoosh_s:.2f} CPU s, "
          f"chunked {chunked_s:.2f} CPU s ({whoosh_s / chunked_s:.1f}x); same postings, same order")


if __name__ == "__main__":
    main()
