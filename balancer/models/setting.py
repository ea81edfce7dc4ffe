"""Runtime settings as stored rows (typed and validated in balancer.settings)."""
from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
import sqlalchemy.orm as so

from balancer.extensions import db
from balancer.models.types import UTCDateTime, utcnow


class Setting(db.Model):
    """One runtime setting: name -> JSON value."""

    __tablename__ = "settings"

    name: so.Mapped[str] = so.mapped_column(sa.String(64), primary_key=True)
    value: so.Mapped[Any] = so.mapped_column(sa.JSON)
    updated_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
