"""The trial open's cost as a ratio of opening the generation for searching.

    python bench/make_corpus.py 10000 /tmp/corpus-10k && searchapp index --corpus /tmp/corpus-10k --index /tmp/index-10k
    python bench/trial_open.py /tmp/index-10k [--rounds 7]

Each round opens the serving generation as a server worker does (a snapshot,
warmed: facet bitmaps, date orders, story table, field lengths) and runs the
trial open (Backend.usable), alternately, in one process; prints the medians
and their ratio (a ratio, since the machine is shared).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from searchapp.backends.whoosh.backend import WhooshBackend  # noqa: E402
from searchapp.store.generations import current_generation, recorded_items  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("index", type=Path)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    generation = current_generation(args.index)
    if generation is None:
        sys.exit(f"no index in {args.index}")
    backend, items = WhooshBackend(), recorded_items(generation)
    opened, tried = [], []
    for _ in range(args.rounds):
        started = time.perf_counter()
        backend.open(generation, None, {"lock": threading.Lock()}).close()
        opened.append(time.perf_counter() - started)
        started = time.perf_counter()
        why = backend.usable(generation, items)
        tried.append(time.perf_counter() - started)
        if why:
            sys.exit(f"{generation.name}: {why}")
    open_ms, trial_ms = statistics.median(opened) * 1000, statistics.median(tried) * 1000
    print(f"{generation.name}: {items:,} items; open {open_ms:.0f} ms, trial open {trial_ms:.0f} ms "
          f"(medians of {args.rounds}); trial / open = {trial_ms / open_ms:.2f}")


if __name__ == "__main__":
    main()
