"""The upkeep rounds of one process: key probes, retention, model lists.

Run by the background loops (``balancer.background``), each in its own greenlet under
gevent; none of them is on a request's path.
"""
from __future__ import annotations

import logging
from typing import Callable

from flask import Flask

from balancer.extensions import db
from balancer.runtime import Runtime
from balancer.services import models as model_service
from balancer.services import owners as owner_service
from balancer.services import retention
from balancer.upstream.errors import UpstreamError
from balancer.upstream.providers import PROVIDERS, probe_headers

# The rounds log as the background services always have: a filter on that name still works.
log = logging.getLogger("balancer.background")


def probe_keys(rt: Runtime, stopping: Callable[[], bool]) -> None:
    """Re-check disabled and ejected keys with a cheap call; success restores."""
    settings = rt.settings.current
    if settings.recovery_interval_seconds <= 0:
        return
    for key, model in rt.keypool.probe_candidates():
        pool = rt.catalog.pools.get(key.pool_id)
        if pool is None or not pool.enabled or stopping():
            continue
        provider = PROVIDERS[pool.kind]
        # "*" is the key's health for calls that name no model (model lists).
        call = provider.probe(pool.base_url, None if model == "*" else model)
        proxy = rt.proxy_for(pool, key.id)
        try:
            resp = rt.upstream.send(
                pool.id, proxy, call.method, call.url,
                headers={**call.headers, **probe_headers(pool.kind, key.secret)}, body=call.body,
                stream=False, timeout=(settings.connect_timeout_seconds, 30.0))
            ok = resp.status_code == 200
            resp.close()
        except UpstreamError as err:
            rt.proxy_failed(proxy, err)
            ok = False
        rt.push(rt.keypool.record_probe(key.id, model, ok))
        log.info("probe of key %s%s: %s", key.id, f" for {model}" if model else "",
                 "recovered" if ok else "still failing")


def housekeeping(app: Flask, rt: Runtime) -> None:
    """Delete logs past their retention; forget files and caches expired upstream."""
    with app.app_context():
        try:
            purged = retention.purge(rt.settings.current)
            if purged.total:
                log.info("retention: deleted %s", ", ".join(
                    f"{n} {kind}" for kind, n in purged.counts.items() if n))
            removed = owner_service.purge_expired()
            if removed:
                log.info("forgot %d expired files and cached contents", removed)
        finally:
            db.session.remove()


def refresh_models(app: Flask, rt: Runtime, failed: dict[int, float]) -> None:
    """Fetch again the model lists older than ``models_refresh_seconds``; ``failed``: pool
    id -> epoch before which a failed refresh is not tried again."""
    with app.app_context():
        try:
            model_service.refresh_due(rt, failed)
        finally:
            db.session.remove()
