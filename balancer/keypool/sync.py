"""Between the database (the truth) and a process's in-memory KeyPool.

``pull`` brings other processes' changes in; ``persist`` writes this
process's transitions out. Both run in background loops, never in a request.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Callable, Optional

import sqlalchemy as sa
from sqlalchemy.orm import Session

from balancer.keypool.days import pacific_day
from balancer.keypool.pool import KeyPool
from balancer.keypool.records import KeyRecord, KeyStatus, ModelState, Transition, TransitionKind
from balancer.models import ApiKey, KeyEvent, KeyModelState
from balancer.models.fit import fit, shortest
from balancer.text import clean
from balancer.models.types import from_epoch, to_epoch
from balancer.models.upsert import upsert

log = logging.getLogger(__name__)

#: Rows changed this close to the last watermark are read again: commits of
#: other processes can land with a slightly earlier updated_at than ours.
OVERLAP = timedelta(seconds=5)

_KEY_COLUMNS = (ApiKey.id, ApiKey.pool_id, ApiKey.secret_encrypted, ApiKey.group_name,
                ApiKey.enabled, ApiKey.status, ApiKey.disabled_reason, ApiKey.requests_today,
                ApiKey.requests_today_date, ApiKey.updated_at, ApiKey.rpm_limit, ApiKey.rpd_limit)


def key_record(row, decrypt: Callable[[str], str], today) -> Optional[KeyRecord]:
    """A KeyRecord from an api_keys row; None when the secret cannot be decrypted."""
    try:
        secret = decrypt(row.secret_encrypted)
    except ValueError:
        log.error("key %s cannot be decrypted with the configured key; skipped", row.id)
        return None
    return KeyRecord(
        id=row.id, pool_id=row.pool_id, secret=secret, group=row.group_name,
        enabled=row.enabled, status=KeyStatus(row.status), disabled_reason=row.disabled_reason or "",
        requests_today=row.requests_today if row.requests_today_date == today else 0,
        updated_at=to_epoch(row.updated_at) or 0.0,
        rpm_limit=row.rpm_limit or None, rpd_limit=row.rpd_limit or None,
    )


def model_state(row: KeyModelState) -> ModelState:
    """A ModelState from a key_model_states row."""
    return ModelState(
        key_id=row.key_id, model=row.model, cooldown_until=to_epoch(row.cooldown_until),
        reason=row.reason or "", consecutive_failures=row.consecutive_failures,
        ejections=row.ejections, rate_limit_streak=row.rate_limit_streak,
        last_error=row.last_error or "", updated_at=to_epoch(row.updated_at) or 0.0,
    )


@dataclass
class Pulled:
    """What one read of the database found; applied to the KeyPool by ``Syncer.apply``."""

    #: a full load: ``keys`` and ``states`` are the whole truth, not changes
    full: bool
    keys: list[KeyRecord]
    states: list[ModelState]
    #: key id -> requests today, for every key used today (counters move without updated_at)
    counts: list[tuple[int, int]]
    #: every key id in the database
    live: set[int]
    watermark: Optional[datetime]


@dataclass
class Syncer:
    """Keeps one KeyPool in step with the database; remembers its watermark.

    Reading (``read``) touches only the session given and this object, so that it may
    run in the database thread; applying (``apply``) changes the KeyPool and runs in the
    process's own loop.
    """

    pool: KeyPool
    decrypt: Callable[[str], str]
    watermark: Optional[datetime] = None
    #: key id -> (stored token, its secret): rows read again unchanged (the overlap
    #: re-reads the newest rows every round) are not decrypted again.
    _secrets: dict[int, tuple[str, str]] = field(default_factory=dict, repr=False)

    def load_all(self, session: Session) -> None:
        """Full load: the key set, every key's fields and every model state."""
        self.apply(self.read(session, full=True))

    def pull(self, session: Session) -> int:
        """Apply rows changed since the watermark; drop keys deleted elsewhere."""
        return self.apply(self.read(session))

    def read(self, session: Session, full: bool = False) -> Pulled:
        """Read what changed since the watermark (everything on the first read or when
        ``full``); no change to the KeyPool."""
        full = full or self.watermark is None
        today = pacific_day()
        keys_q, states_q = sa.select(*_KEY_COLUMNS), sa.select(KeyModelState)
        if not full:
            since = self.watermark - OVERLAP
            keys_q = keys_q.where(ApiKey.updated_at >= since)
            states_q = states_q.where(KeyModelState.updated_at >= since)
        keys = [rec for row in session.execute(keys_q)
                if (rec := key_record(row, self._decrypt(row), today)) is not None]
        states = [model_state(row) for row in session.scalars(states_q)]
        counts = [] if full else list(session.execute(
            sa.select(ApiKey.id, ApiKey.requests_today).where(ApiKey.requests_today_date == today)))
        live = set(session.scalars(sa.select(ApiKey.id)))
        for gone in self._secrets.keys() - live:
            del self._secrets[gone]
        return Pulled(full, keys, states, counts, live, _max_updated(session))

    def apply(self, pulled: Pulled, known: Optional[set[int]] = None) -> int:
        """Bring the KeyPool in step with ``pulled``; how many keys and states changed.

        :param known: the keys the pool held when the read began. A key added here since
            (by this process, while the read ran elsewhere) is not in ``pulled`` and must
            not be taken for one deleted; without it, every key is taken as known.
        """
        if pulled.full:
            if known is not None and self.pool.key_ids() - known:
                return 0  # a full read would drop them: the next round reads all again
            self.pool.replace_all(pulled.keys, pulled.states)
            self.watermark = pulled.watermark
            return len(self.pool.key_ids())
        for rec in pulled.keys:
            self.pool.upsert_key(rec)
        for st in pulled.states:
            self.pool.merge_model_state(st)
        for key_id, count in pulled.counts:
            self.pool.note_requests_today(key_id, count)
        gone = self.pool.key_ids() - pulled.live
        if known is not None:
            gone &= known
        for key_id in gone:
            self.pool.remove_key(key_id)
        if self.watermark is None or pulled.watermark is not None:
            self.watermark = max(filter(None, (self.watermark, pulled.watermark)), default=None)
        return len(pulled.keys) + len(pulled.states) + len(gone)

    def _decrypt(self, row) -> Callable[[str], str]:
        """``decrypt``, remembering the secret of each key's current token."""
        known = self._secrets.get(row.id)
        if known is not None and known[0] == row.secret_encrypted:
            return lambda _token: known[1]

        def remembered(token: str) -> str:
            secret = self.decrypt(token)
            self._secrets[row.id] = (token, secret)
            return secret
        return remembered


