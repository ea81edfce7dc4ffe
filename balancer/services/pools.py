"""Pools: create, edit, delete, list; the default Gemini pool; the in-memory catalog."""
from __future__ import annotations

import logging
import time
from datetime import datetime
from typing import Any, Mapping, Optional, Sequence
from urllib.parse import urlsplit, urlunsplit

import sqlalchemy as sa
from sqlalchemy.orm import Session

from balancer.config import Config
from balancer.crypto import SecretBox, owner_tag
from balancer.extensions import db
from balancer.keypool.records import KeyStatus
from balancer.models import ApiKey, ClientToken, KeyEvent, KeyModelState, Pool
from balancer.models.races import lost_race
from balancer.models.types import utcnow
from balancer.runtime import Catalog, ClientInfo, PoolInfo, Runtime, env_clients
from balancer.services import audit
from balancer.services.pool_checks import (
    PoolError,
    check_aliases,
    check_base_url,
    check_image_host,
    check_kind,
    check_name,
    check_overrides,
    check_proxies,
    check_proxy_url,
    check_request_defaults,
)
from balancer.upstream import request_defaults, vertex
from balancer.upstream.image_hosts import ImageHost
from balancer.upstream.request_defaults import RequestDefaults

log = logging.getLogger(__name__)

DEFAULT_POOL = "gemini"

_EDITABLE = frozenset({"name", "kind", "base_url", "proxy_url", "proxies", "enabled", "overrides",
                       "aliases", "request_defaults", "image_host"})


class PoolNotFound(PoolError, LookupError):
    """No pool has that name."""


# --- the default pool and the catalog -----------------------------------------


def ensure_default_pool() -> Pool:
    """The default Gemini pool, created on first start (idempotent across workers)."""
    pool = db.session.scalar(sa.select(Pool).where(Pool.is_default.is_(True)))
    if pool is not None:
        return pool
    pool = Pool(name=DEFAULT_POOL, kind="gemini", is_default=True, overrides={}, aliases={},
                models=[])
    db.session.add(pool)
    try:
        db.session.commit()
    except sa.exc.DBAPIError as exc:
        # Another worker created it at the same moment (a unique-name error, or a
        # deadlock on MariaDB); a deadlock's winner may still be about to commit.
        db.session.rollback()
        if not lost_race(exc):
            raise
        for wait in (0.0, 0.05, 0.2, 0.5):
            time.sleep(wait)
            pool = db.session.scalar(sa.select(Pool).where(Pool.is_default.is_(True)))
            db.session.commit()  # ends the read, so that the next one sees new commits
            if pool is not None:
                break
        else:
            raise
    return pool


def get_pool(name: str | None) -> Pool:
    """A pool by name, or the default pool; PoolNotFound (a LookupError) when unknown."""
    if name is None:
        return ensure_default_pool()
    pool = db.session.scalar(sa.select(Pool).where(Pool.name == name))
    if pool is None:
        raise PoolNotFound(f"no pool named {name!r}")
    return pool


#: Where a pool without a base URL of its own sends its calls, by kind.
_DEFAULT_BASES = {"gemini": lambda c: c.GEMINI_BASE_URL,
                  vertex.KIND: lambda c: vertex.DEFAULT_BASE_URL}


def pool_info(p: Pool, config: Config, box: Optional[SecretBox] = None) -> PoolInfo:
    """A pool row as the proxy holds it: URLs resolved against the environment; with
    ``box``, its image host with the token decrypted."""
    base = p.base_url or _DEFAULT_BASES.get(p.kind, lambda c: "")(config)
    models = tuple(p.models or ())
    if p.kind == vertex.KIND and not models:
        # Express mode lists no models for API keys: its documented ones until refreshed.
        models = vertex.configured_models(p.aliases or {})
    return PoolInfo(id=p.id, name=p.name, kind=p.kind, base_url=base.rstrip("/"),
                    proxy_url=p.proxy_url or config.PROXY_URL, enabled=p.enabled,
                    is_default=p.is_default, overrides=dict(p.overrides or {}),
                    aliases=dict(p.aliases or {}), models=models,
                    proxies=tuple(p.proxies or ()), defaults=_stored_defaults(p),
                    image_host=_stored_image_host(p, box) if box is not None else None)


