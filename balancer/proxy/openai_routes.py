"""OpenAI-format routes: chat completions, embeddings, models.

Mounted under /v1, /openai/v1 and /api/v1. Views parse and check what the
client sent, then hand one ``ProxyCall`` to ``forward``.
"""
from __future__ import annotations

import json
from typing import Union
from urllib.parse import quote

from flask import Blueprint, Response, current_app, request

from balancer.proxy import gemini_routes
from balancer.proxy.auth import authenticate_openai, gemini_token
from balancer.proxy.errors import openai_error
from balancer.proxy.forward import ProxyCall, forward, reject
from balancer.proxy.validate import BadRequest, check_model, json_object
from balancer.runtime import ClientInfo, PoolInfo, Runtime

bp = Blueprint("openai", __name__)


def runtime() -> Runtime:
    """The process's runtime."""
    return current_app.extensions["balancer"]


def _prepare(route: str) -> Union[tuple[Runtime, ClientInfo, PoolInfo], Response]:
    rt = runtime()
    client = authenticate_openai(request, rt.catalog)
    if isinstance(client, Response):
        return reject(rt, route, client)
    pool = rt.catalog.default_pool()
    if pool is None or not rt.loaded:
        return reject(rt, route, openai_error(
            503, "Balancer is starting: no key pool is loaded yet.", code="not_ready",
            retry_after=2), client)
    if not pool.enabled:
        return reject(rt, route, openai_error(
            503, f"Pool '{pool.name}' is switched off.", code="pool_disabled"), client)
    return rt, client, pool


@bp.post("/chat/completions")
def chat_completions():
    """Chat, plain or streamed."""
    prepared = _prepare("chat.completions")
    if isinstance(prepared, Response):
        return prepared
    rt, client, pool = prepared
    try:
        raw = request.get_data(cache=False)
        body = json_object(raw)
        model = check_model(body.get("model"))
        if not isinstance(body.get("messages"), list) or not body["messages"]:
            raise BadRequest("'messages' must be a non-empty array.", "messages")
        stream = body.get("stream", False)
        if not isinstance(stream, bool):
            raise BadRequest("'stream' must be true or false.", "stream")
        options = body.get("stream_options")
        if options is not None and not isinstance(options, dict):
            raise BadRequest("'stream_options' must be an object.", "stream_options")
    except BadRequest as exc:
        return reject(rt, "chat.completions", openai_error(
            exc.status, str(exc), param=exc.param, code="invalid_request"), client)
    wants_usage = bool((options or {}).get("include_usage"))
    if stream and not wants_usage:
        # Ask for usage on the client's behalf; the relay hides that chunk again.
        body["stream_options"] = {**(options or {}), "include_usage": True}
        raw = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    call = ProxyCall(route="chat.completions", method="POST", path="chat/completions",
                     model=model, body=raw, stream=stream, wants_usage=wants_usage, client=client)
    return forward(rt, pool, call)


@bp.post("/embeddings")
def embeddings():
    """Embeddings; the body goes upstream unchanged."""
    prepared = _prepare("embeddings")
    if isinstance(prepared, Response):
        return prepared
    rt, client, pool = prepared
    try:
        raw = request.get_data(cache=False)
        body = json_object(raw)
        model = check_model(body.get("model"))
        if body.get("input") in (None, "", []):
            raise BadRequest("'input' is required.", "input")
    except BadRequest as exc:
        return reject(rt, "embeddings", openai_error(
            exc.status, str(exc), param=exc.param, code="invalid_request"), client)
    call = ProxyCall(route="embeddings", method="POST", path="embeddings", model=model,
                     body=raw, client=client)
    return forward(rt, pool, call)


@bp.get("/models")
def list_models():
    """The models the default pool's upstream offers."""
    if gemini_token(request):
        # GET /v1/models is also google-genai's call; its key marks it as such.
        return gemini_routes.list_models()
    prepared = _prepare("models")
    if isinstance(prepared, Response):
        return prepared
    rt, client, pool = prepared
    call = ProxyCall(route="models", method="GET", path="models", model=None, body=None,
                     client=client)
    return forward(rt, pool, call)


@bp.get("/models/<path:model_id>")
def get_model(model_id: str):
    """One model."""
    if gemini_token(request):
        return gemini_routes.get_model(model_id)
    prepared = _prepare("models.get")
    if isinstance(prepared, Response):
        return prepared
    rt, client, pool = prepared
    try:
        model = check_model(model_id, "model")
    except BadRequest as exc:
        return reject(rt, "models.get", openai_error(
            exc.status, str(exc), param="model", code="invalid_model"), client)
    call = ProxyCall(route="models.get", method="GET", path=f"models/{quote(model, safe='/')}",
                     model=None, body=None, client=client)
    return forward(rt, pool, call)
