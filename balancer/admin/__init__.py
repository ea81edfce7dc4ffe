"""The admin UI: dashboard, statistics, logs, playground, keys, pools, client tokens, settings.

Views are thin: they read a form, call ``balancer.services`` and render. Every
endpoint of this blueprint (and of ``balancer.stats``, which binds the same
guard) is guarded by ``access.require_admin``, bound to the blueprints where
they are created rather than per view, so a new view cannot be left open by
forgetting a decorator.
"""
from __future__ import annotations

from flask import Flask, redirect, url_for

from balancer.admin.blueprint import bp


def init_app(app: Flask) -> None:
    """Login manager, the admin blueprint, vendor assets, security headers."""
    from balancer.admin import (access, assets, dashboard, errors, filters, keys,  # noqa: F401
                                layout, login, logs, playground, pools, settings, statistics,
                                tokens)
    access.init_app(app)
    app.register_blueprint(bp, url_prefix="/admin")
    app.register_blueprint(assets.bp, url_prefix="/static/vendor")
    # People type the host name alone: send them to the admin UI.
    app.add_url_rule("/", "root", lambda: redirect(url_for("admin.dashboard")))
