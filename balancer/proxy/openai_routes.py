"""OpenAI-format routes: chat completions, responses, embeddings, images, speech, models.

Mounted under /v1, /openai/v1, /api/v1 and /hf/v1 (gemini-balance's prefix). Views parse and check what the
client sent, pick the pool for its model, then hand one ``ProxyCall`` to
``forward``.
"""
from __future__ import annotations

import time
from typing import Callable, Optional, Union
from urllib.parse import quote

from flask import Blueprint, Response, current_app, jsonify, request

from balancer.proxy import (anthropic_routes, gemini_routes, image_links, openai_native,
                            responses, shapes, suffixes)
from balancer.proxy.auth import anthropic_client, authenticate_openai, gemini_token
from balancer.proxy.body import read_body
from balancer.proxy.call import Answer, ProxyCall
from balancer.proxy.chat import bad_request, serve_chat, serves_natively, with_model
from balancer.proxy.endings import answered_here, reject
from balancer.proxy.errors import openai_error
from balancer.proxy.forward import forward
from balancer.proxy.routing import Route, listed_models, route_model, route_speech
from balancer.proxy.validate import BadRequest, check_model, json_object
from balancer.runtime import Catalog, ClientInfo, PoolInfo, Runtime
from balancer.text import quoted
from balancer.upstream import vertex
from balancer.upstream.providers import speaks_gemini

bp = Blueprint("openai", __name__)


def runtime() -> Runtime:
    """The process's runtime."""
    return current_app.extensions["balancer"]


def _client(route: str) -> Union[tuple[Runtime, ClientInfo], Response]:
    rt = runtime()
    client = authenticate_openai(request, rt)
    if isinstance(client, Response):
        return client  # counted in /metrics, not logged one row each
    if not rt.loaded:
        return reject(rt, route, openai_error(
            503, "Balancer is starting: no key pool is loaded yet.", code="not_ready",
            retry_after=2), client)
    return rt, client


@bp.post("/chat/completions")
def chat_completions():
    """Chat, plain or streamed."""
    prepared = _client("chat.completions")
    if isinstance(prepared, Response):
        return prepared
    rt, client = prepared
    try:
        raw = read_body(rt.body_slots, client)
    except BadRequest as exc:
        return bad_request(rt, "chat.completions", exc, client)
    return serve_chat(rt, client, raw)


@bp.post("/responses")
def create_response():
    """A Responses-API response, plain or streamed (Gemini pools natively, OpenAI-kind
    pools through their chat completions)."""
    prepared = _client(responses.ROUTE)
    if isinstance(prepared, Response):
        return prepared
    rt, client = prepared
    try:
        raw = read_body(rt.body_slots, client)
    except BadRequest as exc:
        return responses.bad_request(rt, exc, client)
    return responses.serve_responses(rt, client, raw)


@bp.get("/responses/<response_id>")
def get_response(response_id: str):
    """A stored response of the caller's."""
    prepared = _client("responses.get")
    if isinstance(prepared, Response):
        return prepared
    return responses.get_stored(*prepared, response_id)


@bp.delete("/responses/<response_id>")
def delete_response(response_id: str):
    """Forget a stored response of the caller's."""
    prepared = _client("responses.delete")
    if isinstance(prepared, Response):
        return prepared
    return responses.delete_stored(*prepared, response_id)


def _require_input(body: dict) -> None:
    if body.get("input") in (None, "", []):
        raise BadRequest("'input' is required.", "input")
    shapes.openai_embeddings(body)


def _require_prompt(body: dict) -> None:
    if not isinstance(body.get("prompt"), str) or not body["prompt"].strip():
        raise BadRequest("'prompt' must be a non-empty string.", "prompt")
    shapes.openai_images(body)


NativeCall = Callable[[dict, str, ClientInfo], ProxyCall]
Router = Callable[[Catalog, str], Route]
#: sees a whole answer before the client does; bytes returned replace its body
AnswerHook = Optional[Callable[[Answer], Optional[bytes]]]


