"""Writes buffered request records to the database in batches."""
from __future__ import annotations

import logging
from collections import defaultdict
from datetime import datetime, timezone
from typing import Callable, Iterable

import sqlalchemy as sa
from sqlalchemy.orm import Session

from balancer.keypool.days import pacific_day
from balancer.models import ApiKey, RequestLog, UsageBucket, UsageDay, UsageHistogram, UsageHour
from balancer.models.rollup import (LATENCY_BINS, OUTCOME_COLUMNS, SUMS, TTFB_BINS, bin_of)
from balancer.models.types import from_epoch
from balancer.models.upsert import upsert
from balancer.telemetry.record import RequestRecord

log = logging.getLogger(__name__)


def write_records(session: Session, records: list[RequestRecord], log_requests: bool) -> None:
    """Persist one batch: request-log rows, usage buckets, rollups and key counters.

    All are written in the caller's transaction, so a failed flush leaves
    nothing half-counted, the hour and day rollups always agree with the minute
    buckets, and the batch can be retried whole.
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
    upsert(session, UsageHistogram.__table__, _histogram_rows(records),
           conflict=("minute", "pool_id", "key_id", "model", "client_id"),
           add=LATENCY_BINS + TTFB_BINS)
    for table, start_of in ((UsageHour.__table__, hour_of), (UsageDay.__table__, day_of)):
        upsert(session, table, _rollup_rows(records, start_of),
               conflict=("dimension", "start", "subject"), add=SUMS)
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


def hour_of(ts: float) -> datetime:
    """The start of the UTC hour holding ``ts``."""
    return datetime.fromtimestamp(ts - ts % 3600, timezone.utc)


def day_of(ts: float) -> datetime:
    """The start of the UTC day holding ``ts``."""
    return datetime.fromtimestamp(ts - ts % 86400, timezone.utc)


def subjects(r: RequestRecord) -> tuple[tuple[str, str], ...]:
    """The (dimension, subject) rows one record counts in: all traffic and each of its own.

    A request without a key, pool, model or client token counts under "0" (or
    "" for the model), so every breakdown adds up to the whole traffic.
    """
    return (("all", ""), ("pool", str(r.pool_id or 0)), ("key", str(r.key_id or 0)),
            ("model", (r.model or "")[:128]), ("client", str(r.client_id or 0)))


def _rollup_rows(records: Iterable[RequestRecord], start_of: Callable[[float], datetime]) -> list[dict]:
    rows: dict[tuple, dict] = {}
    for r in records:
        start = start_of(r.at)
        status_class = r.status_class
        lat, ttfb = LATENCY_BINS[bin_of(r.latency_ms)], None
        if r.ttfb_ms is not None:
            ttfb = TTFB_BINS[bin_of(r.ttfb_ms)]
        for dimension, subject in subjects(r):
            row = rows.get((dimension, start, subject))
            if row is None:
                row = rows[(dimension, start, subject)] = dict.fromkeys(SUMS, 0)
                row.update(dimension=dimension, start=start, subject=subject)
            row["count"] += 1
            if status_class in OUTCOME_COLUMNS:
                row[status_class] += 1
            row["tokens_in"] += r.tokens_in
            row["tokens_out"] += r.tokens_out
            row["latency_ms_sum"] += r.latency_ms
            row["ttfb_ms_sum"] += r.ttfb_ms or 0
            row[lat] += 1
            if ttfb:
                row[ttfb] += 1
    return list(rows.values())


def _histogram_rows(records: Iterable[RequestRecord]) -> list[dict]:
    rows: dict[tuple, dict] = {}
    for r in records:
        dims = (minute_of(r.at), r.pool_id or 0, r.key_id or 0, (r.model or "")[:128],
                r.client_id or 0)
        row = rows.get(dims)
        if row is None:
            row = rows[dims] = dict(zip(("minute", "pool_id", "key_id", "model", "client_id"), dims))
            row.update(dict.fromkeys(LATENCY_BINS + TTFB_BINS, 0))
        row[LATENCY_BINS[bin_of(r.latency_ms)]] += 1
        if r.ttfb_ms is not None:
            row[TTFB_BINS[bin_of(r.ttfb_ms)]] += 1
    return list(rows.values())


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
            t = totals[key_id]
            t["fail"] += 1
            t["n"] += 1
            # A failed attempt is a use too: "last used" must not say never for a dead key.
            t["last"] = max(t["last"], r.at)
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
            last_used_at=_later(sa.bindparam("last", type_=ApiKey.last_used_at.type),
                                table.c.last_used_at),
        )
    )
    params = [{"kid": kid, "n": t["n"], "fail": t["fail"], "tin": t["tin"], "tout": t["tout"],
               "today": today, "last": from_epoch(t["last"]) if t["last"] else None}
              for kid, t in sorted(totals.items())]
    # Sorted ids: two processes updating the same keys take row locks in one order.
    session.execute(stmt, params, execution_options={"synchronize_session": False})


def _later(new: sa.ColumnElement, old: sa.ColumnElement) -> sa.ColumnElement:
    """The later of two nullable times. Another process's flush can carry older uses than
    one already written; GREATEST is not SQLite's, and CASE is every database's."""
    return sa.case((old.is_(None), new), (new > old, new), else_=old)
