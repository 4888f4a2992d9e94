"""What typing users get while `searchapp index` switches generations under a running server.

    python bench/switch.py --index /tmp/index-100k --corpus /tmp/corpus-100k [--rounds 5] [--out r.json]
    python bench/switch.py --index /tmp/index-10k --corpus /tmp/corpus-10k --project ../main   # another checkout

One keep-alive client replays bench/keystrokes.py's workload (every prefix of
its 40 queries, each as `/api/suggest` then `/api/search?typed=1`) against a
fresh `searchapp serve`, without pause, for the whole run:

1. one pass cold (not counted), then two warm passes: each request's warm
   time is the lower of its two (the same request on the same generation;
   each prefix once: 40 queries are 817 distinct searches, more than the
   results cache keeps, so a pass never answers from it), and the warm p50/p99 of each kind;
2. `--rounds` times: `searchapp index --full` (a new generation of the same
   corpus, read only) runs while typing goes on, then typing goes on for
   `--after` seconds after the switch (`--link`: the generation's files
   hard-linked under a new name instead, then CURRENT switched: the switch
   without a build's minutes of CPU, which at 100k make several rounds long; `--append N`: N new
   files added to the corpus, which changes, and an incremental `searchapp index`, news
   arriving: a new segment on the previous ones). Requests that start after the
   build ended are "after the switch": their worst time ÷ the same request's
   warm time, and ÷ the warm p50 and p99 of their kind. Requests during the
   build share the 2 cores with it and are reported apart;
3. `--control` windows of `--after` seconds with no switch at all, summed up the same way: on
   a machine shared with other work the worst request of any 20 s window is several times the
   warm p99, and this is the floor to read the after-switch figures against;
4. each worker's private memory (USS: Private_Clean + Private_Dirty of
   /proc/PID/smaps_rollup) after the rounds.

`--in-process` measures the work instead, without HTTP or the machine's load: one engine as a
server's (warm_switch), registered as a server so that the switch waits for it; typing goes on
in one thread while another switches (`--link`, or `--append` with `--corpus`); each request's CPU time in its own thread
(`time.thread_time`: the warming thread's work and other processes' are not counted), the first
pass after the switch against the lower of two warm passes of the same request. Full garbage
collections are deferred as `serve`'s workers defer them (processes.defer_full_collections):
without that, the worst request of each round was a full collection (125-130 ms at 10k, round 14),
which a server runs when it is quiet.

With a server of round 8 or later, `searchapp index` (and `--link`'s switch, which goes through the
same `switch_current`) first names the new generation in NEXT and waits, at most
SWITCH_WAIT_SECONDS, while the servers warm it: `build_s` includes that wait.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlencode

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(0, str(BENCH))

from keystrokes import QUERIES, anonymous_mb, prefixes, private_mb, start_ours, worker_memory, workers  # noqa: E402
from run import PROJECT, percentiles, stop  # noqa: E402


def paths(texts: list[str]) -> list[tuple[str, str, str]]:
    """(kind, text, path) in the page's order: a suggestion, then the search, per keypress;
    each text once (a repeated one would be answered from the results cache when warm)."""
    out = []
    for text in dict.fromkeys(texts):
        out.append(("suggest", text, "/api/suggest?" + urlencode({"q": text})))
        out.append(("search", text, "/api/search?" + urlencode({"q": text, "typed": "1"})))
    return out


class Typist(threading.Thread):
    """Sends the requests in a loop on one keep-alive connection; records (start, kind, text, ms)."""

    def __init__(self, port: int, requests: list[tuple[str, str, str]]):
        super().__init__(daemon=True)
        self.port, self.requests = port, requests
        self.log: list[tuple[float, str, str, float]] = []
        self.passes = 0
        self.done = threading.Event()
        self.error: Exception | None = None

    def run(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=300)
        try:
            while not self.done.is_set():
                for kind, text, path in self.requests:
                    if self.done.is_set():
                        break
                    started = time.perf_counter()
                    conn.request("GET", path)
                    response = conn.getresponse()
                    response.read()
                    if response.status != 200:
                        raise RuntimeError(f"{path}: HTTP {response.status}")
                    self.log.append((started, kind, text, (time.perf_counter() - started) * 1000))
                self.passes += 1
        except Exception as error:   # reported by main()
            self.error = error
        finally:
            conn.close()

    def wait_passes(self, n: int) -> None:
        while self.passes < n:
            if self.error:
                raise self.error
            time.sleep(0.2)

    def wait_rows(self, n: int) -> None:
        while len(self.log) < n:
            if self.error:
                raise self.error
            time.sleep(0.05)


def relink(index: Path) -> None:
    """A new generation without a build: the current one's files hard-linked under a new name
    (its tables renamed to it, build.json and the manifest rewritten), then CURRENT switched,
    as a build ends. The switch alone, without the minutes of CPU a build takes at 100k."""
    from searchapp.store.generations import (BUILD_INFO, MANIFEST, current_generation, new_generation_name,
                                             remove_old, switch_current, write_manifest)

    old = current_generation(index)
    name, _ = new_generation_name()
    building = index / f".building-{name}~{os.getpid()}"
    building.mkdir()
    for path in old.iterdir():
        if path.name in (MANIFEST, BUILD_INFO) or not path.is_file():
            continue
        os.link(path, building / path.name.replace(old.name, name))
    info = json.loads((old / BUILD_INFO).read_text("utf-8"))
    (building / BUILD_INFO).write_text(json.dumps({**info, "generation": name}, indent=1), "utf-8")
    write_manifest(building)
    os.rename(building, index / name)
    switch_current(index, index / name)
    remove_old(index, keep={index / name, old})


def reindex(index: Path, corpus: Path, project: Path, link: bool = False, append: int = 0, round_: int = 0) -> None:
    if link:
        relink(index)
        return
    if append:   # news arriving: new files dated after every other (an append: a new segment on the previous ones)
        from make_corpus import add_new

        add_new(corpus, append, seed=1000 + round_)
    subprocess.run([sys.executable, "-m", "searchapp", "index", *([] if append else ["--full"]), "--corpus",
                    str(corpus.resolve()), "--index", str(index.resolve())], cwd=project, env=dict(os.environ, PYTHONPATH=str(project)), check=True,
                   capture_output=True)


def summary(rows: list[tuple[float, str, str, float]], warm: dict, kinds: dict) -> dict:
    out = {}
    for kind in ("suggest", "search"):
        mine = [(ms, text) for _, k, text, ms in rows if k == kind]
        if not mine:
            continue
        worst, text = max(mine)
        same = max((ms / warm[(kind, t)], t) for ms, t in mine)
        out[kind] = {"n": len(mine), "max_ms": round(worst, 1), "max_text": text,
                     "max_over_warm_p50": round(worst / kinds[kind]["p50"], 2),
                     "max_over_warm_p99": round(worst / kinds[kind]["p99"], 2),
                     "worst_over_same_request_warm": round(same[0], 2), "worst_same_text": same[1],
                     "first_ms": round(mine[0][0], 1),
                     "first_over_same_request_warm": round(mine[0][0] / warm[(kind, mine[0][1])], 2)}
    return out


def in_process(index: Path, queries: int, rounds: int, switch=None) -> dict:
    """See the module's doc: `--in-process`."""
    from searchapp.core.service import SearchEngine
    from searchapp.processes import defer_full_collections
    from searchapp.store import generations

    defer_full_collections()
    texts = list(dict.fromkeys(prefixes(QUERIES[:queries])))
    requests = [(kind, text) for text in texts for kind in ("suggest", "search")]
    engine = SearchEngine(index, warm_switch=True)
    if getattr(engine, "_registration", None) is not None:   # as another process's server: the switch waits for it
        foreign = index / generations.SERVERS / f"1-{os.getpid()}"
        os.rename(engine._registration.path, foreign)
        engine._registration.path = foreign

    def run(kind, text):
        started = time.thread_time()
        engine.suggest(text) if kind == "suggest" else engine.search(text, typed=True)
        return (time.thread_time() - started) * 1000

    for request in requests:
        run(*request)
    warm: dict = {}
    for _ in range(2):
        for request in requests:
            ms = run(*request)
            warm[request] = min(ms, warm.get(request, ms))
    kinds = {kind: percentiles([ms for (k, _), ms in warm.items() if k == kind]) for kind in ("suggest", "search")}
    out = {"warm_cpu_ms": {k: {p: round(v, 2) for p, v in s.items()} for k, s in kinds.items()}, "rounds": []}
    at = 0
    failed: list[BaseException] = []

    def switching(round_):
        try:
            relink(index) if switch is None else switch(round_)
        except BaseException as error:   # reported by the typing thread: a round without a switch is no round
            failed.append(error)

    for round_ in range(rounds):
        switcher = threading.Thread(target=switching, args=(round_,))
        started = time.perf_counter()
        switcher.start()
        while switcher.is_alive():   # typing goes on, on the old generation
            run(*requests[at % len(requests)])
            at += 1
        if failed:
            raise failed[0]
        waited = time.perf_counter() - started
        rows = []
        for n in range(len(requests)):   # one pass from where typing was
            request = requests[(at + n) % len(requests)]
            rows.append((run(*request), request))
        at += len(requests)
        one = {"switch_s": round(waited, 2)}
        for kind in ("suggest", "search"):
            mine = [(ms, text) for ms, (k, text) in rows if k == kind]
            worst, text = max(mine)
            same = max((ms / max(warm[(kind, t)], 0.01), t) for ms, t in mine)
            one[kind] = {"max_cpu_ms": round(worst, 1), "max_text": text,
                         "max_over_warm_p99": round(worst / kinds[kind]["p99"], 2),
                         "first_pass_cpu_over_warm": round(sum(ms for ms, _ in mine)
                                                           / sum(warm[(kind, t)] for _, t in mine), 2),
                         "worst_over_same_request_warm": round(same[0], 1), "worst_same_text": same[1]}
        out["rounds"].append(one)
        print(json.dumps(one), file=sys.stderr)
    engine.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", type=Path, required=True)
    parser.add_argument("--corpus", type=Path, help="the corpus the index was built from (to rebuild it)")
    parser.add_argument("--link", action="store_true",
                        help="switch to a hard-linked copy of the generation instead of rebuilding it")
    parser.add_argument("--append", type=int, default=0, metavar="N",
                        help="each round, add N new files to --corpus (it changes) and update the index incrementally")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--after", type=float, default=20.0, help="seconds of typing measured after each switch")
    parser.add_argument("--control", type=int, default=0, help="windows of --after seconds without a switch")
    parser.add_argument("--queries", type=int, default=len(QUERIES))
    parser.add_argument("--project", type=Path, default=PROJECT, help="the checkout whose server is measured")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--in-process", action="store_true", help="CPU time per request in one engine (see above)")
    args = parser.parse_args()
    # absolute: the server and the index runs work in the project's folder (a relative --index
    # served an empty folder created there, and a relative --corpus was another path: a full rebuild)
    args.index = args.index.resolve()
    args.corpus = args.corpus.resolve() if args.corpus else None
    if args.in_process:
        if not args.link and not (args.append and args.corpus):
            parser.error("--in-process needs --link, or --append with --corpus")
        switch = None if args.link else (lambda r: reindex(args.index, args.corpus, args.project.resolve(), False,
                                                            args.append, r))
        text = json.dumps(in_process(args.index, args.queries, args.rounds, switch), indent=1)
        print(text)
        if args.out:
            args.out.write_text(text)
        return
    if not args.link and args.corpus is None:
        parser.error("--corpus is needed to rebuild or append (or --link)")
    if args.link and args.append:
        parser.error("--append and --link are two kinds of switch: choose one")
    project = args.project.resolve()
    requests = paths(prefixes(QUERIES[: args.queries]))
    proc, port = start_ours(args.index, project)
    typist = Typist(port, requests)
    result: dict = {"requests_per_pass": len(requests)}
    try:
        typist.start()
        typist.wait_passes(1)
        cold_end = len(typist.log)
        # two passes' worth of rows after the first pass, counted in rows: on a small index the
        # typist can finish passes faster than this thread looks, and waiting on the pass count
        # then returned before any warm row was logged (a crash in CI, round 8)
        typist.wait_rows(cold_end + 2 * len(requests))
        warm_rows = typist.log[cold_end:cold_end + 2 * len(requests)]
        warm: dict = {}
        for _, kind, text, ms in warm_rows:
            warm[(kind, text)] = min(ms, warm.get((kind, text), ms))
        kinds = {kind: percentiles([ms for (k, _), ms in warm.items() if k == kind]) for kind in ("suggest", "search")}
        if any(s["n"] == 0 for s in kinds.values()):
            raise SystemExit(f"no warm requests of a kind were timed: {kinds}")
        result["warm"] = {k: {p: round(v, 1) for p, v in s.items()} for k, s in kinds.items()}
        result["worker_private_mb_after_typing"] = [round(private_mb(p), 1) for p in workers(proc.pid)]
        result["worker_anonymous_mb_after_typing"] = [round(anonymous_mb(p), 1) for p in workers(proc.pid)]
        rounds = []
        for round_ in range(args.rounds):
            begun = time.perf_counter()
            reindex(args.index, args.corpus, project, args.link, args.append, round_)
            switched = time.perf_counter()
            time.sleep(args.after)
            if typist.error:
                raise typist.error
            log = list(typist.log)
            during = [r for r in log if begun <= r[0] < switched]
            after = [r for r in log if switched <= r[0] < switched + args.after]
            rounds.append({"build_s": round(switched - begun, 1), "after_switch": summary(after, warm, kinds),
                           "during_build": summary(during, warm, kinds)})
            print(json.dumps(rounds[-1]), file=sys.stderr)
        result["rounds"] = rounds
        controls = []
        for _ in range(args.control):
            begun = time.perf_counter()
            time.sleep(args.after)
            if typist.error:
                raise typist.error
            window = [r for r in list(typist.log) if begun <= r[0] < begun + args.after]
            controls.append(summary(window, warm, kinds))
            print(json.dumps({"control": controls[-1]}), file=sys.stderr)
        if controls:
            result["control"] = controls
            result["worst_without_switch"] = {
                kind: {m: max(c[kind][m] for c in controls)
                       for m in ("max_over_warm_p50", "max_over_warm_p99", "worst_over_same_request_warm")}
                for kind in ("suggest", "search")}
        result["worst_after_switch"] = {
            kind: {m: max(r["after_switch"][kind][m] for r in rounds)
                   for m in ("max_over_warm_p50", "max_over_warm_p99", "worst_over_same_request_warm")}
            for kind in ("suggest", "search") if rounds}
        result["worker_busy_private_mb"] = [round(private_mb(p), 1) for p in workers(proc.pid)]   # typing goes on
        typist.done.set()
        typist.join(60)
        result.update(worker_memory(proc.pid))   # after the typist stopped: between bursts
    finally:
        typist.done.set()
        typist.join(60)
        stop(proc)
    text = json.dumps(result, indent=1)
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