def _max_updated(session: Session) -> Optional[datetime]:
    a = session.scalar(sa.select(sa.func.max(ApiKey.updated_at)))
    b = session.scalar(sa.select(sa.func.max(KeyModelState.updated_at)))
    found = [v for v in (a, b) if v is not None]
    return max(found) if found else None


_EVENT_KINDS = {TransitionKind.COOLDOWN, TransitionKind.EJECT, TransitionKind.DISABLE,
                TransitionKind.RESTORE}


_EVENT = KeyEvent.__table__.c
_STATE = KeyModelState.__table__.c
_KEY = ApiKey.__table__.c
#: A model name (the client's choice) is stored in both; cut to the shorter once.
MODEL_LENGTH = shortest((_EVENT.model, _STATE.model))


def persist(session: Session, transitions: list[Transition]) -> None:
    """Write transitions: model states upserted, key status updated, events logged.

    Text is fitted to its columns first (``balancer.models.fit``): the model name
    comes from a client, and one row the database refuses fails the whole batch.
    """
    states: dict[tuple[int, str], ModelState] = {}
    keys: dict[int, KeyRecord] = {}
    events = []
    for t in transitions:
        if t.model_state is not None:
            # Keyed by the name as stored: two names alike in their first characters
            # are one row, and one upsert must not name a row twice.
            states[(t.model_state.key_id, clean(t.model_state.model, MODEL_LENGTH))] = t.model_state
        if t.key is not None:
            keys[t.key.id] = t.key
        if t.kind in _EVENT_KINDS:
            model = None if t.model is None else clean(t.model, MODEL_LENGTH)
            events.append({"created_at": from_epoch(t.at), "key_id": t.key_id, "model": model,
                           "event": fit(_EVENT.event, t.kind.value),
                           "reason": fit(_EVENT.reason, t.reason or "") or None,
                           "until": from_epoch(t.until)})
    live = set(session.scalars(sa.select(ApiKey.id).where(
        ApiKey.id.in_({k for k, _ in states} | set(keys)))))
    rows = [{"key_id": key_id, "model": model, "cooldown_until": from_epoch(s.cooldown_until),
             "reason": fit(_STATE.reason, s.reason) or None,
             "consecutive_failures": s.consecutive_failures,
             "ejections": s.ejections, "rate_limit_streak": s.rate_limit_streak,
             "last_error": fit(_STATE.last_error, s.last_error) or None,
             "updated_at": from_epoch(s.updated_at)}
            for (key_id, model), s in states.items() if key_id in live]
    upsert(session, KeyModelState.__table__, rows, conflict=("key_id", "model"),
           replace=("cooldown_until", "reason", "consecutive_failures", "ejections",
                    "rate_limit_streak", "last_error", "updated_at"), newer="updated_at")
    for rec in keys.values():
        if rec.id not in live:
            continue
        # As for model states: a late flush never undoes a newer change (an
        # operator's enable, another process's disable).
        session.execute(sa.update(ApiKey).where(
            ApiKey.id == rec.id, ApiKey.updated_at <= from_epoch(rec.updated_at)).values(
            status=rec.status.value, enabled=rec.enabled,
            disabled_reason=fit(_KEY.disabled_reason, rec.disabled_reason) or None,
            last_error=(fit(_KEY.last_error, rec.disabled_reason) or None)
            if rec.status is KeyStatus.DISABLED else ApiKey.last_error,
            updated_at=from_epoch(rec.updated_at)))
    if events:
        session.execute(sa.insert(KeyEvent), events)
