"""The dashboard: the page; its numbers come live from the stats blueprint."""
from __future__ import annotations

from flask import current_app, render_template

from balancer.admin.blueprint import bp
from balancer.services.statistics import queries


@bp.get("/")
def dashboard() -> str:
    """Keys by state, traffic, errors and latency; refreshed by static/admin/dashboard.js."""
    return render_template("dashboard/index.html",
                           data=queries.summary(current_app.extensions["balancer"]))
