"""The load script runs (small) in the suite, so it cannot rot: real server,
concurrent clients, reindexes during the run, zero errors and no item lost."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from conftest import PROJECT, SAMPLE_CORPUS


def test_load_script_smoke_run(tmp_path):
    out = tmp_path / "load.json"
    done = subprocess.run([sys.executable, str(PROJECT / "bench" / "load.py"), "--corpus", str(SAMPLE_CORPUS),
                           "--clients", "6", "--processes", "2", "--duration", "4", "--baseline-duration", "1",
                           "--reindex", "--json", str(out)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(out.read_text())
    assert report["reindexes"] >= 1 and report["reindex_failures"] == 0
    assert report["lost_items"] == 0 and report["duplicated_items"] == 0
    rows = {row["name"]: row for row in report["rows"]}
    assert rows["all searches"]["requests"] > 20 and rows["all searches"]["errors"] == 0
    assert "| /api/search |" in done.stdout
