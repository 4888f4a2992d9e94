"""Adversarial load: does a cheap attack slow everyone else down?

    python bench/adversarial.py                                  # sample corpus
    python bench/adversarial.py --corpus ../shared/corpus --duration 30

Starts `searchapp serve` (loopback only) on an index of the corpus, then:

1. unloaded: one client sends ordinary queries (two frequent title words,
   each query unique so no result cache helps) and records the p50;
2. loaded: 8 clients (--clients) send adversarial queries as fast as the
   server answers: each unique, made of unknown five-letter words one letter
   away from real indexed terms (what makes did-you-mean work hardest), up to
   the 500-character query limit; meanwhile the measuring client sends
   ordinary queries again and records their p50.

Prints both p50s and their ratio (the issue's target: within 3x), plus the
adversarial requests' own count and p50. --json writes the figures.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import random
import statistics
import string
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))

sys.path.insert(0, str(PROJECT / "bench"))

from load import free_port  # noqa: E402  (the load test's: one way to pick a loopback port)
from searchapp.backends.whoosh.writer import open_current  # noqa: E402


def vocabulary(index_dir: Path) -> tuple[list[str], set[str]]:
    """(frequent title words, every indexed word)."""
    ix = open_current(index_dir)
    try:
        with ix.searcher() as searcher:
            reader = searcher.reader()
            known: set[str] = set()
            for field in ("spell_title", "title", "excerpt", "body"):
                try:
                    known.update(t if isinstance(t, str) else t.decode("utf-8", "replace")
                                 for t in reader.field_terms(field))
                except Exception:
                    continue
            ranked = sorted(((t, reader.doc_frequency("spell_title", t)) for t in reader.field_terms("spell_title")),
                            key=lambda p: -p[1])
    finally:
        ix.close()
    frequent = [w for w, _ in ranked if len(w) > 3 and w.isalpha()][:300]
    return frequent, known


def near_misses(known: set[str], rng: random.Random) -> list[str]:
    """Unknown five-letter words one substitution away from a real term."""
    bases = sorted(w for w in known if len(w) == 5 and w.isascii() and w.isalpha())
    out = set()
    for word in bases:
        for _ in range(3):
            i = rng.randrange(5)
            candidate = word[:i] + rng.choice(string.ascii_lowercase) + word[i + 1:]
            if candidate not in known:
                out.add(candidate)
    return sorted(out)


def get(conn_holder: dict, port: int, path: str, timeout: float = 120, source: str | None = None) -> tuple[int, float]:
    started = time.perf_counter()
    for attempt in (0, 1):
        conn = conn_holder.get("conn")
        if conn is None:
            conn = conn_holder["conn"] = http.client.HTTPConnection(
                "127.0.0.1", port, timeout=timeout, source_address=(source, 0) if source else None)
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            response.read()
            if response.getheader("Connection", "").lower() == "close":
                conn.close()
                conn_holder["conn"] = None
            return response.status, time.perf_counter() - started
        except (OSError, http.client.HTTPException):
            conn.close()
            conn_holder["conn"] = None
            if attempt:
                return 0, time.perf_counter() - started
    return 0, time.perf_counter() - started


def attacker(k: int, port: int, misses: list[str], words_per_query: int, source: str, stop, results) -> None:
    """One adversarial client: unique near-miss queries, each sent as soon as the last is answered."""
    local = random.Random(1000 + k)
    conn: dict = {}
    seen: list[tuple[int, float]] = []
    while not stop.is_set():
        words, length = [], 0
        while len(words) < words_per_query and length + 6 <= 500:
            words.append(local.choice(misses))
            length += len(words[-1]) + 1
        seen.append(get(conn, port, "/api/search?" + urlencode({"q": " ".join(words)}), source=source))
    results.put(seen)


def paced(took: float, interval: float) -> float:
    """Wait out the rest of the measuring client's interval (a person's pace, not a flood); return took."""
    time.sleep(max(0.0, interval - took))
    return took


def ordinary_queries(frequent: list[str], rng: random.Random, n: int) -> list[str]:
    """n unique ordinary searches: two or three frequent title words (so no result cache helps)."""
    seen, out = set(), []
    attempts = 0
    while len(out) < n and attempts < 50 * n:
        attempts += 1
        q = " ".join(rng.sample(frequent, rng.choice((2, 2, 3))))
        if q not in seen:
            seen.add(q)
            out.append("/api/search?" + urlencode({"q": q}))
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=PROJECT / "corpus")
    parser.add_argument("--index", type=Path, help="an existing index (else built from --corpus in a temp folder)")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of adversarial load")
    parser.add_argument("--baseline", type=int, default=100, help="ordinary queries measured unloaded")
    parser.add_argument("--words", type=int, default=30,
                        help="unknown words per adversarial query (the app refuses more than 32 words at once, "
                             "so more only measures a flood of cheap refusals)")
    parser.add_argument("--workers", type=int, default=None, help="server worker processes (default: serve's)")
    parser.add_argument("--interval", type=float, default=0.1,
                        help="seconds between the measuring client's searches (a person typing fast sends about "
                             "10 a second; a client sending back to back is itself a flood, and --client-share "
                             "slows it down)")
    parser.add_argument("--attacker-address", default="127.0.0.2",
                        help="loopback source address of the adversarial clients (the measuring client uses "
                             "127.0.0.1), as a real attacker's address differs from its victims'; "
                             "'127.0.0.1' puts them on the measuring client's address; 'many' gives client k "
                             "127.0.0.(2+k), a flood from as many addresses as clients")
    parser.add_argument("--client-share", type=float, default=None,
                        help="serve's --client-share (default: serve's; 0 turns the per-client budget off)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    rng = random.Random(16)
    with tempfile.TemporaryDirectory(prefix="searchapp-adv-") as tmp:
        env = dict(os.environ, PYTHONWARNINGS="ignore", PYTHONPATH=str(PROJECT))
        index_dir = args.index
        if index_dir is None:
            index_dir = Path(tmp) / "index"
            subprocess.run([sys.executable, "-m", "searchapp", "index", "--corpus", str(args.corpus), "--index",
                            str(index_dir)], check=True, env=env, capture_output=True)
        frequent, known = vocabulary(index_dir)
        misses = near_misses(known, rng)
        port = free_port()
        command = [sys.executable, "-m", "searchapp", "serve", "--host", "127.0.0.1", "--port", str(port),
                   "--index", str(index_dir)]
        if args.workers:
            command += ["--workers", str(args.workers)]
        if args.client_share is not None:
            command += ["--client-share", str(args.client_share)]
        log = open(Path(tmp) / "server.log", "w")
        server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
        try:
            holder: dict = {}
            deadline = time.monotonic() + 120
            while get(holder, port, "/healthz", timeout=5)[0] != 200:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("server did not start")
                time.sleep(0.2)
            # warm every worker a little (first searches compile and open caches)
            for path in ordinary_queries(frequent, random.Random(1), 40):
                get(holder, port, path)
            base_paths = ordinary_queries(frequent, random.Random(2), args.baseline)
            unloaded = [paced(get(holder, port, p)[1], args.interval) for p in base_paths]

            # each adversarial client is its own process: as threads of this process they shared its GIL with
            # the measuring client, whose every socket read then queued behind them (the CPython convoy
            # effect), and that was counted as the server's latency
            stop = multiprocessing.Event()
            results = multiprocessing.Queue()
            attackers = [multiprocessing.Process(target=attacker, daemon=True,
                                                 args=(k, port, misses, args.words,
                                                       f"127.0.0.{2 + k}" if args.attacker_address == "many"
                                                       else args.attacker_address, stop, results))
                         for k in range(args.clients)]
            for process in attackers:
                process.start()
            time.sleep(min(2.0, args.duration / 5))
            loaded, errors = [], 0
            load_paths = iter(ordinary_queries(frequent, random.Random(3), 20_000))
            end = time.monotonic() + args.duration
            while time.monotonic() < end:
                status, took = get(holder, port, next(load_paths))
                loaded.append(paced(took, args.interval))
                errors += status != 200
            stop.set()
            adversarial: list[tuple[int, float]] = []
            for _ in attackers:
                adversarial.extend(results.get(timeout=180))
            for process in attackers:
                process.join(timeout=30)
        finally:
            server.terminate()
            try:
                server.wait(15)
            except subprocess.TimeoutExpired:
                server.kill()
    p50_unloaded = statistics.median(unloaded) * 1000
    p50_loaded = statistics.median(loaded) * 1000 if loaded else float("nan")
    adv_times = [t for _, t in adversarial]
    report = {
        "clients": args.clients, "attacker_address": args.attacker_address, "client_share": args.client_share, "duration_s": args.duration, "unknown_words_per_query": args.words,
        "near_miss_vocabulary": len(misses),
        "ordinary_unloaded": {"requests": len(unloaded), "p50_ms": round(p50_unloaded, 1)},
        "ordinary_loaded": {"requests": len(loaded), "errors": errors, "p50_ms": round(p50_loaded, 1),
                            "p95_ms": round(sorted(loaded)[int(0.95 * (len(loaded) - 1))] * 1000, 1) if loaded else None},
        "adversarial": {"requests": len(adversarial), "errors": sum(s != 200 for s, _ in adversarial),
                        "refused_429": sum(s == 429 for s, _ in adversarial),
                        "p50_ms": round(statistics.median(adv_times) * 1000, 1) if adv_times else None},
        "ratio_p50_loaded_to_unloaded": round(p50_loaded / p50_unloaded, 2),
    }
    print(json.dumps(report, indent=1))
    print(f"ordinary query p50: {p50_unloaded:.1f} ms unloaded, {p50_loaded:.1f} ms under {args.clients} adversarial "
          f"clients: {report['ratio_p50_loaded_to_unloaded']}x (target: within 3x)")
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
