"""Model lists of pools: fetched from each pool's upstream, off the request path.

The router (``balancer.proxy.routing``) sends a model to the pool whose list
holds it; the lists come from here, called by ``flask models refresh``, the
admin UI and the background "models" round. A refresh takes a key from the
pool like a proxied request does and gives it back with the verdict of the
answer, so a dead key found this way is disabled as on the proxy path.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import time
from datetime import timedelta
from typing import Any, Optional, Union
from urllib.parse import quote

import sqlalchemy as sa

from balancer.extensions import db
from balancer.keypool.outcome import Outcome, Verdict
from balancer.keypool.records import NoKeyAvailable
from balancer.keypool.retry import RetriesSpent
from balancer.models import Pool
from balancer.models.types import from_epoch
from balancer.runtime import PoolInfo, Runtime
from balancer.services.pool_checks import is_model_name
from balancer.services.pools import get_pool, iso, load_catalog, pool_info
from balancer.upstream import gemini, vertex
from balancer.upstream.errors import UpstreamError
from balancer.upstream.network import classify_exception
from balancer.upstream.providers import PROVIDERS

log = logging.getLogger(__name__)

#: The model name a refresh leases keys for: health kept apart from real models.
ANY_MODEL = "*"
PAGE_SIZE = 1000
#: Enough for any real catalogue; a looping page token cannot keep us busy.
MAX_PAGES = 100
#: A pool whose refresh failed is tried again after this long (or its interval if shorter).
FAILED_RETRY_SECONDS = 300.0

_SUCCESS = Verdict(Outcome.SUCCESS, status=200)
#: We could not read the answer (not a model list): not the key's fault.
_NOT_A_LIST = Verdict(Outcome.PROXY_FAULT, reason="not_a_model_list", status=200,
                      message="the upstream's answer is not a model list (is the base URL right?)")


class RefreshError(RuntimeError):
    """A model list could not be fetched; the message says why, without secrets."""


def refresh_models(rt: Runtime, pool_id: int, *, page_size: int = PAGE_SIZE) -> list[str]:
    """Fetch a pool's model list from its upstream, store it and reload the catalog.

    :returns: the model ids, without ``models/``, in the upstream's order.
    :raises RefreshError: no usable key, or every attempt failed.
    """
    row = db.session.get(Pool, pool_id)
    if row is None:
        raise RefreshError(f"no pool with id {pool_id}")
    pool = pool_info(row, rt.config)
    models = _fetch(rt, pool, page_size)
    db.session.execute(sa.update(Pool).where(Pool.id == pool_id).values(
        models=models, models_refreshed_at=from_epoch(rt.clock())))
    db.session.commit()
    load_catalog(rt)
    return models


def refresh_due(rt: Runtime, failed: Optional[dict[int, float]] = None) -> dict[str, Union[int, str]]:
    """Refresh every enabled pool whose list is older than ``models_refresh_seconds``.

    A pool without a usable key waits until it has one. One pool's failure
    never stops the others, nor raises.

    :param failed: pool id -> epoch before which a failed pool is not retried;
        the caller keeps it between rounds.
    :returns: pool name -> number of models, or the error message.
    """
    failed = {} if failed is None else failed
    now = rt.clock()
    usable = rt.keypool.stats()
    due = []
    for row in db.session.scalars(sa.select(Pool).where(Pool.enabled.is_(True)).order_by(Pool.id)):
        interval = rt.settings.current.with_overrides(row.overrides).models_refresh_seconds
        if interval <= 0 or failed.get(row.id, 0.0) > now or not usable.get(row.id, {}).get("active"):
            continue
        if row.models_refreshed_at is None \
                or row.models_refreshed_at <= from_epoch(now) - timedelta(seconds=interval):
            due.append((row.id, row.name, interval))
    results: dict[str, Union[int, str]] = {}
    for pool_id, name, interval in due:
        try:
            results[name] = len(refresh_models(rt, pool_id))
            failed.pop(pool_id, None)
        except (RefreshError, sa.exc.SQLAlchemyError) as exc:
            db.session.rollback()
            failed[pool_id] = now + min(interval, FAILED_RETRY_SECONDS)
            results[name] = str(exc)
            log.warning("model list of pool %s not refreshed: %s", name, exc)
    return results


def refresh_pools(rt: Runtime, name: Optional[str] = None) -> dict[str, Union[list[str], RefreshError]]:
    """Refresh pool ``name``, or every enabled pool; a failure is a value, not raised.

    :raises PoolNotFound: no pool has that name.
    """
    rows = [get_pool(name)] if name else db.session.scalars(
        sa.select(Pool).where(Pool.enabled.is_(True)).order_by(Pool.id))
    targets = [(p.id, p.name) for p in rows]
    results: dict[str, Union[list[str], RefreshError]] = {}
    for pool_id, pool_name in targets:
        try:
            results[pool_name] = refresh_models(rt, pool_id)
        except RefreshError as exc:
            db.session.rollback()
            results[pool_name] = exc
    return results


def list_models(name: Optional[str] = None) -> list[dict]:
    """The stored model lists and aliases of one pool or all (for the CLI and the UI).

    :raises PoolNotFound: no pool has that name.
    """
    rows = [get_pool(name)] if name else db.session.scalars(
        sa.select(Pool).order_by(Pool.is_default.desc(), Pool.id))
    return [{"pool": p.name, "kind": p.kind, "enabled": p.enabled,
             "refreshed_at": iso(p.models_refreshed_at), "models": list(p.models or ()),
             "aliases": dict(p.aliases or {})} for p in rows]


# --- one fetch --------------------------------------------------------------------


def _fetch(rt: Runtime, pool: PoolInfo, page_size: int) -> list[str]:
    """The list, through as many keys as the pool's retry policy allows."""
    if not pool.base_url:
        raise RefreshError("no base URL")
    settings = rt.pool_settings(pool)
    retry = settings.retry
    tried: list[int] = []
    while True:
        pause = retry.backoff()
        if pause:
            time.sleep(pause)
        try:
            lease = rt.keypool.acquire(pool.id, ANY_MODEL, exclude=tried)
        except NoKeyAvailable as exc:
            why = exc.message.replace(f"serve {ANY_MODEL}", "list the models", 1)
            raise RefreshError(f"{_describe(retry.last)}; {why}" if retry.last else why) from None
        tried.append(lease.key_id)
        verdict, models = _NOT_A_LIST, None  # if we fail ourselves, the key is not charged
        try:
            # This key's own outgoing proxy, as on the proxy path.
            via = dataclasses.replace(pool, proxy_url=rt.proxy_for(pool, lease.key_id))
            verdict, models = _list_with(rt, via, lease.secret, settings.timeout, page_size)
        finally:
            rt.push(rt.keypool.release(lease, verdict))
        if models is not None:
            return models
        if verdict is _NOT_A_LIST:
            # The URL is at fault, not the key: another key would fare no better.
            raise RefreshError(_describe(verdict))
        try:
            retry = retry.increment(verdict)
        except RetriesSpent as spent:
            raise RefreshError(_describe(spent.last)) from None


