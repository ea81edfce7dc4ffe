"""Gemini's OpenAI-compatible layer under ``/v1beta/openai/`` (reference section 3).

Successes are OpenAI-shaped; errors are Google envelopes wrapped in a one-element list, with
the HTTP status equal to ``code``.
"""

from __future__ import annotations

from typing import Any, Optional, Union

from . import answers, catalogue, compat_chat, content
from . import google_errors as gerr
from .behaviours import Script, normalise_model
from .openai_common import OpenAIShaped, Turn
from .wire import GOOGLE_HEADERS, JSON_TYPE, Call, Headers, Reply, dumps, is_auth_key

# Top-level body keys the layer accepts; anything else (e.g. "google") is a 400.
_CHAT_FIELDS = frozenset(
    {
        "model",
        "messages",
        "stream",
        "stream_options",
        "temperature",
        "top_p",
        "n",
        "stop",
        "max_tokens",
        "max_completion_tokens",
        "presence_penalty",
        "frequency_penalty",
        "logit_bias",
        "logprobs",
        "top_logprobs",
        "seed",
        "response_format",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "reasoning_effort",
        "service_tier",
        "user",
        "store",
        "metadata",
        "modalities",
        "audio",
        "prediction",
        "web_search_options",
        "functions",
        "function_call",
        "extra_body",
    }
)
_EMBEDDING_FIELDS = frozenset(
    {"model", "input", "encoding_format", "dimensions", "user", "extra_body"}
)
_IMAGE_FIELDS = frozenset({"model", "prompt", "n", "size", "response_format", "quality", "style",
                           "user", "extra_body"})
_METHODS = {"chat": "generateContent", "embeddings": "embedContent", "images": "predict"}


class CompatFlavour(OpenAIShaped):
    """``/v1beta/openai/...``; key as ``Authorization: Bearer`` (header or ``?key=`` tolerated)."""

    name = "compat"
    finish_in_last_chunk = True

    def model_id(self, name: str) -> str:
        """Ids may come with or without ``models/``."""
        return normalise_model(name) or name

    def headers(self, content_type: str) -> Headers:
        """Google's front-end headers; no request id, never ``retry-after``."""
        return [("Content-Type", content_type), *GOOGLE_HEADERS]

    def error(self, call: Call, envelope: Any, mode: str = "good") -> Reply:
        """Wrap the Google envelope in a list; HTTP status = ``error.code``."""
        status, body = envelope
        return Reply(status, dumps([body]), self.headers(JSON_TYPE), mode)

    def auth_error(self, call: Call) -> Optional[Reply]:
        """No key: 403; two credentials: 400; an ``AQ.`` auth key: 401 (this layer refuses them)."""
        if not call.key:
            return self.error(call, gerr.unregistered_caller())
        if call.credentials > 1:
            return self.error(call, gerr.multiple_credentials())
        if is_auth_key(call.key):
            return self.error(call, gerr.bearer_not_oauth())
        return None

    def bad_json(self, call: Call, detail: str) -> Reply:
        """400 INVALID_ARGUMENT (wrapped)."""
        return self.error(call, gerr.bad_json(detail))

    def mode_error(self, call: Call, script: Script) -> Reply:
        """The scripted Google envelope (wrapped)."""
        envelope = gerr.mode_error(script.mode, call.key or "", call.model, script.retry_seconds())
        return self.error(call, envelope, script.mode)

    def path_not_found(self, call: Call) -> Reply:
        """404 NOT_FOUND (wrapped)."""
        return self.error(call, gerr.path_not_found(call.path))

    def check_body(self, call: Call) -> Optional[Reply]:
        """Unknown top-level keys are refused, as protobuf JSON parsing does."""
        allowed = {"chat": _CHAT_FIELDS, "images": _IMAGE_FIELDS}.get(call.action, _EMBEDDING_FIELDS)
        for name in call.body:
            if name not in allowed:
                return self.error(call, gerr.unknown_field(name))
        return None

    def check_model(self, call: Call, endpoint: str) -> Optional[Reply]:
        """A Gemini model that supports the endpoint's method, else 400/404."""
        if not call.model:
            return self.error(call, gerr.invalid_argument())
        method = _METHODS[endpoint]
        if not catalogue.supports(catalogue.gemini_model(call.model), method):
            return self.error(call, gerr.model_not_found(call.model, method))
        return None

    def stream_error(self, call: Call, script: Script) -> Optional[bytes]:
        """``event``: a ``data:`` event holding the Google envelope; ``bare``: the wrapped list."""
        if script.how == "close":
            return None
        body = gerr.mid_stream(script, call.key or "", call.model)
        if script.how == "event":
            return b"data: " + dumps(body) + b"\n\n"
        return dumps([body]) + b"\n\n"

    def chat_turn(self, call: Call) -> Union[Turn, Reply]:
        """Gemini's own answer (``answers.respond``) to the native form of the chat request."""
        model = catalogue.gemini_model(call.model)
        if model is None:  # check_model refused it already
            return self.error(call, gerr.model_not_found(call.model or "", "generateContent"))
        native, refusal = compat_chat.to_native(model, call.body)
        if refusal is None:
            answer, refusal = answers.respond(model, native)
        if refusal is not None:
            return self.error(call, refusal)
        if answer.calls:
            calls = compat_chat.tool_calls(answer)
            return Turn("", calls, answer.prompt_tokens, answer.answer_tokens)
        text = compat_chat.message_text(answer, call.body, model)
        return Turn(text, [], answer.prompt_tokens, content.answer_tokens(text))

    def _entry(self, model: dict[str, Any]) -> dict[str, Any]:
        return {"id": model["name"], "object": "model", "owned_by": "google"}

    def list_models(self, call: Call) -> Reply:
        """All Gemini models, ids with ``models/``, no pagination."""
        return self._json(
            {"object": "list", "data": [self._entry(m) for m in catalogue.GEMINI_MODELS]}
        )

    def get_model(self, call: Call) -> Reply:
        """One model, or a wrapped 404."""
        model = catalogue.gemini_model(call.model)
        if model is None:
            return self.error(call, gerr.model_not_found(call.model or "", "get"))
        return self._json(self._entry(model))
