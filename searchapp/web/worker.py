"""gunicorn's threaded worker, with limits on slow clients.

A review found that 34 connections from one address, each sending a request
head one line a second (slowloris), held every thread of both workers: other
clients waited over 15 s. gunicorn (27) hands a connection back to its poller
only while the client sends nothing; once the first byte arrives, a thread
reads the head for as long as the client trickles it. Two limits fix that:

- A request head (and any body) must arrive within `HEAD_SECONDS` of its
  first byte; a slower client is disconnected as if it had gone away.
- An address may occupy at most `threads - 2` threads of a worker at once
  (reading, waiting or working, once it has sent something); a connection
  beyond that gets a 429 and is closed, so two threads always stay free.
- A connection that will not be kept alive is finished in its own thread
  (see `finish_off`), never in gunicorn's main loop.

Every use of gunicorn's internals is in this module, and `usable()` checks
them at start: with a gunicorn that lacks them, `serve` falls back to the
plain `gthread` worker and says so.
"""

from __future__ import annotations

import functools
import socket
import threading
import time

HEAD_SECONDS = 10.0    # a phone on a poor network sends a head in well under a second
FREE_THREADS = 2       # threads of a worker that one address can never occupy

WORKER_CLASS = "searchapp.web.worker.GuardedThreadWorker"

# `serve --client-share 0` turns the per-address thread limit off too: behind a reverse proxy (or in
# a benchmark replaying many users) every request has one address. Set in the server process before
# the workers fork.
limit_per_address = True


def usable() -> bool:
    """Whether the installed gunicorn has what GuardedThreadWorker relies on."""
    try:
        from gunicorn import util
        from gunicorn.http import errors, unreader
        from gunicorn.workers import gthread
    except ImportError:
        return False
    return (hasattr(gthread, "ThreadWorker") and hasattr(gthread, "_DEFER")
            and hasattr(gthread, "DEFAULT_WORKER_DATA_TIMEOUT") and hasattr(errors, "NoMoreData")
            and hasattr(unreader, "SocketUnreader") and hasattr(util, "write_error")
            and all(hasattr(gthread.TConn, name) for name in ("init", "wait_for_data")))


class DeadlineSocket:
    """The socket a request parser reads from, failing once the deadline passes."""

    def __init__(self, sock):
        self.sock = sock
        self.deadline = float("inf")

    def recv(self, size: int) -> bytes:
        from gunicorn.http.errors import NoMoreData

        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise NoMoreData(b"")   # handled by gunicorn as a client gone away: the connection is closed
        prior = self.sock.gettimeout()   # None (blocking) as gunicorn leaves it, or its own drain bound
        self.sock.settimeout(remaining if prior is None else min(prior, remaining))
        try:
            return self.sock.recv(size)
        except socket.timeout:
            raise NoMoreData(b"") from None
        finally:
            self.sock.settimeout(prior)

    def __getattr__(self, name):
        return getattr(self.sock, name)


def finish_off(conn, drain_seconds: float = 0.2) -> None:
    """End a connection that will not be kept alive, here in the request's thread.

    gunicorn's main loop closes such connections "gracefully": it reads whatever the client still
    sends for up to 2 s before closing, with every other connection of the worker waiting. A client
    that keeps its socket open after an HTTP/1.0 answer (or a 400) stalled a worker 2 s a time (a
    reviewer's probe went from 3 ms to 958 ms), and 24 trickling clients stalled it 20 s. Here the
    answer is finished (SHUT_WR), what the client still sends is read for a moment so the answer is
    not cut by a reset, and reading is shut too: gunicorn's own drain then ends at once. The socket
    itself is left for gunicorn to close (closing it here made gunicorn count the connection twice)."""
    sock = conn.sock
    try:
        sock.shutdown(socket.SHUT_WR)
        deadline = time.monotonic() + drain_seconds
        while (remaining := deadline - time.monotonic()) > 0:
            sock.settimeout(remaining)
            if not sock.recv(65536):
                break
    except OSError:   # timed out, reset, or already gone
        pass
    try:
        sock.shutdown(socket.SHUT_RD)
    except OSError:
        pass


def refuse(conn) -> None:
    """429 to a connection over its address's share of threads, with the security headers."""
    from gunicorn import util

    try:
        conn.sock.setblocking(True)
        util.write_error(conn.sock, 429, "Too Many Requests",
                         "Too many connections from this address at once: wait and try again.")
    except OSError:
        pass
    finish_off(conn)


@functools.cache
def _worker_class():
    from gunicorn.workers import gthread

    class GuardedThreadWorker(gthread.ThreadWorker):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.per_address: dict[str, int] = {}
            self.per_address_lock = threading.Lock()
            self.max_per_address = max(1, self.cfg.threads - FREE_THREADS)

        def handle(self, conn):
            if not conn.initialized and not conn.data_ready:
                # gunicorn's own wait for a silent client, kept: it hands the connection back to the
                # poller. Not counted against the address: browsers open spare connections in advance
                # (30 silent ones made colleagues behind one address get resets)
                if not conn.wait_for_data(gthread.DEFAULT_WORKER_DATA_TIMEOUT):
                    return gthread._DEFER
            address = conn.client[0] if isinstance(conn.client, tuple) and conn.client else str(conn.client)
            with self.per_address_lock:
                busy = self.per_address.get(address, 0)
                if busy >= self.max_per_address and limit_per_address:
                    refuse(conn)
                    return False
                self.per_address[address] = busy + 1
            try:
                if not conn.initialized:
                    conn.sock.setblocking(True)
                    conn.init()
                    reader = getattr(getattr(conn.parser, "unreader", None), "sock", None)
                    if reader is not None and not isinstance(reader, DeadlineSocket):
                        conn.parser.unreader.sock = DeadlineSocket(reader)
                reader = getattr(getattr(conn.parser, "unreader", None), "sock", None)
                if isinstance(reader, DeadlineSocket):
                    reader.deadline = time.monotonic() + HEAD_SECONDS
                result = super().handle(conn)
                if result is False:
                    finish_off(conn)
                return result
            finally:
                with self.per_address_lock:
                    left = self.per_address.get(address, 1) - 1
                    if left > 0:
                        self.per_address[address] = left
                    else:
                        self.per_address.pop(address, None)

    return GuardedThreadWorker


def __getattr__(name):
    # gunicorn imports the worker class by its dotted path, in the worker process
    if name == "GuardedThreadWorker":
        return _worker_class()
    raise AttributeError(name)
