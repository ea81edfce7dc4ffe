"""Errors in Anthropic's shape: ``{"type": "error", "error": {"type", "message"}}``.

The ``type`` follows the status as Anthropic's API documents it (400
``invalid_request_error``, 401 ``authentication_error``, 403 ``permission_error``, 404
``not_found_error``, 413 ``request_too_large``, 429 ``rate_limit_error``, 504
``timeout_error``, 529 and 503 ``overloaded_error``, other 5xx ``api_error``); Anthropic's
SDKs pick their exception class by the HTTP status, which is always the real one.
"""
from __future__ import annotations

import json
from typing import Any

from balancer.upstream.sanitize import redact

_TYPES = {400: "invalid_request_error", 401: "authentication_error", 402: "billing_error",
          403: "permission_error", 404: "not_found_error", 413: "request_too_large",
          429: "rate_limit_error", 503: "overloaded_error", 504: "timeout_error",
          529: "overloaded_error"}


def error_type(status: int) -> str:
    """Anthropic's error ``type`` for an HTTP status."""
    if status in _TYPES:
        return _TYPES[status]
    return "api_error" if status >= 500 else "invalid_request_error"


def error_body(status: int, message: str) -> dict:
    """The error document for ``status``."""
    return {"type": "error", "error": {"type": error_type(status), "message": message}}


def error_from_upstream(status: int, body: bytes, secrets: tuple[str, ...] = ()) -> bytes:
    """A Gemini (or any) upstream error body as Anthropic's, its message kept, secrets removed."""
    try:
        parsed: Any = json.loads(body or b"null")
    except ValueError:
        parsed = None
    if isinstance(parsed, list) and parsed and isinstance(parsed[0], dict):
        parsed = parsed[0]
    err = parsed.get("error") if isinstance(parsed, dict) else None
    if isinstance(err, dict) and err.get("message"):
        message = str(err["message"])
    else:
        message = body.decode("utf-8", "replace")[:500] if body else f"upstream answered {status}"
    return json.dumps(error_body(status, redact(message, secrets)[:2000])).encode()
