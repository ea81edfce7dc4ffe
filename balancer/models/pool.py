"""Pools: a set of upstream keys of one provider."""
from __future__ import annotations

from datetime import datetime
from typing import Optional

import sqlalchemy as sa
import sqlalchemy.orm as so

from balancer.extensions import db
from balancer.models.types import UTCDateTime, utcnow


class Pool(db.Model):
    """A provider endpoint and its keys; ``kind`` is ``gemini`` or ``openai``."""

    __tablename__ = "pools"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    name: so.Mapped[str] = so.mapped_column(sa.String(64), unique=True)
    kind: so.Mapped[str] = so.mapped_column(sa.String(16), default="gemini")
    #: None for the default Gemini pool: it follows GEMINI_BASE_URL.
    base_url: so.Mapped[Optional[str]] = so.mapped_column(sa.String(512))
    #: None: PROXY_URL from the environment applies.
    proxy_url: so.Mapped[Optional[str]] = so.mapped_column(sa.String(512))
    #: several outgoing proxies; each key is pinned to one (upstream/proxies.py).
    #: Empty or None: ``proxy_url`` (or PROXY_URL) for every key.
    proxies: so.Mapped[Optional[list]] = so.mapped_column(sa.JSON, default=list)
    enabled: so.Mapped[bool] = so.mapped_column(default=True)
    is_default: so.Mapped[bool] = so.mapped_column(default=False)
    #: runtime-setting overrides for this pool (name -> value).
    overrides: so.Mapped[dict] = so.mapped_column(sa.JSON, default=dict)
    #: alias -> upstream model name; None (rows older than 0002) reads as {}.
    aliases: so.Mapped[Optional[dict]] = so.mapped_column(sa.JSON, default=dict)
    #: the upstream's model ids without ``models/``; None reads as [].
    models: so.Mapped[Optional[list]] = so.mapped_column(sa.JSON, default=list)
    #: when ``models`` was last fetched from the upstream; None = never.
    models_refreshed_at: so.Mapped[Optional[datetime]] = so.mapped_column(UTCDateTime)
    #: options added to requests that do not set them (services/request_defaults.py):
    #: safety settings, thinking budgets per model, extra upstream headers.
    request_defaults: so.Mapped[Optional[dict]] = so.mapped_column(sa.JSON, default=dict)
    #: where generated images are uploaded (proxy/image_links.py): ``{"kind", "base_url",
    #: "token"}``, the token encrypted like the keys; None: images stay inline.
    image_host: so.Mapped[Optional[dict]] = so.mapped_column(sa.JSON)
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    updated_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    keys: so.WriteOnlyMapped["ApiKey"] = so.relationship(  # noqa: F821
        back_populates="pool", passive_deletes=True)
