"""Time series and breakdowns of the statistics page, from buckets and rollups.

Minute windows read the per-minute buckets and histograms (every dimension, so
any filter combines with any breakdown). Hour and day windows read the
marginal rollups (``balancer.models.rollup``): a window's series is one row per
point; a breakdown reads whole days from the day rows and only the edges of
the window from the hour rows. Nothing here reads the request log.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Optional

import sqlalchemy as sa

from balancer.extensions import db
from balancer.models import UsageBucket, UsageDay, UsageHistogram, UsageHour
from balancer.models.rollup import BINS, LATENCY_BINS, OUTCOME_COLUMNS, TTFB_BINS
from balancer.services.statistics import labels
from balancer.services.statistics.histogram import add, quantile
from balancer.services.statistics.ranges import RangeError, Window, ceil, floor, iso
from balancer.telemetry.record import CLIENT_GONE, SUCCESS

#: Outcome classes in the order the charts stack them.
OUTCOMES = OUTCOME_COLUMNS
_NOT_ERRORS = (SUCCESS, CLIENT_GONE)
_ROLLUPS = {"hour": UsageHour.__table__, "day": UsageDay.__table__}
_SUMS = ("count", "tokens_in", "tokens_out", "latency_ms_sum", "ttfb_ms_sum")
#: A filter on one dimension with a breakdown by another needs the minute buckets:
#: allowed over this long at most (they are kept for less time than the rollups).
CROSS_FILTER_SPAN = timedelta(hours=25)
BREAKDOWN_LIMIT = 50
MAX_LIMIT = 1000

_buckets = UsageBucket.__table__
_hist = UsageHistogram.__table__
_MINUTE_COLUMNS = {"pool": "pool_id", "key": "key_id", "model": "model", "client": "client_id",
                   "api": "api_format"}
#: Dimensions whose subject is text (a model name, an API dialect), not an id.
_TEXT = ("model", "api")


def _empty() -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(_SUMS + OUTCOMES, 0)
    row["lat"], row["ttfb"] = [0] * BINS, [0] * BINS
    return row


def _minute_where(table: sa.Table, column: str, w: Window) -> list:
    where = [table.c[column] >= w.start, table.c[column] < w.end]
    if w.filter:
        name, value = w.filter
        target = table.c[_MINUTE_COLUMNS[name]]
        where.append(target == (value if name in _TEXT else int(value)))
    return where


def _add_bucket(row: dict, status_class: str, count, tin, tout, lat, ttfb) -> None:
    row["count"] += int(count or 0)
    if status_class in OUTCOMES:
        row[status_class] += int(count or 0)
    row["tokens_in"] += int(tin or 0)
    row["tokens_out"] += int(tout or 0)
    row["latency_ms_sum"] += int(lat or 0)
    row["ttfb_ms_sum"] += int(ttfb or 0)


def _bucket_sums() -> list:
    c = _buckets.c
    return [c.status_class, sa.func.sum(c.count), sa.func.sum(c.tokens_in),
            sa.func.sum(c.tokens_out), sa.func.sum(c.latency_ms_sum), sa.func.sum(c.ttfb_ms_sum)]


def _bin_sums(table: sa.Table, names=LATENCY_BINS + TTFB_BINS) -> list:
    return [sa.func.sum(table.c[n]) for n in names]


def _per_point(w: Window) -> dict[datetime, dict]:
    """Sums, outcome counts and histograms for every point of the window that has traffic."""
    rows: dict[datetime, dict] = {}
    if w.granularity == "minute":
        for minute, *sums in db.session.execute(
                sa.select(_buckets.c.minute, *_bucket_sums())
                .where(*_minute_where(_buckets, "minute", w))
                .group_by(_buckets.c.minute, _buckets.c.status_class)):
            _add_bucket(rows.setdefault(minute, _empty()), *sums)
        for minute, *bins in db.session.execute(
                sa.select(_hist.c.minute, *_bin_sums(_hist))
                .where(*_minute_where(_hist, "minute", w)).group_by(_hist.c.minute)):
            row = rows.setdefault(minute, _empty())
            add(row["lat"], bins[:BINS])
            add(row["ttfb"], bins[BINS:])
        return rows
    t = _ROLLUPS[w.granularity]
    dimension, subject = w.filter or ("all", "")
    names = _SUMS + OUTCOMES
    for r in db.session.execute(
            sa.select(t.c.start, *[t.c[n] for n in names + LATENCY_BINS + TTFB_BINS])
            .where(t.c.dimension == dimension, t.c.subject == subject,
                   t.c.start >= w.start, t.c.start < w.end)):
        row = rows.setdefault(r[0], _empty())
        for i, n in enumerate(names):
            row[n] += int(r[1 + i] or 0)
        add(row["lat"], r[1 + len(names):1 + len(names) + BINS])
        add(row["ttfb"], r[1 + len(names) + BINS:])
    return rows


def _totals(rows) -> dict[str, Any]:
    total = _empty()
    for row in rows:
        for n in _SUMS + OUTCOMES:
            total[n] += row[n]
        add(total["lat"], row["lat"])
        add(total["ttfb"], row["ttfb"])
    return _summary(total)


def _summary(row: dict) -> dict[str, Any]:
    """What a table row or a total shows, from summed columns and histograms."""
    count = row["count"]
    errors = count - row[SUCCESS] - row[CLIENT_GONE]
    with_ttfb = sum(row["ttfb"])
    return {
        "requests": count, "errors": errors,
        "error_rate": round(errors / count, 4) if count else 0.0,
        "by_outcome": {o: row[o] for o in OUTCOMES},
        "other": count - sum(row[o] for o in OUTCOMES),
        "tokens_in": row["tokens_in"], "tokens_out": row["tokens_out"],
        "latency_ms_sum": row["latency_ms_sum"],
        "latency_avg_ms": round(row["latency_ms_sum"] / count) if count else None,
        "latency_p50_ms": quantile(row["lat"], 0.50),
        "latency_p95_ms": quantile(row["lat"], 0.95),
        "ttfb_avg_ms": round(row["ttfb_ms_sum"] / with_ttfb) if with_ttfb else None,
        "ttfb_p50_ms": quantile(row["ttfb"], 0.50),
        "ttfb_p95_ms": quantile(row["ttfb"], 0.95),
    }


def requests(w: Window) -> dict[str, Any]:
    """Requests per point, one series per outcome class (zeros where there was no traffic)."""
    rows = _per_point(w)
    points = w.points()
    empty = _empty()
    series = {o: [rows.get(p, empty)[o] for p in points] for o in OUTCOMES}
    other = [rows.get(p, empty)["count"] - sum(rows.get(p, empty)[o] for o in OUTCOMES)
             for p in points]
    return {**w.describe(), "labels": [iso(p) for p in points], "series": series,
            "other": other, "totals": _totals(rows.values())}


def tokens(w: Window) -> dict[str, Any]:
    """Tokens in and out per point."""
    rows = _per_point(w)
    points = w.points()
    empty = _empty()
    return {**w.describe(), "labels": [iso(p) for p in points],
            "tokens_in": [rows.get(p, empty)["tokens_in"] for p in points],
            "tokens_out": [rows.get(p, empty)["tokens_out"] for p in points],
            "totals": _totals(rows.values())}


def latency(w: Window) -> dict[str, Any]:
    """Latency and time to first byte per point: p50 and p95 from the histograms, and the mean."""
    rows = _per_point(w)
    points = w.points()
    out: dict[str, list] = {k: [] for k in ("latency_p50_ms", "latency_p95_ms", "latency_avg_ms",
                                            "ttfb_p50_ms", "ttfb_p95_ms")}
    for p in points:
        row = rows.get(p)
        s = _summary(row) if row else {}
        for k in out:
            out[k].append(s.get(k))
    return {**w.describe(), "labels": [iso(p) for p in points], **out,
            "totals": _totals(rows.values())}


# --- breakdowns ------------------------------------------------------------------------

def _pieces(w: Window) -> list[tuple[sa.Table, datetime, datetime]]:
    """The window as day-rollup spans (whole days) and hour-rollup spans (the edges)."""
    if w.granularity == "day":
        return [(_ROLLUPS["day"], w.start, w.end)]
    first, last = ceil(w.start, 86400), floor(w.end, 86400)
    if first >= last:
        return [(_ROLLUPS["hour"], w.start, w.end)]
    out = [(_ROLLUPS["day"], first, last)]
    out += [(_ROLLUPS["hour"], a, b) for a, b in ((w.start, first), (last, w.end)) if a < b]
    return out


def _by_subject_rollups(w: Window, dimension: str) -> dict[str, dict]:
    rows: dict[str, dict] = {}
    names = _SUMS + OUTCOMES
    for t, a, b in _pieces(w):
        where = [t.c.dimension == dimension, t.c.start >= a, t.c.start < b]
        if w.filter:  # the same dimension: _source checked it
            where.append(t.c.subject == w.filter[1])
        for r in db.session.execute(
                sa.select(t.c.subject, *[sa.func.sum(t.c[n]) for n in names],
                          *_bin_sums(t, LATENCY_BINS)).where(*where).group_by(t.c.subject)):
            row = rows.setdefault(r[0], _empty())
            for i, n in enumerate(names):
                row[n] += int(r[1 + i] or 0)
            add(row["lat"], r[1 + len(names):])
    return rows


def _by_subject_minutes(w: Window, dimension: str) -> dict[str, dict]:
    rows: dict[str, dict] = {}
    bcol, hcol = _buckets.c[_MINUTE_COLUMNS[dimension]], _hist.c[_MINUTE_COLUMNS[dimension]]
    for subject, *sums in db.session.execute(
            sa.select(bcol, *_bucket_sums()).where(*_minute_where(_buckets, "minute", w))
            .group_by(bcol, _buckets.c.status_class)):
        _add_bucket(rows.setdefault(str(subject), _empty()), *sums)
    for subject, *bins in db.session.execute(
            sa.select(hcol, *_bin_sums(_hist, LATENCY_BINS))
            .where(*_minute_where(_hist, "minute", w)).group_by(hcol)):
        add(rows.setdefault(str(subject), _empty())["lat"], bins)
    return rows


def breakdown(w: Window, dimension: str, limit: Optional[int] = None) -> dict[str, Any]:
    """Requests, errors, tokens and latency per pool, key, model, client or API over the window.

    The ``limit`` busiest subjects come one per row; the rest are summed in
    ``others``, so the rows and ``others`` always add up to ``total``.

    :raises RangeError: a filter on another dimension over more than a day.
    """
    if dimension not in _MINUTE_COLUMNS:
        raise RangeError(f"breakdown: expected one of {', '.join(_MINUTE_COLUMNS)}")
    limit = BREAKDOWN_LIMIT if limit is None else limit
    if not 1 <= limit <= MAX_LIMIT:
        raise RangeError(f"limit: expected 1 to {MAX_LIMIT}")
    cross = w.filter is not None and w.filter[0] != dimension
    if w.granularity == "minute" or cross:
        if cross and w.end - w.start > CROSS_FILTER_SPAN:
            raise RangeError(f"a {w.filter[0]} filter with a breakdown by {dimension} covers "
                             "24 hours at most: shorten the range or remove the filter")
        rows = _by_subject_minutes(w, dimension)
    else:
        rows = _by_subject_rollups(w, dimension)
    ordered = sorted(rows.items(), key=lambda item: (-item[1]["count"], item[0]))
    shown, rest = ordered[:limit], ordered[limit:]
    names = labels.names(dimension, [subject for subject, _ in shown])
    out = []
    for subject, row in shown:
        item = {"value": subject, **names.get(subject, {"name": subject}), **_summary(row)}
        item.pop("latency_p50_ms"), item.pop("ttfb_p50_ms"), item.pop("ttfb_p95_ms")
        out.append(item)
    return {**w.describe(), "dimension": dimension, "rows": out,
            "others": _totals(row for _, row in rest) if rest else None,
            "others_count": len(rest), "total": _totals(rows.values())}
