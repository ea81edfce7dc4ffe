"""Endpoints the dashboard polls; the numbers come from ``queries``."""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify
from werkzeug.wrappers import Response

from balancer.admin import access
from balancer.stats import queries

bp = Blueprint("stats", __name__)
# The same guard and headers as the admin pages: this is their data.
bp.before_request(access.require_admin)
bp.after_request(access.security_headers)


@bp.get("/summary")
def summary() -> Response:
    """Everything the dashboard shows, in one bounded round of queries."""
    return jsonify(queries.summary(current_app.extensions["balancer"]))
