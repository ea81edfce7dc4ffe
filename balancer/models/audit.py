"""The admin audit trail."""
from __future__ import annotations

from datetime import datetime
from typing import Optional

import sqlalchemy as sa
import sqlalchemy.orm as so

from balancer.extensions import db
from balancer.models.types import BigId, UTCDateTime, utcnow


class AuditEvent(db.Model):
    """One admin action: who (admin, cli, system), from where, what, on what."""

    __tablename__ = "audit_events"
    __table_args__ = (
        sa.Index("ix_audit_events_action_created_at", "action", "created_at", "id"),
    )

    id: so.Mapped[int] = so.mapped_column(BigId, primary_key=True)
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow, index=True)
    #: "admin" (a web request), "cli" (a flask command) or "system" (start-up, background).
    actor: so.Mapped[str] = so.mapped_column(sa.String(16))
    #: the client address of a web request.
    address: so.Mapped[Optional[str]] = so.mapped_column(sa.String(64))
    #: sign_in, sign_in_failed, key_add, setting_change, logs_clean_up, ...
    action: so.Mapped[str] = so.mapped_column(sa.String(32))
    #: what it acted on: "key 17", "pool default", "max_retries".
    target: so.Mapped[Optional[str]] = so.mapped_column(sa.String(255))
    #: details for people; never a secret.
    detail: so.Mapped[Optional[str]] = so.mapped_column(sa.String(1000))

