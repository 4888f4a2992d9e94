"""The search service: a query string and filters -> a ResultsPage of ranked,
faceted, highlighted hits. Validates, caches, relaxes, groups stories, pages.
Engine-neutral: it reads an index generation through a Snapshot
(core/protocol.py), so it knows no search library and no HTTP.

Facet counts are disjunctive: the counts of one facet are taken under the
query and the filters of the *other* facets, so picking a value keeps its
siblings' counts (what a user would get by adding that value).
Whole results pages are cached, keyed on the index generation.
"""

from __future__ import annotations

import functools
import itertools
import logging
import math
import os
import re
import sys
import threading
import time
import weakref
from dataclasses import replace
from pathlib import Path

from searchapp.bitmaps import as_bytes, has
from searchapp.core import facets as facet_counts
from searchapp.core import compounds, spelling
from searchapp.core import suggest as suggesting
from searchapp.core.reading import known_tags, read_query, synonyms_of
from searchapp.core.highlight import make_hit
from searchapp.core.ranking import proximity_boosts, soft_ranking, strict_tiers
from searchapp.core.related import complete_record, related_hits
from searchapp.core.protocol import Backend, Snapshot
from searchapp.enrich.entities import names
from searchapp.errors import NoIndex, QueryError
from searchapp.lru import Lru
from searchapp.model import (FACETS, RECENCY_HALF_LIFE_DAYS, SORTS, Filters, Interpretation, ItemPage, ResultsPage,
                             Suggestion)
from searchapp.processes import REQUESTS, Activity, give_way, trim_heap, when_quiet
from searchapp.query import ast
from searchapp.query.expand import (adjacent_pairs, complete_last_word, compound_forms, interpreted, relax)
from searchapp.query.syntax import MAX_QUERY_CHARS, clean_text
from searchapp.store.generations import CURRENT, BuildInfo, current_generation, read_build_info
from searchapp.store.generations import (DAMAGED, check_generation, damage_marked, mark_damaged,
                                         recorded_items)
from searchapp.store.generations import GEN_NAME, NEXT, register_server, server_ready, unregister_server

MAX_PER_PAGE = 100
MAX_PAGE = 1000
MAX_FILTER_VALUES = 50
MAX_FILTER_VALUE_CHARS = 200
RELAX_BELOW = 10          # fewer items than this match all words -> list those matching some too
DID_YOU_MEAN_BELOW = 3    # suggest a correction when fewer items match all words
# A query of more words is not corrected: a typo query is short, and 30 unknown words (a flood's
# query) cost 31 ms of spelling and re-searching out of 54 ms, which a fair queue then made everyone wait for.
DID_YOU_MEAN_MAX_WORDS = 8
AUTOCORRECT_EDITS = 1     # answer a correction only when every word was one edit away ("facal", "gdrp");
                          # two edits turn unknown names into other words ("Dahua" -> "data")
RESULT_CACHE_SIZE = 128   # results pages kept per engine (a typed page with facets: ~47 kB at 100k, 51 at 300k)
RECENT_REQUESTS = 48      # replayed on a new generation before it serves (with warm_switch), newest first,
REPLAY_SECONDS = 0.5      # ... for at most this long, after the caches' keys (snapshot.warm_like) and answers below
ANSWERS_SECONDS = 1.0     # ... the serving generation's spelling and compound answers, most recent first, before
                          # (a typo's neighbour search is the costliest thing a request still found cold at 10k)
WARM_SLICE_SECONDS = 0.02
WATCH_SECONDS = 0.05      # how often a serving engine looks for a NEXT generation to warm (one stat)
SPARE_SNAPSHOTS = 16      # at most this many snapshots of a warmed generation opened ahead, one for each thread
                          # that read the serving one: opening one (a searcher on every segment) took a thread's
                          # first request after a switch 7-14 ms at 300k items, for suggestions of 1-5 ms
IDLE_REFERENCES = 4       # sys.getrefcount of a thread's snapshot nobody is reading: its thread's local, and
                          # the list, the loop variable and the argument of the check (_close_idle)
CORRECTION_GAIN = 2       # a correction replaces the results when it finds at least twice as many
FACET_LIMIT = facet_counts.FACET_LIMIT
MAX_FACET_LIMIT = facet_counts.MAX_FACET_LIMIT
MAX_FACET_QUERY_CHARS = 100

__all__ = ["SearchEngine", "QueryError", "NoIndex", "MAX_PER_PAGE", "MAX_PAGE", "MAX_QUERY_CHARS", "SORTS",
           "RECENCY_HALF_LIFE_DAYS", "read_query"]


# ---------------------------------------------------------------- reading the query

# A word written as one or two ("deepfake" / "deep fakes") matches both ways (core/compounds.py).
# Tuning half, nDCG@10: 0.907 -> 0.912 ("China deepfake rules" 0.755 -> 0.854, "deepfake regualtion"
# 0.863 -> 0.931).
COMPOUNDS = True


# ---------------------------------------------------------------- checks

