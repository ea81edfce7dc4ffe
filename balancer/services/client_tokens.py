"""Client tokens: create (shown once, stored hashed), rename, enable, disable, revoke, usage.

Each change reloads this process's catalog at once; other processes reload
theirs in the sync loop. A token itself is never stored, only its SHA-256
(``crypto.token_hash``) and a short prefix to recognise it by.
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Optional

import sqlalchemy as sa

from balancer.crypto import token_hash
from balancer.extensions import db
from balancer.models import ClientToken, UsageBucket
from balancer.models.types import utcnow
from balancer.runtime import Runtime
from balancer.services import audit
from balancer.services.pools import load_catalog
from balancer.text import clean
from balancer.telemetry.record import CLIENT_ERROR, SUCCESS

TOKEN_PREFIX = "bal-"
#: characters of a token kept to recognise it by (prefix + 8 random ones).
SHOWN = len(TOKEN_PREFIX) + 8
#: how far back "last used" looks in the usage buckets (bounded by the minute index).
LAST_USED_WINDOW = timedelta(days=30)


class TokenError(ValueError):
    """A token change was refused; the message says why."""


@dataclass
class TokenUsage:
    """What one client did in the last 24 hours."""

    requests: int = 0
    errors: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    last_used: Optional[datetime] = None


def check_name(name: Optional[str]) -> str:
    """A name people recognise the client by: 1 to 128 characters."""
    name = (name or "").strip()
    if not name or len(name) > 128:
        raise TokenError("a name of 1 to 128 characters")
    if clean(name) != name:
        # Requests are logged under this name: it must be storable on every database.
        raise TokenError("a name without NUL characters or lone surrogates")
    return name


def create_token(rt: Runtime, name: str) -> tuple[ClientToken, str]:
    """A new token; returns the row and the token, which is never readable again."""
    plain = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ClientToken(name=check_name(name), token_hash=token_hash(plain), prefix=plain[:SHOWN],
                      enabled=True)
    db.session.add(row)
    db.session.commit()
    audit.record("token_create", f"token {row.id}", row.name)
    load_catalog(rt)
    return row, plain


def adopt_token(rt: Runtime, name: str, plain: str) -> Optional[ClientToken]:
    """Store a token a client already holds (moved from another gateway), so that it
    keeps working unchanged; None when a token with that value exists already.

    Only a few of its first characters are kept to recognise it by, fewer for a
    short token, so that the stored prefix never gives it away.
    """
    plain = plain.strip()
    if not plain or len(plain) > 512 or any(c.isspace() for c in plain) or clean(plain) != plain:
        raise TokenError("a token of 1 to 512 characters without spaces")
    digest = token_hash(plain)
    if db.session.scalar(sa.select(ClientToken.id).where(ClientToken.token_hash == digest)):
        return None
    row = ClientToken(name=check_name(name), token_hash=digest,
                      prefix=plain[:min(SHOWN, len(plain) // 4)], enabled=True)
    db.session.add(row)
    db.session.commit()
    audit.record("token_create", f"token {row.id}", f"{row.name} (brought in)")
    load_catalog(rt)
    return row


def get_token(token_id: int) -> ClientToken:
    """A token by id; LookupError when there is none."""
    row = db.session.get(ClientToken, token_id)
    if row is None:
        raise LookupError(f"no client token with id {token_id}")
    return row


def rename(rt: Runtime, token_id: int, name: str) -> ClientToken:
    """Give a token another name (requests are logged under it from now on)."""
    row = get_token(token_id)
    row.name = check_name(name)
    db.session.commit()
    audit.record("token_rename", f"token {token_id}", f"to {row.name!r}")
    load_catalog(rt)
    return row


def set_enabled(rt: Runtime, token_id: int, enabled: bool) -> ClientToken:
    """Switch a token on or off; off, its requests get 401 within the sync interval."""
    row = get_token(token_id)
    row.enabled = enabled
    db.session.commit()
    audit.record("token_enable" if enabled else "token_disable", f"token {token_id}", row.name)
    load_catalog(rt)
    return row


def revoke(rt: Runtime, token_id: int) -> None:
    """Delete a token for good."""
    db.session.delete(get_token(token_id))
    db.session.commit()
    audit.record("token_revoke", f"token {token_id}")
    load_catalog(rt)


def is_last_token(rt: Runtime, token_id: int) -> bool:
    """True when switching this token off would leave no token at all.

    With no token the proxy serves only callers on its own machine (or every
    caller with OPEN_ACCESS=true): the UI and the CLI say so before and after.
    """
    others = [c for digest, c in rt.catalog.clients.items() if c.id != token_id]
    return not others


def without_tokens(rt: Runtime) -> str:
    """What the proxy does while no client token exists, in one sentence."""
    if rt.config.OPEN_ACCESS:
        return "the proxy accepts every caller (OPEN_ACCESS=true)"
    return ("the proxy serves only callers on this machine (loopback); every other caller "
            "gets 401 until a token exists (or OPEN_ACCESS=true)")


def list_tokens() -> list[ClientToken]:
    """Every stored token, newest first."""
    return list(db.session.scalars(sa.select(ClientToken).order_by(ClientToken.id.desc())))


def usage_by_client(now: Optional[datetime] = None) -> dict[int, TokenUsage]:
    """Client id -> requests, errors and tokens in the last 24 h, and last use (30 days).

    Read from the per-minute usage buckets, bounded by time on their indexed
    minute; client id 0 stands for tokens from the environment and open access.
    """
    now = now or utcnow()
    day = now - timedelta(days=1)
    out: dict[int, TokenUsage] = {}
    ok = UsageBucket.status_class.in_((SUCCESS, CLIENT_ERROR))
    for client_id, requests, errors, tin, tout in db.session.execute(
            sa.select(UsageBucket.client_id, sa.func.sum(UsageBucket.count),
                      sa.func.sum(sa.case((ok, 0), else_=UsageBucket.count)),
                      sa.func.sum(UsageBucket.tokens_in), sa.func.sum(UsageBucket.tokens_out))
            .where(UsageBucket.minute >= day).group_by(UsageBucket.client_id)):
        out[client_id] = TokenUsage(int(requests or 0), int(errors or 0), int(tin or 0), int(tout or 0))
    for client_id, last in db.session.execute(
            sa.select(UsageBucket.client_id, sa.func.max(UsageBucket.minute))
            .where(UsageBucket.minute >= now - LAST_USED_WINDOW).group_by(UsageBucket.client_id)):
        out.setdefault(client_id, TokenUsage()).last_used = _aware(last)
    return out


def _aware(value) -> Optional[datetime]:
    # max() over a UTCDateTime column comes back as the driver's naive UTC value
    # (a string on SQLite), not through the column type.
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)


def set_limits(rt: Runtime, token_id: int, *, rpm: Optional[int] = None,
               concurrent: Optional[int] = None, models: Optional[list[str]] = None,
               max_request_kb: Optional[int] = None) -> ClientToken:
    """Replace a token's limits; None or 0 (or an empty list) lifts that limit.

    Enforced by every process (``proxy/limits.py``) from its next catalog load.
    """
    for what, value, high in (("requests per minute", rpm, 1_000_000),
                              ("requests at once", concurrent, 100_000),
                              ("request size in KiB", max_request_kb, 1_048_576)):
        if value is not None and not (isinstance(value, int) and 0 <= value <= high):
            raise TokenError(f"{what}: a whole number from 0 (no limit) to {high}")
    patterns = [m.strip() for m in models or [] if m.strip()]
    for pattern in patterns:
        if len(pattern) > 200 or any(c.isspace() for c in pattern):
            raise TokenError(f"model pattern {pattern[:40]!r}: a model name, * and ? allowed")
    row = get_token(token_id)
    row.rpm_limit, row.max_concurrent = rpm or None, concurrent or None
    row.allowed_models, row.max_request_kb = patterns or None, max_request_kb or None
    db.session.commit()
    audit.record("token_limits", f"token {token_id}", f"rpm={rpm} concurrent={concurrent} models={patterns} max_request_kb={max_request_kb}")
    load_catalog(rt)
    return row