def _stored_image_host(p: Pool, box: SecretBox) -> Optional[ImageHost]:
    """A pool's image host; one whose token no configured key opens uploads nothing."""
    stored = p.image_host if isinstance(p.image_host, dict) else None
    if not stored or not stored.get("kind"):
        return None
    try:
        token = box.decrypt(stored["token"]) if stored.get("token") else ""
    except ValueError as exc:
        log.warning("pool %s: image host off (%s)", p.name, exc)
        return None
    return ImageHost(kind=str(stored["kind"]), base_url=str(stored.get("base_url") or ""),
                     token=token)


def _stored_defaults(p: Pool) -> RequestDefaults:
    """A pool's request defaults; a row edited by hand into nonsense adds nothing."""
    try:
        return request_defaults.parse(p.request_defaults)
    except request_defaults.DefaultsError as exc:
        log.warning("pool %s: request defaults ignored (%s)", p.name, exc)
        return RequestDefaults()


def load_catalog(rt: Runtime) -> Catalog:
    """Read pools and client tokens into a new Catalog and install it."""
    rt.catalog = read_catalog(rt, db.session)
    return rt.catalog


def read_catalog(rt: Runtime, session: Session) -> Catalog:
    """Pools and client tokens as a new Catalog, not installed (any thread may read it)."""
    pools = {p.id: pool_info(p, rt.config, rt.box) for p in session.scalars(sa.select(Pool))}
    clients = env_clients(rt.config)
    for t in session.scalars(sa.select(ClientToken).where(ClientToken.enabled.is_(True))):
        clients[t.token_hash] = ClientInfo(
            t.id, t.name, rpm=t.rpm_limit or None, concurrent=t.max_concurrent or None,
            models=tuple(m for m in (t.allowed_models or ()) if isinstance(m, str)),
            max_bytes=t.max_request_kb * 1024 if t.max_request_kb else None,
            owner=owner_tag(rt.config.SECRET_KEY, t.token_hash))
    return Catalog(pools=pools, clients=clients)


def _check_unique(name: str, pool_id: Optional[int] = None) -> None:
    query = sa.select(Pool.id).where(Pool.name == name)
    if pool_id is not None:
        query = query.where(Pool.id != pool_id)
    if db.session.scalar(query) is not None:
        raise PoolError(f"a pool named {name!r} already exists")


def _commit(name: str) -> None:
    try:
        db.session.commit()
    except sa.exc.IntegrityError:
        # Another process took the name between our check and our commit.
        db.session.rollback()
        raise PoolError(f"a pool named {name!r} already exists") from None


def key_count(pool_id: int) -> int:
    """How many keys a pool holds."""
    return db.session.scalar(sa.select(sa.func.count(ApiKey.id)).where(ApiKey.pool_id == pool_id))


# --- operations -------------------------------------------------------------------


def create_pool(rt: Runtime, name: str, kind: str, base_url: Optional[str] = None, *,
                proxy_url: Optional[str] = None, overrides: Optional[Mapping[str, Any]] = None,
                aliases: Optional[Mapping[str, str]] = None, enabled: bool = True,
                proxies: Optional[Sequence[str]] = None,
                request_defaults: Optional[Mapping[str, Any]] = None,
                image_host: Optional[Mapping[str, Any]] = None) -> Pool:
    """Create a pool; in force in this process at once, in others after a sync.

    :param base_url: required for ``openai``; for ``gemini`` None follows GEMINI_BASE_URL.
    :param proxy_url: the outgoing proxy; None follows PROXY_URL.
    :param proxies: several outgoing proxies instead, each key pinned to one.
    :param request_defaults: see ``upstream/request_defaults.py``.
    :param image_host: ``{"kind", "base_url", "token"}`` (the plain token), see ``edit_pool``.
    :raises PoolError: a value was refused; nothing is saved then.
    """
    name = check_name(name)
    kind = check_kind(kind)
    pool = Pool(name=name, kind=kind, base_url=check_base_url(base_url, kind),
                proxy_url=check_proxy_url(proxy_url), proxies=check_proxies(proxies),
                enabled=bool(enabled), is_default=False,
                overrides=check_overrides(overrides, rt), aliases=check_aliases(aliases),
                models=[], request_defaults=check_request_defaults(request_defaults, kind),
                image_host=check_image_host(*_image_host_parts(image_host), None, rt.box))
    _check_unique(name)
    db.session.add(pool)
    _commit(name)
    audit.record("pool_create", f"pool {name}", f"kind {kind}")
    load_catalog(rt)
    return pool