def check_paging(page: int, per_page: int, sort: str) -> None:
    if sort not in SORTS:
        raise QueryError(f"sort must be one of {', '.join(SORTS)}, not {sort!r}")
    if not 1 <= per_page <= MAX_PER_PAGE:
        raise QueryError(f"per_page must be between 1 and {MAX_PER_PAGE}")
    if not 1 <= page <= MAX_PAGE:
        raise QueryError(f"page must be between 1 and {MAX_PAGE}")


def check_facet_options(limit: int, search: dict[str, str] | None) -> dict[str, str]:
    if not 1 <= limit <= MAX_FACET_LIMIT:
        raise QueryError(f"facet_limit must be between 1 and {MAX_FACET_LIMIT}")
    search = {facet: " ".join(text.split()) for facet, text in (search or {}).items() if text and text.strip()}
    for facet, text in search.items():
        if facet not in FACETS:
            raise QueryError(f"facet_query: unknown facet {facet!r} (one of {', '.join(FACETS)})")
        if len(text) > MAX_FACET_QUERY_CHARS:
            raise QueryError(f"facet_query for {facet} is too long (the limit is {MAX_FACET_QUERY_CHARS} characters)")
    return search


def check_filters(filters: Filters) -> None:
    for facet in FACETS:
        values = filters.values(facet)
        if len(values) > MAX_FILTER_VALUES:
            raise QueryError(f"too many {facet} values (the limit is {MAX_FILTER_VALUES})")
        if any(len(v) > MAX_FILTER_VALUE_CHARS for v in values):
            raise QueryError(f"a {facet} value is too long")
    if filters.date_from and filters.date_to and filters.date_from > filters.date_to:
        raise QueryError("the 'from' date is after the 'to' date")


# ---------------------------------------------------------------- damage found while answering

_log = logging.getLogger("searchapp")
_verdicts: dict[tuple, str | None] = {}   # (generation, its files' stat) -> why it is damaged (None: whole), from the full check
_verdicts_lock = threading.Lock()


def _falls_back(method):
    """A generation whose files raise while answering (IndexError, zlib.error,
    struct.error...: a file damaged under a manifest rewritten to match it, or
    truncated under a running server) is set aside once the full check
    confirms the damage, and the request is answered again, once, from the
    newest good generation. An exception from a whole generation (a bug, not
    damage) is raised as before: a query must not be able to retire an index."""
    @functools.wraps(method)
    def answer(self, *args, **kwargs):
        self._activity.begin()
        REQUESTS.begin()
        try:
            self._leave_marked()
            try:
                return method(self, *args, **kwargs)
            except (QueryError, NoIndex):
                raise
            except Exception as error:
                if not self._set_aside(error):
                    raise
                return method(self, *args, **kwargs)
        finally:
            REQUESTS.end()
            self._activity.end()
    return answer


def confirmed_damage(backend, generation: Path) -> str | None:
    """Why `generation` is damaged (cheap check, then the full check, once per
    generation and process), or None when it is whole."""
    try:   # a file changed since (truncated, replaced): checked again
        key = (str(generation), tuple(sorted((p.name, s.st_size, s.st_mtime_ns)
                                             for p in generation.iterdir() for s in [p.stat()])))
    except OSError:
        key = (str(generation), None)
    with _verdicts_lock:   # one full check per generation, however many threads fail at once
        if key not in _verdicts:
            if len(_verdicts) > 64:
                _verdicts.clear()
            status, why = check_generation(generation)
            if status == DAMAGED:
                _verdicts[key] = why.removeprefix("is damaged: ") if why else "damaged"
            else:
                _verdicts[key] = backend.verify(generation, recorded_items(generation))
        return _verdicts[key]


# ---------------------------------------------------------------- the service

