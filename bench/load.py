"""Load test: drive a real `searchapp serve` with concurrent clients over a
realistic query mix, optionally while the index is rebuilt again and again,
and report throughput, latency percentiles, errors and lost/duplicated items.

    python bench/load.py --corpus ../shared/corpus --clients 32 --duration 60 --reindex

Latencies are also given as ratios to /healthz (no search work) measured in
the same run, so figures from different machines compare. Exit status 1 if
any request failed or any item was lost or duplicated.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlencode

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))

from searchapp.backends.whoosh.writer import open_current  # noqa: E402


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def query_mix(index_dir: Path, size: int = 300, seed: int = 7) -> list[str]:
    """Paths drawn from the index's own vocabulary and facet values."""
    rng = random.Random(seed)
    ix = open_current(index_dir)
    with ix.searcher() as searcher:
        reader = searcher.reader()
        words = [w for w, _ in sorted(((t, reader.doc_frequency("spell_title", t))
                                      for t in reader.field_terms("spell_title")), key=lambda p: -p[1])
                 if len(w) > 3][:400]
        topics = list(reader.field_terms("f_topic"))
        years = list(reader.field_terms("f_year"))
        titles = [d["doc"]["title"] for _, d in zip(range(400), searcher.all_stored_fields())]
    ix.close()
    paths = []
    for _ in range(size):
        kind = rng.random()
        params: dict = {}
        if kind < 0.25:
            params["q"] = rng.choice(words)
        elif kind < 0.5:
            params["q"] = " ".join(rng.sample(words, rng.randint(2, 3)))
        elif kind < 0.6:
            params["q"] = '"' + " ".join(rng.choice(titles).split()[:2]) + '"'
        elif kind < 0.75:
            params = {"q": rng.choice(words), "topic": rng.choice(topics)}
            if rng.random() < 0.5:
                params["year"] = rng.choice(years)
        elif kind < 0.85:
            params = {"q": rng.choice(words), "sort": "newest", "page": rng.randint(1, 5)}
        elif kind < 0.95:
            paths.append("/api/suggest?" + urlencode({"q": rng.choice(words)[:rng.randint(2, 5)]}))
            continue
        else:
            params = {"q": rng.choice(words)}
            paths.append("/search?" + urlencode(params))
            continue
        paths.append("/api/search?" + urlencode(params))
    return paths


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


COUNT_PATH = "/api/search?q=&per_page=1"  # its total must always be the number of items


