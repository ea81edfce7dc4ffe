"""Errors Balancer itself returns, in the shape of the caller's API."""
from __future__ import annotations

import json
import math
from typing import Optional

from flask import Response

from balancer.dialects.anthropic_errors import error_body
from balancer.text import clean

#: OpenAI error ``type`` per status, for Balancer's own errors.
_OPENAI_TYPES = {
    400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
    404: "invalid_request_error", 405: "invalid_request_error", 413: "invalid_request_error",
    415: "invalid_request_error", 429: "rate_limit_error", 500: "server_error",
    502: "upstream_error", 503: "service_unavailable", 504: "timeout_error",
}


def openai_error(status: int, message: str, *, code: Optional[str] = None,
                 param: Optional[str] = None, retry_after: Optional[float] = None,
                 headers: Optional[dict] = None) -> Response:
    """A JSON response in OpenAI's ``{"error": {...}}`` envelope."""
    # ``param`` names a field, often the client's own: bounded and clean like a message.
    body = {"error": {"message": message, "type": _OPENAI_TYPES.get(status, "api_error"),
                      "param": None if param is None else clean(param, 200), "code": code}}
    resp = Response(json.dumps(body), status=status, mimetype="application/json")
    if retry_after is not None:
        resp.headers["Retry-After"] = str(max(1, math.ceil(retry_after)))
    for name, value in (headers or {}).items():
        resp.headers[name] = value
    return resp


#: Google's canonical status names, for errors in Gemini's envelope.
GOOGLE_STATUS = {
    400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
    404: "NOT_FOUND", 405: "INVALID_ARGUMENT", 409: "ABORTED", 413: "INVALID_ARGUMENT",
    415: "INVALID_ARGUMENT", 429: "RESOURCE_EXHAUSTED", 499: "CANCELLED", 500: "INTERNAL",
    501: "UNIMPLEMENTED", 502: "UNAVAILABLE", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED",
}


def google_error(status: int, message: str, *, retry_after: Optional[float] = None) -> Response:
    """A JSON response in Google's ``{"error": {"code", "message", "status"}}`` envelope."""
    body = {"error": {"code": status, "message": message,
                      "status": GOOGLE_STATUS.get(status, "UNKNOWN")}}
    resp = Response(json.dumps(body), status=status, mimetype="application/json")
    if retry_after is not None:
        resp.headers["Retry-After"] = str(max(1, math.ceil(retry_after)))
    return resp


def anthropic_error(status: int, message: str, *, retry_after: Optional[float] = None,
                    headers: Optional[dict] = None) -> Response:
    """A JSON response in Anthropic's ``{"type": "error", "error": {"type", "message"}}``."""
    resp = Response(json.dumps(error_body(status, message)), status=status,
                    mimetype="application/json")
    if retry_after is not None:
        resp.headers["Retry-After"] = str(max(1, math.ceil(retry_after)))
    for name, value in (headers or {}).items():
        resp.headers[name] = value
    return resp


def openai_stream_error(message: str, *, code: str = "upstream_error",
                        etype: str = "server_error") -> bytes:
    """An SSE event that makes OpenAI SDKs raise ``APIError`` mid-stream."""
    body = {"error": {"message": message, "type": etype, "param": None, "code": code}}
    return b"data: " + json.dumps(body).encode() + b"\n\n"
