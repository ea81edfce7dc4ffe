"""Client tokens: who may call the proxy."""
from __future__ import annotations

from datetime import datetime
from typing import Optional

import sqlalchemy as sa
import sqlalchemy.orm as so

from balancer.extensions import db
from balancer.models.types import UTCDateTime, utcnow


class ClientToken(db.Model):
    """A token clients send as Bearer; stored hashed, shown by its prefix."""

    __tablename__ = "client_tokens"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    name: so.Mapped[str] = so.mapped_column(sa.String(128))
    token_hash: so.Mapped[str] = so.mapped_column(sa.String(64), unique=True)
    prefix: so.Mapped[str] = so.mapped_column(sa.String(16))
    enabled: so.Mapped[bool] = so.mapped_column(default=True)
    rpm_limit: so.Mapped[Optional[int]] = so.mapped_column()
    max_concurrent: so.Mapped[Optional[int]] = so.mapped_column()
    allowed_models: so.Mapped[Optional[list]] = so.mapped_column(sa.JSON)
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    updated_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    last_used_at: so.Mapped[Optional[datetime]] = so.mapped_column(UTCDateTime)
