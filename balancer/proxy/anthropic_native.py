"""Anthropic Messages served by Gemini's own API, through the ``balancer.dialects`` translators.

``POST /v1/messages`` goes to ``generateContent`` or ``streamGenerateContent?alt=sse``,
``/v1/messages/count_tokens`` to ``countTokens``; each answer (or stream) comes back in
Anthropic's shape, errors too. As for OpenAI clients served natively, what the key
policy sees is untouched: ``AnthropicNativeFormat`` judges, counts and reads streams as
the native API's format does (``OpenAINativeFormat``'s), and only what the client
receives is Anthropic's. It is registered in ``formats.FORMATS`` on import.

``upstream_dialect`` is the one place that decides how a pool serves Messages: Gemini
pools natively; OpenAI-kind pools through their chat completions (``chat_bridge``: the
native body as a chat request, the chat answer back to native and on to the same
translators). ``count_tokens`` has no counterpart there: it is estimated
(``chat_bridge.estimate_input_tokens``) without an upstream call.
"""
from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any, Optional

import orjson
from flask import Response

from balancer.dialects import anthropic_request
from balancer.dialects.anthropic_answer import message_id, to_message
from balancer.dialects.anthropic_errors import error_from_upstream
from balancer.dialects.anthropic_stream import AnthropicStream
from balancer.proxy import chat_bridge
from balancer.proxy.call import ProxyCall
from balancer.proxy.errors import anthropic_error
from balancer.proxy.formats import FORMATS
from balancer.proxy.openai_native import (NativeChatTap, OpenAINativeFormat, Reshape, _model,
                                          _translated)
from balancer.proxy.tap import Tap
from balancer.runtime import ClientInfo, PoolInfo
from balancer.upstream.providers import speaks_gemini
from balancer.upstream.request_defaults import RequestDefaults

#: ``upstream_dialect``'s answer for a pool that serves Messages from Gemini's own API.
GEMINI_NATIVE = "gemini_native"
#: ... and for one that serves them through its provider's chat completions.
OPENAI_CHAT = "openai_chat"


def upstream_dialect(pool: PoolInfo) -> str:
    """The dialect a Messages request to ``pool`` is sent upstream in."""
    return GEMINI_NATIVE if speaks_gemini(pool.kind) else OPENAI_CHAT


def new_message_id() -> str:
    """A fresh ``msg_…`` id."""
    return message_id(uuid.uuid4().hex[:24])


@dataclass(frozen=True)
class MessagesTranslation:
    """A Messages answer, whole or streamed, as Anthropic's ``message`` (or events)."""

    ctx: anthropic_request.AnthropicContext

    def answer(self, parsed: Any) -> bytes:
        """The ``message``."""
        return orjson.dumps(to_message(parsed, self.ctx, id=new_message_id()))

    def tap(self) -> Tap:
        """A tap that turns native events into Anthropic events as they come."""
        # The tap reads the native framing and asks its translator only what ChatStream
        # offers (feed, end, error, tokens, finished), which AnthropicStream offers too.
        stream = AnthropicStream(self.ctx, id=new_message_id())
        return NativeChatTap(stream)  # type: ignore[arg-type]


class AnthropicNativeFormat(OpenAINativeFormat):
    """Anthropic to the client, Gemini's native API upstream."""

    name = "anthropic_native"
    client_api = "anthropic"

    def error(self, status: int, message: str, *, code: Optional[str] = None,
              param: Optional[str] = None, retry_after: Optional[float] = None) -> Response:
        return anthropic_error(status, message, retry_after=retry_after)

    def upstream_error(self, status: int, body: bytes, secrets: tuple[str, ...]) -> bytes:
        return error_from_upstream(status, body, secrets)


FORMATS[AnthropicNativeFormat.name] = AnthropicNativeFormat()


def messages_call(body: dict, model: str, *, stream: bool, client: ClientInfo,
                  defaults: Optional[RequestDefaults] = None) -> ProxyCall:
    """The call that serves a Messages ``body`` from ``models/{model}`` natively.

    :param model: the routed Gemini model; the answer reports the name the client asked for.
    :param defaults: the pool's request defaults, filling what the request left unset.
    :raises BadRequest: for what has no faithful Gemini counterpart, naming the field.
    """
    model = _model(model)
    native, ctx = _translated(anthropic_request.to_native, body, model)
    if defaults:
        defaults.apply_native(native, model)
    action = "streamGenerateContent" if stream else "generateContent"
    return ProxyCall(route="messages", method="POST", path=f"models/{model}:{action}",
                     model=model, body=orjson.dumps(native), stream=stream, client=client,
                     api_format=AnthropicNativeFormat.name,
                     translation=MessagesTranslation(ctx), framing="sse",
                     query={"alt": "sse"} if stream else {})


def messages_chat_call(body: dict, model: str, *, stream: bool, client: ClientInfo,
                       base_url: str) -> ProxyCall:
    """The call that serves a Messages ``body`` from an OpenAI-kind provider's chat
    completions at ``base_url``, through the native hub.

    :param model: the provider's model name; the answer reports the name the client asked for.
    :raises BadRequest: for what has no faithful native or chat counterpart, naming the field.
    """
    native, ctx = _translated(anthropic_request.to_native, body, model)
    return chat_bridge.chat_call(native, model, route="messages", stream=stream, client=client,
                                 base_url=base_url, api_format=chat_bridge.AnthropicChatFormat.name,
                                 translation=MessagesTranslation(ctx))


def estimated_tokens(body: dict, model: str, base_url: str) -> dict:
    """``{"input_tokens": N}`` estimated for a pool with no token counter (see
    ``chat_bridge.estimate_input_tokens``).

    :raises BadRequest: as ``messages_chat_call``.
    """
    native, _ = _translated(anthropic_request.to_native, body, model)
    return {"input_tokens": chat_bridge.estimate_input_tokens(native, model, base_url)}


def count_tokens_call(body: dict, model: str, client: ClientInfo) -> ProxyCall:
    """``countTokens`` for what a Messages ``body`` would send, answered ``{"input_tokens": N}``.

    :raises BadRequest: as ``messages_call``.
    """
    model = _model(model)
    native, _ = _translated(anthropic_request.to_native, body, model)
    native.pop("generationConfig", None)  # countTokens counts the input only
    request = {"generateContentRequest": {"model": f"models/{model}", **native}}
    return ProxyCall(route="messages.count_tokens", method="POST",
                     path=f"models/{model}:countTokens", model=model,
                     body=orjson.dumps(request), client=client,
                     api_format=AnthropicNativeFormat.name,
                     translation=Reshape(_input_tokens))


def _input_tokens(parsed: Any) -> dict:
    total = parsed.get("totalTokens") if isinstance(parsed, dict) else None
    return {"input_tokens": total if isinstance(total, int) else 0}


def model_entry(model_id: str, display: str, created: float) -> dict:
    """One model of an Anthropic model list."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(created))
    return {"type": "model", "id": model_id, "display_name": display, "created_at": stamp}
