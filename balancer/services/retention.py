"""Deleting old request logs, key events, usage counts and audit entries, in bounded batches.

Each batch is a short transaction (ids first, then a delete by id), so a big
backlog never holds a long lock on a table the flusher writes to.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Optional

import sqlalchemy as sa

from balancer.extensions import db
from balancer.models import AuditEvent, KeyEvent, RequestLog, UsageBucket, UsageDay, UsageHistogram, UsageHour
from balancer.models.types import utcnow
from balancer.settings import Settings

BATCH = 5000

#: kind -> (model, its time column, the setting holding its retention in days)
KINDS = {
    "request_logs": (RequestLog, RequestLog.created_at, "request_log_retention_days"),
    "key_events": (KeyEvent, KeyEvent.created_at, "key_event_retention_days"),
    "usage": (UsageBucket, UsageBucket.minute, "usage_retention_days"),
    "audit": (AuditEvent, AuditEvent.created_at, "audit_retention_days"),
}

#: Purged with the "usage" kind: (model, its time column, the setting holding its days).
USAGE_ROLLUPS = ((UsageHistogram, UsageHistogram.minute, "usage_retention_days"),
                 (UsageHour, UsageHour.start, "usage_hour_retention_days"),
                 (UsageDay, UsageDay.start, "usage_day_retention_days"))


@dataclass(frozen=True)
class Purged:
    """Rows deleted per kind."""

    counts: dict

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def purge(settings: Settings, kinds: Optional[list[str]] = None,
          max_batches: int = 100) -> Purged:
    """Delete rows older than each kind's retention; at most ``max_batches`` per kind,
    the rest is left for the next round."""
    counts = {}
    for kind in kinds or list(KINDS):
        model, column, setting = KINDS[kind]
        days = getattr(settings, setting)
        counts[kind] = purge_older(model, column, days, max_batches) if days > 0 else 0
        if kind == "usage":
            # The statistics' histograms and hour/day rollups go with the usage counts,
            # each after its own number of days (hours and days outlive the minutes).
            for model, column, setting in USAGE_ROLLUPS:
                days = getattr(settings, setting)
                counts[kind] += purge_older(model, column, days, max_batches) if days > 0 else 0
    if kinds is None:
        # Stored Responses-API responses live hours, not days: their own setting.
        from balancer.services import stored_responses
        counts["stored_responses"] = stored_responses.purge_expired(
            settings.responses_ttl_hours, max_batches)
    return Purged(counts)


def purge_older(model, column, days: int, max_batches: int = 100) -> int:
    """Delete ``model`` rows whose ``column`` is older than ``days`` days."""
    cutoff = utcnow() - timedelta(days=days)
    removed = 0
    for _ in range(max_batches):
        ids = list(db.session.scalars(sa.select(model.id).where(column < cutoff)
                                      .order_by(model.id).limit(BATCH)))
        if not ids:
            break
        db.session.execute(sa.delete(model).where(model.id.in_(ids)))
        db.session.commit()
        removed += len(ids)
    return removed


def clean_up(kind: str, days: int, max_batches: int = 20) -> tuple[int, bool]:
    """An operator's clean-up: delete ``kind`` rows older than ``days`` days, audited.

    :returns: rows deleted, and whether some are left (the batch bound was reached).
    """
    from balancer.services import audit
    model, column, _ = KINDS[kind]
    removed = purge_older(model, column, days, max_batches)
    more = removed >= max_batches * BATCH
    audit.record("logs_clean_up", kind, f"older than {days} days: {removed} deleted"
                 + (" (more left)" if more else ""))
    return removed, more
