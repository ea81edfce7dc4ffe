"""The key pool's records and indexes, and how the database's records merge into them.

State is *per worker process*: each gunicorn worker (and each instance) has its
own, and the database is the truth. A sync loop feeds the store with the
database's records (``replace_all``, ``upsert_key``, ``merge_model_state``,
last writer wins on ``updated_at``), so no request ever waits on the database.

All state sits behind one ``threading.Lock``, ``self._lock`` (a greenlet lock
once gevent has patched the standard library), held briefly and never across a
callback. Public methods take it; methods whose names start with ``_`` expect
it held and are the only code that mutates the dicts and indexes.
"""
from __future__ import annotations

import copy
import threading
from typing import Callable, Iterable, Optional

from balancer.keypool.days import pacific_day_bounds
from balancer.keypool.limits import KeyLimits
from balancer.keypool.records import KeyRecord, KeyStatus, Lease, ModelState
from balancer.keypool.strategies import Rotation

_EMPTY: dict = {}
#: how often expired entries are swept out of the cooldown index.
_PRUNE_EVERY = 1.0


class _Pool:
    """One pool's members, groups and rotation (``dirty`` means: rebuild before use)."""

    __slots__ = ("members", "groups", "rotation", "dirty")

    def __init__(self) -> None:
        self.members: set[int] = set()
        self.groups: dict[str, set[int]] = {}
        self.rotation = Rotation([], [], [])
        self.dirty = False


