"""Failed logins counted per client address, in memory (per process)."""
from __future__ import annotations

import threading
import time
from collections import deque
from typing import Callable

#: Failures allowed from one address within WINDOW seconds before it must wait.
LIMIT = 5
WINDOW = 300.0


class LoginThrottle:
    """A sliding window of failure times per address.

    In memory and per worker: an attacker gets at most LIMIT guesses per
    worker per window, which is what matters against guessing, and nothing
    is written to the database by an unauthenticated client.
    """

    def __init__(self, limit: int = LIMIT, window: float = WINDOW,
                 clock: Callable[[], float] = time.monotonic):
        self.limit = limit
        self.window = window
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def retry_after(self, address: str) -> float:
        """Seconds until ``address`` may try again; 0 when it may now."""
        now = self._clock()
        with self._lock:
            times = self._failures.get(address)
            if not times:
                return 0.0
            while times and times[0] <= now - self.window:
                times.popleft()
            if not times:
                del self._failures[address]
                return 0.0
            if len(times) < self.limit:
                return 0.0
            return max(0.0, times[0] + self.window - now)

    def failed(self, address: str) -> None:
        """Count one failed attempt."""
        now = self._clock()
        with self._lock:
            if len(self._failures) > 10_000:
                # Bounded memory even when many addresses guess: drop the stalest.
                oldest = min(self._failures, key=lambda a: self._failures[a][-1])
                del self._failures[oldest]
            self._failures.setdefault(address, deque(maxlen=self.limit * 4)).append(now)

    def succeeded(self, address: str) -> None:
        """Forget an address's failures after a good login."""
        with self._lock:
            self._failures.pop(address, None)
