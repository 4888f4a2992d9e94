"""Typing latency of the search page, measured in a real browser.

Starts `searchapp serve` on 127.0.0.1 over an index, opens the page in Debian's
Chromium (Playwright), types queries key by key at a fixed pace, and records in
the page's own clock:

- keypress -> own results: from a key's keydown to the first paint that shows
  the answer for the box's text after that key (the status line names the
  query; a kept "stale" list names it too). A key whose own answer never
  appears (a newer one came first) counts as unanswered.
- keypress -> next paint: from a keydown to the first paint of a change in the
  results region or the status line after it.

Each pace runs on a fresh server (no answer from the previous pace's results
cache); every worker is warmed first (its first search loads tables).
Paints are taken with a MutationObserver plus requestAnimationFrame, injected
as an init script, so the same measurement runs against any version of the
page (`--project DIR` serves another checkout, e.g. the code before a change).

    python bench/typing_latency.py --corpus ../shared/corpus
    python bench/typing_latency.py --index /tmp/index-100k --label generated-100k
    python bench/typing_latency.py --corpus ../shared/corpus --project ../main   # another checkout
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("SEARCHAPP_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
QUERIES = ["clearview fine", "facial recognition ban", "gdpr fine meta", "data protection authority",
           "european commission ai act"]

RECORDER = """
(() => {
  window.__keys = []; window.__paints = []; window.__values = [];
  document.addEventListener('keydown', (e) => {
    if (e.key.length === 1 || e.key === 'Backspace') window.__keys.push({t: performance.now(), key: e.key});
  }, true);
  document.addEventListener('input', (e) => {
    if (e.target && e.target.id === 'q') window.__values.push({t: performance.now(), value: e.target.value});
  }, true);
  const norm = (s) => (s || '').replace(/\\s+/g, ' ').trim();
  let pending = false;
  function observe() {
    const region = document.getElementById('region'), status = document.getElementById('status');
    if (!region || !status) return setTimeout(observe, 20);
    const observer = new MutationObserver(() => {
      if (pending) return;
      pending = true;
      const changed = performance.now();
      requestAnimationFrame(() => requestAnimationFrame(() => {
        pending = false;
        window.__paints.push({t: performance.now(), changed, status: norm(status.textContent),
                              note: norm((region.querySelector('.stale-note') || {}).textContent)});
      }));
    });
    for (const el of [region, status]) observer.observe(el, {subtree: true, childList: true, characterData: true});
  }
  document.addEventListener('DOMContentLoaded', observe);
})();
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(index: Path, corpus: Path | None, project: Path):
    port = free_port()
    args = [sys.executable, "-m", "searchapp", "serve", "--host", "127.0.0.1", "--port", str(port),
            "--index", str(index)]
    if corpus:
        args += ["--corpus", str(corpus)]
    env = dict(os.environ, PYTHONPATH=str(project), PYTHONWARNINGS="ignore")
    log = open(index.parent / f"typing-server-{port}.log", "w")
    process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=project)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 900   # a missing index is built first
    while True:
        if process.poll() is not None:
            raise SystemExit(f"server exited with {process.returncode}; see {log.name}")
        try:
            with urllib.request.urlopen(base + "/healthz", timeout=5) as response:
                if response.status == 200:
                    return process, base
        except OSError:
            pass
        if time.monotonic() > deadline:
            process.terminate()
            raise SystemExit("server did not start")
        time.sleep(0.2)