def _list_with(rt: Runtime, pool: PoolInfo, secret: str, timeout: tuple[float, float],
               page_size: int) -> tuple[Verdict, Optional[list[str]]]:
    if pool.kind == "gemini":
        return _gemini_models(rt, pool, secret, timeout, page_size)
    if pool.kind == vertex.KIND:
        # Express mode has no model list call for API keys: the configured models.
        return _SUCCESS, list(vertex.configured_models(pool.aliases))
    url = PROVIDERS["openai"].openai_url(pool.base_url, "models")
    verdict, doc = _get_json(rt, pool, url, PROVIDERS["openai"].auth_headers(secret), secret, timeout)
    if doc is None:
        return verdict, None
    items = doc.get("data") if isinstance(doc, dict) else doc
    if not isinstance(items, list):
        return _NOT_A_LIST, None
    return _SUCCESS, _clean([m.get("id") for m in items if isinstance(m, dict)])


def _gemini_models(rt: Runtime, pool: PoolInfo, secret: str, timeout: tuple[float, float],
                   page_size: int) -> tuple[Verdict, Optional[list[str]]]:
    names: list[Any] = []
    token, seen = None, set()
    for _ in range(MAX_PAGES):
        query = f"models?pageSize={page_size}" + (f"&pageToken={quote(token, safe='')}" if token else "")
        url = gemini.native_url(pool.base_url, "v1beta", query)
        verdict, doc = _get_json(rt, pool, url, gemini.native_headers(secret), secret, timeout)
        if doc is None:
            return verdict, None
        if not isinstance(doc, dict) or not isinstance(doc.get("models", []), list):
            return _NOT_A_LIST, None
        names += [m.get("name") for m in doc.get("models", []) if isinstance(m, dict)]
        token = doc.get("nextPageToken")
        if not isinstance(token, str) or not token or token in seen:
            break
        seen.add(token)
    return _SUCCESS, _clean(names)


def _get_json(rt: Runtime, pool: PoolInfo, url: str, headers: dict, secret: str,
              timeout: tuple[float, float]) -> tuple[Verdict, Any]:
    """GET a JSON document: (SUCCESS, doc), or (the failure's verdict, None)."""
    try:
        resp = rt.upstream.send(pool.id, pool.proxy_url, "GET", url, headers=headers, body=None,
                                stream=False, timeout=timeout)
    except UpstreamError as err:
        rt.proxy_failed(pool.proxy_url, err)
        return classify_exception(err), None
    try:
        status, body = resp.status_code, resp.content
    finally:
        resp.close()
    if not 200 <= status < 300:
        return PROVIDERS[pool.kind].classify(status, resp.headers, body, rt.clock(),
                                             secrets=(secret,)), None
    try:
        return _SUCCESS, json.loads(body)
    except ValueError:
        return _NOT_A_LIST, None


def _clean(names: list[Any]) -> list[str]:
    """Ids without ``models/``, once each, only those safe as model names."""
    out: dict[str, None] = {}
    for name in names:
        if isinstance(name, str):
            name = name[len("models/"):] if name.startswith("models/") else name
            if is_model_name(name):
                out[name] = None
    return list(out)


def _describe(verdict: Verdict) -> str:
    what = f"upstream answered {verdict.status}" if verdict.status else "upstream unreachable"
    detail = verdict.message or verdict.reason
    return f"{what} ({verdict.reason}): {detail}" if detail and detail != verdict.reason \
        else f"{what} ({verdict.reason})"
