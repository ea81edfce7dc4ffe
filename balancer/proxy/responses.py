"""OpenAI Responses-API calls (``POST /v1/responses``), whoever sends them.

A Responses request is translated to Gemini's native API (``dialects.responses_request``)
and its answer or stream back (``responses_answer``, ``responses_stream``); the attempt
loop, key policy, limits and statistics are every other call's (``forward``), with
``responses`` as the API the request log names.

``store`` (true unless the client says false) keeps a complete response in the database
(``services.stored_responses``): what ``previous_response_id`` continues from (the
conversation's items, thought signatures included) and what ``GET /v1/responses/{id}``
returns, for ``responses_ttl_hours``, for the client token that created it only.

Which upstream dialect serves a request is decided in one place, ``upstream_dialect``:
Gemini pools get Gemini's native API; OpenAI-kind pools (Groq, OpenRouter, Mistral,
OpenAI...) their chat completions, through the native hub (``chat_bridge``): the same
native body as a chat request, the chat answer back to native and on to the same
Responses translators, so storage and ``previous_response_id`` work alike.
"""
from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any, Callable, Optional

import orjson
from flask import Response

from balancer.dialects import responses_items, responses_request
from balancer.dialects.errors import Untranslatable
from balancer.dialects.responses_answer import to_response
from balancer.dialects.responses_stream import ResponsesStream
from balancer.proxy import chat_bridge, openai_native, suffixes
from balancer.proxy.call import ProxyCall
from balancer.proxy.endings import reject
from balancer.proxy.errors import openai_error
from balancer.proxy.formats import FORMATS
from balancer.proxy.forward import forward
from balancer.proxy.openai_native import NativeChatTap, OpenAINativeFormat
from balancer.proxy.chat import route_chat
from balancer.proxy.tap import Tap
from balancer.proxy.validate import BadRequest, check_model, json_object
from balancer.runtime import ClientInfo, PoolInfo, Runtime
from balancer.services import stored_responses
from balancer.text import quoted
from balancer.upstream.providers import speaks_gemini

log = logging.getLogger(__name__)

ROUTE = "responses"
#: The API name in the request log and statistics.
API = "responses"
#: Upstream dialects a Responses request can be served in.
GEMINI_NATIVE = "gemini_native"
OPENAI_CHAT = "openai_chat"

OnDone = Callable[[dict], None]


def response_id() -> str:
    """A fresh ``resp_…`` id (OpenAI's shape: ``resp_`` and hex)."""
    return f"resp_{uuid.uuid4().hex}{uuid.uuid4().hex[:16]}"


class ResponsesNativeFormat(OpenAINativeFormat):
    """Responses to the client, Gemini's native API upstream; errors in OpenAI's shape."""

    name = "responses_native"
    client_api = API


FORMATS[ResponsesNativeFormat.name] = ResponsesNativeFormat()


class ResponsesTap(NativeChatTap):
    """A native stream as Responses events (``NativeChatTap``'s framing, a
    ``ResponsesStream`` translating); a complete response is handed to ``on_done``."""

    def __init__(self, stream: ResponsesStream, on_done: Optional[OnDone]) -> None:
        super().__init__(stream)  # type: ignore[arg-type]  # the same feed/end/error/tokens
        self._stream = stream
        self._on_done = on_done

    def finish(self) -> bytes:
        out = super().finish()
        if self._on_done is not None and self.done and self.error is None \
                and not self._stream.failed:
            self._on_done(self._stream.response())
        return out


@dataclass(frozen=True)
class ResponsesTranslation:
    """A Responses answer, whole or streamed, and what is done with it once complete."""

    ctx: responses_request.ResponsesContext
    id: str
    on_done: Optional[OnDone] = None

    def answer(self, parsed: Any) -> bytes:
        response = to_response(parsed, self.ctx, created=int(time.time()), id=self.id)
        if self.on_done is not None:
            self.on_done(response)
        return orjson.dumps(response)

    def tap(self) -> Tap:
        return ResponsesTap(ResponsesStream(self.ctx, created=int(time.time()), id=self.id),
                            self.on_done)


def upstream_dialect(pool: PoolInfo) -> str:
    """The dialect ``pool``'s upstream serves a Responses request in."""
    return GEMINI_NATIVE if speaks_gemini(pool.kind) else OPENAI_CHAT


def bad_request(rt: Runtime, exc: BadRequest, client: ClientInfo, stream: bool = False) -> Response:
    """A refused Responses request: its error in OpenAI's shape, logged as ``responses``."""
    code = exc.code or {503: "model_not_routable", 404: "not_found"}.get(exc.status,
                                                                        "invalid_request")
    return reject(rt, ROUTE, openai_error(exc.status, str(exc), param=exc.param, code=code,
                                          retry_after=exc.retry_after),
                  client, stream=stream, api_format=API)