def _forward_plain(route_name: str, path: str, check: Callable[[dict], None],
                   native: NativeCall, *, router: Router = route_model,
                   natively: Callable[[Runtime, PoolInfo], bool] = serves_natively,
                   binary: bool = False,
                   on_answer: Optional[Callable[[PoolInfo, dict], AnswerHook]] = None) -> Response:
    """A JSON call that goes upstream as sent (but for a routed model name), or
    translated for Gemini's own API when the pool serves OpenAI clients that way.

    ``router`` picks the pool for the model, ``natively`` says whether that pool gets
    the translated call, ``binary`` passes the upstream's answer through as bytes, and
    ``on_answer`` makes a hook that sees the answer before the client does.
    """
    prepared = _client(route_name)
    if isinstance(prepared, Response):
        return prepared
    rt, client = prepared
    try:
        raw = read_body(rt.body_slots, client)
        body = json_object(raw)
        requested = check_model(body.get("model"))
        check(body)
        route = router(rt.catalog, requested)
        if natively(rt, route.pool):
            call = native(body, route.model, client)
        else:
            call = ProxyCall(route=route_name, method="POST", path=path, model=route.model,
                             body=with_model(body, raw, route, requested), client=client,
                             binary=binary)
        if on_answer is not None:
            call.on_answer = on_answer(route.pool, body)
    except BadRequest as exc:
        return bad_request(rt, route_name, exc, client)
    return forward(rt, route.pool, call)


@bp.post("/embeddings")
def embeddings():
    """Embeddings."""
    return _forward_plain("embeddings", "embeddings", _require_input,
                          openai_native.embeddings_call)


@bp.post("/images/generations")
def image_generations():
    """Image generation, by the upstream of the pool that serves the model."""
    return _forward_plain("images.generations", "images/generations", _require_prompt,
                          openai_native.images_call, on_answer=image_links.for_images)


@bp.post("/audio/speech")
def audio_speech():
    """Text to speech: Gemini's TTS models on a Gemini pool (always its own API: Google's
    OpenAI layer has no speech), the upstream's ``audio/speech`` on an OpenAI-kind pool."""
    return _forward_plain(openai_native.SPEECH_ROUTE, "audio/speech", lambda body: None,
                          openai_native.speech_call, router=route_speech,
                          natively=lambda rt, pool: speaks_gemini(pool.kind), binary=True)


@bp.get("/models")
def list_models():
    """The models of every pool (from their cached lists), in OpenAI's shape."""
    if gemini_token(request):
        # GET /v1/models is also google-genai's call; its key marks it as such.
        return gemini_routes.list_models()
    if anthropic_client(request):
        # So is Anthropic's (Claude Code's model picker): its headers mark it.
        return anthropic_routes.list_models()
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
        if serves_natively(rt, pool):
            call = openai_native.models_call(client)
        else:
            call = ProxyCall(route="models", method="GET", path="models", model=None, body=None,
                             client=client)
        return forward(rt, pool, call)
    created = int(time.time())
    active = suffixes.active(rt.settings.current)
    data = []
    for model, pool in models:
        data.append({"id": model, "object": "model", "created": created, "owned_by": pool.name})
        if not speaks_gemini(pool.kind):
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
    if anthropic_client(request):
        return anthropic_routes.get_model(model_id)
    prepared = _client("models.get")
    if isinstance(prepared, Response):
        return prepared
    rt, client = prepared
    try:
        route = route_model(rt.catalog, check_model(model_id, "model"))
        if route.pool.kind == vertex.KIND:
            # No model call in express mode: the pool's own list answers.
            if route.model not in route.pool.models:
                raise BadRequest(f"The model {quoted(model_id)} does not exist.", "model",
                                 status=404, code="model_not_found")
            entry = {"id": model_id, "object": "model", "created": int(time.time()),
                     "owned_by": route.pool.name}
            return answered_here(rt, "models.get", jsonify(entry), client, api_format="openai",
                                 pool_id=route.pool.id, model=None)
        if serves_natively(rt, route.pool):
            call = openai_native.models_call(client, route.model)
        else:
            call = ProxyCall(route="models.get", method="GET",
                             path=f"models/{quote(route.model, safe='/')}", model=None,
                             body=None, client=client)
    except BadRequest as exc:
        return bad_request(rt, "models.get", exc, client)
    return forward(rt, route.pool, call)
