"""What differs between the client-facing APIs (OpenAI's, Gemini's own).

The attempt loop and the relay are the same for both; they ask an
``ApiFormat`` for the upstream URL and auth header, how to judge and count a
success, how to shape errors for the client, and how to watch a stream.
"""
from __future__ import annotations

import dataclasses
import json
import re
from typing import TYPE_CHECKING, Any, Mapping, Optional
from urllib.parse import urlencode

from flask import Response

from balancer.keypool.outcome import Verdict
from balancer.proxy import gemini_stream, whole_stream
from balancer.proxy.errors import google_error, openai_error, openai_stream_error
from balancer.proxy.sse import OpenAIStreamTap, leading_error, usage_tokens
from balancer.proxy.tap import EVENT_TOO_LARGE, Tap
from balancer.upstream import gemini, gemini_layers
from balancer.upstream.providers import Provider, openai_error_from_upstream
from balancer.upstream.sanitize import redact

if TYPE_CHECKING:
    from balancer.proxy.call import ProxyCall


class ApiFormat:
    """The OpenAI API as clients speak it (and Balancer's default)."""

    name = "openai"

    def url(self, provider: Provider, base: str, call: "ProxyCall") -> str:
        """The upstream URL of a call."""
        return _with_query(provider.openai_url(base, call.path), call.query)

    def auth_headers(self, provider: Provider, key: str) -> dict:
        """The upstream key, as the upstream wants it for this API."""
        return provider.auth_headers(key)

    def classify(self, provider: Provider, status: int, headers: Mapping[str, str], body: bytes,
                 now: float, secrets: tuple[str, ...]) -> Verdict:
        """What an error answer means for the key and the request.

        On a Gemini pool this API is Google's OpenAI-compatible layer, which refuses
        some keys by their kind (``gemini.on_openai_layer``).
        """
        verdict = provider.classify(status, headers, body, now, secrets=secrets)
        return gemini_layers.on_openai_layer(verdict) if provider.kind == "gemini" else verdict

    def check_success(self, provider: Provider, parsed: Any) -> Optional[Verdict]:
        """A failure verdict for a 2xx body that is no answer (empty), else None."""
        return provider.check_success(parsed)

    def usage(self, parsed: Any) -> tuple[int, int]:
        """(input, output) tokens of a whole JSON answer."""
        return usage_tokens(parsed.get("usage") if isinstance(parsed, dict) else None)

    def answer(self, parsed: Any, body: bytes, call: "ProxyCall") -> bytes:
        """The bytes of a whole answer as the client gets them: the upstream's own,
        unless this format speaks another API than the upstream it calls."""
        return body

    def error(self, status: int, message: str, *, code: Optional[str] = None,
              param: Optional[str] = None, retry_after: Optional[float] = None) -> Response:
        """An error Balancer itself answers, in this API's shape."""
        return openai_error(status, message, code=code, param=param, retry_after=retry_after)

    def upstream_error(self, status: int, body: bytes, secrets: tuple[str, ...]) -> bytes:
        """An upstream error body, reshaped for this API's clients, secrets removed."""
        return openai_error_from_upstream(status, body, secrets)

    def new_tap(self, call: "ProxyCall") -> Tap:
        """A fresh tap for one stream."""
        return OpenAIStreamTap(hide_usage_chunk=not call.wants_usage)

    def leading_error(self, first: bytes, call: "ProxyCall") -> Optional[dict]:
        """The error object when a stream's first event is one."""
        return leading_error(first)

    def answered(self, start: bytes) -> bool:
        """Whether the start of a stream holds something of an answer (text, a tool
        call, a finish reason): until then nothing is sent, so that a stream that
        ends empty can still be retried on another key."""
        return _OPENAI_ANSWER.search(start) is not None

    def stream_error(self, tap: Tap, message: str, reason: str) -> bytes:
        """Bytes that end a broken stream so the client's SDK raises."""
        return openai_stream_error(message, code=reason or "upstream_error")

    def stream_mimetype(self, call: "ProxyCall") -> str:
        """The content type of a relayed stream."""
        return "text/event-stream"

    def late_error(self, call: "ProxyCall", out: Response) -> bytes:
        """An error answer that came after keep-alives had already opened the client's
        200 stream: the event that ends the stream so the client's SDK raises with it.

        OpenAI's and Gemini's SSE clients both read ``data: {"error": ...}``, the
        envelope their error bodies already have.
        """
        err = error_object(out)
        return b"data: " + json.dumps({"error": err}).encode() + b"\n\n"

    def unstreamed(self, call: "ProxyCall") -> "ProxyCall":
        """A stream call asking upstream for the whole answer instead (``fake_stream``)."""
        body = whole_stream.unstreamed_chat_body(call.body) if call.body else call.body
        return dataclasses.replace(call, stream=False, fake_stream=True, body=body)

    def stream_event(self, parsed: Any, call: "ProxyCall") -> bytes:
        """A whole answer as the upstream stream this call's tap reads."""
        return whole_stream.chat_events(parsed)


