"""Bounded queries behind the dashboard: usage buckets, the recent request log, key states.

Every query is limited by time on an indexed column (``usage_buckets.minute``,
``request_logs.created_at``) and, where rows are returned, by a LIMIT: the
dashboard polls these every few seconds and must cost the same on a busy day.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Optional

import sqlalchemy as sa

from balancer.extensions import db
from balancer.keypool.days import pacific_day_bounds
from balancer.keypool.records import KeyStatus
from balancer.models import ApiKey, KeyModelState, Pool, RequestLog, UsageBucket, UsageHistogram
from balancer.models.rollup import BINS, LATENCY_BINS
from balancer.models.types import from_epoch, utcnow
from balancer.runtime import Runtime
from balancer.services.statistics.histogram import add, quantile
from balancer.telemetry.record import CLIENT_GONE, SUCCESS

LATEST_ERRORS = 10
ATTENTION = 10
CHART_MINUTES = 60
#: outcome classes that are not errors of the service.
_NOT_ERRORS = (SUCCESS, CLIENT_GONE)


def key_states(rt: Runtime) -> dict[str, int]:
    """Keys by state across pools, from this process's key pool (live, no query)."""
    totals = dict(total=0, active=0, cooling_down=0, ejected=0, disabled=0, switched_off=0)
    for row in rt.keypool.stats().values():
        for name in totals:
            totals[name] += row.get(name, 0)
    return totals


def traffic(since: datetime) -> dict[str, Any]:
    """Requests, errors (by class), error rate and tokens since a time, from usage buckets."""
    by_class: dict[str, int] = {}
    tokens_in = tokens_out = latency_sum = 0
    for status_class, count, tin, tout, lat in db.session.execute(
            sa.select(UsageBucket.status_class, sa.func.sum(UsageBucket.count),
                      sa.func.sum(UsageBucket.tokens_in), sa.func.sum(UsageBucket.tokens_out),
                      sa.func.sum(UsageBucket.latency_ms_sum))
            .where(UsageBucket.minute >= since).group_by(UsageBucket.status_class)):
        by_class[status_class] = int(count or 0)
        tokens_in += int(tin or 0)
        tokens_out += int(tout or 0)
        latency_sum += int(lat or 0)
    requests = sum(by_class.values())
    errors = sum(n for cls, n in by_class.items() if cls not in _NOT_ERRORS)
    return {"requests": requests, "errors": errors,
            "error_rate": round(errors / requests, 4) if requests else 0.0,
            "by_class": by_class, "tokens_in": tokens_in, "tokens_out": tokens_out,
            "latency_avg_ms": round(latency_sum / requests) if requests else None}


def latency(since: datetime) -> dict[str, Optional[int]]:
    """p50 and p95 latency since a time, from the per-minute latency histograms."""
    bins = [0] * BINS
    hist = UsageHistogram.__table__
    add(bins, db.session.execute(sa.select(*[sa.func.sum(hist.c[n]) for n in LATENCY_BINS])
                                 .where(hist.c.minute >= since.replace(second=0, microsecond=0))).one())
    return {"p50_ms": quantile(bins, 0.50), "p95_ms": quantile(bins, 0.95), "sample": sum(bins)}