class KeyStore:
    """Keys of every pool of this process, their model states, leases and indexes."""

    def __init__(self, clock: Callable[[], float]) -> None:
        """:param clock: epoch seconds now; called before the lock is taken."""
        self._clock = clock
        self._lock = threading.Lock()
        self._keys: dict[int, KeyRecord] = {}
        self._states: dict[int, dict[str, ModelState]] = {}
        #: (pool id, model) -> key id -> cooldown end; may hold ended cooldowns.
        self._cooling: dict[tuple[int, str], dict[int, float]] = {}
        self._inflight: dict[int, int] = {}
        self._pools: dict[int, _Pool] = {}
        #: outstanding leases by ``id()``: a second release finds nothing.
        self._leases: dict[int, Lease] = {}
        #: ids of the keys with a limit of their own, their use, and those found
        #: at their limit (key id -> when it frees up; may hold ended entries)
        self._limited: set[int] = set()
        self._limits = KeyLimits()
        self._capped: dict[int, float] = {}
        now = clock()
        self._day_start, self._day_end = pacific_day_bounds(now)
        self._prune_at = now + _PRUNE_EVERY

    # --- loading (from the database) ---------------------------------------

    def replace_all(self, keys: Iterable[KeyRecord], states: Iterable[ModelState]) -> None:
        """Load the full set of keys; others are dropped, in-flight counts of the rest kept.

        Records merge as in :meth:`upsert_key` and :meth:`merge_model_state`, so
        a change this process made and has not written yet is not undone.
        """
        keys, states = list(keys), list(states)
        now = self._clock()
        with self._lock:
            self._check_day(now)
            wanted = {rec.id for rec in keys}
            gone = [key_id for key_id in self._keys if key_id not in wanted]
            for key_id in gone:
                self._drop_key(key_id)
            if gone:
                self._drop_leases(set(gone))
            for key_id in [k for k in self._states if k not in wanted]:
                del self._states[key_id]
            for rec in keys:
                self._upsert(rec)
            for st in states:
                if st.key_id in wanted:
                    self._merge_state(st)

    def upsert_key(self, rec: KeyRecord) -> None:
        """Add a key, or update it; fields the pool changes itself follow the newer record."""
        now = self._clock()
        with self._lock:
            self._check_day(now)
            self._upsert(rec)

    def remove_key(self, key_id: int) -> None:
        """Forget a key, its states and its outstanding leases."""
        with self._lock:
            if key_id in self._keys:
                self._drop_key(key_id)
                self._drop_leases({key_id})
            self._states.pop(key_id, None)

    def note_requests_today(self, key_id: int, count: int) -> None:
        """Raise a key's requests today to ``count`` (all processes' total, from the database)."""
        now = self._clock()
        with self._lock:
            self._check_day(now)
            key = self._keys.get(key_id)
            if key is not None and count > key.requests_today:
                key.requests_today = count
                self._capped.pop(key_id, None)
                pool = self._pools[key.pool_id]
                if not pool.dirty:
                    pool.rotation.set_used(key_id, count)

    def merge_model_state(self, st: ModelState) -> None:
        """Take a (key, model) state unless the pool holds a newer one."""
        with self._lock:
            self._merge_state(st)

    def key_ids(self, pool_id: Optional[int] = None) -> set[int]:
        """Ids of all keys, or of one pool's keys."""
        with self._lock:
            if pool_id is None:
                return set(self._keys)
            pool = self._pools.get(pool_id)
            return set(pool.members) if pool else set()

    def pool_of(self, key_id: int) -> Optional[int]:
        """The pool a key belongs to; None when the key is unknown."""
        with self._lock:
            key = self._keys.get(key_id)
            return key.pool_id if key else None

    # --- internals (call with the lock held) ---------------------------------

    def _upsert(self, rec: KeyRecord) -> None:
        current = self._keys.get(rec.id)
        if current is not None and _unchanged(rec, current):
            return  # read again by a sync (its overlap re-reads the newest rows): nothing to do
        new = copy.copy(rec)
        if current is not None:
            if rec.updated_at < current.updated_at:
                # The pool's own change is newer: keep it, take only what it never changes.
                new = copy.copy(current)
                new.pool_id = rec.pool_id
                new.rpm_limit, new.rpd_limit = rec.rpm_limit, rec.rpd_limit
            new.requests_today = max(current.requests_today, rec.requests_today)
            new.updated_at = max(current.updated_at, rec.updated_at)
        self._set_key(new)

    def _merge_state(self, st: ModelState) -> None:
        current = self._states.get(st.key_id, _EMPTY).get(st.model)
        if current is None or st.updated_at >= current.updated_at:
            self._set_state(copy.copy(st))

    def _set_key(self, new: KeyRecord) -> None:
        """Store a new record of a key, keeping pool, group and rotation indexes right."""
        key_id = new.id
        old = self._keys.get(key_id)
        self._keys[key_id] = new
        if new.rpm_limit or new.rpd_limit:
            self._limited.add(key_id)
        else:
            self._limited.discard(key_id)
        if not new.rpm_limit:
            self._limits.forget(key_id)
        # Limits or counts may have changed: the next pick of the key checks it again.
        self._capped.pop(key_id, None)
        if old is not None and old.pool_id == new.pool_id:
            pool = self._pools[new.pool_id]
            if old.group != new.group:
                self._ungroup(pool, old)
                if new.group:
                    pool.groups.setdefault(new.group, set()).add(key_id)
            if old.enabled != new.enabled or old.status != new.status:
                pool.dirty = True
            elif old.requests_today != new.requests_today and not pool.dirty:
                pool.rotation.set_used(key_id, new.requests_today)
            return
        if old is not None:
            self._leave(old)
        self._inflight.setdefault(key_id, 0)
        pool = self._pools.get(new.pool_id)
        if pool is None:
            pool = self._pools[new.pool_id] = _Pool()
        pool.members.add(key_id)
        if new.group:
            pool.groups.setdefault(new.group, set()).add(key_id)
        pool.dirty = True
        for st in self._states.get(key_id, _EMPTY).values():
            self._index_cooldown(new.pool_id, st)

    def _set_state(self, st: ModelState) -> None:
        self._states.setdefault(st.key_id, {})[st.model] = st
        key = self._keys.get(st.key_id)
        if key is not None:
            self._index_cooldown(key.pool_id, st)

    def _index_cooldown(self, pool_id: int, st: ModelState) -> None:
        if st.cooldown_until is not None:
            self._cooling.setdefault((pool_id, st.model), {})[st.key_id] = st.cooldown_until
        else:
            self._cooling.get((pool_id, st.model), {}).pop(st.key_id, None)

    def _leave(self, old: KeyRecord) -> None:
        """Take a key out of its pool's indexes."""
        pool = self._pools[old.pool_id]
        pool.members.discard(old.id)
        self._ungroup(pool, old)
        pool.dirty = True
        for model in self._states.get(old.id, _EMPTY):
            self._cooling.get((old.pool_id, model), {}).pop(old.id, None)
        if not pool.members:
            del self._pools[old.pool_id]

    @staticmethod
    def _ungroup(pool: _Pool, old: KeyRecord) -> None:
        siblings = pool.groups.get(old.group) if old.group else None
        if siblings is not None:
            siblings.discard(old.id)
            if not siblings:
                del pool.groups[old.group]

    def _drop_key(self, key_id: int) -> None:
        self._leave(self._keys.pop(key_id))
        self._limited.discard(key_id)
        self._limits.forget(key_id)
        self._capped.pop(key_id, None)
        self._states.pop(key_id, None)
        self._inflight.pop(key_id, None)

    def _drop_leases(self, key_ids: set[int]) -> None:
        for token in [t for t, lease in self._leases.items() if lease.key_id in key_ids]:
            del self._leases[token]

    def _rebuild(self, pool: _Pool) -> Rotation:
        keys = self._keys
        ids = sorted(
            k for k in pool.members
            if keys[k].enabled and keys[k].status == KeyStatus.ACTIVE
        )
        busy = [self._inflight[k] for k in ids]
        used = [keys[k].requests_today for k in ids]
        pool.rotation = Rotation(ids, busy, used, previous=pool.rotation)
        pool.dirty = False
        return pool.rotation

    def _check_day(self, now: float) -> None:
        """Zero every key's requests today when the day (US Pacific) has changed."""
        if self._day_start <= now < self._day_end:
            return
        moved_on = now >= self._day_end
        self._day_start, self._day_end = pacific_day_bounds(now)
        if moved_on:
            for key in self._keys.values():
                key.requests_today = 0
            for pool in self._pools.values():
                pool.dirty = True

    def _prune(self, now: float) -> None:
        for where in list(self._cooling):
            ends = self._cooling[where]
            for key_id in [k for k, until in ends.items() if until <= now]:
                del ends[key_id]
            if not ends:
                del self._cooling[where]
        for key_id in [k for k, until in self._capped.items() if until <= now]:
            del self._capped[key_id]
        self._prune_at = now + _PRUNE_EVERY


def _unchanged(rec: KeyRecord, current: KeyRecord) -> bool:
    """Whether taking ``rec`` would leave ``current`` as it is."""
    return (rec.updated_at == current.updated_at
            and rec.requests_today <= current.requests_today
            and rec.pool_id == current.pool_id and rec.secret == current.secret
            and rec.group == current.group and rec.enabled == current.enabled
            and rec.status == current.status and rec.disabled_reason == current.disabled_reason
            and rec.rpm_limit == current.rpm_limit and rec.rpd_limit == current.rpd_limit)
