"""Responses-API responses kept for ``previous_response_id`` and ``GET /v1/responses/{id}``.

A row is written when a stored response is complete, before its last bytes reach the
client, because the client's very next request (its ``previous_response_id``) may reach
another worker or instance. It is read by id, only for the client token that created it
(another client is told the response does not exist), and counts as gone once it is older
than ``responses_ttl_hours`` (the retention job then deletes it). Each function takes the
session to work in: the proxy runs them in the database thread
(``background.Services.in_database``), off the worker's loop.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Optional

import orjson
import sqlalchemy as sa
from sqlalchemy.orm import Session

from balancer.extensions import db
from balancer.models import StoredResponse
from balancer.models.types import utcnow
from balancer.runtime import ClientInfo

PURGE_BATCH = 1000


@dataclass(frozen=True)
class Stored:
    """A stored response as a continuation needs it."""

    response_id: str
    model: str
    #: the conversation's items up to and including the response's output.
    items: list
    #: the Response object.
    response: dict


def save(session: Session, response_id: str, client: ClientInfo, model: str, items: list,
         response: dict) -> None:
    """Keep ``response`` (and the conversation ``items`` it ends) for ``client``."""
    session.add(StoredResponse(response_id=response_id, client_id=client.id,
                               client_tag=client.owner, model=model[:255],
                               items=orjson.dumps(items).decode(),
                               response=orjson.dumps(response).decode()))
    session.commit()


def _live(response_id: str, client: ClientInfo, ttl_hours: float) -> Any:
    return sa.and_(StoredResponse.response_id == response_id,
                   StoredResponse.client_tag == client.owner,
                   StoredResponse.created_at > utcnow() - timedelta(hours=ttl_hours))


def load(session: Session, response_id: str, client: ClientInfo,
         ttl_hours: float) -> Optional[Stored]:
    """The stored response ``client`` may continue from (None: unknown, another client's,
    expired or deleted)."""
    row = session.execute(
        sa.select(StoredResponse.model, StoredResponse.items, StoredResponse.response)
        .where(_live(response_id, client, ttl_hours))).first()
    if row is None:
        return None
    return Stored(response_id, row.model, orjson.loads(row.items), orjson.loads(row.response))


def delete(session: Session, response_id: str, client: ClientInfo, ttl_hours: float) -> bool:
    """Delete ``client``'s stored response; whether there was one."""
    gone = session.execute(sa.delete(StoredResponse)
                           .where(_live(response_id, client, ttl_hours))).rowcount
    session.commit()
    return bool(gone)


def purge_expired(ttl_hours: float, max_batches: int = 100) -> int:
    """Delete responses older than ``ttl_hours``, in bounded batches."""
    cutoff = utcnow() - timedelta(hours=ttl_hours)
    removed = 0
    for _ in range(max_batches):
        ids = list(db.session.scalars(sa.select(StoredResponse.id)
                                      .where(StoredResponse.created_at <= cutoff)
                                      .order_by(StoredResponse.id).limit(PURGE_BATCH)))
        if not ids:
            break
        db.session.execute(sa.delete(StoredResponse).where(StoredResponse.id.in_(ids)))
        db.session.commit()
        removed += len(ids)
    return removed
