"""Whole costs a build must not pay: a nothing-changed run never loads the
gazetteer (parsing it took 1.8 s of a 2 s run at 10k items)."""

from __future__ import annotations

import hashlib
import subprocess
import sys

from conftest import PROJECT, write_news

from searchapp.indexing import update_index
from searchapp.store import state

_RUN = """
import runpy, sys
sys.argv = ["searchapp", "index", "--corpus", sys.argv[1], "--index", sys.argv[2]]
try:
    runpy.run_module("searchapp", run_name="__main__")
except SystemExit as end:
    assert not end.code, end.code
print("gazetteer loaded:", "searchapp.enrich.gazetteer" in sys.modules)
"""


def test_nothing_changed_run_does_not_load_the_gazetteer(tmp_path):
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    write_news(corpus, "a.md", "The regulator fined the company.", title="CNIL fines a company")
    write_news(corpus, "b.md", title="Another item")
    update_index(corpus, index)
    done = subprocess.run([sys.executable, "-c", _RUN, str(corpus), str(index)], capture_output=True, text=True,
                          cwd=PROJECT, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "nothing changed" in done.stdout
    assert "gazetteer loaded: False" in done.stdout


def test_the_state_format_follows_the_gazetteer_file():
    """A changed gazetteer (its version is in the file) makes the next run a full rebuild."""
    data = PROJECT / "searchapp" / "enrich" / "gazetteer.yaml"
    assert state.FORMAT[1] == hashlib.sha1(data.read_bytes()).hexdigest()[:16]
