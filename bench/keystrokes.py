"""What a person typing gets: every prefix of 40 regulation queries, as the page sends them.

    python bench/keystrokes.py --index /tmp/index-100k --corpus /tmp/corpus-100k [--db /tmp/fts-100k.db]
    python bench/keystrokes.py --index /tmp/index-10k --corpus /tmp/corpus-10k --reindex 5   # + switches, memory
    python bench/keystrokes.py --index /tmp/index-10k --skip-datasette --project ../main     # another checkout
    python bench/keystrokes.py --index /tmp/index-100k --corpus /tmp/corpus-100k --before ../main  # before/after

For each query, every prefix of 2 or more characters is sent as `/api/suggest`
then `/api/search?typed=1` (what the page does on a keypress) by one
keep-alive client to a freshly started `searchapp serve`; then the same
prefixes go to Datasette over the FTS5 file of bench/peers.py with
`_search="w1" "w2"*` (raw mode: the last, unfinished word as a prefix), in the
same run. The FTS5 file is built from the corpus when `--db` does not exist.
`--before CHECKOUT` first measures that checkout's server the same way (the
code before a change), so before and after share the run and Datasette.

`--reindex N` then edits one file of `--corpus` (it must be a writable copy)
N times, runs `searchapp index` after each edit and, after each switch, times
the first suggest and search of each kind against warm ones; finally each
worker's private memory (USS: Private_Clean + Private_Dirty of
/proc/PID/smaps_rollup) is read.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlencode, urlsplit

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(0, str(BENCH))

import peers  # noqa: E402
from run import PROJECT, percentiles, stop, wait_http  # noqa: E402

QUERIES = [
    "facial recognition ban", "gdpr fine", "data protection authority", "european commission ai act",
    "antitrust lawsuit google", "clearview fine", "autonomous vehicles regulation", "online safety bill",
    "digital markets act", "privacy shield", "federal trade commission settlement", "content moderation law",
    "right to be forgotten", "children online privacy", "biometric data law", "section 230 reform",
    "self driving car crash", "competition authority investigation", "facebook privacy fine",
    "artificial intelligence regulation", "police facial recognition", "data breach penalty",
    "apple app store antitrust", "amazon competition probe", "digital services act", "cookie consent",
    "encryption backdoor", "net neutrality rules", "uber drivers court ruling", "tiktok ban",
    "surveillance cameras china", "deepfake legislation", "microsoft antitrust", "privacy regulator investigation",
    "algorithm transparency", "smart city surveillance", "data retention directive", "copyright directive",
    "hate speech platforms", "tesla autopilot investigation",
]


def start_ours(index: Path, project: Path) -> tuple[subprocess.Popen, int]:
    """A fresh `searchapp serve` of `project`'s code (another checkout: the code before a change)."""
    port = peers.free_port()
    env = dict(os.environ, PYTHONPATH=str(project))
    # absolute: the server runs in the project's folder, where a relative path is another folder
    proc = subprocess.Popen([sys.executable, "-m", "searchapp", "serve", "--index", str(Path(index).resolve()), "--port", str(port),
                             "--client-share", "0"],   # a back-to-back replay, not a person's pace
                            cwd=project, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_http(port, "/healthz", proc)
    return proc, port


def prefixes(queries: list[str]) -> list[str]:
    return [q[:n] for q in queries for n in range(2, len(q) + 1)]


def fts_match(text: str) -> str:
    """`"w1" "w2"*`: every word, the last one as a prefix unless a space follows it."""
    words = peers.clauses(text)
    if not words:
        return ""
    match = " ".join('"' + w.replace('"', '""') + '"' for w in words)
    return match if text[-1:].isspace() else match + "*"


def datasette_path(base: str, text: str) -> str:
    url = peers.datasette_url(base, {"q": ""})
    params = [("_search", fts_match(text)), ("_searchmode", "raw")] if fts_match(text) else []
    parts = urlsplit(url)
    query = parts.query.replace("&_sort_desc=published", "")  # a search, not the newest list
    return f"{parts.path}?{query}" + ("&" + urlencode(params) if params else "")


def timed(conn: http.client.HTTPConnection, path: str) -> float:
    started = time.perf_counter()
    conn.request("GET", path)
    response = conn.getresponse()
    response.read()
    if response.status != 200:
        raise RuntimeError(f"{path}: HTTP {response.status}")
    return (time.perf_counter() - started) * 1000


def ours(port: int, texts: list[str]) -> tuple[list[float], list[float], list[tuple[float, str]]]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    suggest, search, slowest = [], [], []
    for text in texts:
        suggest.append(timed(conn, "/api/suggest?" + urlencode({"q": text})))
        search.append(timed(conn, "/api/search?" + urlencode({"q": text, "typed": "1"})))
        slowest.append((search[-1], text))
    conn.close()
    return suggest, search, sorted(slowest, reverse=True)[:5]


def datasette(proc, texts: list[str]) -> list[float]:
    parts = urlsplit(proc.base)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)
    try:
        return [timed(conn, datasette_path(proc.base, text)) for text in texts]
    finally:
        conn.close()


def stats(values: list[float]) -> dict:
    return {**percentiles(values), "max": max(values)}


def workers(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


def _rollup(pid: int) -> dict[str, int]:
    lines = Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]
    return {k: int(v.split()[0]) for k, v in (line.split(":", 1) for line in lines)}


