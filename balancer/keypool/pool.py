"""The in-memory key pool: which key serves the next request, and what its answer did.

One :class:`KeyPool` holds every pool of one process. Its state is *per worker
process*: each gunicorn worker (and each instance) has its own, and the
database is the truth. A separate sync loop feeds the pool with the
database's records (``replace_all``, ``upsert_key``, ``merge_model_state``,
last writer wins on ``updated_at``), and a writer persists the
:class:`~balancer.keypool.records.Transition` objects the pool returns, so no
request ever waits on the database.

All state sits behind one ``threading.Lock`` (a greenlet lock once gevent has
patched the standard library), held briefly and never across a callback: the
injected ``policy_for`` and ``clock`` are called before the lock is taken.
The policy itself lives in :mod:`~balancer.keypool.health` and the choice among
keys in :mod:`~balancer.keypool.strategies`.
"""
from __future__ import annotations

import copy
import random
import threading
import time
from datetime import datetime, timedelta
from typing import Callable, Collection, Iterable, Optional
from zoneinfo import ZoneInfo

from balancer.keypool import health, strategies
from balancer.keypool.outcome import Outcome, Verdict
from balancer.keypool.records import (
    KeyRecord,
    KeyStatus,
    Lease,
    ModelState,
    NoKeyAvailable,
    PoolPolicy,
    Transition,
)
from balancer.keypool.strategies import Rotation

_PACIFIC = ZoneInfo("America/Los_Angeles")

#: outcomes that leave the key as it was.
_NO_EFFECT = frozenset({Outcome.OVERLOADED, Outcome.CLIENT_ERROR, Outcome.PROXY_FAULT})
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


