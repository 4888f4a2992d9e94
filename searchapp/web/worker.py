"""gunicorn's threaded worker, with limits on slow clients.

A review found that 34 connections from one address, each sending a request
head one line a second (slowloris), held every thread of both workers: other
clients waited over 15 s. gunicorn (27) hands a connection back to its poller
only while the client sends nothing; once the first byte arrives, a thread
reads the head for as long as the client trickles it. Two limits fix that:

- A request head (and any body) must arrive within `HEAD_SECONDS` of its
  first byte; a slower client is disconnected as if it had gone away.
- An address may occupy at most `threads - 4` threads of a worker at once
  (reading, waiting or working); a connection beyond that is closed at once,
  so four threads always stay free for everyone else.

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
FREE_THREADS = 4       # threads of a worker that one address can never occupy

WORKER_CLASS = "searchapp.web.worker.GuardedThreadWorker"


def usable() -> bool:
    """Whether the installed gunicorn has what GuardedThreadWorker relies on."""
    try:
        from gunicorn.http import errors, unreader
        from gunicorn.workers import gthread
    except ImportError:
        return False
    return (hasattr(gthread, "ThreadWorker") and hasattr(gthread, "_DEFER")
            and hasattr(gthread, "DEFAULT_WORKER_DATA_TIMEOUT") and hasattr(errors, "NoMoreData")
            and hasattr(unreader, "SocketUnreader")
            and all(hasattr(gthread.TConn, name) for name in ("init", "wait_for_data")))


class DeadlineSocket:
    """The socket a request parser reads from, failing once the deadline passes."""

    def __init__(self, sock):
        self.sock = sock
        self.deadline = float("inf")
        self.expired = False

    def recv(self, size: int) -> bytes:
        from gunicorn.http.errors import NoMoreData

        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            self.expired = True
            raise NoMoreData(b"")   # handled by gunicorn as a client gone away: the connection is closed
        prior = self.sock.gettimeout()   # None (blocking) as gunicorn leaves it, or its own drain bound
        self.sock.settimeout(remaining if prior is None else min(prior, remaining))
        try:
            return self.sock.recv(size)
        except socket.timeout:
            self.expired = True
            raise NoMoreData(b"") from None
        finally:
            self.sock.settimeout(prior)

    def __getattr__(self, name):
        return getattr(self.sock, name)


def hang_up(conn) -> None:
    """Close a connection at once, here in the request's thread. Returned to gunicorn open, it would be
    closed "gracefully" by its main loop: reading whatever the client still sends for up to a second
    or more, with every other connection waiting (24 trickling clients stalled the loop 20 s)."""
    try:
        conn.sock.close()
    except OSError:
        pass


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
            address = conn.client[0] if isinstance(conn.client, tuple) and conn.client else str(conn.client)
            with self.per_address_lock:
                busy = self.per_address.get(address, 0)
                if busy >= self.max_per_address:
                    hang_up(conn)
                    return False
                self.per_address[address] = busy + 1
            try:
                if not conn.initialized:
                    # gunicorn's own wait for a silent client, kept: it hands the connection back to the poller
                    if not conn.data_ready and not conn.wait_for_data(gthread.DEFAULT_WORKER_DATA_TIMEOUT):
                        return gthread._DEFER
                    conn.sock.setblocking(True)
                    conn.init()
                    reader = getattr(getattr(conn.parser, "unreader", None), "sock", None)
                    if reader is not None and not isinstance(reader, DeadlineSocket):
                        conn.parser.unreader.sock = DeadlineSocket(reader)
                reader = getattr(getattr(conn.parser, "unreader", None), "sock", None)
                if isinstance(reader, DeadlineSocket):
                    reader.deadline = time.monotonic() + HEAD_SECONDS
                result = super().handle(conn)
                if isinstance(reader, DeadlineSocket) and reader.expired:
                    hang_up(conn)
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
