"""The statistics page: charts over a chosen time range, filled from the stats blueprint.

The page itself is a frame (range picker, filter, empty charts and tables);
``static/admin/statistics.js`` fills it from the stats blueprint's JSON and
fetches again when the range or filter changes, without a reload.
"""
from __future__ import annotations

from flask import render_template, url_for

from balancer.admin.blueprint import bp
from balancer.services.statistics import labels
from balancer.services.statistics.ranges import DEFAULT_RANGE, PRESETS

#: The picker's ranges, as people read them.
RANGE_NAMES = {"1h": "Last hour", "6h": "Last 6 hours", "24h": "Last 24 hours",
               "7d": "Last 7 days", "30d": "Last 30 days"}


@bp.get("/statistics")
def statistics() -> str:
    """Requests by outcome, tokens, latency and breakdowns per pool, key, model, client and API."""
    urls = {name: url_for(f"stats.{name}_series") for name in ("requests", "tokens", "latency")}
    urls["breakdown"] = url_for("stats.breakdown", dimension="DIMENSION")
    return render_template("stats/index.html", ranges=[(r, RANGE_NAMES[r]) for r in PRESETS],
                           default_range=DEFAULT_RANGE, choices=labels.choices(), urls=urls)
