"""OpenAI-format routes: chat completions, embeddings, models.

Mounted under /v1, /openai/v1 and /api/v1. Views parse and check what the
client sent, pick the pool for its model, then hand one ``ProxyCall`` to
``forward``.
"""
from __future__ import annotations

import json
import time
from typing import Callable, Optional, Union
from urllib.parse import quote

from flask import Blueprint, Response, current_app, jsonify, request

from balancer.proxy import chat_native, gemini_routes, suffixes
from balancer.proxy.auth import authenticate_openai, gemini_token
from balancer.proxy.errors import openai_error
from balancer.proxy.forward import ProxyCall, forward, reject
from balancer.proxy.routing import Route, listed_models, route_model
from balancer.proxy.validate import BadRequest, check_model, json_object
from balancer.runtime import ClientInfo, Runtime

bp = Blueprint("openai", __name__)


def runtime() -> Runtime:
    """The process's runtime."""
    return current_app.extensions["balancer"]


def _client(route: str) -> Union[tuple[Runtime, ClientInfo], Response]:
    rt = runtime()
    client = authenticate_openai(request, rt.catalog)
    if isinstance(client, Response):
        return reject(rt, route, client)
    if not rt.loaded:
        return reject(rt, route, openai_error(
            503, "Balancer is starting: no key pool is loaded yet.", code="not_ready",
            retry_after=2), client)
    return rt, client


def _bad(rt: Runtime, route: str, exc: BadRequest, client: ClientInfo) -> Response:
    code = "model_not_routable" if exc.status == 503 else "invalid_request"
    return reject(rt, route, openai_error(exc.status, str(exc), param=exc.param, code=code), client)


def _route(rt: Runtime, requested: str) -> tuple[Route, Optional[str]]:
    """The pool and model for a request, and a model suffix meant for a Gemini pool.

    A name some pool lists is that model, even if it ends like a suffix.
    """
    base, suffix = suffixes.split_unlisted(requested, rt.settings.current, rt.catalog)
    if suffix is not None:
        route = route_model(rt.catalog, base)
        if route.pool.kind == "gemini":
            return route, suffix
    return route_model(rt.catalog, requested), None


def _with_model(body: dict, raw: bytes, route: Route, requested: str,
                suffix: Optional[str] = None, changed: bool = False) -> bytes:
    """The body to send: the client's bytes, unless routing renamed the model, a suffix
    applies or the caller ``changed`` the body; serialised once either way."""
    if not route.rewrites(requested) and suffix is None and not changed:
        return raw
    body["model"] = route.model
    suffixes.apply_openai(body, suffix)
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


@bp.post("/chat/completions")
def chat_completions():
    """Chat, plain or streamed."""
    prepared = _client("chat.completions")
    if isinstance(prepared, Response):
        return prepared
    rt, client = prepared
    return serve_chat(rt, client, request.get_data(cache=False))


def serve_chat(rt: Runtime, client: ClientInfo, raw: bytes) -> Response:
    """Check a chat body and forward it: the one path of every chat, whoever sends it
    (clients here, the admin playground as its own client)."""
    try:
        body = json_object(raw)
        requested = check_model(body.get("model"))
        if not isinstance(body.get("messages"), list) or not body["messages"]:
            raise BadRequest("'messages' must be a non-empty array.", "messages")
        stream = body.get("stream", False)
        if not isinstance(stream, bool):
            raise BadRequest("'stream' must be true or false.", "stream")
        options = body.get("stream_options")
        if options is not None and not isinstance(options, dict):
            raise BadRequest("'stream_options' must be an object.", "stream_options")
        route, suffix = _route(rt, requested)
        wants_usage = bool((options or {}).get("include_usage"))
        if suffix in chat_native.NATIVE_SUFFIXES:
            # Search and image output exist only in Gemini's own API: translate there and back.
            call = chat_native.native_call(body, route.model, requested, suffix, stream=stream,
                                           wants_usage=wants_usage, client=client,
                                           defaults=route.pool.defaults)
        else:
            if stream and not wants_usage:
                # Ask for usage on the client's behalf; the relay hides that chunk again.
                body["stream_options"] = {**(options or {}), "include_usage": True}
            defaulted = route.pool.kind == "gemini" and suffix != "-non-thinking" \
                and route.pool.defaults.apply_compat(body, route.model)
            raw = _with_model(body, raw, route, requested, suffix,
                              changed=(stream and not wants_usage) or defaulted)
            call = ProxyCall(route="chat.completions", method="POST", path="chat/completions",
                             model=route.model, body=raw, stream=stream,
                             wants_usage=wants_usage, client=client)
    except BadRequest as exc:
        return _bad(rt, "chat.completions", exc, client)
    return forward(rt, route.pool, call)


