"""A server worker leaves Python's full garbage collections to its idle
housekeeper (processes.defer_full_collections, IdleTrimmer): at 10k items a
full pass over a typing worker's long-lived objects took 100-150 ms, and it
ran inside whichever request crossed the threshold (the three slowest typed
searches)."""

from __future__ import annotations

import subprocess
import sys

from searchapp import processes

PROBE = """
import gc, sys, weakref
from searchapp import processes
if sys.argv[1] == "deferred":
    processes.defer_full_collections()

class Node:
    pass

def old_cycle():
    a, b = Node(), Node()
    a.other, b.other = b, a
    gc.collect(1); gc.collect(1)        # survivors move to the oldest generation
    return weakref.ref(a)

gc.collect()
ref = old_cycle()                        # now garbage, in the oldest generation
churn = []
for n in range(400_000):                 # a server's work: young objects, some kept a while
    churn.append([n])
    if len(churn) > 50_000:
        churn.clear()
print("alive" if ref() is not None else "freed")
trimmer = processes.IdleTrimmer(check=0.05, quiet=0.2).start()
trimmer.begin(); trimmer.end()
import time; time.sleep(1.0)
print("alive" if ref() is not None else "freed", trimmer.collections)
# a cycle alive at a collection under load is frozen with the survivors: a later one
# under load leaves it, a quiet worker's pass (everything unfrozen) frees it
a, b = Node(), Node()
a.other, b.other = b, a
ref = weakref.ref(a)
trimmer._collect(everything=False)
del a, b
trimmer._collect(everything=False)
print("alive" if ref() is not None else "freed")
trimmer.begin(); trimmer.end()
time.sleep(1.0)
print("alive" if ref() is not None else "freed")
"""


def _probe(mode: str) -> list[str]:
    done = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_full_collections_wait_for_the_quiet_housekeeper():
    # Python's own thresholds free the old cycle during the work (the control: this test can fail)
    assert _probe("default")[0] == "freed"
    # deferred: the work runs without a full pass, then the quiet worker collects
    during, after, collections, frozen, quiet = _probe("deferred")
    assert (during, after) == ("alive", "freed") and int(collections) == 1
    assert (frozen, quiet) == ("alive", "freed")


class _Gc:
    """What the housekeeper asks of the collector (the real one is left alone: a freeze
    in the test process would keep its cycles for ever)."""

    def __init__(self, calls):
        self.calls = calls

    def __getattr__(self, name):
        return lambda *args: self.calls.append(name)


def test_a_worker_never_quiet_still_collects(monkeypatch):
    calls = []
    monkeypatch.setattr(processes, "gc", _Gc(calls))
    monkeypatch.setattr(processes, "trim_heap", lambda: None)
    now = [1000.0]
    trimmer = processes.IdleTrimmer(quiet=1.0)
    trimmer._clock = lambda: now[0]
    trimmer.last_collection = now[0]
    trimmer.begin()                               # a request in progress, always
    now[0] += processes.FULL_COLLECTION_MAX_SECONDS - 1
    assert not trimmer.trim_if_quiet() and not trimmer.collect_if_overdue() and not calls
    now[0] += 2
    assert trimmer.collect_if_overdue() and calls == ["collect", "freeze"]   # only what is not frozen
    assert not trimmer.collect_if_overdue()       # not again at once
    trimmer.end()
    now[0] += processes.FULL_COLLECTION_MAX_SECONDS + 1
    assert not trimmer.collect_if_overdue()       # nothing served since: nothing to collect
    trimmer.begin(); trimmer.end()
    now[0] += 1.5
    assert trimmer.trim_if_quiet() and calls[2:] == ["unfreeze", "collect", "freeze"]   # quiet: everything


def test_the_server_defers_its_workers_full_collections():
    import inspect

    from searchapp import cli
    source = inspect.getsource(cli.serve_command.callback)
    assert "defer_full_collections()" in source