def _storer(rt: Runtime, client: ClientInfo, model: str, items: list) -> OnDone:
    """Keeps a complete response with the conversation it ends (in the database thread:
    a stream ends outside the request, and the write must not hold the worker's loop)."""
    def store(response: dict) -> None:
        try:
            rt.services.in_database(lambda session: stored_responses.save(
                session, response["id"], client, model, items + response["output"], response))
        except Exception:  # the answer still reaches the client; only chaining is lost
            log.exception("could not store response %s", response.get("id"))
    return store


def _load(rt: Runtime, client: ClientInfo, rid: str) -> Optional[stored_responses.Stored]:
    ttl = rt.settings.current.responses_ttl_hours
    return rt.services.in_database(
        lambda session: stored_responses.load(session, rid, client, ttl))


def serve_responses(rt: Runtime, client: ClientInfo, raw: bytes) -> Response:
    """Check a Responses body, continue its stored conversation, and forward it."""
    stream = False
    try:
        body = json_object(raw)
        requested = check_model(body.get("model"))
        stream = body.get("stream", False)
        if not isinstance(stream, bool):
            raise BadRequest("'stream' must be true or false.", "stream")
        if body.get("input") is None:
            raise BadRequest("'input' is required.", "input")
        store = body.get("store", True)
        if not isinstance(store, bool):
            raise BadRequest("'store' must be true or false.", "store")
        history: list = []
        previous = body.get("previous_response_id")
        if previous is not None:
            if not isinstance(previous, str) or not previous:
                raise BadRequest("'previous_response_id' must be a string.",
                                 "previous_response_id")
            found = _load(rt, client, previous)
            if found is None:
                raise BadRequest(f"Previous response with id {quoted(previous)} not found.",
                                 "previous_response_id", code="previous_response_not_found")
            history = found.items
        route, suffix = route_chat(rt, requested)
        native_upstream = upstream_dialect(route.pool) == GEMINI_NATIVE
        # A provider's model name may hold "/" (OpenRouter's do); a Gemini path may not.
        model = openai_native._model(route.model) if native_upstream else route.model
        try:
            native, ctx = responses_request.to_native(body, model=model, history=history)
        except Untranslatable as exc:
            raise BadRequest(exc.message, exc.param) from None
        rid = response_id()
        items = history + responses_items.input_items(body)
        on_done = _storer(rt, client, requested, items) \
            if store else None
        translation = ResponsesTranslation(ctx, rid, on_done)
        if native_upstream:
            suffixes.apply_native(native, suffix)
            if route.pool.defaults:
                route.pool.defaults.apply_native(native, model)
            action = "streamGenerateContent" if stream else "generateContent"
            call = ProxyCall(route=ROUTE, method="POST", path=f"models/{model}:{action}",
                             model=model, body=orjson.dumps(native), client=client,
                             api_format=ResponsesNativeFormat.name, translation=translation,
                             stream=stream, wants_usage=True, framing="sse",
                             query={"alt": "sse"} if stream else {})
        else:
            call = chat_bridge.chat_call(native, model, route=ROUTE, stream=stream,
                                         client=client, base_url=route.pool.base_url,
                                         api_format=chat_bridge.ResponsesChatFormat.name,
                                         translation=translation)
    except BadRequest as exc:
        return bad_request(rt, exc, client, stream is True)
    return forward(rt, route.pool, call)


def get_stored(rt: Runtime, client: ClientInfo, rid: str) -> Response:
    """``GET /v1/responses/{id}``: the stored Response, or OpenAI's 404."""
    found = _load(rt, client, rid)
    if found is None:
        return _not_found(rt, client, rid, "responses.get")
    return Response(orjson.dumps(found.response), mimetype="application/json")


def delete_stored(rt: Runtime, client: ClientInfo, rid: str) -> Response:
    """``DELETE /v1/responses/{id}``: forget a stored response."""
    ttl = rt.settings.current.responses_ttl_hours
    if not rt.services.in_database(
            lambda session: stored_responses.delete(session, rid, client, ttl)):
        return _not_found(rt, client, rid, "responses.delete")
    return Response(orjson.dumps({"id": rid, "object": "response", "deleted": True}),
                    mimetype="application/json")


def _not_found(rt: Runtime, client: ClientInfo, rid: str, route: str) -> Response:
    return reject(rt, route, openai_error(404, f"Response with id {quoted(rid)} not found.",
                                          code="not_found"), client, api_format=API)
