"""Request log, key events and per-minute usage buckets."""
from __future__ import annotations

from datetime import datetime
from typing import Optional

import sqlalchemy as sa
import sqlalchemy.orm as so

from balancer.extensions import db
from balancer.models.types import BigId, UTCDateTime, utcnow


class RequestLog(db.Model):
    """One row per client request, written in batches by the flusher."""

    __tablename__ = "request_logs"
    # The logs pages list rows newest first by (created_at, id), filtered by one
    # of these columns: an index per common filter, ending in that order, makes
    # a page of a million-row table one short index range scan whatever the
    # filter (and the first one serves the time range and retention alone).
    __table_args__ = (
        sa.Index("ix_request_logs_created_at_id", "created_at", "id"),
        sa.Index("ix_request_logs_key_created_at", "key_id", "created_at", "id"),
        sa.Index("ix_request_logs_class_created_at", "error_class", "created_at", "id"),
        sa.Index("ix_request_logs_client_created_at", "client_id", "created_at", "id"),
        sa.Index("ix_request_logs_model_created_at", "model", "created_at", "id"),
    )

    id: so.Mapped[int] = so.mapped_column(BigId, primary_key=True)
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime)
    client_id: so.Mapped[Optional[int]] = so.mapped_column()
    client_name: so.Mapped[Optional[str]] = so.mapped_column(sa.String(128))
    pool_id: so.Mapped[Optional[int]] = so.mapped_column()
    key_id: so.Mapped[Optional[int]] = so.mapped_column()
    model: so.Mapped[Optional[str]] = so.mapped_column(sa.String(128))
    api_format: so.Mapped[str] = so.mapped_column(sa.String(16))
    route: so.Mapped[str] = so.mapped_column(sa.String(64))
    stream: so.Mapped[bool] = so.mapped_column(default=False)
    status: so.Mapped[int] = so.mapped_column()
    attempts: so.Mapped[int] = so.mapped_column(default=0)
    latency_ms: so.Mapped[int] = so.mapped_column(default=0)
    ttfb_ms: so.Mapped[Optional[int]] = so.mapped_column()
    tokens_in: so.Mapped[int] = so.mapped_column(default=0)
    tokens_out: so.Mapped[int] = so.mapped_column(default=0)
    #: success, client_error, rate_limited, upstream_error, no_key, ...
    error_class: so.Mapped[Optional[str]] = so.mapped_column(sa.String(32))
    #: upstream or Balancer message, secrets removed.
    error_message: so.Mapped[Optional[str]] = so.mapped_column(sa.String(1000))


class KeyEvent(db.Model):
    """A key's status transition (cooldown, eject, disable, restore, add, delete)."""

    __tablename__ = "key_events"
    __table_args__ = (sa.Index("ix_key_events_event_created_at", "event", "created_at", "id"),)

    id: so.Mapped[int] = so.mapped_column(BigId, primary_key=True)
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow, index=True)
    key_id: so.Mapped[Optional[int]] = so.mapped_column(index=True)
    model: so.Mapped[Optional[str]] = so.mapped_column(sa.String(128))
    event: so.Mapped[str] = so.mapped_column(sa.String(32))
    reason: so.Mapped[Optional[str]] = so.mapped_column(sa.String(512))
    until: so.Mapped[Optional[datetime]] = so.mapped_column(UTCDateTime)


class UsageBucket(db.Model):
    """Counts per minute, key, model, client, API dialect and outcome class: charts read these."""

    __tablename__ = "usage_buckets"
    __table_args__ = (
        sa.UniqueConstraint("minute", "pool_id", "key_id", "model", "client_id", "api_format",
                            "status_class", name="uq_usage_buckets_dims"),
    )

    id: so.Mapped[int] = so.mapped_column(BigId, primary_key=True)
    minute: so.Mapped[datetime] = so.mapped_column(UTCDateTime, index=True)
    #: 0 stands for "none" so that the unique constraint holds (NULLs never collide).
    pool_id: so.Mapped[int] = so.mapped_column(default=0)
    key_id: so.Mapped[int] = so.mapped_column(default=0)
    model: so.Mapped[str] = so.mapped_column(sa.String(128), default="")
    client_id: so.Mapped[int] = so.mapped_column(default=0)
    #: The client's API dialect, as ``RequestLog.api_format``; "" for minutes counted
    #: before buckets kept it.
    api_format: so.Mapped[str] = so.mapped_column(sa.String(16), default="")
    status_class: so.Mapped[str] = so.mapped_column(sa.String(16))
    count: so.Mapped[int] = so.mapped_column(default=0)
    tokens_in: so.Mapped[int] = so.mapped_column(sa.BigInteger, default=0)
    tokens_out: so.Mapped[int] = so.mapped_column(sa.BigInteger, default=0)
    latency_ms_sum: so.Mapped[int] = so.mapped_column(sa.BigInteger, default=0)
    ttfb_ms_sum: so.Mapped[int] = so.mapped_column(sa.BigInteger, default=0)
