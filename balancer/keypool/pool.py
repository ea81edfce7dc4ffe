"""The in-memory key pool: which key serves the next request, and what its answer did.

One :class:`KeyPool` holds every pool of one process. Its records, indexes and
lock are those of :class:`~balancer.keypool.store.KeyStore`, which also says
how the database's records are loaded; a writer persists the
:class:`~balancer.keypool.records.Transition` objects the pool returns.

Every method holds the store's lock briefly and never across a callback: the
injected ``policy_for`` and ``clock`` are called before the lock is taken.
The policy itself lives in :mod:`~balancer.keypool.health` and the choice among
keys in :mod:`~balancer.keypool.strategies`.
"""
from __future__ import annotations

import copy
import os
import random
import time
import weakref
from typing import Callable, Collection, Optional

from balancer.keypool import health, strategies
from balancer.keypool.limits import Barred
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
from balancer.keypool.store import _EMPTY, KeyStore
from balancer.keypool.unavailable import explain_key, explain_unavailable

#: outcomes that leave the key as it was.
_NO_EFFECT = frozenset({Outcome.OVERLOADED, Outcome.CLIENT_ERROR, Outcome.PROXY_FAULT})


class KeyPool(KeyStore):
    """Keys of every pool of this process, their health, and who holds them now."""

    def __init__(
        self,
        policy_for: Callable[[int], PoolPolicy],
        clock: Callable[[], float] = time.time,
        rng: Optional[random.Random] = None,
    ) -> None:
        """:param policy_for: the current settings of a pool, by pool id."""
        super().__init__(clock)
        self._policy_for = policy_for
        if rng is None:
            rng = random.Random()
            # gunicorn builds the pool in its master and forks the workers from it: each
            # draws numbers of its own, or the workers' random picks would go alike.
            os.register_at_fork(after_in_child=_reseed_later(rng))
        self._rng = rng

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
            # No cost at all while no key is known to be at a limit of its own.
            barred = Barred(exclude, self._capped, now) if self._capped else exclude
            while True:
                key_id = strategies.pick(policy, rot, cooling, now, barred, self._rng)
                if key_id is None:
                    raise self._unavailable(pool_id, model, exclude, now)
                key = self._keys[key_id]
                if key_id in self._limited:
                    free_at = self._free_at(key, now)
                    if free_at is not None:  # found at its limit: bar it, pick again
                        self._capped[key_id] = free_at
                        barred = Barred(exclude, self._capped, now)
                        continue
                return self._lease(key, rot, model, now)

    def acquire_key(self, key_id: int, model: str) -> Lease:
        """Lease one given key for ``model``, whatever the rotation would pick.

        For a request that uses something only that key's project can reach
        (an uploaded file, a cached content): another key would be refused.

        :raises NoKeyAvailable: why that key cannot serve now (gone, switched
            off, disabled, cooling down), with the wait when there is one.
        """
        now = self._clock()
        with self._lock:
            key = self._keys.get(key_id)
            if key is None:
                raise NoKeyAvailable(503, None, f"key #{key_id} is no longer in Balancer")
            state = self._states.get(key_id, _EMPTY).get(model)
            free_at = self._free_at(key, now)
            if (not key.enabled or key.status != KeyStatus.ACTIVE or health.cooling(state, now)
                    or free_at is not None):
                raise explain_key(key, state, now, free_at)
            pool = self._pools[key.pool_id]
            rot = self._rebuild(pool) if pool.dirty else pool.rotation
            return self._lease(key, rot, model, now)

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

    def own_limit_wait(self, key_id: int) -> float:
        """Seconds until a key at its own request limit may serve again; 0 when it may now."""
        now = self._clock()
        with self._lock:
            key = self._keys.get(key_id)
            free_at = self._free_at(key, now) if key is not None else None
            return max(0.0, free_at - now) if free_at is not None else 0.0

    def key_usage(self) -> dict[int, int]:
        """Leases per key in the last minute, of this process, for keys with a per-minute limit."""
        now = self._clock()
        with self._lock:
            return self._limits.snapshot(now)

    def learn_key_usage(self, others: dict[int, int]) -> None:
        """The other processes' leases per key in the last minute (from the sync loop)."""
        with self._lock:
            self._limits.learn(others)
            # Their use may hold a key at its limit from now on: check each one again.
            for key_id in others:
                self._capped.pop(key_id, None)

    @property
    def limits_apply(self) -> bool:
        """True while some key has a per-minute limit: only then are counts shared."""
        with self._lock:
            return any(self._keys[k].rpm_limit for k in self._limited)

    # --- internals (call with the lock held) ---------------------------------

    def _lease(self, key: KeyRecord, rot: strategies.Rotation, model: str, now: float) -> Lease:
        key.requests_today += 1
        self._inflight[key.id] += 1
        rot.charge(key.id, 1, 1)
        if key.id in self._limited:
            self._limits.count(key, now)
            free_at = self._free_at(key, now)
            if free_at is not None:  # this lease reached the limit
                self._capped[key.id] = free_at
        lease = Lease(key.id, key.pool_id, model, key.secret, now)
        self._leases[id(lease)] = lease
        return lease

    def _free_at(self, key: KeyRecord, now: float) -> Optional[float]:
        """When a key at its own limit serves again; None when it is under it (or has none)."""
        if key.id not in self._limited:
            return None
        return self._limits.free_at(key, now, self._day_end)

    def _apply(self, judgement: health.Judgement) -> list[Transition]:
        if judgement.key is not None:
            self._set_key(judgement.key)
        if judgement.state is not None:
            self._set_state(judgement.state)
        return [judgement.transition] if judgement.transition else []

    def _unavailable(
        self, pool_id: int, model: str, exclude: Collection[int], now: float
    ) -> NoKeyAvailable:
        pool = self._pools.get(pool_id)
        members = pool.members if pool else ()
        keys = [self._keys[k] for k in members]
        states = {k: self._states[k][model] for k in members
                  if model in self._states.get(k, _EMPTY)}
        at_limit = {k: until for k in members if k in self._limited
                    and (until := self._free_at(self._keys[k], now)) is not None}
        return explain_unavailable(model, keys, states, exclude, now, at_limit)


def _reseed_later(rng: random.Random) -> Callable[[], None]:
    """Reseed ``rng`` when called, if it is still in use (a weak reference: a fork hook
    is never unregistered, and must not keep a pool's generator alive)."""
    ref = weakref.ref(rng)

    def reseed() -> None:
        alive = ref()
        if alive is not None:
            alive.seed()
    return reseed
