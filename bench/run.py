"""The speed benchmark: searchapp against its peers, on the same generated corpus, in one run.

    pip install -e '.[bench]'
    python bench/run.py --sizes 10000,100000,300000 --naive-max 100000   # 43 min on 2 cores
    python bench/run.py --sizes 2000 --queries 40         # a quick look (about 1 min)

For each size it generates the corpus (bench/make_corpus.py), then measures:
  build    our `searchapp index --full` (reading the files included), the naive
           single-process Whoosh writer (same schema, reading included), FTS5 and
           Tantivy (from items already in memory); peak memory, index size; our
           incremental reindex after 1% of the files changed;
  search   the same fixed mix of queries against our search API in-process, naive
           Whoosh (fresh searcher + groupedby per query), SQLite FTS5 and Tantivy:
           p50/p95/p99 with three facet counts and highlighted snippets, first
           pass (cold) and the same queries again (warm);
  HTTP     /api/search on a fresh `searchapp serve` and the equivalent faceted
           Datasette table search on a fresh `datasette serve`, at concurrency 1
           and 8; /api/suggest p95; the server's peak memory.
Every figure of ours is also given as a ratio to each peer's from the same run.
The report (Markdown) is printed and written to bench/out/report-<time>.md with
the raw figures as JSON beside it. Peers whose package is missing are skipped.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import importlib.util
import json
import os
import random
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlencode, urlsplit

BENCH = Path(__file__).resolve().parent
PROJECT = BENCH.parent
sys.path.insert(0, str(PROJECT))
sys.path.insert(0, str(BENCH))

import make_corpus  # noqa: E402
import peers  # noqa: E402
from searchapp.ingest.reader import read_corpus  # noqa: E402
from searchapp.core.service import SearchEngine  # noqa: E402
from searchapp.model import Filters  # noqa: E402

STOP = set("the a an and or of to in on for with by from at as is are was were be been it its this that "
           "new over after into about not but has have had will can more than how what why who".split())
WORD = re.compile(r"[a-z][a-z'-]{2,}[a-z]")


# ---------------------------------------------------------------- queries

def make_queries(items, count: int, seed: int = 5) -> list[dict]:
    """A fixed mix drawn from the corpus itself, so every query has answers.

    One word 25%, two or three words of one title 20%, a two-word phrase 15%,
    words with a topic/provider/year filter 15%, newest first 15%, page 5 10%.
    Words are drawn by their frequency in titles (a user types common words)."""
    rng = random.Random(seed)
    titled = [i for i in items if i.title]
    freq: dict[str, int] = {}
    for item in titled:
        for word in set(WORD.findall(item.title.lower())):
            if word not in STOP:
                freq[word] = freq.get(word, 0) + 1
    vocabulary = sorted(freq, key=lambda w: (-freq[w], w))[:2000]
    weights = [freq[w] for w in vocabulary]

    def word() -> str:
        return rng.choices(vocabulary, weights)[0]

    def title_words(item, n):
        words = [w for w in WORD.findall(item.title.lower()) if w not in STOP]
        return rng.sample(words, min(n, len(words))) if words else [word()]

    queries = []
    base = {"topic": None, "provider": None, "year": None, "sort": "relevance", "page": 1, "per_page": 10}
    for n in range(count):
        kind = n % 20  # a fixed proportion of each kind, in a shuffled order below
        item = rng.choice(titled)
        query = dict(base, kind="")
        if kind < 5:
            query.update(q=word(), kind="one word")
        elif kind < 9:
            query.update(q=" ".join(title_words(item, rng.choice((2, 3)))), kind="2-3 words")
        elif kind < 12:
            words = item.title.split()
            at = rng.randrange(max(1, len(words) - 1))
            phrase = " ".join(w.strip('"“”:,.!?()') for w in words[at:at + 2])
            query.update(q=f'"{phrase}"', kind="phrase")
        elif kind < 15:
            query.update(q=" ".join(title_words(item, 1)), kind="filtered")
            choice = rng.choice(("topic", "provider", "year"))
            if choice == "topic" and item.topics:
                query["topic"] = rng.choice(item.topics)
            elif choice == "provider" and item.provider.name:
                query["provider"] = item.provider.name
            elif item.published:
                query["year"] = item.published.year
        elif kind < 18:
            query.update(q=word(), sort="newest", kind="newest")
        else:
            query.update(q=word(), page=5, kind="page 5")
        queries.append(query)
    rng.shuffle(queries)
    return queries


def suggest_prefixes(queries: list[dict], seed: int = 9) -> list[str]:
    rng = random.Random(seed)
    out = []
    for query in queries:
        words = query["q"].strip('"').split()
        head = " ".join(words[:-1])
        last = words[-1]
        out.append((head + " " if head else "") + last[: rng.randint(2, max(2, len(last)))])
    return out


def api_params(query: dict) -> dict:
    params = {"q": query["q"], "sort": query["sort"], "page": query["page"], "per_page": query["per_page"]}
    for facet in ("topic", "provider", "year"):
        if query[facet] is not None:
            params[facet] = query[facet]
    return params


# ---------------------------------------------------------------- measuring

def percentiles(values: list[float]) -> dict:
    ordered = sorted(values)
    if not ordered:
        return {"p50": None, "p95": None, "p99": None, "n": 0}

    def at(p):
        return ordered[min(len(ordered) - 1, max(0, int(round(p / 100 * len(ordered) + 0.5)) - 1))]

    return {"p50": at(50), "p95": at(95), "p99": at(99), "n": len(ordered)}


def timed_pass(search, queries) -> tuple[list[float], list[int]]:
    latencies, totals = [], []
    for query in queries:
        started = time.perf_counter()
        answer = search(query)
        latencies.append((time.perf_counter() - started) * 1000)
        totals.append(answer)
    return latencies, totals


def run_child(command: list[str], cwd: Path = PROJECT) -> dict:
    """Run a command; its wall time and its own peak RSS (not the bench's)."""
    started = time.perf_counter()
    proc = subprocess.Popen(command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    output = proc.stdout.read().decode("utf-8", "replace")
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({proc.returncode}):\n{output[-3000:]}")
    return {"seconds": seconds, "peak_mb": usage.ru_maxrss / 1024, "output": output}


def dir_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file()) / 1e6


def status_mb(pid: int, key: str) -> float | None:
    """A memory figure of /proc/PID/status in MB: VmHWM (peak RSS, which also
    counts the index's mmapped file pages, shared page cache) or RssAnon
    (private heap now: what a worker really costs)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def workers_mb(pid: int, key: str) -> float | None:
    """The largest figure among a server's worker processes (or its own without workers)."""
    try:
        children = [int(c) for t in Path(f"/proc/{pid}/task").iterdir()
                    for c in (t / "children").read_text().split()]
    except OSError:
        children = []
    sizes = [size for size in (status_mb(p, key) for p in children or [pid]) if size is not None]
    return max(sizes) if sizes else None


def wait_http(port: int, path: str, proc: subprocess.Popen, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", path)
            if conn.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"no answer on port {port}")


def http_load(port: int, paths: list[str], concurrency: int) -> dict:
    """Each path once, spread over `concurrency` keep-alive clients."""
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    work = list(paths)

    def client():
        nonlocal errors
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        mine, bad = [], 0
        while True:
            with lock:
                if not work:
                    break
                path = work.pop()
            started = time.perf_counter()
            try:
                conn.request("GET", path)
                response = conn.getresponse()
                response.read()
                if response.status != 200:
                    bad += 1
            except OSError:
                bad += 1
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            mine.append((time.perf_counter() - started) * 1000)
        conn.close()
        with lock:
            latencies.extend(mine)
            errors += bad

    started = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    return {**percentiles(latencies), "rps": len(latencies) / wall, "errors": errors}


# ---------------------------------------------------------------- engines

def our_search(engine: SearchEngine):
    def search(query):
        filters = Filters(
            topic=(query["topic"],) if query["topic"] else (),
            provider=(query["provider"],) if query["provider"] else (),
            year=(str(query["year"]),) if query["year"] else (),
        )
        return engine.search(query["q"], filters, query["sort"], query["page"], query["per_page"]).total
    return search


def peer_search(peer):
    return lambda query: peer.search(query)["total"]


def have(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def start_ours(index_dir: Path) -> tuple[subprocess.Popen, int]:
    port = peers.free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "searchapp", "serve", "--index", str(index_dir), "--port", str(port),
         "--client-share", "0"],   # the benchmark's clients share one address
        cwd=PROJECT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_http(port, "/healthz", proc)
    return proc, port


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def bench_reused(args) -> dict:
    """Search and HTTP only, on a corpus, our index and an FTS5 file built before (`--reuse`):
    the builds of a 100k run take most of its time on a shared machine."""
    corpus, ours_dir, db = args.reuse
    items = read_corpus(corpus).items
    out: dict = {"size": len(items), "items": len(items), "reused": [str(p) for p in args.reuse]}
    if not db.exists():
        peers.Fts5Peer.build(items, db)
    args.skip |= {"naive-search", "tantivy"}
    queries = make_queries(items, args.queries)
    del items
    return measure(out, queries, ours_dir, db, None, args)


def bench_size(size: int, args, work: Path) -> dict:
    out: dict = {"size": size}
    corpus = work / f"corpus-{size}"
    shutil.rmtree(corpus, ignore_errors=True)
    started = time.perf_counter()
    make_corpus.generate(size, corpus, args.source, seed=7)
    out["generate_s"] = time.perf_counter() - started
    log(f"[{size:,}] corpus generated in {out['generate_s']:.1f} s")

    # -- builds
    ours_dir = work / f"index-{size}"
    shutil.rmtree(ours_dir, ignore_errors=True)
    build = run_child([sys.executable, "-m", "searchapp", "index", "--full", "--corpus", str(corpus),
                       "--index", str(ours_dir)])
    from searchapp.store.generations import current_generation
    out["ours_build"] = {**build, "index_mb": dir_mb(current_generation(ours_dir)), "output": None}
    log(f"[{size:,}] our build {build['seconds']:.1f} s")

    started = time.perf_counter()
    items = read_corpus(corpus).items
    out["read_s"] = time.perf_counter() - started
    out["items"] = len(items)

    naive_dir = work / f"naive-{size}"
    shutil.rmtree(naive_dir, ignore_errors=True)
    if size <= args.naive_max:
        code = ("import sys; sys.path[:0] = [sys.argv[3], sys.argv[4]]; import peers;"
                "from searchapp.ingest.reader import read_corpus;"
                "peers.naive_build(read_corpus(sys.argv[1]).items, sys.argv[2])")
        naive = run_child([sys.executable, "-c", code, str(corpus), str(naive_dir), str(BENCH), str(PROJECT)])
        out["naive_build"] = {**naive, "index_mb": dir_mb(naive_dir), "output": None}
        log(f"[{size:,}] naive build {naive['seconds']:.1f} s")

    db = work / f"fts5-{size}.db"
    db.unlink(missing_ok=True)
    started = time.perf_counter()
    peers.Fts5Peer.build(items, db)
    out["fts5_build"] = {"seconds": time.perf_counter() - started, "index_mb": db.stat().st_size / 1e6}
    tantivy_dir = work / f"tantivy-{size}"
    if have("tantivy"):
        shutil.rmtree(tantivy_dir, ignore_errors=True)
        started = time.perf_counter()
        peers.TantivyPeer.build(items, tantivy_dir)
        out["tantivy_build"] = {"seconds": time.perf_counter() - started, "index_mb": dir_mb(tantivy_dir)}

    queries = make_queries(items, args.queries)
    del items
    out = measure(out, queries, ours_dir, db, tantivy_dir, args)

    # -- incremental: 1% of the files change, then a default (incremental) `searchapp index`
    changed = make_corpus.change_fraction(corpus, 0.01)
    inc = run_child([sys.executable, "-m", "searchapp", "index", "--corpus", str(corpus), "--index", str(ours_dir)])
    out["incremental"] = {**inc, "files_changed": len(changed), "output": inc["output"].strip().splitlines()[-1:]}
    log(f"[{size:,}] incremental after {len(changed)} changed files: {inc['seconds']:.1f} s")

    if not args.keep:
        for path in (corpus, ours_dir, naive_dir, tantivy_dir):
            shutil.rmtree(path, ignore_errors=True)
        db.unlink(missing_ok=True)
    return out


def measure(out: dict, queries: list[dict], ours_dir: Path, db: Path, tantivy_dir: Path | None, args) -> dict:
    """In-process search and HTTP, ours against the peers."""
    size = out["size"]
    # -- in-process search
    out["query_kinds"] = {k: sum(1 for q in queries if q["kind"] == k) for k in dict.fromkeys(q["kind"] for q in queries)}
    engines = [("ours", lambda: SearchEngine(ours_dir), our_search)]
    if "naive-search" not in args.skip and size <= args.naive_max:
        engines.append(("naive", lambda: peers.NaiveWhooshPeer(ours_dir), peer_search))
    engines.append(("fts5", lambda: peers.Fts5Peer(db), peer_search))
    if have("tantivy") and "tantivy" not in args.skip:
        engines.append(("tantivy", lambda: peers.TantivyPeer(tantivy_dir), peer_search))
    out["search"] = {}
    for name, opener, wrap in engines:
        engine = opener()
        search = wrap(engine)
        cold, totals = timed_pass(search, queries)
        result = {"cold": percentiles(cold), "median_total": sorted(totals)[len(totals) // 2],
                  "zero_hits": sum(1 for t in totals if not t)}
        if name != "naive":  # naive Whoosh keeps nothing between queries: its warm pass is its cold pass
            warm, _ = timed_pass(search, queries)
            result["warm"] = percentiles(warm)
        else:
            result["warm"] = result["cold"]
        out["search"][name] = result
        engine.close()
        log(f"[{size:,}] {name}: cold p95 {result['cold']['p95']:.1f} ms, warm p95 {result['warm']['p95']:.1f} ms")

    # -- HTTP
    paths = ["/api/search?" + urlencode(api_params(q)) for q in queries]
    out["http"] = {}
    for concurrency in (1, 8):
        proc, port = start_ours(ours_dir)
        try:
            out["http"][f"ours_c{concurrency}"] = http_load(port, paths, concurrency)
            if concurrency == 1:
                prefixes = suggest_prefixes(queries)
                suggest = http_load(port, ["/api/suggest?" + urlencode({"q": p}) for p in prefixes], 1)
                out["http"]["suggest"] = suggest
            out["http"][f"ours_c{concurrency}"]["server_peak_mb"] = workers_mb(proc.pid, "VmHWM")
            out["http"][f"ours_c{concurrency}"]["server_anon_mb"] = workers_mb(proc.pid, "RssAnon")
        finally:
            stop(proc)
        log(f"[{size:,}] ours HTTP c{concurrency}: p95 {out['http'][f'ours_c{concurrency}']['p95']:.1f} ms")
    if have("datasette") and "datasette" not in args.skip:
        for concurrency in (1, 8):
            proc = peers.start_datasette(db)
            try:
                port = urlsplit(proc.base).port
                ds_paths = [urlsplit(peers.datasette_url(proc.base, q))._replace(scheme="", netloc="").geturl()
                            for q in queries]
                out["http"][f"datasette_c{concurrency}"] = http_load(port, ds_paths, concurrency)
                out["http"][f"datasette_c{concurrency}"]["server_peak_mb"] = status_mb(proc.pid, "VmHWM")
                out["http"][f"datasette_c{concurrency}"]["server_anon_mb"] = status_mb(proc.pid, "RssAnon")
            finally:
                stop(proc)
            log(f"[{size:,}] datasette HTTP c{concurrency}: p95 {out['http'][f'datasette_c{concurrency}']['p95']:.1f} ms")
    return out


# ---------------------------------------------------------------- report

def fmt(value, digits=1) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}"


def ratio(ours, peer) -> str:
    if ours is None or peer is None or not peer:
        return "–"
    return f"{ours / peer:.2f}x"


def report(results: list[dict], args) -> str:
    lines = [f"# searchapp benchmark, {dt.datetime.now():%Y-%m-%d %H:%M}", "",
             f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}, {args.queries} queries per engine and pass; "
             "latencies in ms. A ratio is ours / the peer's (below 1 = we are faster).", ""]
    names = {"ours": "searchapp", "naive": "naive Whoosh", "fts5": "SQLite FTS5", "tantivy": "Tantivy"}
    sizes = [r["size"] for r in results]
    header = "| | " + " | ".join(f"{s:,}" for s in sizes) + " |"
    rule = "|---" * (len(sizes) + 1) + "|"

    def row(label, getter, digits=1):
        values = []
        for r in results:
            try:
                values.append(fmt(getter(r), digits))
            except (KeyError, TypeError):
                values.append("–")
        return f"| {label} | " + " | ".join(values) + " |"

    def get(r, *keys):
        for key in keys:
            r = r[key]
        return r

    lines += ["## Build", "", header, rule,
              row("items", lambda r: r["items"], 0),
              row("searchapp full build, s", lambda r: get(r, "ours_build", "seconds")),
              row("searchapp items/s", lambda r: r["items"] / get(r, "ours_build", "seconds"), 0),
              row("naive Whoosh build, s", lambda r: get(r, "naive_build", "seconds")),
              row("naive Whoosh items/s", lambda r: r["items"] / get(r, "naive_build", "seconds"), 0),
              row("**build speed vs naive (target ≥1.5x)**",
                  lambda r: get(r, "naive_build", "seconds") / get(r, "ours_build", "seconds"), 2),
              row("searchapp peak memory, MB", lambda r: get(r, "ours_build", "peak_mb"), 0),
              row("naive Whoosh peak memory, MB", lambda r: get(r, "naive_build", "peak_mb"), 0),
              row("searchapp index size, MB", lambda r: get(r, "ours_build", "index_mb")),
              row("naive Whoosh index size, MB", lambda r: get(r, "naive_build", "index_mb")),
              row("incremental, 1% files changed, s", lambda r: get(r, "incremental", "seconds")),
              row("**incremental / full (target ≤5%)**",
                  lambda r: 100 * get(r, "incremental", "seconds") / get(r, "ours_build", "seconds"), 1),
              row("SQLite FTS5 build from memory, s", lambda r: get(r, "fts5_build", "seconds")),
              row("SQLite FTS5 size, MB", lambda r: get(r, "fts5_build", "index_mb")),
              row("Tantivy build from memory, s", lambda r: get(r, "tantivy_build", "seconds")),
              row("Tantivy size, MB", lambda r: get(r, "tantivy_build", "index_mb")),
              row("(reading the files alone, s)", lambda r: r["read_s"]), ""]

    lines += ["## Search API in-process (3 facets + highlighted snippets)", "", header, rule]
    for engine in ("ours", "naive", "fts5", "tantivy"):
        for phase in ("cold", "warm"):
            if engine == "naive" and phase == "warm":
                continue
            for p in ("p50", "p95", "p99"):
                lines.append(row(f"{names[engine]} {phase} {p}", lambda r, e=engine, ph=phase, p=p: get(r, "search", e, ph, p)))
    lines.append(row("searchapp median total hits", lambda r: get(r, "search", "ours", "median_total"), 0))
    lines.append(row("SQLite FTS5 median total hits", lambda r: get(r, "search", "fts5", "median_total"), 0))
    for peer in ("naive", "fts5", "tantivy"):
        for phase in ("cold", "warm"):
            if peer == "naive" and phase == "warm":
                continue
            lines.append(row(f"ratio {phase} p95 / {names[peer]}",
                             lambda r, pe=peer, ph=phase: get(r, "search", "ours", ph, "p95") / get(r, "search", pe, ph, "p95"), 2))
    lines.append(row("**warm p95 / FTS5 p95 (target ≤1)**",
                     lambda r: get(r, "search", "ours", "warm", "p95") / get(r, "search", "fts5", "warm", "p95"), 2))
    lines.append(row("**cold p95 / FTS5 p95 (target ≤2)**",
                     lambda r: get(r, "search", "ours", "cold", "p95") / get(r, "search", "fts5", "cold", "p95"), 2))
    lines.append("")

    lines += ["## HTTP (fresh server per concurrency; each query once)", "", header, rule]
    for who, label in (("ours", "searchapp /api/search"), ("datasette", "Datasette faceted table search")):
        for c in (1, 8):
            for p in ("p50", "p95", "p99", "rps"):
                lines.append(row(f"{label} c{c} {p if p != 'rps' else 'req/s'}",
                                 lambda r, k=f"{who}_c{c}", p=p: get(r, "http", k, p)))
            lines.append(row(f"{label} c{c} errors", lambda r, k=f"{who}_c{c}": get(r, "http", k, "errors"), 0))
    for c in (1, 8):
        lines.append(row(f"**p95 / Datasette p95, c{c} (target ≤1)**",
                         lambda r, c=c: get(r, "http", f"ours_c{c}", "p95") / get(r, "http", f"datasette_c{c}", "p95"), 2))
        lines.append(row(f"req/s / Datasette req/s, c{c}",
                         lambda r, c=c: get(r, "http", f"ours_c{c}", "rps") / get(r, "http", f"datasette_c{c}", "rps"), 2))
    lines.append(row("**/api/suggest p95 (target <15 ms)**", lambda r: get(r, "http", "suggest", "p95")))
    lines.append(row("/api/suggest p50", lambda r: get(r, "http", "suggest", "p50")))
    lines.append(row("**searchapp private memory per server worker (RssAnon), MB (target <300)**",
                     lambda r: max(get(r, "http", "ours_c1", "server_anon_mb"), get(r, "http", "ours_c8", "server_anon_mb")), 0))
    lines.append(row("searchapp peak RSS per worker, mmapped index pages included, MB",
                     lambda r: max(get(r, "http", "ours_c1", "server_peak_mb"), get(r, "http", "ours_c8", "server_peak_mb")), 0))
    lines.append(row("Datasette server private memory (RssAnon), MB",
                     lambda r: max(get(r, "http", "datasette_c1", "server_anon_mb"), get(r, "http", "datasette_c8", "server_anon_mb")), 0))
    lines.append(row("Datasette server peak memory, MB",
                     lambda r: max(get(r, "http", "datasette_c1", "server_peak_mb"), get(r, "http", "datasette_c8", "server_peak_mb")), 0))
    lines.append("")
    kinds = results[0].get("query_kinds", {})
    lines.append("Query mix: " + ", ".join(f"{k} {v}" for k, v in kinds.items()) + ".")
    return "\n".join(lines) + "\n"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000,300000",
                        type=lambda s: [int(x.replace("_", "")) for x in s.split(",")])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--source", type=Path, default=make_corpus.DEFAULT_SOURCE)
    parser.add_argument("--work", type=Path, default=BENCH / "out", help="where corpora, indexes and reports go")
    parser.add_argument("--naive-max", type=int, default=10**9,
                        help="skip naive Whoosh (build and search) above this size: it is the slowest part")
    parser.add_argument("--skip", default="", help="comma-separated: datasette, naive-search")
    parser.add_argument("--keep", action="store_true", help="keep corpora and indexes")
    parser.add_argument("--reuse", type=lambda s: [Path(p) for p in s.split(",")], metavar="CORPUS,INDEX,FTS5DB",
                        help="search and HTTP only, on a corpus and our index built before (the FTS5 file is "
                             "built when missing); no builds, no naive Whoosh or Tantivy")
    args = parser.parse_args()
    args.skip = set(filter(None, args.skip.split(",")))
    if not args.reuse and not args.source.is_dir():   # --reuse generates nothing: no source needed
        raise SystemExit(f"source corpus {args.source} not found (the shared real news corpus)")
    peers.Fts5Peer.check_fts5()
    args.work.mkdir(parents=True, exist_ok=True)
    stamp = f"{dt.datetime.now():%Y%m%dT%H%M%S}"
    results = []
    if args.reuse:
        args.sizes = []
        results.append(bench_reused(args))
        text = report(results, args)
        (args.work / f"report-{stamp}.md").write_text(text, "utf-8")
        (args.work / f"report-{stamp}.json").write_text(json.dumps(results, indent=1, default=str), "utf-8")
    for size in args.sizes:  # the report is rewritten after each size: a long run is never all lost
        results.append(bench_size(size, args, args.work))
        text = report(results, args)
        (args.work / f"report-{stamp}.md").write_text(text, "utf-8")
        (args.work / f"report-{stamp}.json").write_text(json.dumps(results, indent=1, default=str), "utf-8")
    print(text)


if __name__ == "__main__":
    main()
