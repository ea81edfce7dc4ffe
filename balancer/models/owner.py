"""Which key created an upstream file or cached content.

Gemini keeps files and cached contents per Google project, so only the key
that created one can use it. The row lives as long as the resource does.
"""
from __future__ import annotations

from datetime import datetime
from typing import Optional

import sqlalchemy as sa
import sqlalchemy.orm as so

from balancer.extensions import db
from balancer.models.types import UTCDateTime, utcnow


class ResourceOwner(db.Model):
    """``files/abc`` or ``cachedContents/xyz`` -> the key that created it."""

    __tablename__ = "resource_owners"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    #: the upstream's resource name, e.g. ``files/abc123``.
    name: so.Mapped[str] = so.mapped_column(sa.String(255), unique=True)
    key_id: so.Mapped[int] = so.mapped_column(
        sa.ForeignKey("api_keys.id", ondelete="CASCADE"), index=True)
    #: the resource as the upstream last described it (listed by ``GET files``).
    resource: so.Mapped[Optional[dict]] = so.mapped_column(sa.JSON)
    #: when the upstream deletes it (a file's expirationTime, a cache's expireTime).
    expires_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, index=True)
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
