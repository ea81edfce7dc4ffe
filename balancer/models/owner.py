"""Which key created an upstream file or cached content.

Gemini keeps files and cached contents per Google project, so only the key
that created one can use it; and only the client token that created it may
see or use it through Balancer. The row lives as long as the resource does.
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
    #: the managed client token that created it (None: a token from the environment,
    #: open access, or a row from before owners were recorded). Not a foreign key:
    #: a revoked token's files stay closed to everyone rather than lose their owner.
    client_id: so.Mapped[Optional[int]] = so.mapped_column()
    #: who may see and use it: ``crypto.owner_tag`` of the creating token, or
    #: ``anonymous``; None (rows from before owners were recorded): every client.
    client_tag: so.Mapped[Optional[str]] = so.mapped_column(sa.String(32), index=True)
    #: the resource as the upstream last described it (listed by ``GET files``).
    resource: so.Mapped[Optional[dict]] = so.mapped_column(sa.JSON)
    #: when the upstream deletes it (a file's expirationTime, a cache's expireTime).
    expires_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, index=True)
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
