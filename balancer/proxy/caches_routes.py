"""Gemini's cached contents: create, list, get, update (TTL), delete; kept to their key.

A cache lives in the project of the key that created it, like a file; one
built from uploaded files must be created by the key that owns them.
"""
from __future__ import annotations

import json
import re
from typing import Callable

from flask import Blueprint, Response, current_app, request

from balancer.proxy import affinity
from balancer.proxy.affinity import CACHE_NAME
from balancer.proxy.auth import ANONYMOUS
from balancer.proxy.body import read_body
from balancer.proxy.errors import google_error
from balancer.proxy.files_routes import API_VERSION, listing, pinned_call
from balancer.proxy.call import Answer, ProxyCall
from balancer.proxy.endings import reject
from balancer.proxy.forward import forward
from balancer.proxy.gemini_routes import prepare
from balancer.proxy.routing import route_model
from balancer.proxy.validate import BadRequest, check_model, json_object
from balancer.runtime import ClientInfo, Runtime
from balancer.text import quoted

bp = Blueprint("gemini_caches", __name__)

_UPDATE_MASK = re.compile(r"[A-Za-z_]+(?:,[A-Za-z_]+)*")


def _runtime() -> Runtime:
    return current_app.extensions["balancer"]


def cache_name(cache_id: str) -> str:
    """``cachedContents/{id}`` from a path segment, or BadRequest."""
    name = f"cachedContents/{cache_id}"
    if not CACHE_NAME.fullmatch(name):
        raise BadRequest(f"Invalid cached content name {quoted(name)}.")
    return name


def _recorder(client: ClientInfo) -> Callable[[Answer], None]:
    """Notes the new cache's key and client (``services/owners.py``)."""
    def record(answer: Answer) -> None:
        parsed = answer.parsed
        if isinstance(parsed, dict) and isinstance(parsed.get("name"), str) \
                and CACHE_NAME.fullmatch(parsed["name"]):
            _runtime().owners.record(parsed["name"], answer.key_id, parsed, client)
    return record


@bp.post("/cachedContents")
def create_cache():
    """Create a cache on the key that owns its files, else on the rotation's pick."""
    route = "gemini.caches.create"
    prepared = prepare(route)
    if isinstance(prepared, Response):
        return prepared
    rt, client, pool = prepared
    try:
        raw = read_body(rt.body_slots, client)
        body = json_object(raw)
        model = check_model(body.get("model"), "model").removeprefix("models/")
        pin = affinity.pin_for(rt, raw, body, client)
        if pin is not None:
            pool = affinity.pool_of_pin(rt, pin)
        else:
            chosen = route_model(rt.catalog, model, "gemini")
            pool, model = chosen.pool, chosen.model
        if pool.kind != "gemini":
            raise BadRequest(f"Model {quoted(model)} is served by pool '{pool.name}', which is "
                             "not a Gemini pool; cached contents are the Gemini API's (Vertex AI "
                             "express mode has none).")
        body["model"] = f"models/{model}"
    except BadRequest as exc:
        return reject(rt, route, google_error(exc.status, str(exc)), client, api_format="gemini")
    call = ProxyCall(route=route, method="POST", path="cachedContents", model=model,
                     body=json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode(),
                     client=client, api_format="gemini", api_version=API_VERSION, pin=pin,
                     on_answer=_recorder(client), empty_ok=True)
    return forward(rt, pool, call)


@bp.get("/cachedContents")
def list_caches():
    """The cached contents created through Balancer that have not expired."""
    return listing("gemini.caches.list", "cachedContents")


def _one(route: str, method: str, cache_id: str, with_body: bool = False) -> Response:
    rt = _runtime()
    try:
        name = cache_name(cache_id)
        body, query = None, {}
        if with_body:
            raw = read_body(rt.body_slots, ANONYMOUS)
            json_object(raw)
            body = raw
            mask = request.args.get("updateMask")
            if mask is not None:
                if not _UPDATE_MASK.fullmatch(mask):
                    raise BadRequest("'updateMask' must name fields, e.g. ttl or expireTime.")
                query["updateMask"] = mask
    except BadRequest as exc:
        return reject(rt, route, google_error(exc.status, str(exc)), api_format="gemini")
    return pinned_call(route, method, name, body=body, query=query)


@bp.get("/cachedContents/<cache_id>")
def get_cache(cache_id: str):
    """One cache, from the key that created it."""
    return _one("gemini.caches.get", "GET", cache_id)


@bp.patch("/cachedContents/<cache_id>")
def update_cache(cache_id: str):
    """A new TTL or expiry, on the key that created the cache."""
    return _one("gemini.caches.update", "PATCH", cache_id, with_body=True)


@bp.delete("/cachedContents/<cache_id>")
def delete_cache(cache_id: str):
    """Delete a cache with the key that created it."""
    return _one("gemini.caches.delete", "DELETE", cache_id)
