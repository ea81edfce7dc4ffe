"""Upstream keys: add, import, export, list, enable, disable, delete."""
from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Iterable, Optional

import sqlalchemy as sa

from balancer import keyshapes
from balancer.crypto import fingerprint, mask
from balancer.extensions import db
from balancer.keypool.health import reason_text
from balancer.keypool.days import pacific_day
from balancer.keypool.records import KeyRecord, KeyStatus
from balancer.keypool.sync import key_record
from balancer.models import ApiKey, KeyEvent, KeyModelState, Pool
from balancer.models.races import lost_race
from balancer.models.types import utcnow
from balancer.runtime import Runtime
from balancer.services import audit
from balancer.services.key_import import Entry, check_export
from balancer.services.pools import ensure_default_pool

#: How many times an add that lost a race with another process is done in all.
RACE_TRIES = 4


@dataclass
class AddResult:
    """What an add or import did, in counts (never the keys)."""

    added: list[int] = field(default_factory=list)
    duplicates: int = 0
    malformed: int = 0
    #: keys of no known shape among those added (taken with a warning).
    unknown: int = 0
    #: the kind of the pool they went to: it decides the warning's words.
    kind: str = keyshapes.GEMINI
    #: words of caution about some keys added (an auth key on an OpenAI-kind pool).
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line for people."""
        line = (f"{len(self.added)} added, {self.duplicates} already present, "
                f"{self.malformed} malformed")
        if self.unknown:
            line += (f", {self.unknown} of an unknown shape "
                     f"({keyshapes.unknown_shape_warning(self.kind)})")
        return "; ".join([line, *self.notes])


def add_keys(rt: Runtime, secrets: Iterable[str], pool: Optional[Pool] = None, *,
             label: Optional[str] = None, group: Optional[str] = None,
             tags: Optional[list] = None, enabled: bool = True) -> AddResult:
    """Store new keys encrypted; keys already in the pool are counted, not re-added.

    Each secret is checked for the pool's kind (``keyshapes.check_key``): what cannot be
    a key is counted as malformed, a key of an unknown shape is added and counted.
    """
    return add_entries(rt, [Entry(secret, label, group, tuple(tags or ()), enabled)
                            for secret in secrets], pool)


def add_entries(rt: Runtime, entries: Iterable[Entry], pool: Optional[Pool] = None, *,
                tries: int = RACE_TRIES) -> AddResult:
    """Store new keys, each with its own label, group, tags and switch, in one transaction.

    When another process adds some of the same keys at the same moment (two workers
    importing GEMINI_API_KEYS on start), the transaction that loses is rolled back and
    the whole add is done again: the keys the other stored then count as present.
    """
    entries = list(entries)
    pool = pool or ensure_default_pool()
    result = AddResult(kind=pool.kind)
    existing = set(db.session.scalars(sa.select(ApiKey.fingerprint).where(ApiKey.pool_id == pool.id)))
    new_rows: list[tuple[ApiKey, keyshapes.CheckedKey, Entry]] = []
    for entry in entries:
        try:
            checked = keyshapes.check_key(entry.key, pool.kind)
        except keyshapes.MalformedKey:
            result.malformed += 1
            continue
        secret = checked.key
        fp = fingerprint(secret)
        if fp in existing:
            result.duplicates += 1
            continue
        existing.add(fp)
        row = ApiKey(pool_id=pool.id, secret_encrypted=rt.box.encrypt(secret), fingerprint=fp,
                     display=mask(secret), label=entry.label, group_name=entry.group,
                     tags=list(entry.tags), enabled=entry.enabled,
                     status=KeyStatus.ACTIVE.value, updated_at=utcnow())
        db.session.add(row)
        new_rows.append((row, checked, entry))
    try:
        db.session.flush()
        for row, _, entry in new_rows:
            db.session.add(KeyEvent(key_id=row.id, event="add", reason=entry.label))
        db.session.commit()
    except sa.exc.DBAPIError as exc:
        db.session.rollback()
        if tries <= 1 or not lost_race(exc):
            raise
        # Waits apart, so that two losers of one race do not meet again.
        time.sleep(random.uniform(0.01, 0.1))
        return add_entries(rt, entries, pool, tries=tries - 1)
    audit.record_keys("key_add", [row.id for row, _, _ in new_rows], f"pool {pool.name}")
    for row, checked, _ in new_rows:
        result.added.append(row.id)
        if not checked.known:
            result.unknown += 1
        elif checked.shape.caution and checked.shape.caution not in result.notes:
            result.notes.append(checked.shape.caution)
        rt.keypool.upsert_key(_record(row, checked.key))
    return result


def _record(row: ApiKey, secret: str) -> KeyRecord:
    """The record the sync loop would build from the row, the secret being known already."""
    rec = key_record(row, lambda _encrypted: secret, pacific_day())
    assert rec is not None  # only a failed decryption gives None
    return rec


def add_found(rt: Runtime, found: keyshapes.FoundKeys, pool: Optional[Pool] = None, *,
              label: Optional[str] = None, group: Optional[str] = None) -> AddResult:
    """Add the keys ``keyshapes`` found; its malformed entries and repeats are counted in.

    A key given twice is one key: its further copies count as already present.
    """
    result = add_keys(rt, found.secrets, pool, label=label, group=group)
    result.malformed += found.malformed
    result.duplicates += found.repeats
    return result


def import_env_keys(rt: Runtime) -> AddResult:
    """GEMINI_API_KEYS into the default pool; a restart re-adds nothing."""
    if not rt.config.GEMINI_API_KEYS:
        return AddResult()
    return add_keys(rt, rt.config.GEMINI_API_KEYS, ensure_default_pool(), label="env")


def import_text(rt: Runtime, text: str, pool: Optional[Pool] = None, *,
                label: Optional[str] = None, group: Optional[str] = None) -> AddResult:
    """Our JSON export, or any text read by the pool kind's rules (``keyshapes.find_keys``).

    ``label`` and ``group`` go to keys found in text, and to exported keys that carry none.

    :raises KeyImportError: an entry of an export file is wrong; nothing is stored then.
    """
    pool = pool or ensure_default_pool()
    try:
        doc = json.loads(text)
    except ValueError:
        doc = None
    if isinstance(doc, dict) and isinstance(doc.get("keys"), list):
        # Checked whole first (KeyImportError names the entry), then written in one
        # transaction: a bad file changes nothing. A masked export ("AIza…9xQ") holds
        # no key: check_key counts its entries as malformed.
        return add_entries(rt, check_export(doc["keys"], label, group), pool)
    return add_found(rt, keyshapes.find_keys(text, pool.kind), pool, label=label, group=group)


def export(rt: Runtime, reveal: bool = False) -> dict:
    """Every key as our JSON export; masked unless ``reveal``."""
    out = []
    for row, pool_name in db.session.execute(
            sa.select(ApiKey, Pool.name).join(Pool).order_by(ApiKey.id)):
        secret = rt.box.decrypt(row.secret_encrypted) if reveal else row.display
        out.append({"id": row.id, "pool": pool_name, "key": secret, "label": row.label,
                    "group": row.group_name, "tags": row.tags or [], "enabled": row.enabled})
    return {"version": 1, "exported_at": _iso(utcnow()), "keys": out}


def _iso(value: Optional[datetime]) -> Optional[str]:
    return value.isoformat().replace("+00:00", "Z") if value else None


def overall_status(row: ApiKey, states: list[KeyModelState], now: datetime) -> str:
    """disabled (dead or switched off), cooling_down (no model usable now), else active."""
    if not row.enabled or row.status == KeyStatus.DISABLED.value:
        return "disabled"
    if states and all(s.cooldown_until and s.cooldown_until > now for s in states):
        return "cooling_down"
    return "active"


def list_keys() -> list[dict]:
    """Every key with its counters and per-model state (for the CLI and the UI)."""
    now = utcnow()
    by_key: dict[int, list[KeyModelState]] = {}
    for st in db.session.scalars(sa.select(KeyModelState).order_by(KeyModelState.model)):
        by_key.setdefault(st.key_id, []).append(st)
    rows = []
    for row, pool_name in db.session.execute(sa.select(ApiKey, Pool.name).join(Pool).order_by(ApiKey.id)):
        states = by_key.get(row.id, [])
        cooling = [s.cooldown_until for s in states if s.cooldown_until and s.cooldown_until > now]
        status = overall_status(row, states, now)
        rows.append({
            "id": row.id, "pool": pool_name, "label": row.label, "group": row.group_name,
            "key": row.display, "enabled": row.enabled, "status": status,
            "disabled_reason": row.disabled_reason or (None if row.enabled else "switched off"),
            "cooldown_until": _iso(max(cooling)) if status == "cooling_down" else None,
            "requests": row.request_count, "failures": row.failure_count,
            "tokens_in": row.tokens_in, "tokens_out": row.tokens_out,
            "last_used": _iso(row.last_used_at), "last_error": row.last_error,
            "models": {s.model: {
                "status": "cooling_down" if s.cooldown_until and s.cooldown_until > now else "active",
                "reason": s.reason, "reason_text": reason_text(s.reason),
                "cooldown_until": _iso(s.cooldown_until) if s.cooldown_until and s.cooldown_until > now else None,
                "consecutive_failures": s.consecutive_failures} for s in states},
        })
    return rows


def get_key(key_id: int) -> ApiKey:
    """A key by id; LookupError when there is none."""
    row = db.session.get(ApiKey, key_id)
    if row is None:
        raise LookupError(f"no key with id {key_id}")
    return row


def set_enabled(rt: Runtime, key_id: int, enabled: bool) -> ApiKey:
    """Switch a key on or off; switching on also clears a health disable."""
    row = get_key(key_id)
    row.enabled = enabled
    if enabled:
        row.status = KeyStatus.ACTIVE.value
        row.disabled_reason = None
        # Cleared rather than deleted, so other processes see newer rows and follow.
        db.session.execute(sa.update(KeyModelState).where(KeyModelState.key_id == key_id).values(
            cooldown_until=None, reason=None, consecutive_failures=0, ejections=0,
            rate_limit_streak=0, updated_at=utcnow()))
    row.updated_at = utcnow()
    db.session.add(KeyEvent(key_id=key_id, event="enable" if enabled else "disable",
                            reason="by operator"))
    db.session.commit()
    audit.record_keys("key_enable" if enabled else "key_disable", [key_id])
    rt.keypool.upsert_key(_record(row, rt.box.decrypt(row.secret_encrypted)))
    if enabled:
        rt.keypool.restore(key_id)
    return row


def delete(rt: Runtime, key_id: int) -> None:
    """Remove a key and its state for good."""
    row = get_key(key_id)
    db.session.execute(sa.delete(KeyModelState).where(KeyModelState.key_id == key_id))
    db.session.delete(row)
    db.session.add(KeyEvent(key_id=key_id, event="delete", reason="by operator"))
    db.session.commit()
    audit.record_keys("key_delete", [key_id])
    rt.keypool.remove_key(key_id)
