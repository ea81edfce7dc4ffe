"""The ``/__fake/...`` control endpoints, for a fake running in another process.

``POST /__fake/keys`` ``{key: mode | {"mode": ..., **params}}``, ``POST /__fake/config``
``{latency, chunks, chunk_delay, sse_crlf, embed_dim}``, ``POST /__fake/reset``,
``GET /__fake/requests[?limit=N]``, ``GET /__fake/stats``,
``GET /__fake/count[?key=&flavour=&path_contains=]``, ``GET /__fake/health``.
Bad input answers 400 ``{"error": "..."}``.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

from .state import FakeState
from .wire import JSON_TYPE, Reply, dumps, read_body


def _json(status: int, obj: Any) -> Reply:
    return Reply(status, dumps(obj), [("Content-Type", JSON_TYPE)])


def _body(environ: dict[str, Any]) -> Any:
    raw = read_body(environ)
    return json.loads(raw) if raw else {}


def _query(environ: dict[str, Any]) -> dict[str, str]:
    return dict(parse_qsl(environ.get("QUERY_STRING", "")))


def handle(state: FakeState, method: str, path: str, environ: dict[str, Any]) -> Reply:
    """Answer one control request."""
    action = path[len("/__fake/") :].strip("/")
    try:
        if method == "POST" and action == "keys":
            body = _body(environ)
            if not isinstance(body, dict):
                raise ValueError("expected a JSON object {key: {mode, ...}}")
            state.set_keys(body)
            return _json(200, {"ok": True, "keys": len(body)})
        if method == "POST" and action == "config":
            return _json(200, state.configure(**_body(environ)))
        if method == "POST" and action == "reset":
            state.reset()
            return _json(200, {"ok": True})
        if method == "GET" and action == "requests":
            entries = state.requests()
            limit = _query(environ).get("limit")
            if limit:
                entries = entries[-int(limit) :]
            return _json(200, entries)
        if method == "GET" and action == "stats":
            return _json(200, state.stats())
        if method == "GET" and action == "count":
            query = _query(environ)
            count = state.count(query.get("key"), query.get("flavour"), query.get("path_contains"))
            return _json(200, {"count": count})
        if method == "GET" and action == "health":
            return _json(200, {"ok": True})
    except (ValueError, TypeError) as exc:
        return _json(400, {"error": str(exc)})
    return _json(404, {"error": f"no control endpoint {method} {path}"})
