"""Sharing each process's recent use, for limits that hold over every process.

Client tokens' limits (``proxy/limits.py``) and keys' own per-minute limits
(``keypool/limits.py``) are counted by each process in memory; the sync loop
calls ``exchange_clients`` / ``exchange_keys``, which write this process's
counts (one row per client or key it used lately) and read the other
processes' fresh rows.
"""
from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from balancer.extensions import db
from balancer.models import ClientUsage, KeyUsage
from balancer.models.types import utcnow
from balancer.models.upsert import upsert

#: Rows older than this come from a process that stopped (or cannot write): ignored.
FRESH = timedelta(seconds=15)
#: ... and deleted once this old.
STALE = timedelta(minutes=10)


def exchange_clients(limiter) -> None:
    """Publish this process's counts per client token; learn everyone else's."""
    limiter.learn(_share(ClientUsage, "client_id", limiter.process, limiter.snapshot(),
                         ("recent", "in_flight")))


def exchange_keys(keypool, process: str) -> None:
    """Publish this process's leases per limited key; learn everyone else's."""
    mine = {key_id: (recent,) for key_id, recent in keypool.key_usage().items()}
    others = _share(KeyUsage, "key_id", process, mine, ("recent",))
    keypool.learn_key_usage({key_id: counts[0] for key_id, counts in others.items()})


def _share(model, id_name: str, process: str, mine: dict[int, tuple[int, ...]],
           fields: tuple[str, ...]) -> dict[int, tuple[int, ...]]:
    """Write ``mine`` as this process's rows of ``model``; the other processes' sums by id."""
    now = utcnow()
    ident = getattr(model, id_name)
    rows = [{"process": process, id_name: ident_value, **dict(zip(fields, counts)),
             "updated_at": now} for ident_value, counts in mine.items()]
    upsert(db.session, model.__table__, rows, conflict=("process", id_name),
           replace=(*fields, "updated_at"))
    # Something this process no longer uses must not keep counting from an old row.
    stale_mine = sa.delete(model).where(model.process == process)
    if mine:
        stale_mine = stale_mine.where(ident.not_in(list(mine)))
    db.session.execute(stale_mine)
    db.session.execute(sa.delete(model).where(model.updated_at < now - STALE))
    db.session.commit()
    others: dict[int, tuple[int, ...]] = {}
    for ident_value, *counts in db.session.execute(
            sa.select(ident, *(getattr(model, f) for f in fields))
            .where(model.process != process, model.updated_at >= now - FRESH)):
        total = others.get(ident_value, (0,) * len(fields))
        others[ident_value] = tuple(a + b for a, b in zip(total, counts))
    return others