def _image_host_parts(wanted: Optional[Mapping[str, Any]]) -> tuple:
    wanted = wanted or {}
    return wanted.get("kind"), wanted.get("base_url"), wanted.get("token")


def edit_pool(rt: Runtime, name: str, /, **changes: Any) -> Pool:
    """Change a pool; in force in this process at once, in others after a sync.

    ``changes``: ``name`` (a rename), ``kind`` (only while the pool has no
    keys), ``base_url``, ``proxy_url``, ``enabled``, ``overrides``, ``aliases``
    and ``request_defaults`` (the last three replaced whole), ``image_host``
    (``{"kind", "base_url", "token"}``, the plain token or None to keep the stored one;
    None or kind ``off`` switches it off). A new base URL, proxy or kind
    makes the model list due for a refresh.

    :raises PoolNotFound: no pool has that name.
    :raises PoolError: a value was refused; nothing is saved then.
    """
    unknown = set(changes) - _EDITABLE
    if unknown:
        raise PoolError(f"cannot change {', '.join(sorted(unknown))} of a pool")
    pool = get_pool(name)
    kind = pool.kind
    if "kind" in changes and changes["kind"] != pool.kind:
        kind = check_kind(changes["kind"])
        if pool.is_default:
            raise PoolError("the default pool is always of kind gemini")
        if key_count(pool.id):
            raise PoolError(f"pool {pool.name!r} has keys of kind {pool.kind}: delete them "
                            "first, or create another pool")
    if "name" in changes and changes["name"] != pool.name:
        _check_unique(check_name(changes["name"]), pool.id)
    base_url = check_base_url(changes["base_url"] if "base_url" in changes else pool.base_url, kind)
    proxy_url = check_proxy_url(changes["proxy_url"]) if "proxy_url" in changes else pool.proxy_url
    proxies = check_proxies(changes["proxies"]) if "proxies" in changes else None
    overrides = check_overrides(changes["overrides"], rt) if "overrides" in changes else None
    aliases = check_aliases(changes["aliases"]) if "aliases" in changes else None
    defaults = check_request_defaults(
        changes["request_defaults"] if "request_defaults" in changes else pool.request_defaults,
        kind)

    image_host = pool.image_host
    if "image_host" in changes:
        image_host = check_image_host(*_image_host_parts(changes["image_host"]),
                                      pool.image_host, rt.box)

    if (kind, base_url, proxy_url) != (pool.kind, pool.base_url, pool.proxy_url):
        # Another upstream, or another way to reach it: the old list proves nothing.
        pool.models_refreshed_at = None
    pool.name = changes.get("name", pool.name)
    pool.kind, pool.base_url, pool.proxy_url = kind, base_url, proxy_url
    if proxies is not None:
        pool.proxies = proxies
    if "enabled" in changes:
        pool.enabled = bool(changes["enabled"])
    if overrides is not None:
        pool.overrides = overrides
    if aliases is not None:
        pool.aliases = aliases
    pool.request_defaults = defaults
    pool.image_host = image_host
    pool.updated_at = utcnow()
    _commit(pool.name)
    if "image_host" in changes:
        # The audit names the host, never its token.
        changes = {**changes, "image_host": image_host["kind"] if image_host else "off"}
    audit.record("pool_edit", f"pool {name}", audit.changes_detail(changes))
    load_catalog(rt)
    return pool


