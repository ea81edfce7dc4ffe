"""Between the database (the truth) and a process's in-memory KeyPool.

``pull`` brings other processes' changes in; ``persist`` writes this
process's transitions out. Both run in background loops, never in a request.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
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
class Syncer:
    """Keeps one KeyPool in step with the database; remembers its watermark."""

    pool: KeyPool
    decrypt: Callable[[str], str]
    watermark: Optional[datetime] = None

    def load_all(self, session: Session) -> None:
        """Full load: the key set, every key's fields and every model state."""
        today = pacific_day()
        keys = [rec for row in session.execute(sa.select(*_KEY_COLUMNS))
                if (rec := key_record(row, self.decrypt, today)) is not None]
        states = [model_state(row) for row in session.scalars(sa.select(KeyModelState))]
        self.pool.replace_all(keys, states)
        self.watermark = _max_updated(session)

    def pull(self, session: Session) -> int:
        """Apply rows changed since the watermark; drop keys deleted elsewhere."""
        if self.watermark is None:
            self.load_all(session)
            return len(self.pool.key_ids())
        since = self.watermark - OVERLAP
        today = pacific_day()
        changed = 0
        for row in session.execute(sa.select(*_KEY_COLUMNS).where(ApiKey.updated_at >= since)):
            rec = key_record(row, self.decrypt, today)
            if rec is not None:
                self.pool.upsert_key(rec)
                changed += 1
        for row in session.scalars(sa.select(KeyModelState).where(KeyModelState.updated_at >= since)):
            self.pool.merge_model_state(model_state(row))
            changed += 1
        # Counters (least_used) change without bumping updated_at: refresh them too.
        for key_id, count in session.execute(
                sa.select(ApiKey.id, ApiKey.requests_today).where(ApiKey.requests_today_date == today)):
            self.pool.note_requests_today(key_id, count)
        live = set(session.scalars(sa.select(ApiKey.id)))
        for key_id in self.pool.key_ids() - live:
            self.pool.remove_key(key_id)
            changed += 1
        self.watermark = max(self.watermark, _max_updated(session) or self.watermark)
        return changed


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