def private_mb(pid: int) -> float:
    """USS: what this process alone holds (shared page cache excluded). It counts the pages of
    the mapped tables file that only this worker has read (Private_Clean): one keep-alive
    client's requests all go to one worker, whose reads of the file are then its own."""
    fields = _rollup(pid)
    return sum(fields[k] for k in ("Private_Clean", "Private_Dirty")) / 1024


SETTLE_SECONDS = 4.0   # a worker trims its heap once requests stop for a second (processes.IdleTrimmer)


def worker_memory(pid: int, settle: float = SETTLE_SECONDS) -> dict[str, list[float]]:
    """Each worker's USS and anonymous memory, `settle` seconds after the last request:
    what a worker holds between bursts (a server whose code does not trim holds the same
    after the wait; the peak during a burst is not this figure)."""
    time.sleep(settle)
    found = workers(pid)
    return {"worker_private_mb": [round(private_mb(p), 1) for p in found],
            "worker_anonymous_mb": [round(anonymous_mb(p), 1) for p in found]}


def anonymous_mb(pid: int) -> float:
    """What the worker allocated (heap, arenas, stacks): USS without the mapped file pages,
    which the kernel can drop and other workers share once they read them too."""
    return _rollup(pid)["Anonymous"] / 1024


def switches(port: int, index: Path, corpus: Path, rounds: int, project: Path) -> list[dict]:
    """After each reindex: the first requests of the new generation against warm ones of the same kind."""
    edited = sorted(corpus.rglob("*.md"))[0]
    words = ["fine", "ban", "law", "court", "probe", "rules", "bill", "case", "data", "privacy", "police", "apple"]
    kinds = {"search": lambda w: "/api/search?" + urlencode({"q": f"regulator {w}", "typed": "1"}),
             "suggest": lambda w: "/api/suggest?" + urlencode({"q": f"{w} rec"})}
    out = []
    for n in range(rounds):
        text = edited.read_text(encoding="utf-8")
        edited.write_text(text.replace('\nexcerpt: "', f'\nexcerpt: "Round {n} ', 1), encoding="utf-8")
        subprocess.run([sys.executable, "-m", "searchapp", "index", "--corpus", str(corpus), "--index", str(index)],
                       cwd=project, env=dict(os.environ, PYTHONPATH=str(project)), check=True, capture_output=True)
        row = {}
        for kind, path in kinds.items():
            # distinct requests (no results cache): the first four after the switch, each on a
            # new connection (any worker), then eight more on one connection as the warm reference
            first = []
            for w in words[:4]:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
                first.append(timed(conn, path(w)))
                conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            warm = sorted(timed(conn, path(w)) for w in words[4:])[3]
            conn.close()
            row[kind] = {"first_max": round(max(first), 1), "warm_p50": round(warm, 1),
                         "ratio": round(max(first) / warm, 2)}
        out.append(row)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", type=Path, required=True)
    parser.add_argument("--corpus", type=Path, help="the corpus the index was built from (for the FTS5 file)")
    parser.add_argument("--db", type=Path, help="the FTS5 file (built from --corpus if missing)")
    parser.add_argument("--queries", type=int, default=len(QUERIES))
    parser.add_argument("--reindex", type=int, default=0, help="reindex rounds after the typing run")
    parser.add_argument("--skip-datasette", action="store_true")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--project", type=Path, default=PROJECT, help="the checkout whose server is measured")
    parser.add_argument("--before", type=Path, help="another checkout measured first, in the same run (before/after)")
    args = parser.parse_args()
    texts = prefixes(QUERIES[: args.queries])
    result: dict = {"requests": len(texts)}

    if args.before:   # another checkout first (the code before a change), in the same run
        proc, port = start_ours(args.index, args.before.resolve())
        try:
            suggest, search, slowest = ours(port, texts)
            result["before"] = {"suggest": stats(suggest), "search": stats(search), "slowest": slowest,
                                **worker_memory(proc.pid)}
        finally:
            stop(proc)
    proc, port = start_ours(args.index, args.project.resolve())
    try:
        suggest, search, slowest = ours(port, texts)
        result["suggest"], result["search"], result["slowest"] = stats(suggest), stats(search), slowest
        if args.reindex:
            result["switches"] = switches(port, args.index, args.corpus, args.reindex, args.project.resolve())
        result.update(worker_memory(proc.pid))
    finally:
        stop(proc)

    if not args.skip_datasette:
        db = args.db or Path(f"{args.index}-fts5.db")  # no dot in the name: Datasette reads one as a format
        if not db.exists():
            peers.Fts5Peer.build(peers.stream_items(args.corpus), db)
        ds = peers.start_datasette(db)
        try:
            result["datasette"] = stats(datasette(ds, texts))
        finally:
            stop(ds)
        for measured in (result, result.get("before")):
            if measured:
                ours_s, theirs = measured["search"], result["datasette"]
                measured["ratios"] = {
                    "search_p95": ours_s["p95"] / theirs["p95"], "search_p99": ours_s["p99"] / theirs["p99"],
                    "search_max": ours_s["max"] / theirs["max"],
                }
    for measured in (result, result.get("before")):
        if measured:
            measured.setdefault("ratios", {})["suggest_p99_over_search_p99"] = (
                measured["suggest"]["p99"] / measured["search"]["p99"])
    text = json.dumps(result, indent=1)
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
