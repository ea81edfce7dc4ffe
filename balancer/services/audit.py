"""The admin audit trail: one function records an action where it happens.

Who acted is read from where the code runs: a web request is the admin (with
the client's address), a ``flask`` command is the CLI, anything else (start-up,
background) is the system. Services call ``record`` after their own commit, so
an action that failed is never audited as done, and the audit row is its own
short transaction.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Optional

import click
import sqlalchemy as sa
from flask import has_request_context, request

from balancer.extensions import db
from balancer.models import AuditEvent
from balancer.models.types import utcnow

log = logging.getLogger(__name__)

#: every action the trail knows, for the page's filter.
ACTIONS = (
    "sign_in", "sign_in_failed", "sign_out",
    "setting_change",
    "key_add", "key_delete", "key_enable", "key_disable", "key_edit", "key_reset", "key_test",
    "keys_export",
    "pool_create", "pool_edit", "pool_delete",
    "token_create", "token_rename", "token_enable", "token_disable", "token_revoke",
    "token_limits",
    "logs_clean_up",
)
#: settings whose values are never written down (only that they changed).
_SECRET_WORDS = ("secret", "password", "token", "api_key", "proxy_url", "proxies")


@dataclass(frozen=True)
class Actor:
    """Who acted and from which address."""

    name: str
    address: Optional[str] = None


def current_actor() -> Actor:
    """The admin (web request), the CLI (a flask command) or the system."""
    if has_request_context():
        return Actor("admin", (request.remote_addr or "")[:64] or None)
    if click.get_current_context(silent=True) is not None:
        return Actor("cli")
    return Actor("system")


def record(action: str, target: Optional[str] = None, detail: Optional[str] = None) -> None:
    """Write one audit row in its own transaction.

    A failure to audit is logged and does not undo the action, which is
    already committed by then.
    """
    actor = current_actor()
    try:
        db.session.add(AuditEvent(created_at=utcnow(), actor=actor.name, address=actor.address,
                                  action=action[:32], target=(target or "")[:255] or None,
                                  detail=(detail or "")[:1000] or None))
        db.session.commit()
    except sa.exc.SQLAlchemyError as exc:
        db.session.rollback()
        log.warning("audit entry %s on %s not written: %s", action, target, type(exc).__name__)


def keys_exported(doc: Mapping[str, Any]) -> None:
    """An export with the keys themselves: who took a copy of every secret, and when."""
    count = len(doc.get("keys", ()))
    record("keys_export", f"{count} key{'' if count == 1 else 's'}", "with the keys themselves")


def keys_target(ids: Iterable[int]) -> str:
    """"key 7" or "keys 7, 8, 9" (shortened for long selections)."""
    ids = list(ids)
    if len(ids) == 1:
        return f"key {ids[0]}"
    shown = ", ".join(str(i) for i in ids[:20])
    return f"keys {shown}" + (f" and {len(ids) - 20} more" if len(ids) > 20 else "")


def record_keys(action: str, ids: Iterable[int], detail: Optional[str] = None) -> None:
    """Record an action on some keys; nothing when there were none."""
    ids = list(ids)
    if ids:
        record(action, keys_target(ids), detail)


def _secret(name: str) -> bool:
    return any(word in name.lower() for word in _SECRET_WORDS)


def setting_changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> None:
    """One entry per setting whose value changed: old → new (a secret only as "changed")."""
    for name, new in after.items():
        old = before.get(name)
        if old == new:
            continue
        detail = "changed" if _secret(name) else f"{old!r} → {new!r}"
        record("setting_change", name, detail)


def changes_detail(changes: Mapping[str, Any]) -> str:
    """"label='x', rpm_limit=5": what an edit set; secret-looking fields by name only."""
    return ", ".join(name if _secret(name) else f"{name}={value!r}"
                     for name, value in changes.items())
