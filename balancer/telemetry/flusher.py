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
from balancer.models.fit import fit_text, limit_of, shortest
from balancer.text import clean
from balancer.models.rollup import (LATENCY_BINS, OUTCOME_COLUMNS, SUMS, TTFB_BINS, bin_of)
from balancer.models.types import from_epoch
from balancer.models.upsert import upsert
from balancer.telemetry.record import RequestRecord

log = logging.getLogger(__name__)

_LOG = RequestLog.__table__.c
#: A model name is stored in all of these; cut to the shortest once, every row of
#: one record names it alike (and rows that meet on it are summed as one).
MODEL_LENGTH = shortest((_LOG.model, UsageBucket.__table__.c.model,
                         UsageHistogram.__table__.c.model, UsageHour.__table__.c.subject,
                         UsageDay.__table__.c.subject))


#: The lengths of the log's other text columns, read once (a flush cleans every record).
_ROUTE, _FORMAT, _CLIENT, _ERROR_CLASS, _ERROR = (
    limit_of(c) for c in (_LOG.route, _LOG.api_format, _LOG.client_name, _LOG.error_class,
                          _LOG.error_message))


def clean_record(r: RequestRecord) -> RequestRecord:
    """Make the record's text fit its columns, in place (see ``balancer.models.fit``)."""
    if r.model is not None:
        r.model = clean(r.model, MODEL_LENGTH) or None
    r.route = fit_text(r.route, _ROUTE)
    r.api_format = fit_text(r.api_format, _FORMAT)
    r.client_name = fit_text(r.client_name, _CLIENT)
    r.error_class = fit_text(r.error_class, _ERROR_CLASS)
    r.error_message = fit_text(r.error_message, _ERROR) or None
    return r


def write_records(session: Session, records: list[RequestRecord], log_requests: bool) -> None:
    """Persist one batch: request-log rows, usage buckets, rollups and key counters.

    All are written in the caller's transaction, so a failed flush leaves
    nothing half-counted, the hour and day rollups always agree with the minute
    buckets, and the batch can be retried whole.
    """
    if not records:
        return
    for r in records:
        clean_record(r)
    if log_requests:
        # The table, not the mapped class: a plain executemany, without the ORM's
        # bulk-persistence bookkeeping (most of a flush's cost otherwise).
        session.execute(RequestLog.__table__.insert(), [_log_row(r) for r in records])
    upsert(session, UsageBucket.__table__, _bucket_rows(records),
           conflict=_MINUTE_DIMS + ("status_class",),
           add=("count", "tokens_in", "tokens_out", "latency_ms_sum", "ttfb_ms_sum"))
    upsert(session, UsageHistogram.__table__, _histogram_rows(records),
           conflict=_MINUTE_DIMS, add=LATENCY_BINS + TTFB_BINS)
    for table, start_of in ((UsageHour.__table__, hour_of), (UsageDay.__table__, day_of)):
        upsert(session, table, _rollup_rows(records, start_of),
               conflict=("dimension", "start", "subject"), add=SUMS)
    _add_key_counters(session, records)


def _log_row(r: RequestRecord) -> dict:
    return {
        "created_at": from_epoch(r.at), "client_id": r.client_id, "client_name": r.client_name,
        "pool_id": r.pool_id, "key_id": r.key_id, "model": r.model,
        "api_format": r.api_format, "route": r.route, "stream": r.stream,
        "status": r.status, "attempts": r.attempts, "latency_ms": r.latency_ms,
        "ttfb_ms": r.ttfb_ms, "tokens_in": r.tokens_in, "tokens_out": r.tokens_out,
        "error_class": r.error_class, "error_message": r.error_message,
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
            ("model", r.model or ""), ("client", str(r.client_id or 0)),
            ("api", r.api_format or ""))


def _rollup_rows(records: Iterable[RequestRecord], start_of: Callable[[float], datetime]) -> list[dict]:
    # Records alike in every column a rollup row counts them by are summed first: a
    # flush holds hundreds of records but a few dozen such groups, and each group,
    # not each record, is then added to the six rows it counts in.
    groups: dict[tuple, list] = {}
    for r in records:
        ttfb = None if r.ttfb_ms is None else TTFB_BINS[bin_of(r.ttfb_ms)]
        key = (r.at - r.at % 60, r.pool_id, r.key_id, r.model, r.client_id, r.api_format,
               r.status_class, LATENCY_BINS[bin_of(r.latency_ms)], ttfb)
        sums = groups.get(key)
        if sums is None:
            groups[key] = [1, r.tokens_in, r.tokens_out, r.latency_ms, r.ttfb_ms or 0, r]
        else:
            sums[0] += 1
            sums[1] += r.tokens_in
            sums[2] += r.tokens_out
            sums[3] += r.latency_ms
            sums[4] += r.ttfb_ms or 0
    rows: dict[tuple, dict] = {}
    for (minute, *_, status_class, lat, ttfb), (n, tin, tout, lat_sum, ttfb_sum, r) \
            in groups.items():
        start = start_of(minute)
        for dimension, subject in subjects(r):
            row = rows.get((dimension, start, subject))
            if row is None:
                row = rows[(dimension, start, subject)] = dict.fromkeys(SUMS, 0)
                row.update(dimension=dimension, start=start, subject=subject)
            row["count"] += n
            if status_class in OUTCOME_COLUMNS:
                row[status_class] += n
            row["tokens_in"] += tin
            row["tokens_out"] += tout
            row["latency_ms_sum"] += lat_sum
            row["ttfb_ms_sum"] += ttfb_sum
            row[lat] += n
            if ttfb:
                row[ttfb] += n
    return list(rows.values())


#: The columns a minute histogram row is unique on (a usage bucket adds its outcome class).
_MINUTE_DIMS = ("minute", "pool_id", "key_id", "model", "client_id", "api_format")


def _histogram_rows(records: Iterable[RequestRecord]) -> list[dict]:
    rows: dict[tuple, dict] = {}
    for r in records:
        dims = (minute_of(r.at), r.pool_id or 0, r.key_id or 0, r.model or "",
                r.client_id or 0, r.api_format or "")
        row = rows.get(dims)
        if row is None:
            row = rows[dims] = dict(zip(_MINUTE_DIMS, dims))
            row.update(dict.fromkeys(LATENCY_BINS + TTFB_BINS, 0))
        row[LATENCY_BINS[bin_of(r.latency_ms)]] += 1
        if r.ttfb_ms is not None:
            row[TTFB_BINS[bin_of(r.ttfb_ms)]] += 1
    return list(rows.values())


def _bucket_rows(records: Iterable[RequestRecord]) -> list[dict]:
    buckets: dict[tuple, dict] = {}
    for r in records:
        dims = (minute_of(r.at), r.pool_id or 0, r.key_id or 0, r.model or "",
                r.client_id or 0, r.api_format or "", r.status_class)
        row = buckets.get(dims)
        if row is None:
            row = buckets[dims] = dict(zip(_MINUTE_DIMS + ("status_class",), dims),
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