def _require_input(body: dict) -> None:
    if body.get("input") in (None, "", []):
        raise BadRequest("'input' is required.", "input")


def _require_prompt(body: dict) -> None:
    if not isinstance(body.get("prompt"), str) or not body["prompt"].strip():
        raise BadRequest("'prompt' must be a non-empty string.", "prompt")


def _forward_plain(route_name: str, path: str, check: Callable[[dict], None]) -> Response:
    """A JSON call that goes upstream as sent (but for a routed model name)."""
    prepared = _client(route_name)
    if isinstance(prepared, Response):
        return prepared
    rt, client = prepared
    try:
        raw = request.get_data(cache=False)
        body = json_object(raw)
        requested = check_model(body.get("model"))
        check(body)
        route = route_model(rt.catalog, requested)
    except BadRequest as exc:
        return _bad(rt, route_name, exc, client)
    call = ProxyCall(route=route_name, method="POST", path=path, model=route.model,
                     body=_with_model(body, raw, route, requested), client=client)
    return forward(rt, route.pool, call)


@bp.post("/embeddings")
def embeddings():
    """Embeddings."""
    return _forward_plain("embeddings", "embeddings", _require_input)


@bp.post("/images/generations")
def image_generations():
    """Image generation, by the upstream of the pool that serves the model."""
    return _forward_plain("images.generations", "images/generations", _require_prompt)


@bp.get("/models")
def list_models():
    """The models of every pool (from their cached lists), in OpenAI's shape."""
    if gemini_token(request):
        # GET /v1/models is also google-genai's call; its key marks it as such.
        return gemini_routes.list_models()
    prepared = _client("models")
    if isinstance(prepared, Response):
        return prepared
    rt, client = prepared
    models = listed_models(rt.catalog)
    if not models:
        # No list fetched yet (a fresh start): ask the default pool's upstream.
        pool = rt.catalog.default_pool()
        if pool is None:
            return reject(rt, "models", openai_error(503, "No pool is configured.",
                                                     code="no_pool"), client)
        call = ProxyCall(route="models", method="GET", path="models", model=None, body=None,
                         client=client)
        return forward(rt, pool, call)
    created = int(time.time())
    active = suffixes.active(rt.settings.current)
    data = []
    for model, pool in models:
        data.append({"id": model, "object": "model", "created": created, "owned_by": pool.name})
        if pool.kind != "gemini":
            continue
        for suffix in suffixes.variants(model, active):
            data.append({"id": f"{model}{suffix}", "object": "model", "created": created,
                         "owned_by": pool.name})
    return jsonify(object="list", data=data)


@bp.get("/models/<path:model_id>")
def get_model(model_id: str):
    """One model, from the upstream of the pool that serves it."""
    if gemini_token(request):
        return gemini_routes.get_model(model_id)
    prepared = _client("models.get")
    if isinstance(prepared, Response):
        return prepared
    rt, client = prepared
    try:
        route = route_model(rt.catalog, check_model(model_id, "model"))
    except BadRequest as exc:
        return _bad(rt, "models.get", exc, client)
    call = ProxyCall(route="models.get", method="GET", path=f"models/{quote(route.model, safe='/')}",
                     model=None, body=None, client=client)
    return forward(rt, route.pool, call)
