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
threads (waiting or working); beyond that it gets an immediate 429, so the
remaining threads stay free for other clients.

A budget per address does not stop a flood from many addresses, each inside
its own budget.  `FairGate` does: at most `slots` requests work at once in a
worker, and when one finishes, the next is chosen by start-time fair
queueing over addresses (see `ClientBudget.priority`): a flood's work is
queued far ahead whatever the number of its addresses, and a person's
search is next, waiting only for a running request to finish.  (A review found that per-address turns instead made 5 colleagues
behind one NAT address refuse each other.)

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

import heapq
import itertools
import math
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

COST_SMOOTHING = 0.3    # weight of the newest request in an address's typical cost
MAX_ADDRESSES = 4096   # addresses remembered per worker (least recently seen forgotten first)


@dataclass
class _Account:
    balance: float        # seconds of CPU the address may still spend (negative: in debt)
    updated: float        # monotonic time of the last refill
    in_flight: int = 0    # requests of this address in this worker, waiting or working
    cost: float = 0.01    # CPU seconds a request of this address costs, on average lately
    finish: float = 0.0   # the fair queue's virtual time at which this address's queued work ends


class ClientBudget:
    """WSGI middleware: each client address gets `share` seconds of CPU per second."""

    def __init__(self, app, *, share: float = 0.25, burst: float | None = None, max_wait: float = 1.0,
                 queue_wait: float = 5.0,
                 max_in_flight: int = 2, slots: int = 1, per_request: float = 0.0007, clock=time.monotonic,
                 cpu_clock=time.thread_time, sleep=time.sleep):
        if share <= 0:
            raise ValueError("share must be positive (leave the middleware out to turn it off)")
        self.app = app
        # default: a client may save up 8 seconds' worth of its share (2 s of CPU at the default share)
        self.share, self.burst, self.max_wait = share, 8 * share if burst is None else burst, max_wait
        # an ordinary search queued behind an overloaded machine's work waits rather than fails
        self.queue_wait = queue_wait
        self.max_in_flight = max(1, max_in_flight)
        self.per_request = per_request
        self.gate = FairGate(slots)
        self.clock, self.cpu_clock, self.sleep = clock, cpu_clock, sleep
        self.accounts: OrderedDict[str, _Account] = OrderedDict()
        self.lock = threading.Lock()

    # -- accounting (pure: callers hold the lock)

    def _account(self, address: str, now: float) -> _Account:
        account = self.accounts.get(address)
        if account is None:
            account = self.accounts[address] = _Account(self.burst, now)
            while len(self.accounts) > MAX_ADDRESSES:
                oldest = next(iter(self.accounts))
                if self.accounts[oldest].in_flight:   # never forget a debtor with requests running
                    self.accounts.move_to_end(oldest)
                    break
                del self.accounts[oldest]
        else:
            self.accounts.move_to_end(address)
            elapsed = now - account.updated
            account.balance = min(self.burst, account.balance + elapsed * self.share)
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

    def charge(self, address: str, cpu_seconds: float, whole_request: bool = False) -> None:
        with self.lock:
            account = self._account(address, self.clock())
            account.balance -= cpu_seconds
            if whole_request:
                account.cost += COST_SMOOTHING * (cpu_seconds + self.per_request - account.cost)

    def release(self, address: str) -> None:
        with self.lock:
            account = self.accounts.get(address)
            if account is not None and account.in_flight:
                account.in_flight -= 1

    # -- WSGI

    def priority(self, address: str) -> float:
        """The request's start tag in start-time fair queueing (lower goes first).

        Every address's work is laid end to end on the gate's virtual clock, which stands at the
        tag of the last request to start: a request starts at the later of that clock and the end
        of its address's earlier work, and its address's work then ends its typical cost later.
        A flood, always asking again, has work queued far ahead of the clock, from one address or
        from eight; a person's search starts at the clock, so it is next. Two orders tried before
        failed review: budget left (eight addresses each stay inside their own budget) and recent
        CPU use (a person searching 10 times a second went behind a flood spread over eight
        addresses); a deadline from each address's typical cost failed once a flood's requests
        were as cheap as a person's (6.4x)."""
        with self.lock:
            account = self._account(address, self.clock())
            start = max(self.gate.virtual, account.finish)
            account.finish = start + account.cost
            return start

    def __call__(self, environ, start_response):
        address = environ.get("REMOTE_ADDR") or "?"
        if self.admit(address) is None:
            return self._refuse(start_response, 1)
        try:
            wait = self.debt_wait(address)
            if wait > 0:
                if wait > self.max_wait:   # the debt outlasts the wait: wait anyway (no cheap retry loop), refuse
                    self.sleep(self.max_wait)
                    return self._refuse(start_response, math.ceil(wait - self.max_wait))
                self.sleep(wait)
            # at most `slots` requests work at once; the lightest user among those waiting goes next
            if not self.gate.enter(self.priority(address), self.queue_wait):
                return self._refuse(start_response, 1)
            try:
                started = self.cpu_clock()
                try:
                    body = self.app(environ, start_response)
                finally:
                    self.charge(address, self.cpu_clock() - started, whole_request=True)
            finally:
                self.gate.leave()
            # a streamed body (an export) is charged as it is read
            return body if isinstance(body, list) else _Charged(body, self, address)
        finally:
            self.release(address)

    @staticmethod
    def _refuse(start_response, retry_after: int):
        body = (b'{"error": "too many requests from this address: wait and try again", "status": 429}\n')
        headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body))),
                   ("Retry-After", str(max(1, retry_after))), ("Cache-Control", "no-store")]
        start_response("429 Too Many Requests", headers)
        return [body]


class FairGate:
    """At most `slots` requests work at once in a worker; when one finishes, the waiting request with
    the lowest priority value goes next (ties: first come).

    Searching is CPU work under one GIL, so more requests working at once only share the core and
    each takes longer. The priority is ClientBudget.priority (start-time fair queueing), which puts
    a person's search ahead of a flood's queued work, whatever number of addresses it comes from."""

    def __init__(self, slots: int = 1):
        self.slots = max(1, slots)
        self.working = 0
        self.virtual = 0.0   # the start tag of the last request to start (ClientBudget.priority)
        self.waiting: list[tuple[float, int, threading.Event]] = []   # a heap
        self.order = itertools.count()
        self.lock = threading.Lock()

    def enter(self, priority: float, timeout: float) -> bool:
        """Wait for a turn to work, at most `timeout` seconds; False: no turn came."""
        with self.lock:
            if self.working < self.slots and not self.waiting:
                self.working += 1
                self.virtual = max(self.virtual, priority)
                return True
            turn = threading.Event()
            entry = (priority, next(self.order), turn)
            heapq.heappush(self.waiting, entry)
        if turn.wait(timeout):
            return True
        with self.lock:
            if turn.is_set():          # handed a turn just as the wait ended
                return True
            self.waiting.remove(entry)
            heapq.heapify(self.waiting)
            return False

    def leave(self) -> None:
        """End a turn: hand it to the first waiting request, or free the slot."""
        with self.lock:
            if self.waiting:
                priority, _, turn = heapq.heappop(self.waiting)
                self.virtual = max(self.virtual, priority)
                turn.set()   # the slot passes on: `working` is unchanged
            else:
                self.working -= 1


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