class SearchEngine:
    """Long-lived: one snapshot per thread, reopened when the index changes.
    A context manager: `with SearchEngine("index") as engine: ...`."""

    def __init__(self, index_dir: str | Path, backend: Backend | None = None, *, warm_switch: bool = False):
        """`warm_switch` (the server): when CURRENT names a new generation, a
        background thread opens it and replays this process's recent requests
        on it while the old one keeps answering; requests move to it once it is
        warm (the first request after a reindex took 1.1 s at 100k items, 3.4 s
        at 300k, rebuilding tables in the user's time)."""
        self.index_dir = Path(index_dir)
        self._warm_switch = warm_switch
        self._ready = None          # (generation, key) requests read, when warm_switch
        self._preparing = None      # the CURRENT key being warmed in the background
        self._recent = {}           # recent requests (insertion-ordered), replayed on a new generation
        self._prepared = None       # (generation, key) warmed from NEXT: served once CURRENT is that file
        self._next_seen = None      # the NEXT file last looked at (its key)
        self._snapshots = weakref.WeakSet()   # the threads' snapshots: idle ones of old generations are closed
        self._registration = None   # this engine's file under <index>/.servers (warm_switch)
        self._emptying = None       # the thread emptying the caches a switch dropped (_empty_later)
        self._spares: dict = {}     # (generation, key) -> snapshots of it opened ahead, not yet a thread's (_keep_spares)
        self._activity = Activity()  # requests in progress: a switch gives memory back when there are none
        self._trim_waiting = False  # a release thread waits for a quiet moment to trim (one is enough)
        self._closed = False
        if backend is None:
            from searchapp.backends import default_backend   # the one place that picks a search library
            backend = default_backend()
        self.backend = backend
        self._local = threading.local()
        self._results = Lru(RESULT_CACHE_SIZE)  # shared by threads; keyed on the index generation
        self._shared_lock = threading.Lock()
        self._shared: dict = {}     # (generation, key) -> that generation's caches: the serving one (+ one warming)
        snapshot = self._snapshot()  # fail now, with NoIndex, if there is no index
        synonyms_of(snapshot.analyze)     # compiled once per process, not in a user's first query
        names()                           # the place and body names read from queries, likewise
        if warm_switch:
            self._watch_next()

    def __enter__(self) -> "SearchEngine":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _snapshot(self) -> Snapshot:
        """This thread's snapshot, reopened as soon as CURRENT names another generation
        (with warm_switch: as soon as that generation is warm).

        A stat() per request (CURRENT is replaced, so its inode changes) keeps
        every thread on the newest generation at negligible cost."""
        snapshot = getattr(self._local, "snapshot", None)
        try:
            stamp = os.stat(self.index_dir / CURRENT)
            key = (stamp.st_ino, stamp.st_mtime_ns)
        except OSError:
            key = None
        if snapshot is not None and snapshot.key == key:
            return snapshot
        ready = self._ready
        if ready is not None:
            if ready[1] != key:
                prepared = self._prepared
                if prepared is not None and prepared[1] == key:   # NEXT, warmed, became CURRENT
                    self._publish(*prepared)
                    ready = self._ready
                else:
                    self._prepare(key)   # the old generation answers until the new one is warm
            if snapshot is not None and snapshot.key == ready[1]:
                return snapshot
            fresh = self._open(*ready, snapshot)
            if fresh is not None:
                return fresh
        generation = current_generation(self.index_dir)
        if generation is None:
            if snapshot is not None:
                return snapshot  # keep serving what we have
            raise NoIndex(self.index_dir)
        fresh = self._open(generation, key, snapshot, raising=snapshot is None)
        if fresh is None:
            return snapshot  # e.g. removed under us by a newer build: try again next request
        if self._warm_switch:
            self._publish(generation, key)
        return fresh

    def _open(self, generation: Path, key, old, raising: bool = False):
        """This thread's snapshot of a generation (None if it cannot be opened)."""
        try:
            fresh = self._spare(generation, key) or self.backend.open(generation, key, self._shared_for(generation, key))
        except Exception:
            if raising:
                raise
            return None
        if old is not None:
            old.close()
        self._local.snapshot = fresh
        self._snapshots.add(fresh)
        return fresh

    def _shared_for(self, generation: Path, key) -> dict:
        """The caches of one generation, shared by the threads reading it."""
        dropped = []
        with self._shared_lock:
            if (generation, key) not in self._shared:
                if not self._warm_switch:
                    dropped = self._release(keep=None)   # older generations' caches are dropped
                self._shared[(generation, key)] = {"lock": threading.Lock()}
            shared = self._shared[(generation, key)]
        if dropped:
            _empty(dropped, trim=False)   # outside the lock (review 11): other threads need it meanwhile
        return shared

    def _publish(self, generation: Path, key) -> None:
        """Requests read this generation from now on; other generations' caches are dropped,
        emptied in the background (_empty_later): this runs in the request that first sees the
        switch, and emptying them here took it 23-30 ms at 10k, plus 5-11 ms of trim_heap
        (bench/switch.py: the first suggestion after a switch, 40-60 ms against 4 warm).
        The other generations' cached pages and spare snapshots go in the background too."""
        with self._shared_lock:
            self._ready = (generation, key)
            if self._prepared is not None and self._prepared[0] != generation:
                self._prepared = None
            dropped = self._release(keep=(generation, key))
            spares = [self._spares.pop(k) for k in [k for k in self._spares if k != (generation, key)]]
        self._close_idle(generation)
        self._empty_later(dropped, (generation, key), [s for found in spares for s in found])

    def _spare(self, generation: Path, key):
        """A snapshot of the generation opened ahead by the thread that warmed it, if one is left
        and the generation is still on disk: opened before it was removed, a spare still reads its
        open files, and would serve an index that no longer exists where opening it fails and the
        request falls back to the newest good generation (CI of round 18, tests/test_damaged.py)."""
        with self._shared_lock:
            found = self._spares.get((generation, key))
            if not found:
                return None
            if generation.is_dir():
                return found.pop()
            stale = self._spares.pop((generation, key))
        for snapshot in stale:
            snapshot.close()
        return None

    def _keep_spares(self, generation: Path, key, shared: dict, warmed) -> bool:
        """Keep `warmed` and open more snapshots of the generation, in the warming thread, so that
        the threads that read the serving generation find theirs opened at their first request
        after the switch (as many as read it, at most SPARE_SNAPSHOTS). Whether `warmed` was kept."""
        with self._shared_lock:
            serving = self._ready[0] if self._ready is not None else None
        readers = sum(1 for s in list(self._snapshots) if s.generation == serving)
        kept = [warmed]
        try:
            while len(kept) < min(max(readers, 1), SPARE_SNAPSHOTS) and not self._closed:
                kept.append(self.backend.open(generation, key, shared))
        except Exception:   # the generation removed or damaged meanwhile: the threads open theirs (and fail) as before
            pass
        with self._shared_lock:
            if self._closed:
                stale = kept
            else:
                stale = self._spares.pop((generation, key), [])
                self._spares[(generation, key)] = kept
        for snapshot in stale:
            snapshot.close()
        return not self._closed

    def _empty_later(self, dropped: list[dict], keep=None, snapshots=()) -> None:
        if not dropped and not snapshots:
            return
        emptying = threading.Thread(target=self._empty_dropped, args=(dropped, keep, snapshots), daemon=True,
                                    name="searchapp-release")
        emptying.start()
        self._emptying = emptying   # only once started: joining a thread not yet started raises (CI, round 19)

    def _empty_dropped(self, dropped: list[dict], keep, snapshots) -> None:
        """In the background, after a switch: close the spare snapshots of other generations, forget
        their cached pages, empty their caches a few entries at a time, then give the heap back at
        the first moment no request runs. At 300k items, typing without pause, these took 5-7 ms
        (the pages, at once), 7-14 (the caches, in steps) and 24-31 (the trim, which holds the
        allocator's locks), and the first request after each switch waited for them: 9.6-16 ms of
        wall time for 3-6.5 of its own CPU. A server's idle trimmer trims too when it is quiet.
        Quiet is judged, not promised: a request arriving during the trim waits for it. After
        switches in quick succession one thread waits to trim, not one per switch (review 18:
        five trims queued up for the first quiet moment)."""
        for snapshot in snapshots:
            snapshot.close()
        if keep is not None:
            self._release_pages(keep)
        _empty(dropped, trim=False)
        with self._shared_lock:   # what this thread freed is freed now: the waiting one's trim gives it back
            if self._trim_waiting:
                return
            self._trim_waiting = True
        try:
            when_quiet(self._activity, trim_heap, RELEASE_TRIM_QUIET_SECONDS, RELEASE_TRIM_WAIT_SECONDS)
        finally:
            with self._shared_lock:
                self._trim_waiting = False

    def _close_idle(self, serving: Path) -> None:
        """Close the snapshots of other generations that no request is reading: an idle
        thread kept its snapshot, so its generation's files open (and a pruned generation's
        disk space taken), until its next request. A snapshot a request still reads is
        referenced by that request too (sys.getrefcount above IDLE_REFERENCES) and is left
        to its thread, which closes it at its next request; a thread whose snapshot was
        closed here opens the serving generation at its next request (CURRENT's key differs)."""
        for snapshot in list(self._snapshots):
            if snapshot.generation != serving and sys.getrefcount(snapshot) <= IDLE_REFERENCES:
                self._snapshots.discard(snapshot)
                try:
                    snapshot.close()
                except Exception:
                    pass

    def _release(self, keep) -> list[dict]:
        """Drop every generation's caches but `keep`'s, and return them to be emptied (_empty),
        not just forgotten: a thread keeps its snapshot (which holds them) until its next
        request, and a gunicorn worker has 16 threads, so idle ones kept old generations'
        tables alive (private memory per worker went 309 -> 352 MB over reindexes at 100k).
        A request still reading an old generation recomputes what it needs. (Its cached
        pages go in the background: _empty_dropped.)"""
        return [self._shared.pop(other) for other in [k for k in self._shared if k != keep]]

    def _release_pages(self, keep) -> None:
        """Forget the cached pages of generations other than `keep` (never asked for again: pages are
        keyed by generation), a few at a time: freeing them all took 5-7 ms at 300k."""
        stale = [k for k in list(self._results) if k[:2] != keep]
        for start in range(0, len(stale), PAGES_PER_STEP):
            for page in stale[start:start + PAGES_PER_STEP]:
                self._results.discard(page)
            time.sleep(0)   # let a request run

    def _prepare(self, key) -> None:
        with self._shared_lock:
            if self._preparing == key:
                return
            self._preparing = key
        threading.Thread(target=self._warm_up, args=(key,), daemon=True, name="searchapp-warm").start()

    def _watch_next(self) -> None:
        """Register this engine (store/generations.register_server) and look for NEXT every
        WATCH_SECONDS in a background thread: a build announces its generation there and
        waits (boundedly) while the servers warm it, then renames NEXT to CURRENT."""
        self._registration = register_server(self.index_dir)
        if self._registration is None:   # a read-only index folder: switches are warmed after CURRENT changes
            return
        served = self._ready
        if served is not None:
            server_ready(self._registration, served[0].name)
        threading.Thread(target=_watching, args=(weakref.ref(self),), daemon=True, name="searchapp-next").start()

    def _look_for_next(self) -> None:
        """Warm the generation NEXT names (not yet CURRENT), then say so to the waiting build."""
        try:
            stamp = os.stat(self.index_dir / NEXT)
            with open(self.index_dir / NEXT, "rb") as handle:   # a generation's name: bounded read
                name = handle.read(256).decode("utf-8").strip()
        except (OSError, UnicodeDecodeError):
            return
        key = (stamp.st_ino, stamp.st_mtime_ns)
        if key == self._next_seen or not GEN_NAME.match(name):
            return
        self._next_seen = key
        generation = self.index_dir / name
        ready = self._ready
        if ready is None or ready[0] != generation:
            with self._shared_lock:
                if self._preparing == key:   # a request saw it as CURRENT already and warms it
                    return
                self._preparing = key
            try:
                warmed = check_generation(generation)[0] != DAMAGED and self._warm_up(key, generation, publish=False)
            finally:
                with self._shared_lock:
                    if self._preparing == key:
                        self._preparing = None
            if warmed:
                with self._shared_lock:
                    self._prepared = (generation, key)
                try:   # the build may have stopped waiting and switched meanwhile
                    now = os.stat(self.index_dir / CURRENT)
                    if (now.st_ino, now.st_mtime_ns) == key:
                        self._publish(generation, key)
                except OSError:
                    pass
        server_ready(self._registration, name)   # warmed, or it cannot be: the build need not wait longer

    def _warm_up(self, key, generation: Path | None = None, publish: bool = True) -> bool:
        """Open the generation CURRENT names (or `generation`), compute its tables and
        replay the recent requests on it (half the time: the old generation's requests
        share the interpreter), then switch to it (`publish`). Whether it was warmed."""
        try:
            if generation is None:
                generation = current_generation(self.index_dir)
            if generation is None:
                return False
            shared = self._shared_for(generation, key)
            with self._shared_lock:   # the serving generation's caches: the backend computes their keys again
                serving = self._shared.get(self._ready) if self._ready != (generation, key) else None
                if serving and "lock" in shared and len(shared) == 1:
                    shared["previous"] = serving
            snapshot = self.backend.open(generation, key, shared)   # computes the serving one's cached keys
            kept = False
            try:
                if serving:
                    _warm_answers(snapshot, serving, time.perf_counter() + ANSWERS_SECONDS)
                until = time.perf_counter() + REPLAY_SECONDS
                for request in reversed(list(self._recent)):
                    started = time.perf_counter()
                    if started > until:
                        break
                    try:
                        if request[0] == "suggest":
                            suggesting.suggestions(snapshot, *request[1:])
                        else:
                            self._answer(snapshot, *request[1:])
                    except QueryError:
                        pass
                    time.sleep(time.perf_counter() - started)
                kept = self._keep_spares(generation, key, shared, snapshot)
            finally:
                if not kept:
                    snapshot.close()
            if publish:
                self._publish(generation, key)
            return True
        except Exception:   # a generation removed or damaged under us: the next request tries again
            return False
        finally:
            if publish:
                with self._shared_lock:
                    if self._preparing == key:
                        self._preparing = None

    def _remember(self, request: tuple) -> None:
        if self._warm_switch:
            self._recent.pop(request, None)
            self._recent[request] = None
            while len(self._recent) > RECENT_REQUESTS:
                try:
                    del self._recent[next(iter(self._recent))]
                except (KeyError, StopIteration, RuntimeError):
                    break

    def close(self) -> None:
        snapshot = getattr(self._local, "snapshot", None)
        if snapshot is not None:
            snapshot.close()
            self._local.snapshot = None
        self._closed = True
        with self._shared_lock:
            spares, self._spares = self._spares, {}
        for found in spares.values():
            for spare in found:
                spare.close()
        if self._registration is not None:
            unregister_server(self._registration)
            self._registration = None

    @property
    @_falls_back
    def doc_count(self) -> int:
        return self._snapshot().doc_count

    def read(self, query: str):
        """How the engine reads a query: the tree after stop words and synonyms."""
        return read_query(query, self._snapshot().analyze)

    @_falls_back
    def search(
        self,
        query: str = "",
        filters: Filters = Filters(),
        sort: str = "relevance",
        page: int = 1,
        per_page: int = 10,
        *,
        facet_limit: int = FACET_LIMIT,
        facet_query: dict[str, str] | None = None,
        typed: bool = False,
        autocorrect: bool = True,
    ) -> ResultsPage:
        """`facet_limit`: values listed per facet (selected ones always are);
        `facet_query`: facet -> text, lists only that facet's values containing
        the text (any case); `typed`: the query is being typed, so its last word
        may be unfinished (a trailing space says it is finished); `autocorrect`:
        when the query finds almost nothing and its spelling correction finds
        clearly more, answer the correction (`corrected_from` says so)."""
        started = time.perf_counter()
        typed = typed and not query[-1:].isspace()
        check_paging(page, per_page, sort)
        check_filters(filters)
        facet_query = check_facet_options(facet_limit, facet_query)
        snapshot = self._snapshot()
        query = " ".join(query.split())
        request = (query, filters, sort, page, per_page, facet_limit, tuple(sorted(facet_query.items())), typed,
                   autocorrect)
        self._remember(("search", *request))
        return self._answer(snapshot, *request, started=started)

    def _answer(self, snapshot, query, filters, sort, page, per_page, facet_limit, facet_items, typed, autocorrect,
                started=None) -> ResultsPage:
        started = time.perf_counter() if started is None else started
        facet_query = dict(facet_items)
        key = (snapshot.generation, snapshot.key, query, filters, sort, page, per_page, facet_limit,
               tuple(sorted(facet_query.items())), typed, autocorrect)
        cached = self._results.get_fresh(key) if snapshot.key is not None else None
        if cached is not None:  # same index generation, same request: the same answer
            return replace(cached, took_ms=round((time.perf_counter() - started) * 1000, 2))
        skips = spelling.skipped()
        answer = self._search(snapshot, query, filters, sort, page, per_page, started, facet_limit, facet_query, typed)
        if (autocorrect and answer.did_you_mean and answer.total_all_words < DID_YOU_MEAN_BELOW
                and answer.correction_edits <= AUTOCORRECT_EDITS):
            corrected = self._search(snapshot, answer.did_you_mean, filters, sort, page, per_page, started,
                                     facet_limit, facet_query, typed)
            if corrected.total_all_words >= max(1, CORRECTION_GAIN * answer.total_all_words):
                answer = replace(corrected, corrected_from=query, did_you_mean=None,
                                 took_ms=round((time.perf_counter() - started) * 1000, 2))
        # An answer made while another request held the spelling lookup went without its
        # correction: not kept, or every later request would get it until the next generation
        # (review 19: 8 threads asking "self driving car cras" got two different answers).
        if snapshot.key is not None and spelling.skipped() == skips:
            self._results.put(key, answer)
        return answer

    def _search(self, snapshot, query, filters, sort, page, per_page, started, facet_limit, facet_query,
                typed=False):
        if query:
            q_all = read_query(query, snapshot.analyze, known_tags(snapshot))
            if typed:
                q_all = complete_last_word(q_all, snapshot.completions, snapshot.analyze, query.split()[-1])
            if COMPOUNDS:
                q_all = compound_forms(q_all, *compounds.forms(snapshot), typing=typed)
            q_any = relax(q_all, snapshot.analyze) or q_all
        else:
            q_all = q_any = ast.EVERYTHING
            if sort in ("relevance", "recent"):
                sort = "newest"

        group_bits = snapshot.filter_bits(filters)
        filtered = snapshot.live
        for bits in group_bits.values():
            filtered &= bits

        # Relaxing is decided on the query alone, so that a facet's count is
        # always the total a user gets by picking that value.
        base_all = snapshot.matches(q_all)
        relaxed = q_any != q_all and base_all.bit_count() < RELAX_BELOW
        base = snapshot.matches(q_any) if relaxed else base_all
        total_all = (base_all & filtered).bit_count()
        total = (base & filtered).bit_count()

        facets, facet_more = facet_counts.count(snapshot, filters, base, group_bits, facet_limit, facet_query)
        restricted = bool(group_bits) and sort in ("relevance", "recent")
        hits, grouped = self._hits(snapshot, q_all, q_any, relaxed, base_all & filtered, base & filtered, filtered,
                                   restricted, sort, page, per_page)
        return ResultsPage(
            query=query,
            total=total,
            total_all_words=total_all,
            relaxed=relaxed and total > total_all,
            page=page,
            per_page=per_page,
            sort=sort,
            filters=filters,
            hits=tuple(hits),
            facets=facets,
            **self._did_you_mean(snapshot, query, total_all, filtered, typed),
            took_ms=round((time.perf_counter() - started) * 1000, 2),
            grouped_total=grouped,
            facet_more=facet_more,
            interpreted=tuple(Interpretation(e.text, e.facet, e.value) for e in interpreted(q_all)) if query else (),
        )

    # -- hits

    def _hits(self, snapshot, q_all, q_any, relaxed, all_bits, some_bits, filtered, restricted, sort, page,
              per_page):
        """The page's hits, each story once (its other matching items as
        also_reported_by), and how many results there are in all. Items
        matching all words come first. When the query is relaxed, the others
        follow by score times coverage (soft_ranking). A first page the
        matches do not fill is completed with related items (related_hits)."""
        start, end = (page - 1) * per_page, page * per_page
        ranked = sort in ("relevance", "recent")
        boosts = proximity_boosts(snapshot, adjacent_pairs(q_all)) if ranked else ()
        if relaxed and ranked:
            found, total = soft_ranking(snapshot, q_all, q_any, all_bits, some_bits, sort, start, end, boosts)
        else:
            found, total = strict_tiers(snapshot, q_all, q_any, relaxed, all_bits, some_bits, restricted, sort,
                                        start, end, boosts)
        copies_from = some_bits if relaxed else all_bits
        all_data = as_bytes(all_bits)
        hits = [make_hit(snapshot, tree, score, d, bool(has(all_data, d)), copies_from) for score, d, tree in found]
        if found and start == 0 and len(found) < per_page and sort == "relevance":
            shown = [d for _, d, _ in found]
            hits += related_hits(snapshot, q_all, shown, copies_from, filtered, per_page - len(found))
        return hits, total

    # -- spelling, suggestions, items

    def _did_you_mean(self, snapshot, query: str, total_all: int, filtered: int, typed: bool) -> dict:
        """The query with unknown words replaced by the closest frequent indexed
        word, when that finds more under the same filters; and how many edits
        the farthest replacement took."""
        none = {"did_you_mean": None, "correction_edits": 0}
        if not query or total_all >= DID_YOU_MEAN_BELOW or len(query.split()) > DID_YOU_MEAN_MAX_WORDS:
            return none
        # While typing, the last word may be unfinished: correct the others first;
        # when that finds nothing better, the last word may be a typo too ("facal recgnition").
        for keep_last in ((True, False) if typed else (False,)):
            found = spelling.correct(snapshot, query, keep_last=keep_last)
            if found is None:
                continue
            corrected, edits = found
            try:
                tree = read_query(corrected, snapshot.analyze, known_tags(snapshot))
            except QueryError:
                continue
            if (snapshot.matches(tree) & filtered).bit_count() > total_all:
                return {"did_you_mean": corrected, "correction_edits": edits}
        return none

    @_falls_back
    def suggest(self, text: str, limit: int = 8) -> list[Suggestion]:
        """Sections, in order: completions of the last word ("query"),
        regulators and places whose name starts with it ("facet"), then the
        newest articles that match what is typed ("item").

        With earlier words, a completion ranks by how many items contain it
        together with them (so "china fac" offers "facial", not "facebook").
        Completions far rarer than the best one (under 5%: "facial reckless")
        and inflections of a word already offered ("act", "acted") are left
        out; when the last word is itself a common word, it comes first and
        rarer completions must reach a quarter of its count ("eu ai", not "eu aim")."""
        # read as the search reads it (review 22: "Ｇｏｏｇｌｅ" got no suggestion, "a\x01b" one keeping the control)
        text = clean_text(text)[:MAX_QUERY_CHARS]
        match = re.search(r"([^\W_][\w'’-]*)$", text)
        if not match:
            return []
        head, prefix = text[: match.start()], match.group(1).lower()
        if len(prefix) < (1 if head.strip() else 2):
            return []
        self._remember(("suggest", text, limit))
        return suggesting.suggestions(self._snapshot(), text, limit)

    @_falls_back
    def warm_suggestions(self) -> None:
        """Compute what suggestions after a space and a letter or two read (suggest.warm_short_prefixes):
        a server worker does it at boot, before anyone types."""
        suggesting.warm_short_prefixes(self._snapshot())

    @_falls_back
    def get_item(self, item_id: str) -> ItemPage | None:
        snapshot = self._snapshot()
        item = snapshot.document(item_id)
        if item is None:
            return None

        def fetch(ids):
            found = (snapshot.document(i) for i in ids[:200])
            return tuple(complete_record(snapshot, d) for d in found if d is not None)

        item = complete_record(snapshot, item)
        return ItemPage(item=item, lists=fetch(item["related_ids"]), listed_by=fetch(item["related_by_ids"]))

    def info(self) -> BuildInfo | None:
        return read_build_info(self.index_dir)

    # -- damage found while answering (see _falls_back)

    def _set_aside(self, error: Exception) -> bool:
        """Mark this thread's generation damaged and drop it, when the damage is
        confirmed; False when the generation is whole (the error is ours)."""
        snapshot = getattr(self._local, "snapshot", None)
        generation = getattr(snapshot, "generation", None)
        if generation is None:
            return False
        why = confirmed_damage(self.backend, generation)
        if why is None:
            return False
        detail = " ".join(str(error).split())[:120]
        kind = type(error).__name__
        kind = f"{type(error).__module__}.{kind}" if kind == "error" else kind   # zlib.error, struct.error
        mark_damaged(generation, f"{kind} while answering ({detail}); {why}")
        _log.warning("index generation %s is damaged, set aside: %s: %s; %s", generation.name, kind, detail, why)
        self._drop()
        return True

    def _leave_marked(self) -> None:
        """Stop reading a generation another thread or process found damaged."""
        snapshot = getattr(self._local, "snapshot", None)
        if snapshot is not None and snapshot.generation is not None and damage_marked(snapshot.generation):
            self._drop()

    def follow(self) -> None:
        """Move this thread to the generation a reader should serve now, when
        that is not what it reads (its files removed or damaged without a
        change of CURRENT): /healthz's own check."""
        snapshot = getattr(self._local, "snapshot", None)
        serving = current_generation(self.index_dir)
        if snapshot is not None and serving is not None and snapshot.generation != serving:
            self._drop()

    def _drop(self) -> None:
        snapshot, self._local.snapshot = getattr(self._local, "snapshot", None), None
        with self._shared_lock:   # warm_switch: requests must not be sent back to it
            if snapshot is not None and self._ready is not None and self._ready[0] == snapshot.generation:
                self._ready = None
        if snapshot is not None:
            try:
                snapshot.close()
            except Exception:   # its files may be what is damaged
                pass