def percentile(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    k = (len(ordered) - 1) * p / 100
    low, high = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (k - low)


def measure_one(page, base: str, query: str, delay_ms: int) -> dict:
    page.goto(base + "/")
    page.wait_for_selector("#q")
    page.wait_for_timeout(400)
    page.evaluate("() => { window.__keys = []; window.__paints = []; window.__values = []; }")
    page.locator("#q").press_sequentially(query, delay=delay_ms)
    page.wait_for_timeout(2500)                     # the last answer, and any late one
    keys = page.evaluate("window.__keys")
    values = page.evaluate("window.__values")
    paints = page.evaluate("window.__paints")
    own, nxt, unanswered, gaps = [], [], 0, []
    for n, key in enumerate(keys):
        value = " ".join(values[n]["value"].split()) if n < len(values) else ""
        after = [p for p in paints if p["t"] >= key["t"]]
        if after:
            nxt.append(after[0]["t"] - key["t"])
        mine = next((p for p in after if value and (f"“{value}”" in p["status"] or f"“{value}”" in p["note"])), None)
        if mine is None:
            unanswered += 1
        else:
            own.append(mine["t"] - key["t"])
    # the longest time without an update while typing (first key to the last key's answer)
    if keys:
        marks = [keys[0]["t"]] + [p["t"] for p in paints if p["t"] >= keys[0]["t"]]
        last_value = " ".join(values[-1]["value"].split()) if values else ""
        final = next((p["t"] for p in paints if p["t"] >= keys[-1]["t"] and f"“{last_value}”" in p["status"]), None)
        if final is not None:
            marks = [m for m in marks if m <= final]
            gaps = [b - a for a, b in zip(marks, marks[1:])]
    before_last = len([p for p in paints if keys and keys[0]["t"] <= p["t"] < keys[-1]["t"]])
    return {"query": query, "keys": len(keys), "own": own, "next": nxt, "unanswered": unanswered,
            "max_gap": max(gaps) if gaps else None, "updates_before_last_key": before_last}


def warm(base: str, n: int = 16) -> None:
    from concurrent.futures import ThreadPoolExecutor

    def get(k):
        for _ in range(30):
            try:
                with urllib.request.urlopen(f"{base}/search?q=warm{k}&fragment=1&typed=1", timeout=120) as response:
                    response.read()
                return
            except urllib.error.HTTPError as error:   # 429: this burst is not a person; the budget says wait
                if error.code != 429:
                    raise
                time.sleep(float(error.headers.get("Retry-After", "1")))

    with ThreadPoolExecutor(n) as pool:
        list(pool.map(get, range(n)))
    time.sleep(8)   # the warm-up's CPU debt (serve --client-share) is paid before the typist starts


def run(base: str, delays: list[int], queries: list[str], repeat: int) -> dict:
    from playwright.sync_api import sync_playwright

    out = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        context = browser.new_context(viewport={"width": 1366, "height": 900})
        context.add_init_script(RECORDER)
        page = context.new_page()
        warm(base)                               # each worker's first search loads its tables: not the user's
        page.goto(base + "/?q=warm+up")
        for delay in delays:
            runs = [measure_one(page, base, q, delay) for _ in range(repeat) for q in queries]
            own = [v for r in runs for v in r["own"]]
            nxt = [v for r in runs for v in r["next"]]
            keys = sum(r["keys"] for r in runs)
            out[delay] = {
                "keys": keys,
                "own_p50": percentile(own, 50), "own_p95": percentile(own, 95),
                "next_paint_p50": percentile(nxt, 50), "next_paint_p95": percentile(nxt, 95),
                "answered_share": 1 - sum(r["unanswered"] for r in runs) / keys if keys else None,
                "max_gap_ms": max((r["max_gap"] for r in runs if r["max_gap"] is not None), default=None),
                "min_updates_before_last_key": min(r["updates_before_last_key"] for r in runs),
                "runs": runs,
            }
        browser.close()
    return out


def payload_sizes(base: str, query: str = "clearview fi") -> dict:
    """Bytes of one as-you-type answer, plain and gzipped."""
    from urllib.parse import quote

    sizes = {}
    for name, headers in (("plain", {}), ("gzip", {"Accept-Encoding": "gzip"})):
        request = urllib.request.Request(f"{base}/search?q={quote(query)}&fragment=1&typed=1", headers=headers)
        with urllib.request.urlopen(request, timeout=30) as response:
            sizes[name] = len(response.read())
    return sizes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, help="news folder (built into a temporary index unless --index)")
    parser.add_argument("--index", type=Path, help="an index folder to serve (built from --corpus if empty)")
    parser.add_argument("--project", type=Path, default=ROOT, help="the checkout whose page is served")
    parser.add_argument("--delays", default="100,250", help="ms per key, comma-separated")
    parser.add_argument("--queries", default="|".join(QUERIES), help="queries separated by |")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--label", default="")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    args = parser.parse_args()
    if not args.index and not args.corpus:
        parser.error("give --corpus or --index")
    index = args.index or Path(tempfile.mkdtemp(prefix="typing-")) / "index"
    index.parent.mkdir(parents=True, exist_ok=True)
    results = {}
    for delay in (int(d) for d in args.delays.split(",")):
        # a fresh server per pace: no answer comes from the results cache of the previous pace
        process, base = start_server(index.resolve(), args.corpus.resolve() if args.corpus else None,
                                     args.project.resolve())
        try:
            items = json.load(urllib.request.urlopen(base + "/healthz"))["items"]
            results.update(run(base, [delay], args.queries.split("|"), args.repeat))
            sizes = payload_sizes(base)
        finally:
            process.terminate()
            process.wait(10)
    label = args.label or (args.corpus.name if args.corpus else index.name)
    print(f"{label}: {items:,} items, page from {args.project.resolve()}")
    print(f"one as-you-type answer ('clearview fi'): {sizes['plain']:,} bytes, gzipped {sizes['gzip']:,}")
    print("| ms per key | keys | own results p50 | p95 | next paint p50 | p95 | keys answered | "
          "longest gap | fewest updates before the last key |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    fmt = lambda v: "–" if v is None else f"{v:,.0f}"   # noqa: E731
    for delay, r in results.items():
        print(f"| {delay} | {r['keys']} | {fmt(r['own_p50'])} | {fmt(r['own_p95'])} | {fmt(r['next_paint_p50'])} | "
              f"{fmt(r['next_paint_p95'])} | {r['answered_share']:.0%} | {fmt(r['max_gap_ms'])} | "
              f"{r['min_updates_before_last_key']} |")
    args.out.mkdir(parents=True, exist_ok=True)
    name = f"typing-{label}-{time.strftime('%Y%m%dT%H%M%S')}.json"
    (args.out / name).write_text(json.dumps({"label": label, "items": items, "sizes": sizes,
                                             "project": str(args.project.resolve()), "results": results}, indent=1))


if __name__ == "__main__":
    main()
