"""A CPU budget per client address, so one greedy client cannot starve the rest.

Eight clients sending costly (or merely endless cheap) queries as fast as
they are answered keep both cores of a small server busy: measured on the
shared corpus, an ordinary query's p50 went from 8 ms to 41 ms (4.9x) even
though every one of those queries was refused, because refusing 1,700
requests a second is itself work.  A per-request time budget cannot help
there; fairness between clients can.

`ClientBudget` is a WSGI middleware that charges each request the CPU time
its thread spent on it (`time.thread_time`, so waiting for the GIL or for
the disk is not charged) to the client's address.  Each address earns
`share` seconds of CPU per second of wall time, up to `burst` seconds saved
(default 8 seconds' worth of the share).
A client in debt is not refused at once (a closed-loop client would simply
ask again, and refusing is work too): its request first waits until the
debt is paid, at most `max_wait` seconds, and only then is it served, or
refused with 429 and `Retry-After` if the debt is still larger.  Waiting
costs a thread but no CPU, and it slows a flooding client's own loop down to
its budget.  An address may hold at most `max_in_flight` of the worker's
threads (waiting or working); beyond that it gets an immediate 429 with
`Connection: close`, so the remaining threads stay free for other clients.

A request is also charged `per_request` seconds for the server's work outside
its thread (reading and parsing the request, the poller, writing the answer):
measured on the shared corpus, a refused search costs 0.97 ms of server CPU
in all, of which 0.3 ms is in the app's thread.  Without it a flood of cheap
refusals stayed inside the budget and still kept both cores busy.

A person typing fast on the page sends about 20 requests a second of 5-30 ms
each (0.1-0.6 s of CPU per second at most, during a burst): the burst of
`burst` seconds covers that, and `share` refills it.

The state is per worker process (no shared memory or lock between workers):
a client's budget is `share` per worker, which is fine for fairness.  The key
is the peer address (`REMOTE_ADDR`).  Behind a reverse proxy every request
has the proxy's address, so turn this off (`serve --client-share 0`) and rate
limit at the proxy instead.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

MAX_ADDRESSES = 4096   # addresses remembered per worker (least recently seen forgotten first)


@dataclass
class _Account:
    balance: float        # seconds of CPU the address may still spend (negative: in debt)
    updated: float        # monotonic time of the last refill
    running: threading.Semaphore   # turns to do work (see ClientBudget.__call__)
    in_flight: int = 0    # requests of this address in this worker, waiting or working


class ClientBudget:
    """WSGI middleware: each client address gets `share` seconds of CPU per second."""

    def __init__(self, app, *, share: float = 0.25, burst: float | None = None, max_wait: float = 1.0,
                 max_in_flight: int = 2, max_running: int = 2, per_request: float = 0.0007, clock=time.monotonic, cpu_clock=time.thread_time, sleep=time.sleep):
        if share <= 0:
            raise ValueError("share must be positive (leave the middleware out to turn it off)")
        self.app = app
        # default: a client may save up 8 seconds' worth of its share (2 s of CPU at the default share)
        self.share, self.burst, self.max_wait = share, 8 * share if burst is None else burst, max_wait
        self.max_in_flight = max(1, max_in_flight)
        self.per_request = per_request
        self.max_running = max(1, max_running)
        self.clock, self.cpu_clock, self.sleep = clock, cpu_clock, sleep
        self.accounts: OrderedDict[str, _Account] = OrderedDict()
        self.lock = threading.Lock()

    # -- accounting (pure: callers hold the lock)

    def _account(self, address: str, now: float) -> _Account:
        account = self.accounts.get(address)
        if account is None:
            account = self.accounts[address] = _Account(self.burst, now, threading.Semaphore(self.max_running))
            while len(self.accounts) > MAX_ADDRESSES:
                oldest = next(iter(self.accounts))
                if self.accounts[oldest].in_flight:   # never forget a debtor with requests running
                    self.accounts.move_to_end(oldest)
                    break
                del self.accounts[oldest]
        else:
            self.accounts.move_to_end(address)
            account.balance = min(self.burst, account.balance + (now - account.updated) * self.share)
            account.updated = now
        return account

    def admit(self, address: str) -> _Account | None:
        """Count a request in; None when the address already holds its share of threads."""
        with self.lock:
            account = self._account(address, self.clock())
            account.balance -= self.per_request
            if account.in_flight >= self.max_in_flight:
                return None
            account.in_flight += 1
            return account

    def debt_wait(self, address: str) -> float:
        """Seconds until the address is out of debt (0: it is not in debt)."""
        with self.lock:
            account = self._account(address, self.clock())
            return 0.0 if account.balance >= 0 else -account.balance / self.share

    def charge(self, address: str, cpu_seconds: float) -> None:
        with self.lock:
            account = self._account(address, self.clock())
            account.balance -= cpu_seconds

    def release(self, address: str) -> None:
        with self.lock:
            account = self.accounts.get(address)
            if account is not None and account.in_flight:
                account.in_flight -= 1

    # -- WSGI

    def __call__(self, environ, start_response):
        address = environ.get("REMOTE_ADDR") or "?"
        account = self.admit(address)
        if account is None:
            return self._refuse(start_response, 1, close=True)
        try:
            deadline = self.clock() + self.max_wait
            # an address's requests take turns (at most max_running at once), so a flooding client's
            # waiting requests do not all wake together and crowd the other clients' threads off the GIL
            if not account.running.acquire(timeout=self.max_wait):
                return self._refuse(start_response, 1)
            try:
                wait = self.debt_wait(address)
                if wait > 0:
                    remaining = max(0.0, deadline - self.clock())
                    if wait > remaining:   # the debt outlasts the wait: wait anyway (no cheap retry loop), refuse
                        self.sleep(remaining)
                        return self._refuse(start_response, math.ceil(wait - remaining))
                    self.sleep(wait)
                started = self.cpu_clock()
                try:
                    body = self.app(environ, start_response)
                finally:
                    self.charge(address, self.cpu_clock() - started)
            finally:
                account.running.release()
            # a streamed body (an export) is charged as it is read
            return body if isinstance(body, list) else _Charged(body, self, address)
        finally:
            self.release(address)

    @staticmethod
    def _refuse(start_response, retry_after: int, close: bool = False):
        body = (b'{"error": "too many requests from this address: wait and try again", "status": 429}\n')
        headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body))),
                   ("Retry-After", str(max(1, retry_after))), ("Cache-Control", "no-store")]
        if close:
            headers.append(("Connection", "close"))
        start_response("429 Too Many Requests", headers)
        return [body]


class _Charged:
    """A streamed response body whose reading is charged to the client."""

    def __init__(self, body, budget: ClientBudget, address: str):
        self.body, self.budget, self.address = body, budget, address

    def __iter__(self):
        iterator = iter(self.body)
        while True:
            started = self.budget.cpu_clock()
            try:
                chunk = next(iterator)
            except StopIteration:
                return
            finally:
                self.budget.charge(self.address, self.budget.cpu_clock() - started)
            yield chunk

    def close(self):
        close = getattr(self.body, "close", None)
        if close is not None:
            close()
