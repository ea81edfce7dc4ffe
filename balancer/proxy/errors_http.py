"""HTTP errors raised outside the views (404, 405, 413, 500), per API format."""
from __future__ import annotations

import logging

from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException

from balancer.proxy.auth import anthropic_client, gemini_token
from balancer.proxy.errors import anthropic_error, google_error, openai_error
from balancer.text import quoted

log = logging.getLogger(__name__)

#: /hf/v1 is where gemini-balance serves its OpenAI routes: its clients keep their base URL.
OPENAI_PREFIXES = ("/v1", "/openai/v1", "/api/v1", "/hf/v1")
#: /v1 is shared: google-genai 3.x calls it too (see ``api_format_of``).
GEMINI_PREFIXES = ("/v1beta", "/gemini/v1beta", "/v1")
#: Anthropic Messages: its own prefix, and ``/v1/messages`` beside the OpenAI routes.
ANTHROPIC_PREFIXES = ("/v1", "/anthropic/v1")
#: Resumable uploads of the Files API (the SDK puts ``upload/`` before the version).
UPLOAD_PREFIXES = ("/upload/v1beta", "/gemini/upload/v1beta", "/upload/v1")


def _under(path: str, prefixes: tuple[str, ...]) -> bool:
    return any(path == p or path.startswith(p + "/") for p in prefixes)


def api_format_of(req) -> str | None:
    """Which API a request speaks: "gemini", "openai", "anthropic", or None (not the proxy)."""
    path = req.path
    if _under(path, ("/anthropic/v1", "/v1/messages")):
        return "anthropic"
    if _under(path, ("/v1beta", "/gemini/v1beta") + UPLOAD_PREFIXES):
        return "gemini"
    if _under(path, ("/v1",)) and (gemini_token(req) or ":" in path.rsplit("/", 1)[-1]):
        return "gemini"
    if _under(path, ("/v1/models",)) and anthropic_client(req):
        return "anthropic"
    if _under(path, OPENAI_PREFIXES):
        return "openai"
    return None


def register(app: Flask) -> None:
    """Install handlers so the API never answers with an HTML page."""

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        fmt = api_format_of(request)
        if fmt is not None:
            messages = {404: f"Unknown route {request.method} {quoted(request.path)}.",
                        405: f"Method {request.method} is not allowed on {quoted(request.path)}.",
                        413: "The request body is too large."}
            message = messages.get(exc.code, exc.description or exc.name)
            if fmt == "gemini":
                return google_error(exc.code or 500, message)
            if fmt == "anthropic":
                return anthropic_error(exc.code or 500, message)
            return openai_error(exc.code or 500, message,
                                code=(exc.name or "error").lower().replace(" ", "_"))
        return jsonify(error={"code": exc.code, "message": exc.description}), exc.code

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        # The traceback goes to the log (redacted there); the client gets no detail.
        log.exception("unhandled error on %s %s", request.method, request.path)
        fmt = api_format_of(request)
        if fmt == "gemini":
            return google_error(500, "Balancer hit an internal error.")
        if fmt == "anthropic":
            return anthropic_error(500, "Balancer hit an internal error.")
        if fmt == "openai":
            return openai_error(500, "Balancer hit an internal error.", code="internal_error")
        return jsonify(error={"code": 500, "message": "internal error"}), 500
