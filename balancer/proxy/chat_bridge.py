"""Anthropic Messages and OpenAI Responses served by an OpenAI-kind pool's chat completions.

The hub's way out to Groq, OpenRouter, Mistral, OpenAI and the like: the client's request
is translated to Gemini's native body by its own translator (``anthropic_request``,
``responses_request``), then to a chat completions request (``dialects.native_to_chat``)
and sent to ``{base_url}/chat/completions`` with the pool's keys; the provider's answer
comes back to the native hub (``dialects.chat_to_native``) and on to the same answer and
stream translators that serve Gemini pools, so both paths answer alike.

What the key policy sees is the provider's own: URL, Bearer key, error classification,
success check, usage and a stream's leading error are ``ApiFormat``'s (OpenAI's), judged
before any translation; only what the client receives is Anthropic's or Responses'.
The formats are registered in ``formats.FORMATS`` when this module is imported.

A stream is read as OpenAI SSE events; each chunk goes through ``NativeStreamFromChat``
and the native chunks it gives are framed as ``alt=sse`` events for the client's tap
(``NativeChatTap`` or ``ResponsesTap``), which then works as it does for a Gemini pool.
"""
from __future__ import annotations

import math
import re
from typing import Any, Optional
from urllib.parse import urlsplit

import orjson
from flask import Response

from balancer.dialects.anthropic_errors import error_from_upstream
from balancer.dialects.chat_to_native import NativeStreamFromChat, native_answer_from_chat
from balancer.dialects.errors import Untranslatable
from balancer.dialects.native_to_chat import chat_request_from_native
from balancer.proxy.call import ProxyCall
from balancer.proxy.errors import anthropic_error
from balancer.proxy.formats import FORMATS, ApiFormat, late_error_event
from balancer.proxy.json_scan import loads
from balancer.proxy.tap import Tap, Translation
from balancer.proxy.validate import BadRequest
from balancer.runtime import ClientInfo

#: OpenAI's own API: its reasoning models refuse ``max_tokens`` and take
#: ``max_completion_tokens``, which other providers (Mistral) refuse in turn.
OPENAI_HOST = "api.openai.com"
#: Characters per token of the ``count_tokens`` estimate (OpenAI's rule of thumb for English).
CHARS_PER_TOKEN = 4

_BOUNDARY = re.compile(rb"\r\n\r\n|\n\n|\r\r")


def max_tokens_field(base_url: str) -> str:
    """The chat field a provider takes the output limit in."""
    host = (urlsplit(base_url).hostname or "").lower()
    return "max_completion_tokens" if host == OPENAI_HOST else "max_tokens"


def chat_body(native: dict, model: str, stream: bool, base_url: str) -> dict:
    """The chat completions request for a native body, for the provider at ``base_url``.

    :raises BadRequest: naming the field with no chat counterpart.
    """
    try:
        return chat_request_from_native(native, model, stream,
                                        max_tokens_field=max_tokens_field(base_url))
    except Untranslatable as exc:
        raise BadRequest(exc.message, exc.param) from None


def chat_call(native: dict, model: str, *, route: str, stream: bool, client: ClientInfo,
              base_url: str, api_format: str, translation: Translation) -> ProxyCall:
    """The call that serves a native body from a provider's ``chat/completions``.

    :param model: the provider's model name (health is kept under it).
    :param api_format: one of this module's formats (the client's error shape).
    :raises BadRequest: as ``chat_body``.
    """
    body = chat_body(native, model, stream, base_url)
    return ProxyCall(route=route, method="POST", path="chat/completions", model=model,
                     body=orjson.dumps(body), stream=stream, client=client,
                     api_format=api_format, translation=translation)


def estimate_input_tokens(native: dict, model: str, base_url: str) -> int:
    """The input tokens a native body would take at a provider that has no token counter:
    the characters of its chat ``messages`` and ``tools`` as JSON, divided by
    ``CHARS_PER_TOKEN`` (an estimate; tokenizers differ per model).

    :raises BadRequest: as ``chat_body``.
    """
    body = chat_body(native, model, False, base_url)
    text = orjson.dumps([body.get("messages"), body.get("tools")]).decode("utf-8")
    return max(1, math.ceil(len(text) / CHARS_PER_TOKEN))


