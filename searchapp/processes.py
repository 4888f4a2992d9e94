"""Small helpers for worker processes, importing nothing heavy (the
indexer's read workers and the backend's writers use them, and so do the
server's workers; the indexer must not import Whoosh to get them)."""

from __future__ import annotations

import ctypes
import gc
import signal
import threading
import time


class Counted:
    """An iterator with a known length (for a progress bar's total)."""

    def __init__(self, iterable, length: int):
        self.iterable, self.length = iterable, length

    def __len__(self) -> int:
        return self.length

    def __iter__(self):
        return iter(self.iterable)


def die_with_parent() -> None:
    """Workers must not outlive a killed build: they would hold the writer lock."""
    _libc("prctl", 1, signal.SIGKILL)   # PR_SET_PDEATHSIG (Linux)


def _libc(function: str, *args):
    """Call a C library function of this platform's libc; None where it has no such function."""
    try:
        return getattr(ctypes.CDLL(None, use_errno=True), function)(*args)
    except (OSError, AttributeError):
        return None


M_ARENA_MAX = -8        # glibc's mallopt parameter number (malloc.h)
SERVER_ARENAS = 2


def limit_malloc_arenas(arenas: int = SERVER_ARENAS) -> bool:
    """Cap glibc's malloc arenas for a threaded process, before its threads start.

    glibc gives threads up to 8 arenas per core, each keeping its own freed
    pages; a server worker's 16 threads each allocate big-int bitmaps and
    score arrays, and what one arena freed another could not reuse. Measured
    at 100k items, one engine after typing on one thread, then 16 threads
    searching: 260 MB anonymous memory without the cap, 150 MB with 2 arenas,
    147 with 1, 154 with 4; one server worker after typing and 5 switches:
    374 -> 319 MB private (bench/switch.py --link, one run each). The same
    as MALLOC_ARENA_MAX=2 in the environment, which gunicorn's forked workers
    would only see if set before the server started.
    Whether the cap was set (glibc only)."""
    return bool(_libc("mallopt", M_ARENA_MAX, arenas))


def trim_heap() -> None:
    """Give the pages of freed memory back to the system: glibc keeps a freed heap for reuse
    (bitmaps are big ints, N/8 bytes, allocated by malloc), so a worker's private memory kept
    growing over reindexes although the old generation's caches were gone. glibc only."""
    _libc("malloc_trim", 0)


class Activity:
    """Requests in progress and when the last one ended: `begin()` and `end()` around each."""

    def __init__(self):
        self._clock = time.monotonic
        self._lock = threading.Lock()
        self.running = 0          # requests in progress
        self.last_end = 0.0

    def begin(self) -> None:
        with self._lock:
            self.running += 1
            self._began()

    def _began(self) -> None:
        """Under the lock, as a request begins: for subclasses."""

    def end(self) -> None:
        with self._lock:
            self.running = max(0, self.running - 1)
            self.last_end = self._clock()

    def quiet_for(self, seconds: float) -> bool:
        """No request in progress, and none ended in the last `seconds`."""
        with self._lock:
            return self._quiet(seconds)

    def _quiet(self, seconds: float) -> bool:   # the lock held
        return not self.running and self._clock() - self.last_end >= seconds


# Every request in progress in this process, whichever engine answers it: work done in the
# background while a generation serves (warming what the previous one had cached, emptying the
# caches a switch dropped) waits while one runs. Working half the time in 20 ms slices, it
# held the interpreter from a request for up to a slice (the switch interval, 5 ms, at a time):
# after a switch at 300k, suggestions of 2.5 ms warm took up to 23 ms (round 20).
# Each wait is bounded (`most`): under requests without a gap (three clients typing) the work
# still goes on, a step at a time, instead of never (review 20b).
REQUESTS = Activity()
GIVE_WAY_SECONDS = 0.001


def give_way(deadline: float, most: float) -> None:
    """Wait while a request runs in this process: at most `most` seconds, never past `deadline`
    (both time.perf_counter())."""
    until = min(deadline, time.perf_counter() + most)
    while REQUESTS.running and time.perf_counter() < until:
        time.sleep(GIVE_WAY_SECONDS)


def when_quiet(activity: Activity, function, quiet: float, wait: float, check: float = 0.01) -> bool:
    """Run `function` at the first moment `activity` has been quiet for `quiet` seconds, looking
    every `check` seconds for at most `wait` seconds. Whether it ran."""
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if activity.quiet_for(quiet):
            function()
            return True
        time.sleep(check)
    return False


