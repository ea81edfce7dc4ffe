"""Upstream API keys and their per-model health."""
from __future__ import annotations

from datetime import date, datetime
from typing import Optional

import sqlalchemy as sa
import sqlalchemy.orm as so

from balancer.extensions import db
from balancer.models.types import UTCDateTime, utcnow


class ApiKey(db.Model):
    """One upstream key, stored encrypted; health and counters beside it."""

    __tablename__ = "api_keys"
    __table_args__ = (sa.UniqueConstraint("pool_id", "fingerprint", name="uq_api_keys_pool_fingerprint"),)

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    pool_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("pools.id", ondelete="CASCADE"), index=True)
    secret_encrypted: so.Mapped[str] = so.mapped_column(sa.Text)
    fingerprint: so.Mapped[str] = so.mapped_column(sa.String(64))
    #: masked form for display, e.g. "AIza…9xQ"; never the key.
    display: so.Mapped[str] = so.mapped_column(sa.String(16))
    label: so.Mapped[Optional[str]] = so.mapped_column(sa.String(128))
    #: Google project (or any quota group): a rate limit cools all siblings.
    group_name: so.Mapped[Optional[str]] = so.mapped_column(sa.String(128))
    tags: so.Mapped[list] = so.mapped_column(sa.JSON, default=list)
    #: the operator's switch.
    enabled: so.Mapped[bool] = so.mapped_column(default=True)
    #: "active" or "disabled" (dead: invalid, suspended, ...).
    status: so.Mapped[str] = so.mapped_column(sa.String(16), default="active")
    disabled_reason: so.Mapped[Optional[str]] = so.mapped_column(sa.String(512))
    last_error: so.Mapped[Optional[str]] = so.mapped_column(sa.String(512))
    last_used_at: so.Mapped[Optional[datetime]] = so.mapped_column(UTCDateTime)
    request_count: so.Mapped[int] = so.mapped_column(sa.BigInteger, default=0)
    failure_count: so.Mapped[int] = so.mapped_column(sa.BigInteger, default=0)
    tokens_in: so.Mapped[int] = so.mapped_column(sa.BigInteger, default=0)
    tokens_out: so.Mapped[int] = so.mapped_column(sa.BigInteger, default=0)
    #: requests on the US Pacific day ``requests_today_date`` (least_used).
    requests_today: so.Mapped[int] = so.mapped_column(default=0)
    requests_today_date: so.Mapped[Optional[date]] = so.mapped_column(sa.Date)
    #: optional per-key limits (requests per minute / per day); None = none.
    rpm_limit: so.Mapped[Optional[int]] = so.mapped_column()
    rpd_limit: so.Mapped[Optional[int]] = so.mapped_column()
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    #: bumped on every state change (not on counters): the sync watermark.
    updated_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow, index=True)

    pool: so.Mapped["Pool"] = so.relationship(back_populates="keys")  # noqa: F821


class KeyModelState(db.Model):
    """Health of one key for one model (Gemini quotas are per model)."""

    __tablename__ = "key_model_states"
    __table_args__ = (sa.UniqueConstraint("key_id", "model", name="uq_key_model_states_key_model"),)

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    key_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("api_keys.id", ondelete="CASCADE"))
    model: so.Mapped[str] = so.mapped_column(sa.String(128))
    cooldown_until: so.Mapped[Optional[datetime]] = so.mapped_column(UTCDateTime)
    reason: so.Mapped[Optional[str]] = so.mapped_column(sa.String(64))
    consecutive_failures: so.Mapped[int] = so.mapped_column(default=0)
    ejections: so.Mapped[int] = so.mapped_column(default=0)
    rate_limit_streak: so.Mapped[int] = so.mapped_column(default=0)
    last_error: so.Mapped[Optional[str]] = so.mapped_column(sa.String(512))
    updated_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow, index=True)
