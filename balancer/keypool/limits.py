"""Each key's own limits, set by the operator: requests per minute and per day.

People set them to stay under a quota they know (a free tier's 10 requests
per minute) rather than learn it from a 429 that cools the key and its
project's siblings. A key at its own limit is passed over like a cooling key
and comes back when its window frees up; when every key is there, the client
gets a 429 with the wait, as for rate limits.

Per day counts ``requests_today`` (every process's use as flushed to the
database, plus this process's own since), per US Pacific day as Gemini's
quotas count. Per minute counts this process's leases of the last 60 s
exactly, plus what the other processes reported in their last sync
(``services/key_usage.py``): a limit holds over the whole deployment to
within one sync interval of the other processes' traffic, without a query on
the request path.

All methods run under the key store's lock.
"""
from __future__ import annotations

from collections import deque
from typing import Collection, Iterator, Mapping, Optional

from balancer.keypool.records import KeyRecord

WINDOW = 60.0
#: when only other processes' counts hold a key at its limit, their timing is
#: unknown here: look again this soon.
RECHECK = 1.0


class KeyLimits:
    """This process's per-minute use of the keys that have a limit, and the others'."""

    def __init__(self) -> None:
        #: key id -> this process's lease times in the last minute (limited keys only)
        self._recent: dict[int, deque[float]] = {}
        #: key id -> leases in the last minute of every other process
        self._others: dict[int, int] = {}

    def free_at(self, key: KeyRecord, now: float, day_end: float) -> Optional[float]:
        """When a key at its own limit may serve again; None when it is under it."""
        if key.rpd_limit and key.requests_today >= key.rpd_limit:
            return day_end
        if key.rpm_limit:
            window = self._recent.get(key.id)
            if window:
                _forget_old(window, now)
            used = (len(window) if window else 0) + self._others.get(key.id, 0)
            if used >= key.rpm_limit:
                return window[0] + WINDOW if window else now + RECHECK
        return None

    def count(self, key: KeyRecord, now: float) -> None:
        """A lease of ``key`` was handed out."""
        if key.rpm_limit:
            self._recent.setdefault(key.id, deque()).append(now)

    def forget(self, key_id: int) -> None:
        """The key left, or no longer has a per-minute limit."""
        self._recent.pop(key_id, None)
        self._others.pop(key_id, None)

    def snapshot(self, now: float) -> dict[int, int]:
        """key id -> leases in the last minute, of this process (idle keys left out)."""
        out = {}
        for key_id, window in list(self._recent.items()):
            _forget_old(window, now)
            if window:
                out[key_id] = len(window)
            else:
                del self._recent[key_id]
        return out

    def learn(self, others: dict[int, int]) -> None:
        """What every other process reported in its last sync."""
        self._others = dict(others)


class Barred(Collection[int]):
    """The keys a request may not take: those it already tried, and those known at their limit.

    Handed to the strategies as their ``exclude``. ``capped`` (key id -> when
    it frees up) is kept by the pool as keys reach their limits, so a pick
    costs nothing per limited key that is under its limit; the pool checks
    the key it picked and picks again when that one turns out to be at its limit.
    """

    __slots__ = ("_exclude", "_capped", "_now")

    def __init__(self, exclude: Collection[int], capped: Mapping[int, float], now: float) -> None:
        self._exclude = exclude
        self._capped = capped
        self._now = now

    def __contains__(self, key_id: object) -> bool:
        return key_id in self._exclude or self._capped.get(key_id, 0.0) > self._now  # type: ignore[call-overload]

    def __iter__(self) -> Iterator[int]:
        yield from self._exclude
        for key_id, until in self._capped.items():
            if until > self._now and key_id not in self._exclude:
                yield key_id

    def __len__(self) -> int:
        return sum(1 for _ in self)


def _forget_old(window: deque, now: float) -> None:
    while window and window[0] <= now - WINDOW:
        window.popleft()
