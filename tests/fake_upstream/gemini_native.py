"""Gemini's native API under ``/v1beta`` and ``/v1`` (reference sections 1 and 2)."""

from __future__ import annotations

import base64
import binascii
from typing import Any, Optional

from . import answers, catalogue, content, imagen, native_answer, tts
from . import google_errors as gerr
from .behaviours import KIND_GENERATE, KIND_META, KIND_OTHER, KIND_STREAM, Script
from .flavour import Flavour
from .wire import (
    GOOGLE_HEADERS,
    JSON_TYPE,
    SSE_TYPE,
    Call,
    Reply,
    auth_key_malformed,
    dumps_google,
    dumps_pretty,
    stream,
)

_ACTIONS = {
    "generateContent": KIND_GENERATE,
    "streamGenerateContent": KIND_STREAM,
    "countTokens": KIND_OTHER,
    "embedContent": KIND_OTHER,
    "batchEmbedContents": KIND_OTHER,
    # Imagen: per-model quota and scripted modes as for generation.
    "predict": KIND_GENERATE,
}
# GenerateContentRequest fields; proto JSON accepts both spellings.
_REQUEST_FIELDS = frozenset(
    {
        "model",
        "contents",
        "tools",
        "toolConfig",
        "tool_config",
        "safetySettings",
        "safety_settings",
        "systemInstruction",
        "system_instruction",
        "generationConfig",
        "generation_config",
        "cachedContent",
        "cached_content",
    }
)
_PAGE_DEFAULT, _PAGE_MAX = 50, 1000


def _headers(content_type: str = JSON_TYPE) -> list[tuple[str, str]]:
    return [("Content-Type", content_type), *GOOGLE_HEADERS]


def page_token(last_name: str) -> str:
    """An opaque page token: base64 of a tiny protobuf holding the last model name."""
    raw = last_name.encode()
    return base64.b64encode(b"\n" + bytes([len(raw)]) + raw).decode("ascii")


def _page_start(token: str) -> Optional[int]:
    try:
        raw = base64.b64decode(token, validate=True)
    except (binascii.Error, ValueError):
        return None
    names = [m["name"] for m in catalogue.GEMINI_MODELS]
    name = raw[2 : 2 + raw[1]].decode("utf-8", "replace") if len(raw) > 2 else ""
    return names.index(name) + 1 if name in names else None


