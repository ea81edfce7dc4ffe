"""The keys table of the admin UI: one page of keys, searched, filtered and sorted in SQL.

Only the page's rows are read (LIMIT/OFFSET on indexed or small columns), so a
page costs the same with 50 keys or 5,000. The live part of each row (cooldowns
per model, in-flight leases, a disable seconds old) comes from this process's
key pool; the database's rows stand in for a key the pool has not loaded yet.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Optional

import sqlalchemy as sa

from balancer.extensions import db
from balancer.keypool.health import reason_text
from balancer.keypool.days import pacific_day
from balancer.keypool.records import KeyStatus, ModelState
from balancer.keypool.sync import model_state
from balancer.models import ApiKey, KeyModelState, Pool
from balancer.models.types import to_epoch, utcnow
from balancer.runtime import Runtime

PAGE_SIZES = (25, 50, 100, 200)
#: status filter values, as the table's filter offers them.
STATUSES = {"active": "Active", "cooling": "Cooling down", "disabled": "Dead",
            "switched_off": "Switched off"}
#: sort names -> what to order by (requests today counts only today's figure).
SORTS = ("id", "label", "group", "pool", "status", "today", "requests", "failures", "last_used")


@dataclass(frozen=True)
class KeyQuery:
    """What the table shows: search text, filters, order and page."""

    q: str = ""
    status: str = ""
    pool_id: Optional[int] = None
    sort: str = "id"
    desc: bool = False
    page: int = 1
    per_page: int = 50

    @classmethod
    def from_args(cls, args) -> "KeyQuery":
        """Read query-string arguments; anything unknown falls back to its default."""
        status = args.get("status", "")
        sort = args.get("sort", "id")
        try:
            per_page = int(args.get("per_page", 50))
        except ValueError:
            per_page = 50
        try:
            page = max(1, int(args.get("page", 1)))
        except ValueError:
            page = 1
        try:
            pool_id = int(args["pool"]) if args.get("pool") else None
        except ValueError:
            pool_id = None
        return cls(q=(args.get("q") or "").strip()[:200],
                   status=status if status in STATUSES else "",
                   pool_id=pool_id, sort=sort if sort in SORTS else "id",
                   desc=args.get("dir") == "desc", page=page,
                   per_page=per_page if per_page in PAGE_SIZES else 50)

    def args(self, **changes) -> dict:
        """Query-string arguments of this query with some changed (for links)."""
        values = {"q": self.q, "status": self.status, "pool": self.pool_id or "",
                  "sort": self.sort, "dir": "desc" if self.desc else "asc",
                  "page": self.page, "per_page": self.per_page}
        values.update(changes)
        return {k: v for k, v in values.items() if v not in ("", None)}


@dataclass
class ModelRow:
    """One model's health for a key, when it differs from plain active."""

    model: str
    reason: str
    cooling_seconds: float
    consecutive_failures: int
    last_error: str


@dataclass
class KeyRow:
    """One line of the table; ``display`` is the masked key, never the key."""

    id: int
    pool: str
    display: str
    label: Optional[str]
    group: Optional[str]
    tags: list
    enabled: bool
    #: active, cooling_down (some model cooling), disabled (dead) or switched_off.
    status: str
    reason: str
    cooling_seconds: float
    requests_today: int
    requests: int
    failures: int
    consecutive_failures: int
    last_used: Optional[datetime]
    last_error: Optional[str]
    in_flight: int
    rpm_limit: Optional[int]
    rpd_limit: Optional[int]
    models: list[ModelRow] = field(default_factory=list)
    #: seconds until the key is under its own request limits again (0: it is now).
    own_limit_seconds: float = 0.0


@dataclass
class KeyPage:
    """A page of rows and where it sits in the whole result."""

    rows: list[KeyRow]
    total: int
    query: KeyQuery

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.query.per_page))


def _cooling_now(now: datetime):
    return sa.exists().where(KeyModelState.key_id == ApiKey.id,
                             KeyModelState.cooldown_until > now)


def _filtered(query: KeyQuery, now: datetime) -> sa.Select:
    stmt = sa.select(ApiKey.id).join(Pool, Pool.id == ApiKey.pool_id)
    if query.pool_id:
        stmt = stmt.where(ApiKey.pool_id == query.pool_id)
    dead = ApiKey.status == KeyStatus.DISABLED.value
    if query.status == "switched_off":
        stmt = stmt.where(ApiKey.enabled.is_(False))
    elif query.status == "disabled":
        stmt = stmt.where(ApiKey.enabled.is_(True), dead)
    elif query.status == "cooling":
        stmt = stmt.where(ApiKey.enabled.is_(True), ~dead, _cooling_now(now))
    elif query.status == "active":
        stmt = stmt.where(ApiKey.enabled.is_(True), ~dead, ~_cooling_now(now))
    if query.q:
        text = query.q.lstrip("#")
        like = f"%{_escape(query.q.lower())}%"
        matches = [sa.func.lower(col).like(like, escape="!") for col in (
            ApiKey.label, ApiKey.group_name, ApiKey.display, ApiKey.last_error,
            ApiKey.disabled_reason, Pool.name, sa.cast(ApiKey.tags, sa.String))]
        if text.isdigit():
            matches.append(ApiKey.id == int(text))
        stmt = stmt.where(sa.or_(*matches))
    return stmt