def delete_pool(rt: Runtime, name: str) -> int:
    """Delete a pool and its keys for good; returns how many keys went with it.

    :raises PoolNotFound: no pool has that name.
    :raises PoolError: the default pool cannot be deleted.
    """
    pool = check_deletable(get_pool(name))
    key_ids = list(db.session.scalars(sa.select(ApiKey.id).where(ApiKey.pool_id == pool.id)))
    # Explicit deletes rather than trusting ON DELETE CASCADE: same result on every
    # database, and one event per key in the log.
    if key_ids:
        db.session.execute(sa.delete(KeyModelState).where(KeyModelState.key_id.in_(key_ids)))
        db.session.execute(sa.delete(ApiKey).where(ApiKey.pool_id == pool.id))
        db.session.execute(sa.insert(KeyEvent), [
            {"created_at": utcnow(), "key_id": key_id, "event": "delete",
             "reason": f"pool {pool.name} deleted"} for key_id in key_ids])
    db.session.delete(pool)
    db.session.commit()
    audit.record("pool_delete", f"pool {name}", f"{len(key_ids)} keys deleted with it")
    for key_id in key_ids:
        rt.keypool.remove_key(key_id)
    load_catalog(rt)
    return len(key_ids)


def check_deletable(pool: Pool) -> Pool:
    """The pool, unless it is the default one (PoolError)."""
    if pool.is_default:
        raise PoolError(f"pool {pool.name!r} is the default pool and cannot be deleted")
    return pool


def list_pools() -> list[dict]:
    """Every pool with its settings and key counts (for the CLI and the UI)."""
    counts = _key_counts()
    out = []
    for p in db.session.scalars(sa.select(Pool).order_by(Pool.is_default.desc(), Pool.id)):
        out.append({
            "id": p.id, "name": p.name, "kind": p.kind, "base_url": p.base_url,
            "proxy_url": mask_proxy(p.proxy_url),
            "proxies": [mask_proxy(url) for url in p.proxies or ()], "enabled": p.enabled,
            "is_default": p.is_default, "overrides": dict(p.overrides or {}),
            "aliases": dict(p.aliases or {}), "models": len(p.models or ()),
            "request_defaults": dict(p.request_defaults or {}),
            "image_host": image_host_view(p.image_host),
            "models_refreshed_at": iso(p.models_refreshed_at),
            "keys": counts.get(p.id, _empty_counts()),
        })
    return out


def _empty_counts() -> dict[str, int]:
    return dict(total=0, active=0, cooling_down=0, disabled=0, switched_off=0)


def _key_counts() -> dict[int, dict[str, int]]:
    """Per pool: keys in all, active, cooling down (every model), disabled (dead), switched off."""
    now = utcnow()
    cooling: dict[int, list[bool]] = {}
    for key_id, until in db.session.execute(sa.select(KeyModelState.key_id, KeyModelState.cooldown_until)):
        cooling.setdefault(key_id, []).append(until is not None and until > now)
    counts: dict[int, dict[str, int]] = {}
    for key_id, pool_id, enabled, status in db.session.execute(
            sa.select(ApiKey.id, ApiKey.pool_id, ApiKey.enabled, ApiKey.status)):
        row = counts.setdefault(pool_id, _empty_counts())
        row["total"] += 1
        if not enabled:
            row["switched_off"] += 1
        elif status == KeyStatus.DISABLED.value:
            row["disabled"] += 1
        elif cooling.get(key_id) and all(cooling[key_id]):
            row["cooling_down"] += 1
        else:
            row["active"] += 1
    return counts


def image_host_view(stored: Optional[dict]) -> Optional[dict]:
    """An image host as pages, lists and exports show it: the token only as "set"."""
    if not isinstance(stored, dict) or not stored.get("kind"):
        return None
    return {"kind": stored["kind"], "base_url": stored.get("base_url"),
            "token": "set" if stored.get("token") else None}


def mask_proxy(url: Optional[str]) -> Optional[str]:
    """A proxy URL with its password hidden."""
    if not url:
        return url
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def iso(value: Optional[datetime]) -> Optional[str]:
    """An aware datetime as ISO 8601 with ``Z``."""
    return value.isoformat().replace("+00:00", "Z") if value else None