EMPTY_CHUNK = 256   # cache entries freed between two chances for requests to run
EMPTY_GIVE_WAY_SECONDS = 0.005  # at most this long per chunk: under load, 15,900 entries freed in 0.3 s, not 5.8 (review 20b)
PAGES_PER_STEP = 8  # cached pages freed between two chances (a typed page with facets: ~50 kB)
RELEASE_TRIM_QUIET_SECONDS = 0.05   # after a switch, the heap is trimmed once no request ran for this long ...
RELEASE_TRIM_WAIT_SECONDS = 30.0    # ... looked for this long (then it is left to the idle trimmer, or to reuse)


def _empty(dropped: list[dict], trim: bool = True) -> None:
    """Empty dropped generations' caches a few entries at a time, then give the freed
    heap back (trim_heap): one `clear()` of a big cache frees all its entries in one
    call, holding the interpreter from every request meanwhile."""
    for shared in dropped:
        for name in [n for n in list(shared) if n != "lock"]:
            value = shared.pop(name, None)
            if not isinstance(value, dict):
                continue
            # as many as it held: a request still filling an old generation's cache must not keep
            # this loop going (review 11); what it added meanwhile goes with the final clear()
            for _ in range(0, len(value), EMPTY_CHUNK):
                try:
                    for _ in range(EMPTY_CHUNK):
                        value.popitem()
                except KeyError:   # emptied
                    break
                if not value:
                    break
                time.sleep(0)      # let a request run ...
                give_way(math.inf, EMPTY_GIVE_WAY_SECONDS)   # ... and wait a little while one does
            value.clear()          # an Lru's weight, too
    if trim:
        trim_heap()