class NativeFlavour(Flavour):
    """``/v1beta/models...`` and ``/v1/models...``; keys by ``?key=`` or ``x-goog-api-key``."""

    name = "native"

    # -- plumbing ------------------------------------------------------------------------

    def route(self, call: Call) -> bool:
        """Map ``models``, ``models/{id}`` and ``models/{id}:{method}``."""
        sub = call.sub
        if sub == "models" and call.method == "GET":
            call.action, call.kind = "list", KIND_META
            return True
        if not sub.startswith("models/"):
            return False
        name, _, method = sub[len("models/") :].partition(":")
        if not name:
            return False
        call.model = name
        if not method:
            call.action, call.kind = "get", KIND_META
            return call.method == "GET"
        call.action = method
        call.kind = _ACTIONS.get(method, KIND_OTHER)
        return method in _ACTIONS and call.method == "POST"

    def _error(self, call: Call, envelope: gerr.Envelope, mode: str = "good") -> Reply:
        status, body = envelope
        # Errors on ?alt=sse calls were seen with Content-Type: text/event-stream.
        sse = call.action == "streamGenerateContent" and call.query.get("alt") == "sse"
        headers = _headers(SSE_TYPE if sse else JSON_TYPE)
        return Reply(status, dumps_pretty(body) + b"\n", headers, mode)

    def _json(self, obj: Any) -> Reply:
        return Reply(200, dumps_pretty(obj) + b"\n", _headers())

    def auth_error(self, call: Call) -> Optional[Reply]:
        """Refuse what Google refuses before it looks at the body.

        Two credentials (header and ``?key=``, or a Bearer token beside a key) get 400; an
        API key as a Bearer token gets 401 (that header is for OAuth), as does a malformed
        ``AQ.`` auth key; no key at all gets 403. Well-formed auth keys pass like ``AIza`` keys.
        """
        if call.credentials > 1:
            return self._error(call, gerr.multiple_credentials())
        if call.key_via == "bearer" or auth_key_malformed(call.key):
            return self._error(call, gerr.bearer_not_oauth())
        if not call.key:
            return self._error(call, gerr.unregistered_caller())
        return None

    def bad_json(self, call: Call, detail: str) -> Reply:
        """400 INVALID_ARGUMENT."""
        return self._error(call, gerr.bad_json(detail))

    def mode_error(self, call: Call, script: Script) -> Reply:
        """The scripted Google envelope."""
        envelope = gerr.mode_error(script.mode, call.key or "", call.model, script.retry_seconds())
        return self._error(call, envelope, script.mode)

    def path_not_found(self, call: Call) -> Reply:
        """404 NOT_FOUND."""
        return self._error(call, gerr.path_not_found(call.path))

    def _not_found(self, call: Call, method: str) -> Reply:
        return self._error(call, gerr.model_not_found(call.model or "", method, call.version))

    def _missing(self, call: Call, field: str) -> Reply:
        name = field.rsplit(".", 1)[-1]
        message = f"* {field}: {name} is not specified\n"
        return self._error(call, gerr.invalid_argument(message))

    # -- endpoints -----------------------------------------------------------------------

    def answer(self, call: Call, script: Script) -> Reply:
        """Dispatch to the endpoint."""
        if call.action == "list":
            return self._list(call)
        model = catalogue.gemini_model(call.model)
        if call.action == "get":
            if model is None:
                return self._not_found(call, "get")
            return self._json(catalogue.public(model))
        if not catalogue.supports(model, call.action):
            return self._not_found(call, call.action)
        body = call.body if isinstance(call.body, dict) else {}
        if call.action == "countTokens":
            return self._count(body)
        if call.action in ("embedContent", "batchEmbedContents"):
            return self._embed(call, body)
        if call.action == "predict":
            refusal = imagen.check(body)
            if refusal is not None:
                return self._error(call, refusal)
            return self._json(imagen.predictions(body, script.mode))
        return self._generate(call, script, model, body)

    def _list(self, call: Call) -> Reply:
        try:
            size = int(call.query.get("pageSize") or _PAGE_DEFAULT)
        except ValueError:
            return self._error(call, gerr.invalid_argument())
        size = _PAGE_DEFAULT if size <= 0 else min(size, _PAGE_MAX)
        start = 0
        if call.query.get("pageToken"):
            found = _page_start(call.query["pageToken"])
            if found is None:
                return self._error(call, gerr.invalid_argument("Invalid page token."))
            start = found
        page = catalogue.gemini_public(start, start + size)
        result: dict[str, Any] = {"models": page}
        if start + size < len(catalogue.GEMINI_MODELS):
            result["nextPageToken"] = page_token(page[-1]["name"])
        return self._json(result)

    def _count(self, body: dict[str, Any]) -> Reply:
        inner = body.get("generateContentRequest")
        texts, _ = answers.prompt_texts(inner if isinstance(inner, dict) else body)
        total = content.tokens(texts)
        details = [{"modality": "TEXT", "tokenCount": total}]
        return self._json({"totalTokens": total, "promptTokensDetails": details})

    def _embed(self, call: Call, body: dict[str, Any]) -> Reply:
        default_dim = self.state.config.embed_dim

        def values(request: dict[str, Any]) -> dict[str, list[float]]:
            text = content.text_of_parts((request.get("content") or {}).get("parts"))
            dims = int(request.get("outputDimensionality") or default_dim)
            return {"values": content.vector(text, dims)}

        if call.action == "embedContent":
            return self._json({"embedding": values(body)})
        requests = body.get("requests")
        if not isinstance(requests, list) or not requests:
            return self._missing(call, "BatchEmbedContentsRequest.requests")
        return self._json({"embeddings": [values(r) for r in requests if isinstance(r, dict)]})

    def _generate(self, call: Call, script: Script, model: dict, body: dict[str, Any]) -> Reply:
        for name in body:
            if name not in _REQUEST_FIELDS:
                return self._error(call, gerr.unknown_field(name))
        if not body.get("contents"):
            return self._missing(call, "GenerateContentRequest.contents")
        if native_answer.wants_image(body) and not native_answer.draws(call.model or ""):
            message = "Model does not support the requested response modalities: image"
            return self._error(call, gerr.envelope(400, "INVALID_ARGUMENT", message))
        refusal = tts.check(call.model or "", body)
        if refusal is not None:
            return self._error(call, refusal)
        if tts.speaks(call.model):
            spoken = tts.answer(body, self._stamp(model), script.mode)
            if call.kind != KIND_STREAM:
                return self._json(spoken)
            return self._stream(call, script, [spoken])
        answer, refusal = answers.respond(model, body)
        if refusal is not None:
            return self._error(call, refusal)
        stamp = self._stamp(model)
        if script.mode in ("empty", "blocked"):
            objects = [self._no_answer(script.mode, answer.prompt_tokens, stamp)]
        else:
            pieces = self.state.config.chunks if call.kind == KIND_STREAM else 0
            objects = native_answer.responses(answer, body, stamp, pieces)
        if call.kind != KIND_STREAM:
            return self._json(objects[0])
        return self._stream(call, script, objects)

    def _stamp(self, model: dict) -> dict[str, str]:
        # Every chunk of one answer repeats the same modelVersion and responseId.
        return {
            "modelVersion": catalogue.concrete_name(model),
            "responseId": content.response_id(),
        }

    def _no_answer(self, mode: str, prompt: int, stamp: dict[str, str]) -> dict[str, Any]:
        result: dict[str, Any] = {}
        if mode == "blocked":
            result["promptFeedback"] = {"blockReason": "SAFETY"}
        result["usageMetadata"] = native_answer.usage(prompt, final=False)
        result.update(stamp)
        return result

    def _stream(self, call: Call, script: Script, objects: list[dict[str, Any]]) -> Reply:
        error = None
        if script.mode == "break_stream" and script.how != "close":
            error = gerr.mid_stream(script, call.key or "", call.model)
        delay = self.state.config.chunk_delay
        if call.query.get("alt") == "sse":
            sep = b"\r\n\r\n" if self.state.config.sse_crlf else b"\n\n"
            pieces = [b"data: " + dumps_google(obj) + sep for obj in objects]
            if error is None:
                ending = None
            elif script.how == "event":
                ending = b"data: " + dumps_google(error) + sep
            else:
                # "bare": a multi-line JSON object with no data: prefix (js-genai issue #461).
                ending = dumps_pretty(error) + b"\n"
            return Reply(200, stream(pieces, b"", delay, script, ending), _headers(SSE_TYPE))
        # Without alt: one JSON array written element by element: "[" obj "\n,\r\n" obj "\n]".
        pieces = [(b"\n,\r\n" if i else b"[") + dumps_pretty(obj) for i, obj in enumerate(objects)]
        ending = None
        if error is not None:
            # Here the error is just the next array element.
            lead = b"\n,\r\n" if script.after > 0 else b"["
            ending = lead + dumps_pretty(error) + b"\n]"
        return Reply(200, stream(pieces, b"\n]", delay, script, ending), _headers())
