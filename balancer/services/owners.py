"""Which key and which client own each upstream file and cached content.

A file uploaded through key A lives in key A's Google project: a later call
that names it must be served by key A, whatever the rotation would pick (key
affinity). And it belongs to the client token that uploaded it: another
client may not list, read, use, extend or delete it, and is told it does not
exist. The mapping is a database row (every worker and instance sees it) that
expires with the resource, and a small in-memory cache in front of it.

This is the one place the proxy reads and writes the database on a request:
a row is written when a file or cache is created, because the very next
call may reach another worker; rows are read on a cache miss, only by calls
that name a file or cache, all of a request's names in one statement.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Collection, Optional

import sqlalchemy as sa

from balancer.extensions import db
from balancer.models import ResourceOwner
from balancer.models.types import utcnow
from balancer.runtime import ClientInfo

#: How long a name nobody owns is remembered as such (saves a query per call).
UNKNOWN_TTL = 30.0
#: When the upstream gives no expiry: files live 48 hours, caches default to 1 hour.
DEFAULT_LIFETIME = {"files": timedelta(hours=48), "cachedContents": timedelta(hours=1)}
CACHE_SIZE = 10_000
PURGE_BATCH = 1000


@dataclass(frozen=True)
class Owner:
    """The key a resource lives with, and the client it belongs to."""

    key_id: int
    #: ``ClientInfo.owner`` of the client that created it; None for a row recorded
    #: before Balancer kept owners, which stays open to every client, as it was.
    client: Optional[str]

    def open_to(self, client: ClientInfo) -> bool:
        """Whether ``client`` may see and use the resource."""
        return self.client is None or self.client == client.owner


def visible_to(client: ClientInfo) -> sa.ColumnElement[bool]:
    """The rows ``client`` may see (``Owner.open_to`` as SQL)."""
    return sa.or_(ResourceOwner.client_tag.is_(None), ResourceOwner.client_tag == client.owner)


class OwnerIndex:
    """Resource name -> its owner, cached per process."""

    def __init__(self, clock=time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        #: name -> (owner or None, epoch until which this answer holds)
        self._cache: dict[str, tuple[Optional[Owner], float]] = {}

    def owner(self, name: str) -> Optional[Owner]:
        """The owner of ``name``, or None when Balancer did not create it."""
        return self.owners([name])[name]

    def owners(self, names: Collection[str]) -> dict[str, Optional[Owner]]:
        """The owner of each name (None: not created through Balancer, or expired);
        the names not cached are read in one statement."""
        now = self._clock()
        found: dict[str, Optional[Owner]] = {}
        missing = []
        with self._lock:
            for name in names:
                hit = self._cache.get(name)
                if hit is not None and hit[1] > now:
                    found[name] = hit[0]
                else:
                    missing.append(name)
        if not missing:
            return found
        rows = db.session.execute(
            sa.select(ResourceOwner.name, ResourceOwner.key_id, ResourceOwner.client_tag,
                      ResourceOwner.expires_at)
            .where(ResourceOwner.name.in_(missing), ResourceOwner.expires_at > utcnow())
        ).all()
        db.session.remove()
        for row in rows:
            found[row.name] = Owner(row.key_id, row.client_tag)
            self._remember(row.name, found[row.name], _epoch(row.expires_at))
        for name in missing:
            if name not in found:
                found[name] = None
                self._remember(name, None, now + UNKNOWN_TTL)
        return found

    def record(self, name: str, key_id: int, resource: dict, client: ClientInfo) -> None:
        """Note that ``client`` created ``name`` (described by ``resource``) with ``key_id``."""
        expires = expiry_of(name, resource)
        row = db.session.scalar(sa.select(ResourceOwner).where(ResourceOwner.name == name))
        if row is None:
            db.session.add(ResourceOwner(name=name, key_id=key_id, resource=resource,
                                         expires_at=expires, client_id=client.id,
                                         client_tag=client.owner))
        else:
            row.key_id, row.resource, row.expires_at = key_id, resource, expires
            row.client_id, row.client_tag = client.id, client.owner
        db.session.commit()
        db.session.remove()
        self._remember(name, Owner(key_id, client.owner), _epoch(expires))

    def update(self, name: str, resource: dict) -> None:
        """The upstream described ``name`` anew (its state, a new expiry)."""
        db.session.execute(sa.update(ResourceOwner).where(ResourceOwner.name == name)
                           .values(resource=resource, expires_at=expiry_of(name, resource)))
        db.session.commit()
        db.session.remove()
        with self._lock:
            self._cache.pop(name, None)

    def forget(self, name: str) -> None:
        """``name`` was deleted upstream."""
        db.session.execute(sa.delete(ResourceOwner).where(ResourceOwner.name == name))
        db.session.commit()
        db.session.remove()
        self._remember(name, None, self._clock() + UNKNOWN_TTL)

    def _remember(self, name: str, owner: Optional[Owner], until: float) -> None:
        with self._lock:
            if len(self._cache) >= CACHE_SIZE:
                self._cache.clear()  # rare; every entry can be read again
            self._cache[name] = (owner, until)


def listed(kind: str, client: ClientInfo, page_size: int,
           after: Optional[int]) -> tuple[list[dict], Optional[int]]:
    """One page of the live ``files`` or ``cachedContents`` ``client`` may see, newest
    first, and the id to continue after (None on the last page)."""
    query = (sa.select(ResourceOwner.id, ResourceOwner.resource)
             .where(ResourceOwner.name.startswith(f"{kind}/"), ResourceOwner.expires_at > utcnow(),
                    visible_to(client))
             .order_by(ResourceOwner.id.desc()).limit(page_size + 1))
    if after is not None:
        query = query.where(ResourceOwner.id < after)
    rows = db.session.execute(query).all()
    db.session.remove()
    more = len(rows) > page_size
    rows = rows[:page_size]
    return [r.resource or {} for r in rows], (rows[-1].id if more else None)


def purge_expired() -> int:
    """Delete rows of resources the upstream has deleted by now, in bounded batches."""
    removed = 0
    while True:
        ids = list(db.session.scalars(sa.select(ResourceOwner.id)
                                      .where(ResourceOwner.expires_at <= utcnow())
                                      .limit(PURGE_BATCH)))
        if not ids:
            return removed
        db.session.execute(sa.delete(ResourceOwner).where(ResourceOwner.id.in_(ids)))
        db.session.commit()
        removed += len(ids)


def expiry_of(name: str, resource: Any) -> datetime:
    """When the upstream deletes ``name``: its ``expirationTime`` / ``expireTime``."""
    value = None
    if isinstance(resource, dict):
        value = resource.get("expirationTime") or resource.get("expireTime")
    parsed = _parse_time(value) if isinstance(value, str) else None
    if parsed is not None:
        return parsed
    return utcnow() + DEFAULT_LIFETIME.get(name.split("/", 1)[0], timedelta(hours=48))


def _parse_time(value: str) -> Optional[datetime]:
    """An RFC 3339 time (Google's may carry nanoseconds) in UTC."""
    text = value.strip().replace("Z", "+00:00")
    head, dot, rest = text.partition(".")
    if dot:
        digits = "".join(c for c in rest if c.isdigit())
        text = f"{head}.{digits[:6]}{rest[len(digits):]}"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc)


def _epoch(moment: datetime) -> float:
    if moment.tzinfo is None:  # read back from a database that keeps naive UTC
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()