def _warm_answers(snapshot, previous: dict, deadline: float) -> None:
    """Work out on a new generation what the serving one had cached per generation, most
    recent first, at half duty, until `deadline`: the facet names' tables and each prefix's
    best completions and facet values (after a switch the first suggestion of every prefix
    computed them again: 5.8-10.7 ms at 300k against a warm p99 of 2.5, round 20), taken in
    turn with the spelling corrections and compound forms (each typo's neighbour search,
    20-60 ms, was a user's again)."""
    split, join = compounds.forms(snapshot)
    prefixes = [(suggesting.candidates, (snapshot, p)) for p in _newest_keys(previous.get("suggest-candidates"))]
    facets = [(suggesting.facet_candidates, (snapshot, p)) for p in _newest_keys(previous.get("facet-prefixes"))]
    answers = [(spelling.closest, (snapshot, w)) for w in _newest_keys(previous.get("closest"))]
    answers += [(split, k[1:]) if k[0] == "split" else (join, k[1:])
                for k in reversed(list(previous.get("compounds") or ()))]
    work = [(suggesting.facet_tables, (snapshot,))] if "facet-totals" in previous else []
    work += [job for jobs in itertools.zip_longest(prefixes, facets, answers) for job in jobs if job is not None]
    work += [(suggesting.candidates, (snapshot, p)) for p in suggesting.short_prefixes(snapshot)]   # as at boot
    slice_start = time.perf_counter()
    for function, args in work:
        started = time.perf_counter()
        if started > deadline:
            break
        if started - slice_start >= WARM_SLICE_SECONDS:   # half duty, in slices (a sleep per answer cost a GIL wait each)
            time.sleep(started - slice_start)
            slice_start = time.perf_counter()
        function(*args)
    _same_recency(snapshot, previous)


