"""OpenAI-format calls served by Gemini's own API, through the ``balancer.dialects`` translators.

A Gemini pool serves OpenAI clients this way when its ``openai_api`` setting is
``native`` (the default: Gemini's native API takes every kind of key, auth keys
included), and always for the ``-search`` and ``-image`` suffixes, which Google's
OpenAI layer cannot offer. Chat goes to ``generateContent`` or
``streamGenerateContent?alt=sse``, embeddings to ``batchEmbedContents``, image
generation to ``generateContent`` with image output (``:predict`` for Imagen), speech
to ``generateContent`` with audio output (always: Google's OpenAI layer has none), model
lists to the native list; each answer (or stream) comes back in OpenAI's shape (speech
as the audio bytes themselves).

What the key policy sees is untouched by all this: the upstream's own status and
body are classified before any translation (``OpenAINativeFormat`` judges, counts
and reads streams as ``GeminiFormat`` does); only what the client receives is
OpenAI's. ``OpenAINativeFormat`` is registered in ``formats.FORMATS`` when this
module is imported (``chat`` and ``openai_routes`` import it).
"""
from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Optional

import orjson
from flask import Response

from balancer.dialects import chat_request, embeddings, images, models, speech
from balancer.dialects.chat_answer import to_chat
from balancer.dialects.chat_stream import ChatStream
from balancer.dialects.errors import Untranslatable
from balancer.keypool.outcome import Verdict
from balancer.proxy import suffixes, whole_stream
from balancer.proxy.call import ProxyCall
from balancer.proxy.formats import FORMATS, ApiFormat, GeminiFormat, late_error_event
from balancer.proxy.gemini_stream import GeminiSSETap, _data_of
from balancer.proxy.json_scan import loads
from balancer.proxy.tap import Tap
from balancer.proxy.validate import BadRequest
from balancer.runtime import ClientInfo
from balancer.text import quoted
from balancer.upstream.providers import Provider
from balancer.upstream.request_defaults import RequestDefaults

#: How a whole native SSE event ends (Gemini's own framing, or CRLF as Vertex sends it).
_EVENT_ENDS = (b"\n\n", b"\r\n\r\n")
#: The route name of text-to-speech in the request log and statistics.
SPEECH_ROUTE = "audio.speech"
#: A native model list is paged; one page this large holds any real catalogue.
MODELS_PAGE = "1000"
def _dumps(doc: Any) -> bytes:
    return orjson.dumps(doc)


def completion_id() -> str:
    """A fresh ``chatcmpl-…`` id."""
    return f"chatcmpl-{uuid.uuid4().hex[:24]}"


# --- translations of one call's answer ---------------------------------------------------


@dataclass(frozen=True)
class ChatTranslation:
    """A chat answer, whole or streamed, as OpenAI's ``chat.completion`` (``.chunk``s)."""

    ctx: chat_request.ChatContext

    def answer(self, parsed: Any) -> bytes:
        """The ``chat.completion``."""
        return _dumps(to_chat(parsed, self.ctx, created=int(time.time()), id=completion_id()))

    def tap(self) -> Tap:
        """A tap that turns native events into chunks as they come."""
        return NativeChatTap(ChatStream(self.ctx, created=int(time.time()), id=completion_id()))


@dataclass(frozen=True)
class Reshape:
    """A whole answer of another kind (embeddings, images, models), reshaped once."""

    shape: Callable[[Any], dict]

    def answer(self, parsed: Any) -> bytes:
        """The OpenAI document."""
        return _dumps(self.shape(parsed))

    def tap(self) -> Tap:
        """Never called: these answers do not stream."""
        raise TypeError("this answer does not stream")


@dataclass(frozen=True)
class SpeechTranslation:
    """A TTS answer as the audio bytes OpenAI's ``audio/speech`` sends."""

    ctx: speech.SpeechContext

    def answer(self, parsed: Any) -> bytes:
        """The audio (WAV or raw PCM)."""
        return speech.to_audio(parsed, self.ctx)

    def tap(self) -> Tap:
        """Never called: speech is answered whole."""
        raise TypeError("this answer does not stream")


