"""bench/build.py --keep / --reuse / --pycache (round 8): the incremental steps again on a kept full build."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import write_news

PROJECT = Path(__file__).resolve().parent.parent


def _bench(*args) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, str(PROJECT / "bench" / "build.py"), *map(str, args)], cwd=PROJECT,
                          capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(PROJECT)))
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def test_reuse_runs_the_steps_on_the_kept_full_build_as_it_was(tmp_path):
    corpus, work = tmp_path / "corpus", tmp_path / "work"
    for n in range(4):
        write_news(corpus, f"{n}.md", title=f"Story {n}")
    _bench(corpus, "--work", work, "--keep", "--pycache", "--steps", "unchanged", "--json", tmp_path / "a.json")
    first = json.loads((tmp_path / "a.json").read_text())
    assert (work / "full.json").exists() and (work / "index" / "CURRENT").exists()
    assert list((work / "pycache").rglob("*.pyc"))   # bytecode kept outside the checkout
    # a step that adds files and switches in a later generation, on the kept build
    _bench(corpus, "--work", work, "--reuse", "--keep", "--steps", "add10copies", "--json", tmp_path / "step.json")
    step = json.loads((tmp_path / "step.json").read_text())
    assert step["full"]["cpu_s"] == first["full"]["cpu_s"] and "(4 added" in step["add10copies"]["output"]
    _bench(corpus, "--work", work, "--reuse", "--steps", "unchanged", "--json", tmp_path / "b.json")
    second = json.loads((tmp_path / "b.json").read_text())
    assert second["full"]["cpu_s"] == first["full"]["cpu_s"]   # the kept full build, not a new one
    assert "nothing changed" in second["unchanged"]["output"]
    assert "Read 4 files" in second["unchanged"]["output"]
    assert not work.exists()   # without --keep, the work folder goes
