"""A plain OpenAI-compatible provider under ``/openai/v1/`` (reference section 4).

It is not under ``/v1/`` because Gemini's native ``/v1/models`` lives there.
"""

from __future__ import annotations

from typing import Any, Optional

from . import catalogue, content
from . import openai_errors as oerr
from .behaviours import KIND_GENERATE, Script
from .openai_common import OpenAIShaped
from .wire import JSON_TYPE, Call, Headers, Reply, dumps

# Sample values from OpenAI's docs; remaining counts stay put (the fake does not meter).
_RATE_HEADERS = [
    ("x-ratelimit-limit-requests", "10000"),
    ("x-ratelimit-limit-tokens", "2000000"),
    ("x-ratelimit-remaining-requests", "9999"),
    ("x-ratelimit-remaining-tokens", "1999984"),
    ("x-ratelimit-reset-requests", "6ms"),
    ("x-ratelimit-reset-tokens", "0s"),
]
_ENDPOINT_KIND = {"chat": "chat", "embeddings": "embedding", "images": "image",
                  "speech": "speech"}


def _common_headers(content_type: str) -> Headers:
    return [
        ("Content-Type", content_type),
        ("x-request-id", content.request_id()),
        ("openai-organization", "org-fake"),
        ("openai-processing-ms", "1"),
        ("openai-version", "2020-10-01"),
    ]


class ProviderFlavour(OpenAIShaped):
    """``/openai/v1/...``; key as ``Authorization: Bearer`` only."""

    name = "provider"

    def route(self, call: Call) -> bool:
        """The shared endpoints, and ``audio/speech`` (Gemini's OpenAI layer has none)."""
        if call.sub == "audio/speech" and call.method == "POST":
            call.action, call.kind = "speech", KIND_GENERATE
            return True
        return super().route(call)

    def headers(self, content_type: str) -> Headers:
        """Request id, org/version and ``x-ratelimit-*`` on every success."""
        return _common_headers(content_type) + _RATE_HEADERS

    def extra_fields(self) -> dict[str, Any]:
        """Fields OpenAI adds to completions and chunks."""
        return {"system_fingerprint": None, "service_tier": "default"}

    def error(self, call: Call, envelope: Any, mode: str = "good") -> Reply:
        """OpenAI error envelope, its own headers plus a request id."""
        status, body, extra = envelope
        headers = _common_headers(JSON_TYPE)
        if not any(name.startswith("x-ratelimit-") for name, _ in extra):
            headers += _RATE_HEADERS
        return Reply(status, dumps(body), headers + extra, mode)

    def auth_error(self, call: Call) -> Optional[Reply]:
        """401 unless the key came as a Bearer token."""
        return None if call.key_via == "bearer" else self.error(call, oerr.missing_key())

    def bad_json(self, call: Call, detail: str) -> Reply:
        """400 invalid_request_error."""
        return self.error(call, oerr.bad_json())

    def mode_error(self, call: Call, script: Script) -> Reply:
        """The scripted OpenAI envelope and headers."""
        envelope = oerr.mode_error(
            script.mode, call.key or "", call.model, script.retry_seconds(), script.retry_after
        )
        return self.error(call, envelope, script.mode)

    def path_not_found(self, call: Call) -> Reply:
        """404 ``Invalid URL (METHOD /v1/...)``."""
        return self.error(call, oerr.invalid_url(call.method, "/v1/" + call.sub))

    def check_model(self, call: Call, endpoint: str) -> Optional[Reply]:
        """A known model of the right kind, else 400/404."""
        if not call.model:
            return self.error(call, oerr.missing_model())
        kind = catalogue.openai_kind(call.model)
        if kind is None:
            return self.error(call, oerr.model_not_found(call.model))
        if kind != _ENDPOINT_KIND[endpoint]:
            path = "chat/completions" if endpoint == "chat" else "embeddings"
            return self.error(call, oerr.wrong_endpoint(path))
        return None

    def stream_error(self, call: Call, script: Script) -> Optional[bytes]:
        """``event``: ``data: {"error": ...}`` (openai-python raises APIError); ``bare``: JSON."""
        if script.how == "close":
            return None
        body = oerr.mid_stream(script, call.key or "", call.model)
        prefix = b"data: " if script.how == "event" else b""
        return prefix + dumps(body) + b"\n\n"

    def list_models(self, call: Call) -> Reply:
        """``{"object": "list", "data": [...]}``."""
        data = [catalogue.openai_model(name) for name in catalogue.OPENAI_MODELS]
        return self._json({"object": "list", "data": data})

    def get_model(self, call: Call) -> Reply:
        """One model, or 404 model_not_found."""
        model = catalogue.openai_model(call.model or "")
        if model is None:
            return self.error(call, oerr.model_not_found(call.model or ""))
        return self._json(model)
