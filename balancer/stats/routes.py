"""Endpoints the dashboard and the statistics page poll; the numbers come from ``queries``
and ``charts``.

Every statistics endpoint takes ``range`` (1h, 6h, 24h, 7d, 30d) or ``from``
and ``to`` (ISO 8601), an optional ``granularity`` (minute, hour, day) and at
most one filter (``pool``, ``key``, ``client`` ids, ``model`` or ``api``, the
client's API dialect); bad input
gets a 400 with ``{"error": {"message": ...}}``.
"""
from __future__ import annotations

from typing import Callable

from flask import Blueprint, current_app, jsonify, request
from werkzeug.wrappers import Response

from balancer.admin import access
from balancer.services.statistics import charts, queries
from balancer.services.statistics.ranges import RangeError, Window, parse

bp = Blueprint("stats", __name__)
# The same guard and headers as the admin pages: this is their data.
bp.before_request(access.require_admin)
bp.after_request(access.security_headers)


@bp.errorhandler(RangeError)
def bad_range(exc: RangeError) -> tuple[Response, int]:
    """A refused range, granularity or filter: a 400 that says why."""
    return jsonify({"error": {"message": str(exc), "type": "invalid_request"}}), 400


@bp.get("/summary")
def summary() -> Response:
    """Everything the dashboard shows, in one bounded round of queries."""
    return jsonify(queries.summary(current_app.extensions["balancer"]))


def _series(fn: Callable[[Window], dict]) -> Response:
    return jsonify(fn(parse(request.args)))


@bp.get("/requests")
def requests_series() -> Response:
    """Requests per minute, hour or day, one series per outcome class."""
    return _series(charts.requests)


@bp.get("/tokens")
def tokens_series() -> Response:
    """Tokens in and out per minute, hour or day."""
    return _series(charts.tokens)


@bp.get("/latency")
def latency_series() -> Response:
    """Latency and time to first byte (p50, p95, mean) per minute, hour or day."""
    return _series(charts.latency)


@bp.get("/breakdown/<dimension>")
def breakdown(dimension: str) -> Response:
    """Requests, errors, tokens and latency per pool, key, model, client or API dialect."""
    raw = request.args.get("limit")
    if raw is not None and not raw.isdigit():
        raise RangeError("limit: expected a whole number")
    return jsonify(charts.breakdown(parse(request.args), dimension,
                                    int(raw) if raw is not None else None))
