"""Sharing each process's use per client, for limits that hold over every process.

The sync loop calls ``exchange``: it writes this process's counts (one row per
client it served lately) and reads the other processes' fresh rows.
"""
from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from balancer.extensions import db
from balancer.models import ClientUsage
from balancer.models.types import utcnow
from balancer.models.upsert import upsert

#: Rows older than this come from a process that stopped (or cannot write): ignored.
FRESH = timedelta(seconds=15)
#: ... and deleted once this old.
STALE = timedelta(minutes=10)


def exchange(limiter) -> None:
    """Publish this process's counts; learn everyone else's."""
    process = limiter.process
    now = utcnow()
    mine = limiter.snapshot()
    rows = [{"process": process, "client_id": client_id, "recent": recent,
             "in_flight": in_flight, "updated_at": now}
            for client_id, (recent, in_flight) in mine.items()]
    upsert(db.session, ClientUsage.__table__, rows, conflict=("process", "client_id"),
           replace=("recent", "in_flight", "updated_at"))
    # A client this process no longer serves must not keep counting from an old row.
    stale_mine = sa.delete(ClientUsage).where(ClientUsage.process == process)
    if mine:
        stale_mine = stale_mine.where(ClientUsage.client_id.not_in(list(mine)))
    db.session.execute(stale_mine)
    db.session.execute(sa.delete(ClientUsage).where(ClientUsage.updated_at < now - STALE))
    db.session.commit()
    others: dict[int, tuple[int, int]] = {}
    for client_id, recent, in_flight in db.session.execute(
            sa.select(ClientUsage.client_id, ClientUsage.recent, ClientUsage.in_flight)
            .where(ClientUsage.process != process, ClientUsage.updated_at >= now - FRESH)):
        total = others.get(client_id, (0, 0))
        others[client_id] = (total[0] + recent, total[1] + in_flight)
    limiter.learn(others)