class NativeChatTap(GeminiSSETap):
    """A native ``alt=sse`` stream as OpenAI chunks, event by event.

    The framing (events, bare JSON errors) is read as ``GeminiSSETap`` reads it; each
    event is parsed once and handed to ``dialects.ChatStream``, whose bytes are what
    goes out and which knows the usage and whether the answer finished.
    """

    def __init__(self, chat: ChatStream) -> None:
        super().__init__()
        self._chat = chat

    def feed(self, chunk: bytes) -> bytes:
        """Take upstream bytes; return the chunks for the events they complete."""
        if not self._buf and self._bare is None and chunk.startswith(b"data: ") \
                and chunk.endswith(_EVENT_ENDS):
            # The usual chunk: exactly one whole single-line event, as Gemini sends them.
            payload = chunk[6:].rstrip(b"\r\n")
            if b"\n" not in payload and b"\r" not in payload:
                return self._translate(payload)
        out = super().feed(chunk)
        # Blank bytes between events are the native framing's, not the client's.
        return out if out.strip() else b""

    def finish(self) -> bytes:
        """The upstream ended: its last event, then the finishing chunks, usage and
        ``[DONE]`` if the answer finished (if not, the relay ends it with an error)."""
        out = super().finish()
        out = out if out.strip() else b""
        if self.done and self.error is None:
            out += self._chat.end()
        return out

    def tokens(self) -> tuple[int, int]:
        """(prompt, completion) tokens as the client's usage counts them."""
        return self._chat.tokens()

    def error_event(self, message: str, reason: str) -> bytes:
        """The event that ends a broken stream so that OpenAI SDKs raise."""
        return self._chat.error(message, code=reason or "upstream_error")

    def _event(self, event: bytes) -> bytes:
        payload = _data_of(event)
        return b"" if payload is None else self._translate(payload)

    def _data_event(self, event: bytes, payload: bytes) -> bytes:
        return self._translate(payload)

    def _bare_value(self, raw: bytes) -> bytes:
        # A bare JSON value between events: Gemini's way of ending a stream with an error.
        return self._translate(raw)

    def _translate(self, payload: bytes) -> bytes:
        # Parsed once: the translator needs every event whole anyway, and what the relay
        # asks of the tap (an in-band error, a finished answer) is read off the same dict.
        obj = loads(payload)
        if not isinstance(obj, dict):
            return b""
        error = obj.get("error")
        if isinstance(error, dict) and self.error is None:
            self.error = error
        out = self._chat.feed(obj)
        self.done = self._chat.finished
        return out


class OpenAINativeFormat(ApiFormat):
    """OpenAI to the client, Gemini's native API upstream.

    URL, key header, success check, usage and a stream's leading error are the
    native API's (``GeminiFormat``); errors reach the client in OpenAI's shape
    (``ApiFormat``'s); answers and streams through the call's ``translation``.
    """

    name = "openai_native"
    #: The API the client speaks, for the request log (``name`` says how it is served).
    client_api = "openai"

    _native = GeminiFormat()

    def url(self, provider: Provider, base: str, call: ProxyCall) -> str:
        return self._native.url(provider, base, call)

    def auth_headers(self, provider: Provider, key: str) -> dict:
        return self._native.auth_headers(provider, key)

    def classify(self, provider: Provider, status: int, headers: Mapping[str, str], body: bytes,
                 now: float, secrets: tuple[str, ...]) -> Verdict:
        return self._native.classify(provider, status, headers, body, now, secrets)

    def check_success(self, provider: Provider, parsed: Any) -> Optional[Verdict]:
        return self._native.check_success(provider, parsed)

    def usage(self, parsed: Any) -> tuple[int, int]:
        return self._native.usage(parsed)

    def leading_error(self, first: bytes, call: ProxyCall) -> Optional[dict]:
        return self._native.leading_error(first, call)

    def answered(self, start: bytes) -> bool:
        return self._native.answered(start)

    def answer(self, parsed: Any, body: bytes, call: ProxyCall) -> bytes:
        assert call.translation is not None
        return call.translation.answer(parsed)

    def new_tap(self, call: ProxyCall) -> Tap:
        assert call.translation is not None
        return call.translation.tap()

    def stream_error(self, tap: Tap, message: str, reason: str) -> bytes:
        return tap.error_event(message, reason)  # type: ignore[attr-defined]

    def late_error(self, call: ProxyCall, out: Response) -> bytes:
        return late_error_event(self, call, out)

    def unstreamed(self, call: ProxyCall) -> ProxyCall:
        return self._native.unstreamed(call)

    def stream_event(self, parsed: Any, call: ProxyCall) -> bytes:
        # The translation's tap reads Gemini's SSE events.
        return whole_stream.gemini_event(parsed, "sse")


FORMATS[OpenAINativeFormat.name] = OpenAINativeFormat()


