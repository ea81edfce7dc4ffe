"""Bootstrap, Bootstrap Icons and Chart.js, served from node_modules (installed by npm ci).

Only the distribution folders below are reachable; nothing is loaded from a CDN.
"""
from __future__ import annotations

from flask import Blueprint, abort, send_from_directory
from werkzeug.wrappers import Response

from balancer.config import ROOT

bp = Blueprint("vendor", __name__)

NODE_MODULES = ROOT / "node_modules"
#: URL name -> folder inside node_modules that may be served.
LIBRARIES = {
    "bootstrap": "bootstrap/dist",
    "bootstrap-icons": "bootstrap-icons/font",
    "chart.js": "chart.js/dist",
}


@bp.get("/<lib>/<path:filename>")
def asset(lib: str, filename: str) -> Response:
    """One file of an allowed library (send_from_directory refuses ``..``)."""
    folder = LIBRARIES.get(lib)
    if folder is None:
        abort(404)
    response = send_from_directory(NODE_MODULES / folder, filename, max_age=86_400)
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def installed() -> bool:
    """True when npm ci has run (the admin pages would be unstyled otherwise)."""
    return (NODE_MODULES / "bootstrap" / "dist" / "css" / "bootstrap.min.css").is_file()
