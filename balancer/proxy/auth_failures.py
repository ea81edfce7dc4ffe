"""Failed client-token checks, limited per address.

Each failure is counted in ``/metrics`` (not written to the request log one
row each, so that guessing tokens cannot fill the database). An address that
failed ``LIMIT`` times in a minute is answered 429 for the rest of that minute
whatever it sends, so a guessed token cannot be confirmed meanwhile. Counted
per process: with several workers an address gets at most ``LIMIT`` failures a
minute from each.
"""
from __future__ import annotations

import threading
from typing import Callable, Optional

#: failed checks an address may make per minute before it gets 429.
LIMIT = 20
WINDOW = 60.0
#: addresses tracked at most; past it, the oldest are forgotten first.
MAX_ADDRESSES = 10_000


class FailureLimiter:
    """Failed token checks per address in fixed one-minute windows, in bounded memory."""

    def __init__(self, clock: Callable[[], float], limit: int = LIMIT,
                 max_addresses: int = MAX_ADDRESSES):
        self.clock = clock
        self.limit = limit
        self.max_addresses = max_addresses
        #: address -> (start of its window, failures in it); insertion order is age.
        self._failures: dict[str, tuple[float, int]] = {}
        self._lock = threading.Lock()

    def blocked(self, address: str) -> Optional[float]:
        """Seconds until the address may try again, or None when it may now."""
        now = self.clock()
        with self._lock:
            entry = self._failures.get(address)
            if entry is None:
                return None
            start, count = entry
            if now - start >= WINDOW:
                del self._failures[address]
                return None
            return WINDOW - (now - start) if count >= self.limit else None

    def failed(self, address: str) -> bool:
        """Count a failure; True when this one used up the address's allowance."""
        now = self.clock()
        with self._lock:
            start, count = self._failures.pop(address, (now, 0))
            if now - start >= WINDOW:
                start, count = now, 0
            self._failures[address] = (start, count + 1)
            while len(self._failures) > self.max_addresses:
                del self._failures[next(iter(self._failures))]
            return count + 1 == self.limit