class KeyPool:
    """Keys of every pool of this process, their health, and who holds them now."""

    def __init__(
        self,
        policy_for: Callable[[int], PoolPolicy],
        clock: Callable[[], float] = time.time,
        rng: Optional[random.Random] = None,
    ) -> None:
        """:param policy_for: the current settings of a pool, by pool id."""
        self._policy_for = policy_for
        self._clock = clock
        self._rng = rng or random.Random()
        self._lock = threading.Lock()
        self._keys: dict[int, KeyRecord] = {}
        self._states: dict[int, dict[str, ModelState]] = {}
        #: (pool id, model) -> key id -> cooldown end; may hold ended cooldowns.
        self._cooling: dict[tuple[int, str], dict[int, float]] = {}
        self._inflight: dict[int, int] = {}
        self._pools: dict[int, _Pool] = {}
        #: outstanding leases by ``id()``: a second release finds nothing.
        self._leases: dict[int, Lease] = {}
        now = clock()
        self._day_start, self._day_end = pacific_day_bounds(now)
        self._prune_at = now + _PRUNE_EVERY

    # --- loading -----------------------------------------------------------

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

    # --- hot path ------------------------------------------------------------

    def acquire(self, pool_id: int, model: str, exclude: Collection[int] = ()) -> Lease:
        """Lease a usable key of ``pool_id`` for ``model``.

        :param exclude: ids already tried by this request.
        :raises NoKeyAvailable: 429 when every live key is rate-limited, else 503.
        """
        policy = self._policy_for(pool_id)
        now = self._clock()
        with self._lock:
            if not self._day_start <= now < self._day_end:
                self._check_day(now)
            if now >= self._prune_at:
                self._prune(now)
            pool = self._pools.get(pool_id)
            if pool is None:
                raise self._unavailable(pool_id, model, exclude, now)
            rot = self._rebuild(pool) if pool.dirty else pool.rotation
            cooling = self._cooling.get((pool_id, model), _EMPTY)
            key_id = strategies.pick(policy, rot, cooling, now, exclude, self._rng)
            if key_id is None:
                raise self._unavailable(pool_id, model, exclude, now)
            key = self._keys[key_id]
            key.requests_today += 1
            self._inflight[key_id] += 1
            rot.charge(key_id, 1, 1)
            lease = Lease(key_id, pool_id, model, key.secret, now)
            self._leases[id(lease)] = lease
            return lease

    def release(self, lease: Lease, verdict: Verdict) -> list[Transition]:
        """Give a lease back and apply what the upstream's answer means for the key.

        A lease released twice (or unknown) changes nothing and returns ``[]``.
        """
        outcome = verdict.outcome
        policy = None if outcome in _NO_EFFECT else self._policy_for(lease.pool_id)
        now = self._clock()
        with self._lock:
            if self._leases.pop(id(lease), None) is not lease:
                return []
            key_id = lease.key_id
            key = self._keys.get(key_id)
            if key is None:
                return []
            if self._inflight[key_id] > 0:
                self._inflight[key_id] -= 1
                pool = self._pools[key.pool_id]
                if not pool.dirty:
                    pool.rotation.charge(key_id, -1, 0)
            if policy is None:
                return []
            state = self._states.get(key_id, _EMPTY).get(lease.model)
            if state is None and outcome is Outcome.SUCCESS:
                return []
            judgement = health.judge(verdict, key, lease.model, state, policy, now)
            out = self._apply(judgement)
            if judgement.group_cooldown and key.group:
                until, reason = judgement.group_cooldown
                for sibling in sorted(self._pools[key.pool_id].groups.get(key.group, ())):
                    if sibling != key_id:
                        sib_state = self._states.get(sibling, _EMPTY).get(lease.model)
                        out += self._apply(health.cool_sibling(
                            sibling, lease.model, sib_state, until, reason, now))
            return out

    # --- admin and probes ----------------------------------------------------

    def set_enabled(self, key_id: int, enabled: bool) -> list[Transition]:
        """Flip the operator's switch of a key."""
        now = self._clock()
        with self._lock:
            key = self._keys.get(key_id)
            return self._apply(health.switch(key, enabled, now)) if key else []

    def restore(self, key_id: int) -> list[Transition]:
        """Clear a key's disable, and its cooldowns, failures and ejections for all models."""
        now = self._clock()
        with self._lock:
            key = self._keys.get(key_id)
            if key is None:
                return []
            out = self._apply(health.restore_key(key, now))
            for model in sorted(self._states.get(key_id, ())):
                out += self._apply(health.restore_state(self._states[key_id][model], now))
            return out

    def reset_failures(self, key_id: int) -> list[Transition]:
        """Zero a key's consecutive-failure counts (cooldowns stay)."""
        now = self._clock()
        with self._lock:
            states = self._states.get(key_id, _EMPTY) if key_id in self._keys else _EMPTY
            out: list[Transition] = []
            for model in sorted(states):
                out += self._apply(health.reset_failures_state(states[model], now))
            return out

    def snapshot(self, key_id: int) -> Optional[tuple[KeyRecord, list[ModelState], int]]:
        """Copies of a key and its model states, and its leases in flight."""
        now = self._clock()
        with self._lock:
            self._check_day(now)
            key = self._keys.get(key_id)
            if key is None:
                return None
            states = [copy.copy(st) for st in self._states.get(key_id, _EMPTY).values()]
            return copy.copy(key), states, self._inflight[key_id]

    def probe_candidates(self) -> list[tuple[KeyRecord, Optional[str]]]:
        """Keys disabled by health (model ``None``) and (key, model) pairs now ejected."""
        now = self._clock()
        with self._lock:
            out: list[tuple[KeyRecord, Optional[str]]] = []
            for key_id in sorted(self._keys):
                key = self._keys[key_id]
                if not key.enabled:
                    continue
                if key.status == KeyStatus.DISABLED:
                    out.append((copy.copy(key), None))
                    continue
                for model, st in sorted(self._states.get(key_id, _EMPTY).items()):
                    if st.reason == health.EJECTED and health.cooling(st, now):
                        out.append((copy.copy(key), model))
            return out

    def record_probe(self, key_id: int, model: Optional[str], ok: bool) -> list[Transition]:
        """Apply a recovery probe's result.

        ``ok`` restores a health-disabled key (``model`` None) or ends the
        ejection of (key, model); a failed probe changes nothing, so a probe
        never lengthens a penalty. A probe that is stale (the key or model is
        no longer in that condition) changes nothing either.
        """
        if not ok:
            return []  # a probe never lengthens a penalty
        now = self._clock()
        with self._lock:
            key = self._keys.get(key_id)
            if key is None:
                return []
            if model is None:
                if key.enabled and key.status == KeyStatus.DISABLED:
                    return self._apply(health.restore_key(key, now, "probe"))
                return []
            state = self._states.get(key_id, _EMPTY).get(model)
            return self._apply(health.probe_restore_state(state, now))

    def stats(self) -> dict[int, dict[str, int]]:
        """Counts per pool id.

        ``total`` = ``active`` + ``disabled`` + ``switched_off``; ``active`` keys
        are switched on and not disabled; ``cooling_down`` and ``ejected`` count,
        among them, keys with at least one model cooling down or ejected now.
        """
        now = self._clock()
        with self._lock:
            out = {}
            for pool_id, pool in sorted(self._pools.items()):
                row = dict(total=0, active=0, cooling_down=0, ejected=0,
                           disabled=0, switched_off=0, in_flight=0)
                for key_id in pool.members:
                    key = self._keys[key_id]
                    row["total"] += 1
                    row["in_flight"] += self._inflight[key_id]
                    if not key.enabled:
                        row["switched_off"] += 1
                    elif key.status == KeyStatus.DISABLED:
                        row["disabled"] += 1
                    else:
                        row["active"] += 1
                        reasons = {st.reason for st in self._states.get(key_id, _EMPTY).values()
                                   if health.cooling(st, now)}
                        row["ejected"] += health.EJECTED in reasons
                        row["cooling_down"] += bool(reasons - {health.EJECTED})
                out[pool_id] = row
            return out

    # --- internals (call with the lock held) ---------------------------------

    def _apply(self, judgement: health.Judgement) -> list[Transition]:
        if judgement.key is not None:
            self._set_key(judgement.key)
        if judgement.state is not None:
            self._set_state(judgement.state)
        return [judgement.transition] if judgement.transition else []

    def _upsert(self, rec: KeyRecord) -> None:
        current = self._keys.get(rec.id)
        new = copy.copy(rec)
        if current is not None:
            if rec.updated_at < current.updated_at:
                # The pool's own change is newer: keep it, take only what it never changes.
                new = copy.copy(current)
                new.pool_id = rec.pool_id
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
        self._prune_at = now + _PRUNE_EVERY

    def _unavailable(
        self, pool_id: int, model: str, exclude: Collection[int], now: float
    ) -> NoKeyAvailable:
        pool = self._pools.get(pool_id)
        members = pool.members if pool else ()
        keys = [self._keys[k] for k in members]
        states = {k: self._states[k][model] for k in members
                  if model in self._states.get(k, _EMPTY)}
        return health.explain_unavailable(model, keys, states, exclude, now)


def pacific_day_bounds(now: float) -> tuple[float, float]:
    """Epoch seconds of the start and end of the US Pacific day that holds ``now``.

    Gemini's daily quotas reset at midnight Pacific (never inside a DST change,
    which happens at 02:00, so both midnights exist and are unambiguous).
    """
    day = datetime.fromtimestamp(now, _PACIFIC).date()
    nxt = day + timedelta(days=1)
    return (
        datetime(day.year, day.month, day.day, tzinfo=_PACIFIC).timestamp(),
        datetime(nxt.year, nxt.month, nxt.day, tzinfo=_PACIFIC).timestamp(),
    )
