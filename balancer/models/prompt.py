"""Saved prompts of the admin playground."""
from __future__ import annotations

from datetime import datetime
from typing import Optional

import sqlalchemy as sa
import sqlalchemy.orm as so

from balancer.extensions import db
from balancer.models.types import UTCDateTime, utcnow


class SavedPrompt(db.Model):
    """The playground's form under a name, to try again later.

    Pool and model are kept by name, not by foreign key: a prompt outlives a
    deleted pool, and the page says so when it is loaded.
    """

    __tablename__ = "saved_prompts"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    name: so.Mapped[str] = so.mapped_column(sa.String(128), unique=True)
    pool: so.Mapped[str] = so.mapped_column(sa.String(64))
    model: so.Mapped[str] = so.mapped_column(sa.String(256))
    system: so.Mapped[Optional[str]] = so.mapped_column(sa.Text)
    message: so.Mapped[str] = so.mapped_column(sa.Text)
    temperature: so.Mapped[float] = so.mapped_column(sa.Float, default=1.0)
    max_tokens: so.Mapped[int] = so.mapped_column(default=1024)
    stream: so.Mapped[bool] = so.mapped_column(default=True)
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    updated_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
