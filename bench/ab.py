"""In-process search latency of two checkouts over one index, in one run.

    python bench/ab.py --index /tmp/index-100k --before ../main [--after .] [--rounds 3]

A ranking change is judged by what it costs on the queries it changes, not
only by a whole-server benchmark: this runs the relevance queries of
`bench/judgments/queries.json` (as judged: typed ones with `typed=True`) and
every prefix of every fourth of them (as the page sends them while typing)
through `SearchEngine.search` of each checkout, each in a fresh process (cold
caches, as after a reindex), alternating before / after for `--rounds`
rounds so that the machine's drift falls on both. It prints, per checkout,
the median over rounds of p50, p95, p99 and the sum, their ratios after ÷
before, and the queries whose time grew most.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

_WORKER = r"""
import json, sys, time
from pathlib import Path
from searchapp.core.service import SearchEngine
work = json.loads(sys.stdin.read())
engine = SearchEngine(Path(sys.argv[1]))
engine.search("warm up")          # opening the index is not a query's cost
times = {}
for text, typed in work:
    started = time.perf_counter()
    engine.search(text, sort="relevance", typed=typed)
    times[text + (" [typed]" if typed else "")] = (time.perf_counter() - started) * 1000
print(json.dumps(times))
"""


def workload(queries_file: Path) -> list[tuple[str, bool]]:
    queries = json.loads(queries_file.read_text())["queries"]
    work = [(q["query"], bool(q.get("typed"))) for q in queries]
    for q in queries[::4]:
        text = q["query"]
        work += [(text[:n], True) for n in range(2, len(text) + 1) if text[n - 1] != " "]
    return work


def measure(checkout: Path, index: Path, work) -> dict[str, float]:
    env = dict(os.environ, PYTHONPATH=str(checkout))
    done = subprocess.run([sys.executable, "-c", _WORKER, str(index)], input=json.dumps(work), env=env,
                          capture_output=True, text=True, check=True, cwd=str(checkout))
    return json.loads(done.stdout)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def summary(times: dict[str, float]) -> dict[str, float]:
    values = list(times.values())
    return {"p50": percentile(values, 0.5), "p95": percentile(values, 0.95), "p99": percentile(values, 0.99),
            "sum": sum(values)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--index", type=Path, required=True)
    parser.add_argument("--before", type=Path, required=True, help="the checkout before the change")
    parser.add_argument("--after", type=Path, default=HERE.parent, help="the checkout after (default: this one)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--queries", type=Path, default=HERE / "judgments" / "queries.json")
    args = parser.parse_args(argv)
    work = workload(args.queries)
    runs = {"before": [], "after": []}
    for _ in range(args.rounds):
        for name in ("before", "after"):
            runs[name].append(measure(getattr(args, name).resolve(), args.index, work))
    medians = {name: {k: statistics.median(summary(t)[k] for t in times) for k in ("p50", "p95", "p99", "sum")}
               for name, times in runs.items()}
    print(f"{len(work)} searches per round, {args.rounds} rounds, before = {args.before}, after = {args.after}")
    print("| | before ms | after ms | after ÷ before |\n|---|---:|---:|---:|")
    for key in ("p50", "p95", "p99", "sum"):
        b, a = medians["before"][key], medians["after"][key]
        print(f"| {key} | {b:,.1f} | {a:,.1f} | {a / b:.2f} |")
    per_query = {q: (statistics.median(t[q] for t in runs["before"]), statistics.median(t[q] for t in runs["after"]))
                 for q in runs["before"][0]}
    grown = sorted(per_query.items(), key=lambda kv: kv[1][0] - kv[1][1])[:8]
    print("\nmost grown (median ms before -> after):")
    for query, (b, a) in grown:
        print(f"  {b:8.1f} -> {a:8.1f}  {query}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
