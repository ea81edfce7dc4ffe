"""HTTP errors raised outside the views (404, 405, 413, 500), per API format."""
from __future__ import annotations

import logging

from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException

from balancer.proxy.errors import openai_error

log = logging.getLogger(__name__)

PROXY_PREFIXES = ("/v1", "/openai/v1", "/api/v1")


def _is_proxy_path(path: str) -> bool:
    return any(path == p or path.startswith(p + "/") for p in PROXY_PREFIXES)


def register(app: Flask) -> None:
    """Install handlers so the API never answers with an HTML page."""

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        if _is_proxy_path(request.path):
            messages = {404: f"Unknown route {request.method} {request.path}.",
                        405: f"Method {request.method} is not allowed on {request.path}.",
                        413: "The request body is too large."}
            return openai_error(exc.code or 500, messages.get(exc.code, exc.description or exc.name),
                                code=(exc.name or "error").lower().replace(" ", "_"))
        return jsonify(error={"code": exc.code, "message": exc.description}), exc.code

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        # The traceback goes to the log (redacted there); the client gets no detail.
        log.exception("unhandled error on %s %s", request.method, request.path)
        if _is_proxy_path(request.path):
            return openai_error(500, "Balancer hit an internal error.", code="internal_error")
        return jsonify(error={"code": 500, "message": "internal error"}), 500
