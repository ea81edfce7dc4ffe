"""Outgoing proxies of a pool: each key pinned to one, failing ones skipped for a while.

Pinning uses rendezvous (highest-random-weight) hashing on the key's id: the
choice survives restarts and is the same in every worker, and adding or
removing a proxy moves only the keys that proxy gains or loses.
"""
from __future__ import annotations

import hashlib
import threading
import time
from typing import Callable, Optional, Sequence

#: How long a proxy that failed to connect is passed over.
SKIP_SECONDS = 60.0


def _weight(key_id: int, proxy: str) -> int:
    digest = hashlib.blake2b(f"{key_id}|{proxy}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def ranked(proxies: Sequence[str], key_id: int) -> list[str]:
    """The pool's proxies in this key's order of preference (first = its pinned proxy)."""
    return sorted(proxies, key=lambda proxy: _weight(key_id, proxy), reverse=True)


class ProxyChooser:
    """Remembers which proxies failed lately (per process) and routes around them."""

    def __init__(self, clock: Callable[[], float] = time.time, skip_seconds: float = SKIP_SECONDS):
        self._clock = clock
        self._skip = skip_seconds
        self._failed_until: dict[str, float] = {}
        self._lock = threading.Lock()

    def choose(self, proxies: Sequence[str], key_id: int) -> Optional[str]:
        """The proxy for this key: its pinned one unless that one is being skipped."""
        if not proxies:
            return None
        if len(proxies) == 1:
            return proxies[0]
        order = ranked(proxies, key_id)
        now = self._clock()
        for proxy in order:
            if self._failed_until.get(proxy, 0.0) <= now:
                return proxy
        # All failed lately: the pinned one is as good a guess as any.
        return order[0]

    def failed(self, proxy: Optional[str]) -> None:
        """A connection through ``proxy`` failed: pass it over for a while."""
        if proxy is None:
            return
        with self._lock:
            self._failed_until[proxy] = self._clock() + self._skip

    def skipped(self) -> dict[str, float]:
        """Proxies being passed over, with the time they come back."""
        now = self._clock()
        return {p: until for p, until in self._failed_until.items() if until > now}