class GeminiFormat(ApiFormat):
    """Gemini's own API (generateContent, streamGenerateContent, ...)."""

    name = "gemini"

    def url(self, provider: Provider, base: str, call: "ProxyCall") -> str:
        return _with_query(provider.native_url(base, call.api_version, call.path), call.query)

    def auth_headers(self, provider: Provider, key: str) -> dict:
        return gemini.native_headers(key)

    def classify(self, provider: Provider, status: int, headers: Mapping[str, str], body: bytes,
                 now: float, secrets: tuple[str, ...]) -> Verdict:
        verdict = provider.classify(status, headers, body, now, secrets=secrets)
        return gemini_layers.on_native_api(verdict)

    def check_success(self, provider: Provider, parsed: Any) -> Optional[Verdict]:
        return gemini.check_success(parsed, compat=False)

    def usage(self, parsed: Any) -> tuple[int, int]:
        meta = parsed.get("usageMetadata") if isinstance(parsed, dict) else None
        return gemini_stream.native_usage_tokens(meta)

    def error(self, status: int, message: str, *, code: Optional[str] = None,
              param: Optional[str] = None, retry_after: Optional[float] = None) -> Response:
        return google_error(status, message, retry_after=retry_after)

    def upstream_error(self, status: int, body: bytes, secrets: tuple[str, ...]) -> bytes:
        """Google's envelope as the upstream sent it (unwrapped from a list), redacted."""
        try:
            parsed = json.loads(body or b"null")
        except ValueError:
            parsed = None
        if isinstance(parsed, list) and len(parsed) == 1:
            parsed = parsed[0]
        if not (isinstance(parsed, dict) and isinstance(parsed.get("error"), dict)):
            text = body.decode("utf-8", "replace")[:500] if body else f"upstream answered {status}"
            return google_error(status, redact(text, secrets)).get_data()
        return redact(json.dumps(parsed), secrets).encode()

    def new_tap(self, call: "ProxyCall") -> Tap:
        if call.framing == "sse":
            return gemini_stream.GeminiSSETap()
        return gemini_stream.GeminiArrayTap()

    def leading_error(self, first: bytes, call: "ProxyCall") -> Optional[dict]:
        return gemini_stream.leading_error(first, call.framing)

    def answered(self, start: bytes) -> bool:
        return _GEMINI_ANSWER.search(start) is not None

    def stream_error(self, tap: Tap, message: str, reason: str) -> bytes:
        if reason == EVENT_TOO_LARGE:
            return tap.error_tail(message, 502, "UNAVAILABLE")  # type: ignore[attr-defined]
        return tap.error_tail(message)  # type: ignore[attr-defined]

    def stream_mimetype(self, call: "ProxyCall") -> str:
        return "text/event-stream" if call.framing == "sse" else "application/json"

    def unstreamed(self, call: "ProxyCall") -> "ProxyCall":
        path, query = whole_stream.unstreamed_gemini_path(call.path, call.query)
        return dataclasses.replace(call, stream=False, fake_stream=True, path=path, query=query)

    def stream_event(self, parsed: Any, call: "ProxyCall") -> bytes:
        return whole_stream.gemini_event(parsed, call.framing)


def error_object(out: Response) -> dict:
    """The ``error`` object of an error response in any dialect's envelope."""
    try:
        body = json.loads(out.get_data() or b"null")
    except ValueError:
        body = None
    err = body.get("error") if isinstance(body, dict) else None
    if isinstance(err, dict) and err.get("message"):
        return err
    return {"code": out.status_code, "message": f"The upstream answered {out.status_code}."}


def late_error_event(fmt: ApiFormat, call: "ProxyCall", out: Response) -> bytes:
    """``late_error`` for a dialect with its own stream events: the end a fresh tap of
    the call's translation gives a broken stream (Anthropic's ``event: error``, the
    Responses API's ``response.failed``)."""
    err = error_object(out)
    code = err.get("code") or err.get("type") or err.get("status") or "upstream_error"
    return fmt.stream_error(fmt.new_tap(call), str(err["message"]), str(code))


#: Marks of an answer in a stream's bytes (a cheap search; a full parse is not needed
#: to know that something worth relaying has come).
_OPENAI_ANSWER = re.compile(
    rb'"(?:content|refusal|reasoning|reasoning_content)"\s*:\s*"[^"]'
    rb'|"tool_calls"\s*:\s*\[\s*\{|"function_call"\s*:\s*\{|"finish_reason"\s*:\s*"')
_GEMINI_ANSWER = re.compile(rb'"parts"\s*:\s*\[\s*\{|"finishReason"\s*:|"blockReason"\s*:')


def _with_query(url: str, query: Optional[dict]) -> str:
    return f"{url}?{urlencode(query)}" if query else url


FORMATS: dict[str, ApiFormat] = {"openai": ApiFormat(), "gemini": GeminiFormat()}
