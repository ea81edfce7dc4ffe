"""Anthropic Messages routes: messages, count_tokens, models.

Mounted under /v1 (``/v1/messages``, beside the OpenAI routes) and /anthropic/v1; the
model list is the OpenAI route's under /v1, which answers an Anthropic client (one that
sends ``anthropic-version`` or ``x-api-key``) through ``list_models`` here. Clients
authenticate with ``x-api-key`` or ``Authorization: Bearer`` and the same client tokens,
limits and statistics as every other route; ``anthropic-version`` and
``anthropic-beta`` are accepted and need nothing upstream.
"""
from __future__ import annotations

import time
from typing import Union

from flask import Blueprint, Response, current_app, jsonify, request

from balancer.proxy import anthropic_native
from balancer.proxy.auth import authenticate_anthropic
from balancer.proxy.body import read_body
from balancer.proxy.claude_models import LISTED, gemini_for, is_claude
from balancer.proxy.endings import answered_here, reject
from balancer.proxy.errors import anthropic_error
from balancer.proxy.forward import forward
from balancer.proxy.routing import listed_models, route_claude
from balancer.proxy.validate import BadRequest, check_model, json_object
from balancer.runtime import ClientInfo, Runtime
from balancer.text import quoted
from balancer.upstream.providers import speaks_gemini

bp = Blueprint("anthropic", __name__)
#: The model list, under /anthropic/v1 only (/v1/models is the OpenAI route's).
models_bp = Blueprint("anthropic_models", __name__)

API = "anthropic"


def runtime() -> Runtime:
    """The process's runtime."""
    return current_app.extensions["balancer"]


def _client(route: str) -> Union[tuple[Runtime, ClientInfo], Response]:
    rt = runtime()
    client = authenticate_anthropic(request, rt)
    if isinstance(client, Response):
        return client  # counted in /metrics, not logged one row each
    if not rt.loaded:
        return reject(rt, route, anthropic_error(
            503, "Balancer is starting: no key pool is loaded yet.", retry_after=2), client,
            api_format=API)
    return rt, client


def _refused(rt: Runtime, route: str, exc: BadRequest, client: ClientInfo,
             stream: bool = False) -> Response:
    return reject(rt, route, anthropic_error(exc.status, str(exc), retry_after=exc.retry_after),
                  client, stream=stream, api_format=API)


def _serve(route_name: str, counting: bool) -> Response:
    prepared = _client(route_name)
    if isinstance(prepared, Response):
        return prepared
    rt, client = prepared
    stream = False
    try:
        raw = read_body(rt.body_slots, client)
        body = json_object(raw)
        requested = check_model(body.get("model"))
        if not counting:
            stream = body.get("stream", False)
            if not isinstance(stream, bool):
                raise BadRequest("'stream' must be true or false.", "stream")
            if not isinstance(body.get("max_tokens"), int) or body["max_tokens"] < 1:
                raise BadRequest("'max_tokens' must be a positive integer.", "max_tokens")
        route = route_claude(rt.catalog, requested)
        pool = route.pool
        if anthropic_native.upstream_dialect(pool) == anthropic_native.OPENAI_CHAT:
            if counting:
                # Chat completions have no token counter: an estimate, answered here.
                counted = anthropic_native.estimated_tokens(body, route.model, pool.base_url)
                return answered_here(rt, route_name, jsonify(counted), client, api_format=API,
                                     pool_id=pool.id, model=route.model)
            call = anthropic_native.messages_chat_call(body, route.model, stream=stream,
                                                       client=client, base_url=pool.base_url)
        elif counting:
            call = anthropic_native.count_tokens_call(body, route.model, client)
        else:
            call = anthropic_native.messages_call(body, route.model, stream=stream,
                                                  client=client, defaults=pool.defaults)
    except BadRequest as exc:
        return _refused(rt, route_name, exc, client, stream)
    return forward(rt, pool, call)


@bp.post("/messages")
def messages():
    """A message, whole or streamed."""
    return _serve("messages", counting=False)


@bp.post("/messages/count_tokens")
def count_tokens():
    """The input tokens a message would take."""
    return _serve("messages.count_tokens", counting=True)


@models_bp.get("/models")
def list_models():
    """Every pool's models and aliases, and the Claude names the Gemini pools serve, in
    Anthropic's list shape (one page)."""
    prepared = _client("models")
    if isinstance(prepared, Response):
        return prepared
    rt, _ = prepared
    created = time.time()
    data = []
    seen = set()
    gemini_pools = [p for p in rt.catalog.pools.values() if p.enabled and speaks_gemini(p.kind)]
    default = next((p for p in gemini_pools if p.is_default), None) \
        or (gemini_pools[0] if gemini_pools else None)
    if default is not None:
        for name in LISTED.values():
            target = gemini_for(name, default.models)
            data.append(anthropic_native.model_entry(name, f"{name} ({target})", created))
            seen.add(name)
    for model, _pool in listed_models(rt.catalog):
        if model not in seen:
            seen.add(model)
            data.append(anthropic_native.model_entry(model, model, created))
    return jsonify(data=data, has_more=False, first_id=data[0]["id"] if data else None,
                   last_id=data[-1]["id"] if data else None)


@models_bp.get("/models/<path:model_id>")
def get_model(model_id: str):
    """One model of the list, or a 404 in Anthropic's shape."""
    listed = list_models()
    if listed.status_code != 200:
        return listed
    for entry in listed.get_json()["data"]:
        if entry["id"] == model_id:
            return jsonify(entry)
    if is_claude(model_id):
        # Any Claude name is served (by the default mapping), listed or not.
        route = route_claude(runtime().catalog, model_id)
        if speaks_gemini(route.pool.kind):
            return jsonify(anthropic_native.model_entry(model_id, f"{model_id} ({route.model})",
                                                        time.time()))
    return anthropic_error(404, f"Model {quoted(model_id)} is not served here.")