def client_process(port: int, paths: list[str], threads: int, duration: float, seed: int, expected: int,
                   queue) -> None:
    """One process of client threads (several processes: the clients are not GIL-bound)."""
    results: list[tuple[str, float, int]] = []
    lock = threading.Lock()
    deadline = time.monotonic() + duration

    def run(n: int) -> None:
        rng = random.Random(seed * 1000 + n)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine = []
        while time.monotonic() < deadline:
            path = rng.choice(paths)
            started = time.perf_counter()
            try:
                conn.request("GET", path)
                response = conn.getresponse()
                body = response.read()
                status = response.status
                if status == 200 and path == COUNT_PATH and json.loads(body)["total"] != expected:
                    status = 598  # items lost or doubled while the index was switched
            except Exception:
                status = 0
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            kind = path.split("?")[0]
            mine.append((kind, (time.perf_counter() - started) * 1000, status))
        conn.close()
        with lock:
            results.extend(mine)

    workers = [threading.Thread(target=run, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    queue.put(results)


def get_json(port: int, path: str):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", path)
    response = conn.getresponse()
    data = json.loads(response.read())
    conn.close()
    return data


def all_ids(port: int) -> list[str]:
    """Every item id, by walking the browse listing page by page (a story's
    copies are listed under its first item, in also_reported_by)."""
    ids, page = [], 1
    while True:
        data = get_json(port, f"/api/search?sort=oldest&per_page=100&page={page}")
        ids += [h["id"] for h in data["results"]]
        ids += [copy["id"] for h in data["results"] for copy in h.get("also_reported_by", ())]
        if page >= data["pages"] or page >= 1000:
            return ids
        page += 1


def measure(port: int, paths: list[str], clients: int, duration: float, processes: int, expected: int) -> list:
    queue = multiprocessing.Queue()
    per = [clients // processes + (1 if n < clients % processes else 0) for n in range(processes)]
    procs = [multiprocessing.Process(target=client_process, args=(port, paths, k, duration, n, expected, queue))
             for n, k in enumerate(per) if k]
    for proc in procs:
        proc.start()
    results = []
    for _ in procs:
        results.extend(queue.get())
    for proc in procs:
        proc.join()
    return results


def summarize(name: str, results: list, duration: float) -> dict:
    latencies = [ms for _, ms, _ in results]
    errors = sum(1 for _, _, status in results if status != 200)
    return {
        "name": name, "requests": len(results), "errors": errors, "rps": round(len(results) / duration, 1),
        "p50": round(percentile(latencies, 50), 1), "p95": round(percentile(latencies, 95), 1),
        "p99": round(percentile(latencies, 99), 1),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=PROJECT / "corpus")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--baseline-duration", type=float, default=None, help="default: a quarter of --duration")
    parser.add_argument("--threads", type=int, default=4, help="threads per server worker process")
    parser.add_argument("--processes", type=int, default=4, help="client processes")
    parser.add_argument("--reindex", action="store_true", help="rebuild the index in a loop during the load")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)

    env = dict(os.environ, PYTHONWARNINGS="ignore")
    work = Path(tempfile.mkdtemp(prefix="searchapp-load-"))
    index_dir = work / "index"
    index_cmd = [sys.executable, "-m", "searchapp", "index", "--corpus", str(args.corpus), "--index", str(index_dir)]
    subprocess.run(index_cmd, env=env, check=True, capture_output=True)
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "searchapp", "serve", "--port", str(port), "--index",
                               str(index_dir), "--threads", str(args.threads),
                               "--client-share", "0"],   # many users simulated from one address
                              env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(300):
            try:
                expected = get_json(port, "/healthz")["items"]
                break
            except OSError:
                time.sleep(0.1)
        else:
            print("server did not start", file=sys.stderr)
            return 1
        paths = query_mix(index_dir)
        baseline_seconds = args.baseline_duration or max(1.0, args.duration / 4)
        baseline = summarize("/healthz (baseline)", measure(port, ["/healthz"], args.clients, baseline_seconds,
                                                           args.processes, expected), baseline_seconds)
        stop = threading.Event()
        reindexes = []

        def reindex_loop():
            while not stop.is_set():
                started = time.monotonic()
                done = subprocess.run(index_cmd + ["--full"], env=env, capture_output=True)
                reindexes.append((done.returncode, time.monotonic() - started))

        loop = threading.Thread(target=reindex_loop)
        if args.reindex:
            loop.start()
        results = measure(port, paths + [COUNT_PATH] * 10, args.clients, args.duration, args.processes, expected)
        stop.set()
        if args.reindex:
            loop.join()
        time.sleep(0.2)
        ids = all_ids(port)
        rows = [baseline, summarize("all searches", results, args.duration)]
        for kind in ("/api/search", "/search", "/api/suggest"):
            rows.append(summarize(kind, [r for r in results if r[0] == kind], args.duration))
        lost = expected - len(set(ids))
        duplicated = len(ids) - len(set(ids))
        report = {
            "clients": args.clients, "duration_s": args.duration, "server_threads": args.threads,
            "items": expected, "reindexes": len(reindexes),
            "reindex_failures": sum(1 for rc, _ in reindexes if rc != 0),
            "reindex_seconds": round(sum(s for _, s in reindexes) / len(reindexes), 2) if reindexes else None,
            "lost_items": lost, "duplicated_items": duplicated, "rows": rows,
        }
        print(f"{args.clients} clients for {args.duration:g} s against {expected:,} items, "
              f"{len(reindexes)} full reindexes during the run "
              f"({report['reindex_failures']} failed, {report['reindex_seconds']} s each)\n")
        print("| requests | count | errors | req/s | p50 ms | p95 ms | p99 ms | p50 / baseline p50 |")
        print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for row in rows:
            ratio = row["p50"] / baseline["p50"] if baseline["p50"] else float("nan")
            print(f"| {row['name']} | {row['requests']:,} | {row['errors']} | {row['rps']:,} | {row['p50']} | "
                  f"{row['p95']} | {row['p99']} | {ratio:.1f}x |")
        print(f"\nlost items: {lost}, duplicated items: {duplicated}")
        if args.json:
            args.json.write_text(json.dumps(report, indent=1))
        bad = sum(r["errors"] for r in rows) + report["reindex_failures"] + abs(lost) + duplicated
        return 1 if bad else 0
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    sys.exit(main())
