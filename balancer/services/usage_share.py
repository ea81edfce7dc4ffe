"""Sharing each process's recent use, for limits that hold over every process.

Client tokens' limits (``proxy/limits.py``) and keys' own per-minute limits
(``keypool/limits.py``) are counted by each process in memory; the sync loop
calls ``share_clients`` / ``share_keys`` with this process's counts, which
write them (one row per client or key it used lately) and return the sums of
the other processes' fresh rows.
"""
from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from balancer.models import ClientUsage, KeyUsage
from balancer.models.types import utcnow
from balancer.models.upsert import upsert

#: Rows older than this come from a process that stopped (or cannot write): ignored.
FRESH = timedelta(seconds=15)
#: ... and deleted once this old.
STALE = timedelta(minutes=10)


def share_clients(session: Session, process: str,
                  mine: dict[int, tuple[int, int]]) -> dict[int, tuple[int, ...]]:
    """Write this process's (recent, in flight) per client; the other processes' sums."""
    return _share(session, ClientUsage, "client_id", process, mine, ("recent", "in_flight"))


def share_keys(session: Session, process: str, mine: dict[int, int]) -> dict[int, int]:
    """Write this process's recent leases per key; the other processes' sums."""
    others = _share(session, KeyUsage, "key_id", process,
                    {key_id: (recent,) for key_id, recent in mine.items()}, ("recent",))
    return {key_id: counts[0] for key_id, counts in others.items()}


def _share(session: Session, model, id_name: str, process: str, mine: dict[int, tuple[int, ...]],
           fields: tuple[str, ...]) -> dict[int, tuple[int, ...]]:
    """Write ``mine`` as this process's rows of ``model``; the other processes' sums by id."""
    now = utcnow()
    ident = getattr(model, id_name)
    rows = [{"process": process, id_name: ident_value, **dict(zip(fields, counts)),
             "updated_at": now} for ident_value, counts in mine.items()]
    upsert(session, model.__table__, rows, conflict=("process", id_name),
           replace=(*fields, "updated_at"))
    # Something this process no longer uses must not keep counting from an old row.
    stale_mine = sa.delete(model).where(model.process == process)
    if mine:
        stale_mine = stale_mine.where(ident.not_in(list(mine)))
    session.execute(stale_mine)
    session.execute(sa.delete(model).where(model.updated_at < now - STALE))
    session.commit()
    others: dict[int, tuple[int, ...]] = {}
    for ident_value, *counts in session.execute(
            sa.select(ident, *(getattr(model, f) for f in fields))
            .where(model.process != process, model.updated_at >= now - FRESH)):
        total = others.get(ident_value, (0,) * len(fields))
        others[ident_value] = tuple(a + b for a, b in zip(total, counts))
    return others
