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
    #: largest request body this client may send, in KiB (None: MAX_REQUEST_MB only).
    max_request_kb: so.Mapped[Optional[int]] = so.mapped_column()
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    updated_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    last_used_at: so.Mapped[Optional[datetime]] = so.mapped_column(UTCDateTime)


class ClientUsage(db.Model):
    """One process's recent use per client, so that every process can enforce a
    client's limits over the whole deployment (see ``proxy/limits.py``)."""

    __tablename__ = "client_usage"
    __table_args__ = (sa.UniqueConstraint("process", "client_id",
                                          name="uq_client_usage_process_client"),)

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    #: host, pid and a random part: one row set per running process.
    process: so.Mapped[str] = so.mapped_column(sa.String(96))
    client_id: so.Mapped[int] = so.mapped_column()
    #: requests this process admitted for the client in the last 60 seconds.
    recent: so.Mapped[int] = so.mapped_column(default=0)
    in_flight: so.Mapped[int] = so.mapped_column(default=0)
    updated_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow, index=True)


class KeyUsage(db.Model):
    """One process's leases per key in the last minute, so that a key's own
    per-minute limit holds over every process (see ``keypool/limits.py``)."""

    __tablename__ = "key_usage"
    __table_args__ = (sa.UniqueConstraint("process", "key_id", name="uq_key_usage_process_key"),)

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    #: the same process name as in ``client_usage``.
    process: so.Mapped[str] = so.mapped_column(sa.String(96))
    key_id: so.Mapped[int] = so.mapped_column()
    recent: so.Mapped[int] = so.mapped_column(default=0)
    updated_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow, index=True)