IDLE_TRIM_CHECK_SECONDS = 2.0
IDLE_TRIM_QUIET_SECONDS = 1.0

DEFERRED = 1_000_000          # gen-1 collections before Python's own full collection: never, in practice
FULL_COLLECTION_MAX_SECONDS = 30.0   # a worker never quiet still collects fully this often
WALK_EVERYTHING_EVERY = 10    # ... and every this many times, frozen objects too (review 11)


def defer_full_collections() -> None:
    """Python's full garbage collections (the oldest generation) are left to the
    idle housekeeper (IdleTrimmer), not run inside whichever request crosses
    the threshold. A full pass walks every long-lived object: a worker holds
    about 215,000 after typing at 10k items (the gazetteer, compiled queries,
    cached pages), and one pass took 100-150 ms there, so the slowest typed
    searches at 10k were these pauses (120, 103 and 67 ms of the three
    slowest). In process, the typing workload at 10k without them: slowest
    search 126 -> 57 ms, p99 44 -> 36 ms, time in the collector 824 ->
    347 ms; the full passes it skipped found 0-54 objects to free. Young
    collections still run as usual (they free the requests' own cycles)."""
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, DEFERRED)


class IdleTrimmer(Activity):
    """Collects garbage fully and trims the heap (trim_heap) once no request
    has run for a moment; collects fully anyway when FULL_COLLECTION_MAX_SECONDS
    have gone by without a quiet moment (see defer_full_collections).

    A typing burst frees as much as it keeps: at 300k items one engine's heap
    held 274 MB after the typing workload and 206 MB once trimmed; glibc gives
    freed pages back only at the top of its heap, so without a trim a worker
    keeps its peak. Trimming 23 MB took 11 ms at 100k, holding the allocator's
    locks, so it runs only with no request in progress and none finished for
    IDLE_TRIM_QUIET_SECONDS (review 9: counting finished requests alone let it
    run beside a slow one). `begin()` and `end()` around every request; the
    thread looks every IDLE_TRIM_CHECK_SECONDS."""

    def __init__(self, check: float = IDLE_TRIM_CHECK_SECONDS, quiet: float = IDLE_TRIM_QUIET_SECONDS):
        super().__init__()
        self.check, self.quiet = check, quiet
        self.dirty = False        # requests since the last trim
        self.trims = 0
        self.collections = 0      # full garbage collections run
        self.last_collection = self._clock()
        self.served_since_collection = False
        self.overdue = 0          # collections run under load
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="searchapp-idle-trim")

    def start(self) -> "IdleTrimmer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def _began(self) -> None:
        self.dirty = self.served_since_collection = True

    def _run(self) -> None:
        while not self._stop.wait(self.check):
            self.trim_if_quiet() or self.collect_if_overdue()

    def trim_if_quiet(self) -> bool:
        with self._lock:   # a request beginning now waits for the check, not for the trim
            if not self.dirty or not self._quiet(self.quiet):
                return False
            self.dirty = False
        self._collect(everything=True)    # first: what it frees is then given back by the trim
        trim_heap()
        self.trims += 1
        return True

    def collect_if_overdue(self) -> bool:
        """Under load that never pauses, a full collection at most every
        FULL_COLLECTION_MAX_SECONDS, beside the requests (as Python's own would
        run inside one): cyclic garbage cannot pile up for ever."""
        if not self.served_since_collection or self._clock() - self.last_collection < FULL_COLLECTION_MAX_SECONDS:
            return False
        self.overdue += 1
        self._collect(everything=self.overdue % WALK_EVERYTHING_EVERY == 0)
        return True

    def _collect(self, everything: bool) -> None:
        """A full collection, its survivors then frozen (gc.freeze: left out of later
        collections), so that a collection under load walks only what the last
        FULL_COLLECTION_MAX_SECONDS kept: a whole pass beside the requests took
        164-181 ms at 10k (bench/switch.py), and the request it landed on 300 ms.
        A quiet worker walks everything, frozen objects too (`everything`): a cycle
        frozen while alive and garbage since is freed there. So is it under load, every
        WALK_EVERYTHING_EVERY collections (review 11: a worker never quiet for a second
        kept such cycles for ever)."""
        self.served_since_collection = False
        if everything:
            gc.unfreeze()
        gc.collect()
        gc.freeze()
        self.collections += 1
        self.last_collection = self._clock()