def _escape(text: str) -> str:
    # "!" rather than a backslash: MySQL reads backslashes in string literals itself.
    return text.replace("!", "!!").replace("%", "!%").replace("_", "!_")


def _order(query: KeyQuery, today) -> list:
    today_count = sa.case((ApiKey.requests_today_date == today, ApiKey.requests_today), else_=0)
    status_rank = sa.case((ApiKey.enabled.is_(False), 3),
                          (ApiKey.status == KeyStatus.DISABLED.value, 2), else_=0)
    column = {"id": ApiKey.id, "label": ApiKey.label, "group": ApiKey.group_name,
              "pool": Pool.name, "status": status_rank, "today": today_count,
              "requests": ApiKey.request_count, "failures": ApiKey.failure_count,
              "last_used": ApiKey.last_used_at}[query.sort]
    first = column.desc() if query.desc else column.asc()
    return [first, ApiKey.id.desc() if query.desc else ApiKey.id.asc()]


def key_page(rt: Runtime, query: KeyQuery) -> KeyPage:
    """One page of keys as the table shows them."""
    now = utcnow()
    today = pacific_day()
    ids_stmt = _filtered(query, now)
    total = db.session.scalar(sa.select(sa.func.count()).select_from(ids_stmt.subquery()))
    pages = max(1, math.ceil(total / query.per_page))
    if query.page > pages:
        query = dataclasses.replace(query, page=pages)
    page_stmt = (sa.select(ApiKey, Pool.name).join(Pool, Pool.id == ApiKey.pool_id)
                 .where(ApiKey.id.in_(ids_stmt.scalar_subquery()))
                 .order_by(*_order(query, today))
                 .limit(query.per_page).offset((query.page - 1) * query.per_page))
    found = db.session.execute(page_stmt).all()
    ids = [row.id for row, _ in found]
    stored: dict[int, list[ModelState]] = {}
    if ids:
        for st in db.session.scalars(sa.select(KeyModelState).where(KeyModelState.key_id.in_(ids))):
            stored.setdefault(st.key_id, []).append(model_state(st))
    epoch = to_epoch(now) or 0.0
    rows = [_row(rt, row, pool_name, stored.get(row.id, []), epoch, today)
            for row, pool_name in found]
    return KeyPage(rows=rows, total=total, query=query)


def _row(rt: Runtime, row: ApiKey, pool_name: str, stored: list[ModelState], now: float,
         today) -> KeyRow:
    snap = rt.keypool.snapshot(row.id)
    enabled, status, reason, in_flight = row.enabled, row.status, row.disabled_reason or "", 0
    states = stored
    if snap is not None:
        rec, live_states, in_flight = snap
        # The pool's record is at least as new as the row for anything it changes itself.
        if rec.updated_at >= (to_epoch(row.updated_at) or 0.0):
            enabled, status, reason = rec.enabled, rec.status.value, rec.disabled_reason
        by_model = {st.model: st for st in stored}
        for st in live_states:
            if st.model not in by_model or st.updated_at >= by_model[st.model].updated_at:
                by_model[st.model] = st
        states = list(by_model.values())
    models = []
    for st in sorted(states, key=lambda s: s.model):
        cooling = max(0.0, (st.cooldown_until or 0.0) - now)
        if cooling or st.consecutive_failures:
            models.append(ModelRow(st.model, reason_text(st.reason), cooling,
                                   st.consecutive_failures, st.last_error))
    cooling_models = [m for m in models if m.cooling_seconds > 0]
    if not enabled:
        overall = "switched_off"
    elif status == KeyStatus.DISABLED.value:
        overall = "disabled"
    elif cooling_models:
        overall = "cooling_down"
    else:
        overall = "active"
    return KeyRow(
        id=row.id, pool=pool_name, display=row.display, label=row.label, group=row.group_name,
        tags=list(row.tags or []), enabled=enabled, status=overall,
        reason=reason if overall == "disabled" else "",
        cooling_seconds=max((m.cooling_seconds for m in cooling_models), default=0.0),
        requests_today=row.requests_today if row.requests_today_date == today else 0,
        requests=row.request_count, failures=row.failure_count,
        consecutive_failures=max((m.consecutive_failures for m in models), default=0),
        last_used=row.last_used_at, last_error=row.last_error, in_flight=in_flight,
        rpm_limit=row.rpm_limit, rpd_limit=row.rpd_limit, models=models,
        own_limit_seconds=rt.keypool.own_limit_wait(row.id) if row.rpm_limit or row.rpd_limit else 0.0)
