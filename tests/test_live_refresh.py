"""A running server picks up finished reindexes by itself, and every request
made during the reindexes succeeds."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import threading
import time

from conftest import need_shared, running_server, write_news

QUERIES = ["facial recognition", "power apps", "gdpr", "privacy law", "ban", "clearview", "ai act", ""]


def test_server_switches_to_new_generations_without_failing_requests(tmp_path):
    shared = need_shared()
    corpus = tmp_path / "corpus"
    shutil.copytree(shared / "regulation-news", corpus / "regulation-news")
    shutil.copytree(shared / "powerapps-news", corpus / "powerapps-news")
    index_dir = tmp_path / "index"
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    reindex = [sys.executable, "-m", "searchapp", "index", "--corpus", str(corpus), "--index", str(index_dir)]
    assert subprocess.run(reindex, env=env, capture_output=True).returncode == 0

    with running_server(index_dir) as server:
        statuses: list[int] = []
        failures: list[str] = []
        stop = threading.Event()

        def client(seed):
            rng = random.Random(seed)
            while not stop.is_set():
                query = rng.choice(QUERIES)
                path = rng.choice(["/api/search?q=", "/search?q=", "/api/suggest?q="]) + query.replace(" ", "+")
                try:
                    status, _, body = server.get(path)
                    statuses.append(status)
                    if status != 200:
                        failures.append(f"{path}: {status} {body[:200]!r}")
                except Exception as error:  # a refused or broken connection is a failure too
                    failures.append(f"{path}: {error!r}")

        clients = [threading.Thread(target=client, args=(n,)) for n in range(6)]
        for thread in clients:
            thread.start()
        try:
            visible_after = []
            for round_ in range(3):
                write_news(corpus, f"live-{round_}.md", title=f"Livemarker{round_} regulation story")
                started = time.monotonic()
                done = subprocess.run(reindex + (["--full"] if round_ == 1 else []), env=env,
                                      capture_output=True, text=True)
                assert done.returncode == 0, done.stderr
                exited = time.monotonic()
                while server.json(f"/api/search?q=livemarker{round_}")[1]["total"] != 1:
                    assert time.monotonic() - started < done_seconds(done) + 5, "new generation not picked up"
                    time.sleep(0.05)
                visible_after.append(time.monotonic() - exited)
        finally:
            stop.set()
            for thread in clients:
                thread.join()
        assert failures == []
        assert len(statuses) > 50
        # every server thread checks CURRENT per request: the new item is found at once, not after a poll period
        assert len(visible_after) == 3 and max(visible_after) < 2.0, visible_after
        assert server.json("/healthz")[1]["items"] == server.json("/api/search")[1]["total"]


def done_seconds(done) -> float:
    """The build time the CLI reported (its summary ends with 'in N s -> ...')."""
    return float(done.stdout.split(" s -> ")[0].rsplit(" in ", 1)[1])