class ChatBridgeTap:
    """A chat completions stream as native events, handed to the client's native tap."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner  # NativeChatTap or ResponsesTap: feed/finish/tokens/error_event
        self._chat = NativeStreamFromChat()
        self._pending: list[bytes] = []
        self._tail = b""
        #: the provider ended the answer ([DONE] or a finish_reason): unlike a cut stream,
        #: what the translator still holds may finish it.
        self._complete = False

    @property
    def error(self) -> Optional[dict]:
        return self._inner.error

    @property
    def done(self) -> bool:
        return self._inner.done

    def tokens(self) -> tuple[int, int]:
        return self._inner.tokens()

    def error_event(self, message: str, reason: str) -> bytes:
        return self._inner.error_event(message, reason)

    def feed(self, chunk: bytes) -> bytes:
        """Take upstream bytes; return the client's events for the chunks they complete."""
        if self._pending and not _BOUNDARY.search(self._tail + chunk):
            # Only where the new bytes meet the held ones can a boundary appear.
            self._pending.append(chunk)
            self._tail = (self._tail + chunk)[-3:]
            return b""
        data = b"".join(self._pending) + chunk
        self._pending = []
        events = _BOUNDARY.split(data)
        rest = events.pop()
        if rest:
            self._pending, self._tail = [rest], rest[-3:]
        return b"".join(self._event(e) for e in events)

    def finish(self) -> bytes:
        """The upstream ended: its last event, what the translator holds if the answer
        was complete, then the client tap's own ending."""
        rest, self._pending = b"".join(self._pending), []
        out = self._event(rest) if rest.strip() else b""
        if self._complete and self._inner.error is None:
            out += self._native(self._chat.finish())
        return out + self._inner.finish()

    def _event(self, event: bytes) -> bytes:
        event = event.strip()
        if event.startswith((b"{", b"[")):
            payload = event  # a bare JSON error, as some providers end a stream
        else:
            # Comment lines (OpenRouter's ": OPENROUTER PROCESSING") and event names carry
            # nothing for the client's dialect, which sends its own keep-alives.
            lines = [line[5:].strip() for line in event.splitlines() if line.startswith(b"data:")]
            if not lines:
                return b""
            payload = b"\n".join(lines)
        if payload == b"[DONE]":
            self._complete = True
            return b""
        obj = loads(payload)
        if not isinstance(obj, dict):
            return b""
        if isinstance(obj.get("error"), dict):
            return self._native([{"error": obj["error"]}])
        choices = obj.get("choices")
        if isinstance(choices, list) and any(isinstance(c, dict) and c.get("finish_reason")
                                             for c in choices):
            self._complete = True
        return self._native(self._chat.feed(obj))

    def _native(self, chunks: list[dict]) -> bytes:
        return b"".join(self._inner.feed(b"data: " + orjson.dumps(c) + b"\n\n") for c in chunks)


class ChatBridgeFormat(ApiFormat):
    """A translated dialect to the client, an OpenAI-kind provider's chat upstream.

    Everything upstream-facing is ``ApiFormat``'s; answers and streams go through the
    native hub to the call's ``translation``.
    """

    name = "chat_bridge"
    client_api = "openai"

    def answer(self, parsed: Any, body: bytes, call: ProxyCall) -> bytes:
        assert call.translation is not None
        return call.translation.answer(native_answer_from_chat(parsed))

    def new_tap(self, call: ProxyCall) -> Tap:
        assert call.translation is not None
        return ChatBridgeTap(call.translation.tap())  # type: ignore[return-value]

    def stream_error(self, tap: Tap, message: str, reason: str) -> bytes:
        return tap.error_event(message, reason)  # type: ignore[attr-defined]

    def late_error(self, call: ProxyCall, out: Response) -> bytes:
        return late_error_event(self, call, out)


class AnthropicChatFormat(ChatBridgeFormat):
    """Anthropic Messages to the client, chat completions upstream."""

    name = "anthropic_chat"
    client_api = "anthropic"

    def error(self, status: int, message: str, *, code: Optional[str] = None,
              param: Optional[str] = None, retry_after: Optional[float] = None) -> Response:
        return anthropic_error(status, message, retry_after=retry_after)

    def upstream_error(self, status: int, body: bytes, secrets: tuple[str, ...]) -> bytes:
        return error_from_upstream(status, body, secrets)


class ResponsesChatFormat(ChatBridgeFormat):
    """OpenAI Responses to the client, chat completions upstream; errors in OpenAI's shape."""

    name = "responses_chat"
    client_api = "responses"


for _fmt in (AnthropicChatFormat(), ResponsesChatFormat()):
    FORMATS[_fmt.name] = _fmt
