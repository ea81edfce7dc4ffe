"""Queries of the logs pages: filters and keyset pages over the request log, key events
and the audit trail.

Every list is newest first by ``(created_at, id)`` and pages by a cursor, the
last row's ``(created_at, id)``, never by OFFSET: the thousandth page costs what
the first does, one range scan of an index ending in ``(created_at, id)``
(migration 0007 adds one per common filter).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Optional

import sqlalchemy as sa

from balancer.extensions import db
from balancer.models import ApiKey, AuditEvent, KeyEvent, Pool, RequestLog

PAGE_SIZES = (25, 50, 100, 200)
#: a text search without a start time looks at this many of the newest requests:
#: a substring match cannot use an index, so its cost is bounded by rows, not luck.
SEARCH_ROWS = 50_000
_CURSOR_RE = re.compile(r"(\d{1,17})-(\d{1,19})")


class CursorError(ValueError):
    """A page cursor that is not one this page made."""


@dataclass(frozen=True)
class Cursor:
    """A row's place in the order: its time (microseconds since the epoch) and id."""

    micros: int
    id: int

    @property
    def at(self) -> datetime:
        """The row's time, aware UTC."""
        return datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(microseconds=self.micros)

    def encode(self) -> str:
        """"1732270000123456-42": opaque to people, stable in a URL."""
        return f"{self.micros}-{self.id}"

    @classmethod
    def of(cls, row: Any) -> "Cursor":
        """The cursor of a row with ``created_at`` and ``id``."""
        delta = row.created_at - datetime(1970, 1, 1, tzinfo=timezone.utc)
        return cls(delta // timedelta(microseconds=1), row.id)

    @classmethod
    def decode(cls, text: Optional[str]) -> Optional["Cursor"]:
        """Parse a cursor from the query string; None for none.

        :raises CursorError: the text is not a cursor (edited by hand, cut off).
        """
        if not text:
            return None
        found = _CURSOR_RE.fullmatch(text.strip())
        if not found:
            raise CursorError("this page link is damaged: go back to the first page")
        cursor = cls(int(found.group(1)), int(found.group(2)))
        try:
            cursor.at
        except OverflowError:
            raise CursorError("this page link is damaged: go back to the first page") from None
        return cursor


@dataclass
class Page:
    """One page of rows with the cursors to the pages beside it."""

    rows: list
    newer: Optional[str] = None
    older: Optional[str] = None
    #: the search looked only at requests since this time (a bounded search).
    searched_since: Optional[datetime] = None
    keys: dict = field(default_factory=dict)
    pools: dict = field(default_factory=dict)


def keyset(stmt: sa.Select, model, *, before: Optional[Cursor] = None,
           after: Optional[Cursor] = None, per_page: int = 50) -> Page:
    """One page of ``stmt`` (a select of ``model``) newest first.

    ``before``: the page older than that row; ``after``: the page newer than it.
    A newer page that comes back short has reached the top: the first page is
    shown instead, so pages are always full and the newest rows never missed.
    """
    at, rid = model.created_at, model.id
    if after is not None:
        rows = list(db.session.scalars(
            stmt.where(at >= after.at, sa.or_(at > after.at, rid > after.id))
            .order_by(at.asc(), rid.asc()).limit(per_page + 1)))
        if len(rows) > per_page:
            rows = rows[:per_page][::-1]
            return Page(rows, newer=Cursor.of(rows[0]).encode(),
                        older=Cursor.of(rows[-1]).encode())
        before = None
    query = stmt
    if before is not None:
        query = query.where(at <= before.at, sa.or_(at < before.at, rid < before.id))
    rows = list(db.session.scalars(query.order_by(at.desc(), rid.desc()).limit(per_page + 1)))
    more = len(rows) > per_page
    rows = rows[:per_page]
    return Page(rows, newer=Cursor.of(rows[0]).encode() if before is not None and rows else None,
                older=Cursor.of(rows[-1]).encode() if more else None)


# --- the request log ------------------------------------------------------------------


@dataclass(frozen=True)
class LogFilters:
    """What the request log shows; every field optional."""

    since: Optional[datetime] = None
    until: Optional[datetime] = None
    outcome: str = ""
    key_id: Optional[int] = None
    model: str = ""
    client_id: Optional[int] = None
    pool_id: Optional[int] = None
    #: True streams only, False non-streams only, None both.
    stream: Optional[bool] = None
    status: Optional[int] = None
    q: str = ""


def _escape(text: str) -> str:
    # "!" rather than a backslash: MySQL reads backslashes in string literals itself.
    return text.replace("!", "!!").replace("%", "!%").replace("_", "!_")


def search_bound(rows: int = 0) -> Optional[datetime]:
    """The time of the ``rows``-th newest request, or None when there are fewer.

    Ids grow with time closely enough (each flush inserts its batch in order) to
    find it by one primary-key lookup rather than counting.
    """
    rows = rows or SEARCH_ROWS
    newest = db.session.scalar(sa.select(sa.func.max(RequestLog.id)))
    if newest is None or newest <= rows:
        return None
    return db.session.scalar(sa.select(RequestLog.created_at).where(
        RequestLog.id <= newest - rows).order_by(RequestLog.id.desc()).limit(1))


def request_select(f: LogFilters) -> tuple[sa.Select, Optional[datetime]]:
    """The filtered select, and the start a text search was bounded to (if it was)."""
    stmt = sa.select(RequestLog)
    bound = None
    since = f.since
    if f.q and since is None:
        bound = since = search_bound()
    if since is not None:
        stmt = stmt.where(RequestLog.created_at >= since)
    if f.until is not None:
        stmt = stmt.where(RequestLog.created_at < f.until)
    if f.outcome == "success":
        # The flusher stores no class for a plain success or a relayed 4xx.
        stmt = stmt.where(sa.or_(RequestLog.error_class == "success", sa.and_(
            RequestLog.error_class.is_(None), RequestLog.status < 400)))
    elif f.outcome == "client_error":
        stmt = stmt.where(sa.or_(RequestLog.error_class == "client_error", sa.and_(
            RequestLog.error_class.is_(None), RequestLog.status >= 400)))
    elif f.outcome:
        stmt = stmt.where(RequestLog.error_class == f.outcome)
    if f.key_id is not None:
        stmt = stmt.where(RequestLog.key_id == f.key_id)
    if f.model:
        stmt = stmt.where(RequestLog.model == f.model)
    if f.client_id is not None:
        stmt = stmt.where(RequestLog.client_id == f.client_id)
    if f.pool_id is not None:
        stmt = stmt.where(RequestLog.pool_id == f.pool_id)
    if f.stream is not None:
        stmt = stmt.where(RequestLog.stream.is_(f.stream))
    if f.status is not None:
        stmt = stmt.where(RequestLog.status == f.status)
    if f.q:
        like = f"%{_escape(f.q.lower())}%"
        stmt = stmt.where(sa.func.lower(RequestLog.error_message).like(like, escape="!"))
    return stmt, bound


def outcome(row: RequestLog) -> str:
    """The row's outcome class, as the usage buckets count it."""
    if row.error_class:
        return row.error_class
    return "success" if row.status < 400 else "client_error"


def request_page(f: LogFilters, *, before: Optional[Cursor] = None,
                 after: Optional[Cursor] = None, per_page: int = 50) -> Page:
    """A page of the request log with each row's key (masked) and pool name."""
    stmt, bound = request_select(f)
    page = keyset(stmt, RequestLog, before=before, after=after, per_page=per_page)
    page.searched_since = bound
    page.keys = key_displays(r.key_id for r in page.rows)
    page.pools = pool_names()
    return page


def get_request(log_id: int) -> RequestLog:
    """One request-log row; LookupError when there is none."""
    row = db.session.get(RequestLog, log_id)
    if row is None:
        raise LookupError(f"no request with id {log_id}")
    return row


def key_displays(ids) -> dict[int, str]:
    """Key id -> its masked display (never the key), for the ids given."""
    wanted = sorted({i for i in ids if i})
    if not wanted:
        return {}
    return dict(db.session.execute(sa.select(ApiKey.id, ApiKey.display)
                                   .where(ApiKey.id.in_(wanted))).all())


def pool_names() -> dict[int, str]:
    """Pool id -> name (a handful of rows)."""
    return dict(db.session.execute(sa.select(Pool.id, Pool.name)).all())


# --- key events and the audit trail ------------------------------------------------------

#: what the key pool and the services write into key_events.event.
KEY_EVENTS = ("cooldown", "eject", "disable", "restore", "add", "delete", "enable")


def event_page(*, key_id: Optional[int] = None, event: str = "",
               since: Optional[datetime] = None, until: Optional[datetime] = None,
               before: Optional[Cursor] = None, after: Optional[Cursor] = None,
               per_page: int = 50) -> Page:
    """A page of key events, filtered by key, kind and time."""
    stmt = sa.select(KeyEvent)
    if key_id is not None:
        stmt = stmt.where(KeyEvent.key_id == key_id)
    if event:
        stmt = stmt.where(KeyEvent.event == event)
    stmt = _between(stmt, KeyEvent, since, until)
    page = keyset(stmt, KeyEvent, before=before, after=after, per_page=per_page)
    page.keys = key_displays(r.key_id for r in page.rows)
    return page


def audit_page(*, action: str = "", since: Optional[datetime] = None,
               until: Optional[datetime] = None, before: Optional[Cursor] = None,
               after: Optional[Cursor] = None, per_page: int = 50) -> Page:
    """A page of the admin audit trail, filtered by action and time."""
    stmt = sa.select(AuditEvent)
    if action:
        stmt = stmt.where(AuditEvent.action == action)
    stmt = _between(stmt, AuditEvent, since, until)
    return keyset(stmt, AuditEvent, before=before, after=after, per_page=per_page)


def _between(stmt: sa.Select, model, since: Optional[datetime],
             until: Optional[datetime]) -> sa.Select:
    if since is not None:
        stmt = stmt.where(model.created_at >= since)
    if until is not None:
        stmt = stmt.where(model.created_at < until)
    return stmt
