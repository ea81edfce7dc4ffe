"""A Responses-API response kept so that a client can continue from it.

``previous_response_id`` names one of these: the row holds the conversation so far (the
input items of the whole chain and this response's output, thought signatures included,
as JSON text) and the Response object ``GET /v1/responses/{id}`` returns. Rows belong to
the client token that created them and are deleted after ``responses_ttl_hours``.
"""
from __future__ import annotations

from datetime import datetime
from typing import Optional

import sqlalchemy as sa
import sqlalchemy.orm as so

from balancer.extensions import db
from balancer.models.types import LongText, UTCDateTime, utcnow


class StoredResponse(db.Model):
    """One stored response (``resp_...``)."""

    __tablename__ = "stored_responses"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    #: the id the client sees, ``resp_`` + hex.
    response_id: so.Mapped[str] = so.mapped_column(sa.String(64), unique=True)
    #: the managed client token that created it (None: a token from the environment or
    #: open access); not a foreign key, as for files.
    client_id: so.Mapped[Optional[int]] = so.mapped_column()
    #: who may read, chain and delete it: ``ClientInfo.owner`` of the creating client.
    client_tag: so.Mapped[str] = so.mapped_column(sa.String(32), index=True)
    model: so.Mapped[str] = so.mapped_column(sa.String(255))
    #: JSON: the items of the conversation up to and including this response's output.
    items: so.Mapped[str] = so.mapped_column(LongText)
    #: JSON: the Response object as the client received it.
    response: so.Mapped[str] = so.mapped_column(LongText)
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow, index=True)
