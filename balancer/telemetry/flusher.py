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
from balancer.models.bulk import insert_many
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
        insert_many(session, RequestLog.__table__, LOG_COLUMNS, [log_values(r) for r in records])
    write_usage(session, records)
    _add_key_counters(session, records)


def write_usage(session: Session, records: Iterable[RequestRecord]) -> None:
    """Add ``records`` to the minute buckets and histograms and the hour and day rollups."""
    groups = group_records(records)
    upsert(session, UsageBucket.__table__, _bucket_rows(groups),
           conflict=_MINUTE_DIMS + ("status_class",),
           add=("count", "tokens_in", "tokens_out", "latency_ms_sum", "ttfb_ms_sum"))
    upsert(session, UsageHistogram.__table__, _histogram_rows(groups),
           conflict=_MINUTE_DIMS, add=LATENCY_BINS + TTFB_BINS)
    for table, start_of in ((UsageHour.__table__, hour_of), (UsageDay.__table__, day_of)):
        upsert(session, table, _rollup_rows(groups, start_of),
               conflict=("dimension", "start", "subject"), add=SUMS)


#: The request log's columns, in the order ``log_values`` gives them.
LOG_COLUMNS = ("created_at", "client_id", "client_name", "pool_id", "key_id", "model",
               "api_format", "route", "stream", "status", "attempts", "latency_ms", "ttfb_ms",
               "tokens_in", "tokens_out", "error_class", "error_message")


def log_values(r: RequestRecord) -> tuple:
    """One record's request-log row, as the values of ``LOG_COLUMNS``."""
    return (from_epoch(r.at), r.client_id, r.client_name, r.pool_id, r.key_id, r.model,
            r.api_format, r.route, r.stream, r.status, r.attempts, r.latency_ms, r.ttfb_ms,
            r.tokens_in, r.tokens_out, r.error_class, r.error_message)


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


#: The columns a minute histogram row is unique on (a usage bucket adds its outcome class).
_MINUTE_DIMS = ("minute", "pool_id", "key_id", "model", "client_id", "api_format")

#: A group's key: the minute's start (epoch seconds), the values of the other
#: ``_MINUTE_DIMS``, the outcome class, the latency bin and the time-to-first-byte bin
#: (None: no first byte); and its sums: [count, tokens in, tokens out, latency, ttfb, a record].
Groups = dict[tuple, list]


def group_records(records: Iterable[RequestRecord]) -> Groups:
    """Records alike in every column a usage row counts them by, summed.

    A flush holds hundreds of records but a few dozen such groups: each usage row is
    built from the groups, so each record is looked at once (this runs in the worker's
    process, beside its requests, and its time is taken from them).
    """
    groups: Groups = {}
    for r in records:
        ttfb = None if r.ttfb_ms is None else TTFB_BINS[bin_of(r.ttfb_ms)]
        key = (r.at - r.at % 60, r.pool_id or 0, r.key_id or 0, r.model or "",
               r.client_id or 0, r.api_format or "", r.status_class,
               LATENCY_BINS[bin_of(r.latency_ms)], ttfb)
        sums = groups.get(key)
        if sums is None:
            groups[key] = [1, r.tokens_in, r.tokens_out, r.latency_ms, r.ttfb_ms or 0, r]
        else:
            sums[0] += 1
            sums[1] += r.tokens_in
            sums[2] += r.tokens_out
            sums[3] += r.latency_ms
            sums[4] += r.ttfb_ms or 0
    return groups


def _rollup_rows(groups: Groups, start_of: Callable[[float], datetime]) -> list[dict]:
    # Each group is added to the six rows it counts in.
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


def _histogram_rows(groups: Groups) -> list[dict]:
    rows: dict[tuple, dict] = {}
    for (minute, *dims, _, lat, ttfb), (n, *_) in groups.items():
        key = (minute, *dims)
        row = rows.get(key)
        if row is None:
            row = rows[key] = dict(zip(_MINUTE_DIMS, (minute_of(minute), *dims)))
            row.update(dict.fromkeys(LATENCY_BINS + TTFB_BINS, 0))
        row[lat] += n
        if ttfb:
            row[ttfb] += n
    return list(rows.values())


def _bucket_rows(groups: Groups) -> list[dict]:
    rows: dict[tuple, dict] = {}
    for (minute, *dims, status_class, _, _), (n, tin, tout, lat_sum, ttfb_sum, _) \
            in groups.items():
        key = (minute, *dims, status_class)
        row = rows.get(key)
        if row is None:
            row = rows[key] = dict(zip(_MINUTE_DIMS + ("status_class",),
                                       (minute_of(minute), *dims, status_class)),
                                   count=0, tokens_in=0, tokens_out=0, latency_ms_sum=0,
                                   ttfb_ms_sum=0)
        row["count"] += n
        row["tokens_in"] += tin
        row["tokens_out"] += tout
        row["latency_ms_sum"] += lat_sum
        row["ttfb_ms_sum"] += ttfb_sum
    return list(rows.values())


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