# The per-generation caches _warm_answers fills, by name, with their size.
_WARMED_CACHES = {"suggest-candidates": suggesting.PREFIXES_KEPT, "facet-prefixes": suggesting.PREFIXES_KEPT,
                  "closest": spelling.CLOSEST_CACHE_SIZE}


def _same_recency(snapshot, previous: dict) -> None:
    """The warmed caches' entries in the serving generation's order of use: computed most recent
    first (what the deadline cuts is the stalest), they were stored in reverse, so the prefixes
    used last would be the first evicted, and the next switch would warm the stalest first
    (review 21)."""
    for name, size in _WARMED_CACHES.items():
        old = previous.get(name)
        if isinstance(old, Lru):
            new = snapshot.shared_cache(name, lambda size=size: Lru(size))
            for key in reversed(old.newest_keys()):   # oldest first: each touch makes it the newest
                new.get_fresh(key)


def _newest_keys(cache) -> list:
    """An Lru's keys, most recently used first (none for a missing cache)."""
    return cache.newest_keys() if isinstance(cache, Lru) else []


def _watching(ref) -> None:
    """A serving engine's look for NEXT, until the engine is closed or gone."""
    while True:
        engine = ref()
        if engine is None or engine._closed:
            return
        try:
            engine._look_for_next()
        except Exception:   # never let the watch die: the next look tries again
            pass
        del engine
        time.sleep(WATCH_SECONDS)
