"""How a pool picks one key among those it may use for a request.

A :class:`Rotation` is one pool's index of *eligible* keys (switched on and
ACTIVE), sorted by id, with two arrays aligned on it: leases in flight and a
least-used score. ``KeyPool`` rebuilds it when a key joins, leaves or changes
status, and keeps the arrays current on every acquire and release, so that the
choice itself never walks the whole key table:

- round robin looks at the next key after the cursor and is O(1) amortized
  while most keys are usable;
- random draws a few times before it falls back to a scan;
- least busy / least used run ``min`` and ``list.index`` (C loops) over the
  aligned arrays, with unusable keys masked.

A key is usable for a model when its id is not in ``exclude`` and its cooldown
for that model (``cooling``: key id -> until, possibly stale) is over. The
functions return a key id, or ``None`` when no eligible key is usable; they run
under the pool's lock and do no I/O.
"""
from __future__ import annotations

import bisect
import random
from typing import Collection, Mapping, Optional

from balancer.keypool.records import PoolPolicy, Strategy

#: weight of one request today in the least-used score; the in-flight count
#: breaks ties between keys with the same use (assumes < 2**20 in flight).
USED_WEIGHT = 1 << 20
#: random draws before the random strategy scans for usable keys.
RANDOM_DRAWS = 8

_MASKED = float("inf")


class Rotation:
    """One pool's eligible keys, in id order, with the state the strategies share."""

    __slots__ = ("ids", "pos", "busy", "score", "cursor", "sticky", "sticky_left")

    def __init__(
        self,
        ids: list[int],
        busy: list[int],
        used: list[int],
        previous: Optional[Rotation] = None,
    ) -> None:
        """Index ``ids`` (sorted); carry the cursor and the sticky key over from ``previous``."""
        self.ids = ids
        self.pos = {key_id: i for i, key_id in enumerate(ids)}
        self.busy = busy
        self.score = [u * USED_WEIGHT + b for u, b in zip(used, busy)]
        self.cursor = 0
        self.sticky: Optional[int] = None
        self.sticky_left = 0
        if previous is not None and previous.ids and ids:
            # Resume the rotation where it was, so a rebuild does not send a
            # burst of requests back to the lowest ids.
            last = previous.ids[previous.cursor % len(previous.ids)]
            self.cursor = bisect.bisect_left(ids, last) % len(ids)
            if previous.sticky in self.pos:
                self.sticky = previous.sticky
                self.sticky_left = previous.sticky_left

    def charge(self, key_id: int, busy_delta: int, used_delta: int) -> None:
        """Add to a key's in-flight count and requests today (no-op if not eligible)."""
        i = self.pos.get(key_id)
        if i is not None:
            self.busy[i] += busy_delta
            self.score[i] += used_delta * USED_WEIGHT + busy_delta

    def set_used(self, key_id: int, used: int) -> None:
        """Set a key's requests today, keeping its in-flight part of the score."""
        i = self.pos.get(key_id)
        if i is not None:
            self.score[i] = used * USED_WEIGHT + self.busy[i]


def pick(
    policy: PoolPolicy,
    rot: Rotation,
    cooling: Mapping[int, float],
    now: float,
    exclude: Collection[int],
    rng: random.Random,
) -> Optional[int]:
    """Choose a usable key with the pool's strategy, or return ``None``."""
    strategy = policy.strategy
    # ``==`` rather than a dict lookup: settings may hand over the plain string.
    if strategy == Strategy.ROUND_ROBIN:
        return pick_round_robin(rot, cooling, now, exclude, policy.requests_per_key)
    if strategy == Strategy.RANDOM:
        return pick_random(rot, cooling, now, exclude, rng)
    if strategy == Strategy.LEAST_BUSY:
        return pick_least(rot, rot.busy, cooling, now, exclude)
    if strategy == Strategy.LEAST_USED:
        return pick_least(rot, rot.score, cooling, now, exclude)
    raise ValueError(f"unknown key strategy: {strategy!r}")


def pick_round_robin(
    rot: Rotation,
    cooling: Mapping[int, float],
    now: float,
    exclude: Collection[int],
    requests_per_key: int = 1,
) -> Optional[int]:
    """Keep the current key for ``requests_per_key`` picks, then take the next usable one."""
    sticky = rot.sticky
    if (
        rot.sticky_left > 0
        and sticky is not None
        and sticky not in exclude
        and cooling.get(sticky, 0.0) <= now
    ):
        rot.sticky_left -= 1
        return sticky
    ids = rot.ids
    n = len(ids)
    j = rot.cursor
    for _ in range(n):
        if j >= n:
            j = 0
        key_id = ids[j]
        j += 1
        if key_id not in exclude and cooling.get(key_id, 0.0) <= now:
            rot.cursor = j if j < n else 0
            rot.sticky = key_id
            rot.sticky_left = max(1, requests_per_key) - 1
            return key_id
    return None


def pick_random(
    rot: Rotation,
    cooling: Mapping[int, float],
    now: float,
    exclude: Collection[int],
    rng: random.Random,
) -> Optional[int]:
    """Pick uniformly among usable keys: a few blind draws, then a scan."""
    ids = rot.ids
    n = len(ids)
    if not n:
        return None
    for _ in range(RANDOM_DRAWS):
        key_id = ids[int(rng.random() * n)]
        if key_id not in exclude and cooling.get(key_id, 0.0) <= now:
            return key_id
    usable = [k for k in ids if k not in exclude and cooling.get(k, 0.0) <= now]
    return rng.choice(usable) if usable else None


def pick_least(
    rot: Rotation,
    values: list[int],
    cooling: Mapping[int, float],
    now: float,
    exclude: Collection[int],
) -> Optional[int]:
    """Pick the usable key with the lowest value; ties go to the next one in rotation."""
    ids = rot.ids
    n = len(ids)
    if not n:
        return None
    pos = rot.pos
    masked = [pos[k] for k, until in cooling.items() if until > now and k in pos]
    masked.extend(pos[k] for k in exclude if k in pos)
    if masked:
        values = values.copy()
        for i in masked:
            values[i] = _MASKED
    low = min(values)
    if low == _MASKED:
        return None
    start = rot.cursor if rot.cursor < n else 0
    try:
        i = values.index(low, start)
    except ValueError:
        i = values.index(low, 0, start)
    rot.cursor = i + 1 if i + 1 < n else 0
    return ids[i]
