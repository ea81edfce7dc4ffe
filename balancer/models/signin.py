"""Admin sign-in state every worker shares: failed sign-ins and the session version."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
import sqlalchemy.orm as so

from balancer.extensions import db
from balancer.models.types import BigId, UTCDateTime, utcnow


class SigninFailure(db.Model):
    """One failed admin sign-in: from where and when (kept only as long as it counts)."""

    __tablename__ = "signin_failures"

    id: so.Mapped[int] = so.mapped_column(BigId, primary_key=True)
    address: so.Mapped[str] = so.mapped_column(sa.String(64), index=True)
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow, index=True)


class AdminSession(db.Model):
    """The one row whose version every admin session must carry; sign-out raises it."""

    __tablename__ = "admin_session"

    id: so.Mapped[int] = so.mapped_column(primary_key=True, autoincrement=False)
    version: so.Mapped[int] = so.mapped_column(default=0)