def percentile(ordered: list[int], q: float) -> Optional[int]:
    """Nearest-rank percentile of an ascending list; None when empty."""
    if not ordered:
        return None
    rank = max(1, min(len(ordered), int(-(-q * len(ordered) // 1))))
    return int(ordered[rank - 1])


def per_minute(now: datetime, minutes: int = CHART_MINUTES) -> dict[str, list]:
    """Requests per minute, successes and errors apart, for the last ``minutes`` minutes."""
    start = (now - timedelta(minutes=minutes - 1)).replace(second=0, microsecond=0)
    ok: dict[datetime, int] = {}
    failed: dict[datetime, int] = {}
    for minute, status_class, count in db.session.execute(
            sa.select(UsageBucket.minute, UsageBucket.status_class, sa.func.sum(UsageBucket.count))
            .where(UsageBucket.minute >= start)
            .group_by(UsageBucket.minute, UsageBucket.status_class)):
        target = ok if status_class in _NOT_ERRORS else failed
        target[minute] = target.get(minute, 0) + int(count or 0)
    labels, success, errors = [], [], []
    for i in range(minutes):
        minute = start + timedelta(minutes=i)
        labels.append(minute.strftime("%H:%M"))
        success.append(ok.get(minute, 0))
        errors.append(failed.get(minute, 0))
    return {"labels": labels, "success": success, "errors": errors}


def latest_errors(since: datetime, limit: int = LATEST_ERRORS) -> list[dict[str, Any]]:
    """The most recent failed requests, with their (already sanitised) messages."""
    rows = db.session.execute(
        sa.select(RequestLog.created_at, RequestLog.model, RequestLog.status,
                  RequestLog.error_class, RequestLog.error_message, RequestLog.key_id,
                  RequestLog.client_name, RequestLog.attempts)
        .where(RequestLog.created_at >= since, RequestLog.status >= 400,
               RequestLog.error_class.is_not(None), RequestLog.error_class != CLIENT_GONE)
        .order_by(RequestLog.created_at.desc()).limit(limit))
    return [{"at": _iso(r.created_at), "model": r.model, "status": r.status,
             "error_class": r.error_class, "message": (r.error_message or "")[:300],
             "key_id": r.key_id, "client": r.client_name, "attempts": r.attempts} for r in rows]


def needs_attention(now: datetime, limit: int = ATTENTION) -> list[dict[str, Any]]:
    """Keys an operator should look at: dead ones first, then failing or long-cooling ones."""
    out: list[dict[str, Any]] = []
    for row in db.session.execute(
            sa.select(ApiKey.id, ApiKey.display, ApiKey.label, ApiKey.disabled_reason,
                      ApiKey.last_error, Pool.name)
            .join(Pool, Pool.id == ApiKey.pool_id)
            .where(ApiKey.enabled.is_(True), ApiKey.status == KeyStatus.DISABLED.value)
            .order_by(ApiKey.updated_at.desc()).limit(limit)):
        out.append({"id": row.id, "key": row.display, "label": row.label, "pool": row.name,
                    "problem": "dead", "detail": row.disabled_reason or row.last_error or ""})
    if len(out) < limit:
        seen = {item["id"] for item in out}
        for st, display, label, pool in db.session.execute(
                sa.select(KeyModelState, ApiKey.display, ApiKey.label, Pool.name)
                .join(ApiKey, ApiKey.id == KeyModelState.key_id)
                .join(Pool, Pool.id == ApiKey.pool_id)
                .where(ApiKey.enabled.is_(True), ApiKey.status != KeyStatus.DISABLED.value,
                       sa.or_(KeyModelState.consecutive_failures > 0,
                              KeyModelState.cooldown_until > now + timedelta(minutes=10)))
                .order_by(KeyModelState.updated_at.desc()).limit(limit * 3)):
            if st.key_id in seen:
                continue
            seen.add(st.key_id)
            cooling = st.cooldown_until is not None and st.cooldown_until > now
            problem = ("ejected" if st.reason == "ejected" else "cooling down") if cooling \
                else "failing"
            detail = f"{st.model}: {st.reason or 'failures'}"
            if cooling:
                detail += f" until {_iso(st.cooldown_until)}"
            if st.consecutive_failures:
                detail += f", {st.consecutive_failures} failures in a row"
            out.append({"id": st.key_id, "key": display, "label": label, "pool": pool,
                        "problem": problem, "detail": detail})
            if len(out) >= limit:
                break
    return out


def summary(rt: Runtime, now: Optional[datetime] = None) -> dict[str, Any]:
    """Everything the dashboard shows."""
    now = now or utcnow()
    hour, day = now - timedelta(hours=1), now - timedelta(days=1)
    day_start = from_epoch(pacific_day_bounds(now.timestamp())[0])
    today = traffic(day_start)
    return {
        "at": _iso(now),
        "keys": key_states(rt),
        "hour": traffic(hour),
        "day": traffic(day),
        #: "today" is the US Pacific day, as Gemini's daily quotas count it.
        "tokens_today": today["tokens_in"] + today["tokens_out"],
        "latency": latency(hour),
        "per_minute": per_minute(now),
        "latest_errors": latest_errors(day),
        "attention": needs_attention(now),
        "buffered_records": len(rt.records),
    }


def _iso(value: Optional[datetime]) -> Optional[str]:
    return value.isoformat().replace("+00:00", "Z") if value else None
