"""Writes buffered request records to the database in batches."""
from __future__ import annotations

import logging
from collections import defaultdict
from datetime import datetime, timezone
from typing import Iterable

import sqlalchemy as sa
from sqlalchemy.orm import Session

from balancer.keypool.days import pacific_day
from balancer.models import ApiKey, RequestLog, UsageBucket
from balancer.models.types import from_epoch
from balancer.models.upsert import upsert
from balancer.telemetry.record import RequestRecord

log = logging.getLogger(__name__)


def write_records(session: Session, records: list[RequestRecord], log_requests: bool) -> None:
    """Persist one batch: request-log rows, usage buckets and key counters.

    All three are written in the caller's transaction, so a failed flush leaves
    nothing half-counted and the batch can be retried whole.
    """
    if not records:
        return
    if log_requests:
        # The table, not the mapped class: a plain executemany, without the ORM's
        # bulk-persistence bookkeeping (most of a flush's cost otherwise).
        session.execute(RequestLog.__table__.insert(), [_log_row(r) for r in records])
    upsert(session, UsageBucket.__table__, _bucket_rows(records),
           conflict=("minute", "pool_id", "key_id", "model", "client_id", "status_class"),
           add=("count", "tokens_in", "tokens_out", "latency_ms_sum", "ttfb_ms_sum"))
    _add_key_counters(session, records)


def _log_row(r: RequestRecord) -> dict:
    return {
        "created_at": from_epoch(r.at), "client_id": r.client_id, "client_name": r.client_name,
        "pool_id": r.pool_id, "key_id": r.key_id, "model": (r.model or "")[:128] or None,
        "api_format": r.api_format, "route": r.route[:64], "stream": r.stream,
        "status": r.status, "attempts": r.attempts, "latency_ms": r.latency_ms,
        "ttfb_ms": r.ttfb_ms, "tokens_in": r.tokens_in, "tokens_out": r.tokens_out,
        "error_class": r.error_class, "error_message": (r.error_message or "")[:1000] or None,
    }


def minute_of(ts: float) -> datetime:
    """The start of the UTC minute holding ``ts``."""
    return datetime.fromtimestamp(ts - ts % 60, timezone.utc)


def _bucket_rows(records: Iterable[RequestRecord]) -> list[dict]:
    buckets: dict[tuple, dict] = {}
    for r in records:
        dims = (minute_of(r.at), r.pool_id or 0, r.key_id or 0, (r.model or "")[:128],
                r.client_id or 0, r.status_class)
        row = buckets.get(dims)
        if row is None:
            row = buckets[dims] = dict(zip(
                ("minute", "pool_id", "key_id", "model", "client_id", "status_class"), dims),
                count=0, tokens_in=0, tokens_out=0, latency_ms_sum=0, ttfb_ms_sum=0)
        row["count"] += 1
        row["tokens_in"] += r.tokens_in
        row["tokens_out"] += r.tokens_out
        row["latency_ms_sum"] += r.latency_ms
        row["ttfb_ms_sum"] += r.ttfb_ms or 0
    return list(buckets.values())


def _add_key_counters(session: Session, records: Iterable[RequestRecord]) -> None:
    totals: dict[int, dict] = defaultdict(lambda: {"n": 0, "fail": 0, "tin": 0, "tout": 0, "last": 0.0})
    for r in records:
        if r.key_id:
            t = totals[r.key_id]
            t["n"] += 1
            t["tin"] += r.tokens_in
            t["tout"] += r.tokens_out
            t["last"] = max(t["last"], r.at)
        for key_id in r.failed_keys:
            totals[key_id]["fail"] += 1
            totals[key_id]["n"] += 1
    if not totals:
        return
    table = ApiKey.__table__
    today = pacific_day(max(t["last"] for t in totals.values()) or None)
    stmt = (
        sa.update(table)
        .where(table.c.id == sa.bindparam("kid"))
        .values(
            request_count=table.c.request_count + sa.bindparam("n"),
            failure_count=table.c.failure_count + sa.bindparam("fail"),
            tokens_in=table.c.tokens_in + sa.bindparam("tin"),
            tokens_out=table.c.tokens_out + sa.bindparam("tout"),
            requests_today=sa.case(
                (table.c.requests_today_date == sa.bindparam("today"),
                 table.c.requests_today + sa.bindparam("n")),
                else_=sa.bindparam("n")),
            requests_today_date=sa.bindparam("today"),
            last_used_at=sa.func.coalesce(sa.bindparam("last", type_=ApiKey.last_used_at.type),
                                          table.c.last_used_at),
        )
    )
    params = [{"kid": kid, "n": t["n"], "fail": t["fail"], "tin": t["tin"], "tout": t["tout"],
               "today": today, "last": from_epoch(t["last"]) if t["last"] else None}
              for kid, t in sorted(totals.items())]
    # Sorted ids: two processes updating the same keys take row locks in one order.
    session.execute(stmt, params, execution_options={"synchronize_session": False})
