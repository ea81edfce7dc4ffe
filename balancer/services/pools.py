"""Pools: the default Gemini pool and the in-memory catalog."""
from __future__ import annotations

import sqlalchemy as sa

from balancer.extensions import db
from balancer.models import ClientToken, Pool
from balancer.runtime import Catalog, ClientInfo, PoolInfo, Runtime, env_clients

DEFAULT_POOL = "gemini"


def ensure_default_pool() -> Pool:
    """The default Gemini pool, created on first start (idempotent across workers)."""
    pool = db.session.scalar(sa.select(Pool).where(Pool.is_default.is_(True)))
    if pool is not None:
        return pool
    pool = Pool(name=DEFAULT_POOL, kind="gemini", is_default=True, overrides={})
    db.session.add(pool)
    try:
        db.session.commit()
    except sa.exc.IntegrityError:
        # Another worker created it at the same moment.
        db.session.rollback()
        pool = db.session.scalar(sa.select(Pool).where(Pool.name == DEFAULT_POOL))
    return pool


def get_pool(name: str | None) -> Pool:
    """A pool by name, or the default pool; LookupError when unknown."""
    if name is None:
        return ensure_default_pool()
    pool = db.session.scalar(sa.select(Pool).where(Pool.name == name))
    if pool is None:
        raise LookupError(f"no pool named {name!r}")
    return pool


def load_catalog(rt: Runtime) -> Catalog:
    """Read pools and client tokens into a new Catalog and install it."""
    config = rt.config
    pools = {}
    for p in db.session.scalars(sa.select(Pool)):
        base = p.base_url or (config.GEMINI_BASE_URL if p.kind == "gemini" else "")
        pools[p.id] = PoolInfo(id=p.id, name=p.name, kind=p.kind, base_url=base.rstrip("/"),
                               proxy_url=p.proxy_url or config.PROXY_URL, enabled=p.enabled,
                               is_default=p.is_default, overrides=dict(p.overrides or {}))
    clients = env_clients(config)
    for t in db.session.scalars(sa.select(ClientToken).where(ClientToken.enabled.is_(True))):
        clients[t.token_hash] = ClientInfo(t.id, t.name)
    rt.catalog = Catalog(pools=pools, clients=clients)
    return rt.catalog