# --- the calls ---------------------------------------------------------------------------


def _model(model: str) -> str:
    """A Gemini model id for a path; ``/`` or ``:`` would name another resource or method."""
    model = model.removeprefix("models/")
    if not model or "/" in model or ":" in model:
        raise BadRequest(f"{quoted(model)} is not a Gemini model name.", "model")
    return model


def _body(native: dict) -> bytes:
    return _dumps(native)


def _translated(to_native: Callable[..., tuple[dict, Any]], body: dict,
                model: str) -> tuple[dict, Any]:
    """``to_native(body, model=model)``, its refusal as the client's 400 naming the field."""
    try:
        return to_native(body, model=model)
    except Untranslatable as exc:
        raise BadRequest(exc.message, exc.param) from None


def _call(route: str, path: str, model: Optional[str], native: Optional[dict],
          translation: Any, client: ClientInfo, **fields: Any) -> ProxyCall:
    return ProxyCall(route=route, method="POST" if native is not None else "GET", path=path,
                     model=model, body=_body(native) if native is not None else None,
                     client=client, api_format=OpenAINativeFormat.name, translation=translation,
                     **fields)


def chat_call(body: dict, model: str, suffix: Optional[str], *, stream: bool, client: ClientInfo,
              defaults: Optional[RequestDefaults] = None) -> ProxyCall:
    """The call that serves an OpenAI chat ``body`` from ``models/{model}`` natively.

    :param model: the routed base model (health is kept under it); the answer reports
        the name the client asked for.
    :param suffix: a model-name suffix whose option applies (``-search`` ...), or None.
    :param defaults: the pool's request defaults; they fill what the request left unset,
        as they do for the Gemini API's own clients.
    :raises BadRequest: for what has no faithful Gemini counterpart, naming the field.
    """
    model = _model(model)
    native, ctx = _translated(chat_request.to_native, body, model)
    suffixes.apply_native(native, suffix)
    if defaults:
        defaults.apply_native(native, model)
    action = "streamGenerateContent" if stream else "generateContent"
    return _call("chat.completions", f"models/{model}:{action}", model, native,
                 ChatTranslation(ctx), client, stream=stream, wants_usage=ctx.include_usage,
                 framing="sse", query={"alt": "sse"} if stream else {})


def embeddings_call(body: dict, model: str, client: ClientInfo) -> ProxyCall:
    """OpenAI embeddings as one ``batchEmbedContents`` call.

    :raises BadRequest: for what Gemini's embeddings cannot be given, naming the field.
    """
    model = _model(model)
    native, ctx = _translated(embeddings.to_native, body, model)
    return _call("embeddings", f"models/{model}:batchEmbedContents", model, native,
                 Reshape(lambda parsed: embeddings.to_openai(parsed, ctx)), client)


def images_call(body: dict, model: str, client: ClientInfo) -> ProxyCall:
    """OpenAI image generation as a ``generateContent`` call asking for image output, or
    a ``:predict`` call for an Imagen model.

    :raises BadRequest: for what Gemini's image output cannot be given, naming the field.
    """
    model = _model(model)
    native, ctx = _translated(images.to_native, body, model)
    return _call("images.generations", f"models/{model}:{images.method_for(model)}", model, native,
                 Reshape(lambda parsed: images.to_openai(parsed, ctx, created=int(time.time()))),
                 client)


def speech_call(body: dict, model: str, client: ClientInfo) -> ProxyCall:
    """OpenAI text-to-speech as a ``generateContent`` call asking for audio output; the
    answer is the audio itself, with its own Content-Type.

    :raises BadRequest: for what Gemini's speech models cannot be given, naming the field.
    """
    model = _model(model)
    native, ctx = _translated(speech.to_native, body, model)
    return _call(SPEECH_ROUTE, f"models/{model}:generateContent", model, native,
                 SpeechTranslation(ctx), client, answer_type=ctx.content_type)


def models_call(client: ClientInfo, model: Optional[str] = None) -> ProxyCall:
    """The native model list (one page as large as Gemini gives) or one model, as OpenAI's."""
    created = int(time.time())
    if model is None:
        return _call("models", "models", None, None,
                     Reshape(lambda parsed: models.to_openai_list(parsed, created=created)),
                     client, query={"pageSize": MODELS_PAGE})
    return _call("models.get", f"models/{_model(model)}", None, None,
                 Reshape(lambda parsed: models.to_openai_model(parsed, created=created)), client)
