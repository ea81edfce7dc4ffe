"""The chat path every chat takes, whoever sends it: clients of ``/v1/chat/completions``
and the admin playground (as its own client). A module without views, so that
both blueprints can share it.
"""
from __future__ import annotations

import dataclasses
import json
from typing import Optional

from flask import Response

from balancer.proxy import affinity, image_links, openai_native, shapes, suffixes
from balancer.proxy.call import ProxyCall
from balancer.proxy.endings import reject
from balancer.proxy.errors import openai_error
from balancer.proxy.forward import forward
from balancer.proxy.routing import Route, route_model
from balancer.proxy.validate import BadRequest, check_model, json_object
from balancer.runtime import ClientInfo, PoolInfo, Runtime
from balancer.upstream.providers import speaks_gemini, translates_only

#: The suffixes that exist only in Gemini's own API (Google's OpenAI layer has neither
#: the Search tool nor image output): always served natively.
NATIVE_SUFFIXES = ("-search", "-image")


def bad_request(rt: Runtime, route: str, exc: BadRequest, client: ClientInfo) -> Response:
    """A refused OpenAI-format request: its 400 (or 503 when no pool can serve), logged."""
    code = exc.code or {503: "model_not_routable", 404: "not_found"}.get(exc.status, "invalid_request")
    return reject(rt, route, openai_error(exc.status, str(exc), param=exc.param, code=code,
                                          retry_after=exc.retry_after), client)


def route_chat(rt: Runtime, requested: str) -> tuple[Route, Optional[str]]:
    """The pool and model for a request, and a model suffix meant for a Gemini pool.

    A name some pool lists is that model, even if it ends like a suffix.
    """
    base, suffix = suffixes.split_unlisted(requested, rt.settings.current, rt.catalog)
    if suffix is not None:
        route = route_model(rt.catalog, base)
        if speaks_gemini(route.pool.kind):
            return route, suffix
    return route_model(rt.catalog, requested), None


def serves_natively(rt: Runtime, pool: PoolInfo) -> bool:
    """Whether OpenAI-format requests to ``pool`` go to Gemini's own API (its
    ``openai_api`` setting is ``native``, or it has no OpenAI endpoint at all) rather
    than on as they are."""
    if translates_only(pool.kind):
        return True
    return pool.kind == "gemini" and rt.pool_settings(pool).values.openai_api == "native"


def with_model(body: dict, raw: bytes, route: Route, requested: str,
                suffix: Optional[str] = None, changed: bool = False) -> bytes:
    """The body to send: the client's bytes, unless routing renamed the model, a suffix
    applies or the caller ``changed`` the body; serialised once either way."""
    if not route.rewrites(requested) and suffix is None and not changed:
        return raw
    body["model"] = route.model
    suffixes.apply_openai(body, suffix)
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def serve_chat(rt: Runtime, client: ClientInfo, raw: bytes) -> Response:
    """Check a chat body and forward it: the one path of every chat, whoever sends it
    (clients here, the admin playground as its own client)."""
    try:
        body = json_object(raw)
        requested = check_model(body.get("model"))
        if not isinstance(body.get("messages"), list) or not body["messages"]:
            raise BadRequest("'messages' must be a non-empty array.", "messages")
        shapes.openai_chat(body)
        stream = body.get("stream", False)
        if not isinstance(stream, bool):
            raise BadRequest("'stream' must be true or false.", "stream")
        options = body.get("stream_options")
        if options is not None and not isinstance(options, dict):
            raise BadRequest("'stream_options' must be an object.", "stream_options")
        route, suffix = route_chat(rt, requested)
        # A cached content the chat uses (Google's ``cached_content`` extra) decides
        # the key, and so the pool; another client's is refused as unknown.
        pin = affinity.pin_for(rt, raw, body, client)
        if pin is not None:
            route = dataclasses.replace(route, pool=affinity.pool_of_pin(rt, pin))
        wants_usage = bool((options or {}).get("include_usage"))
        if suffix in NATIVE_SUFFIXES or serves_natively(rt, route.pool):
            call = openai_native.chat_call(body, route.model, suffix, stream=stream,
                                           client=client, defaults=route.pool.defaults)
            call.pin = pin
        else:
            if stream and not wants_usage:
                # Ask for usage on the client's behalf; the relay hides that chunk again.
                body["stream_options"] = {**(options or {}), "include_usage": True}
            defaulted = route.pool.kind == "gemini" and suffix != "-non-thinking" \
                and route.pool.defaults.apply_compat(body, route.model)
            raw = with_model(body, raw, route, requested, suffix,
                              changed=(stream and not wants_usage) or defaulted)
            call = ProxyCall(route="chat.completions", method="POST", path="chat/completions",
                             model=route.model, body=raw, stream=stream,
                             wants_usage=wants_usage, client=client, pin=pin)
        call.on_answer = image_links.for_chat(route.pool, stream)
    except BadRequest as exc:
        return bad_request(rt, "chat.completions", exc, client)
    return forward(rt, route.pool, call)


