"""A small thread-safe LRU cache, bounded by entries or by total weight."""

from __future__ import annotations

import threading


class Lru(dict):
    """A small thread-safe LRU cache (GIL-atomic dict operations, a lock for
    eviction). `size` bounds the entries, or with `weigh` their total weight."""

    def __init__(self, size: int, weigh=None):
        super().__init__()
        self.size = size
        self.weigh = weigh
        self.weight = 0
        self.lock = threading.Lock()

    def clear(self) -> None:
        with self.lock:
            super().clear()
            self.weight = 0

    def discard(self, key) -> None:
        with self.lock:
            value = self.pop(key, None)
            if value is not None and self.weigh is not None:
                self.weight -= self.weigh(value)

    def newest_keys(self) -> list:
        """The keys, most recently used first, taken under the lock (threads using the cache
        meanwhile move and add entries)."""
        with self.lock:
            return list(reversed(dict.keys(self)))

    def get_fresh(self, key):
        # under the lock: between the pop and the reinsertion, another thread's put of the same
        # key found no old value and counted its weight a second time, for good (review 16b: a
        # recorded weight three times the real one, and a cache that then kept one entry)
        with self.lock:
            value = self.pop(key, None)
            if value is not None:
                self[key] = value  # most recently used last
        return value

    def put(self, key, value) -> None:
        with self.lock:
            if self.weigh is None:
                self[key] = value
                while len(self) > self.size:
                    try:
                        del self[next(iter(self))]
                    except (KeyError, StopIteration, RuntimeError):
                        break
                return
            old = self.pop(key, None)
            self.weight += self.weigh(value) - (self.weigh(old) if old is not None else 0)
            self[key] = value
            while self.weight > self.size and len(self) > 1:
                try:
                    oldest = next(iter(self))
                    self.weight -= self.weigh(self.pop(oldest))
                except (KeyError, StopIteration, RuntimeError):
                    break
