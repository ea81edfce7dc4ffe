"""What the base layout needs on every admin page: the menu and the state banners."""
from __future__ import annotations

from flask import current_app

from balancer.admin import assets
from balancer.admin.blueprint import bp

#: The main menu: endpoint, label, Bootstrap icon.
NAV = (("admin.dashboard", "Dashboard", "speedometer2"),
       ("admin.statistics", "Statistics", "bar-chart-line"), ("admin.logs", "Logs", "journal-text"),
       ("admin.playground", "Playground", "chat-dots"), ("admin.keys", "Keys", "key"),
       ("admin.pools", "Pools", "collection"), ("admin.tokens", "Client tokens", "person-badge"),
       ("admin.settings", "Settings", "sliders"))


@bp.app_context_processor
def admin_context() -> dict:
    """What the base layout needs on every admin page."""
    return {
        "nav": [item for item in NAV if item[0] in current_app.view_functions],
        "login_enabled": current_app.config.get("REQUIRE_ADMIN_LOGIN", True),
        "password_set": bool(current_app.config.get("ADMIN_PASSWORD")),
        "proxy_open": bool(current_app.config.get("OPEN_ACCESS"))
        and not current_app.extensions["balancer"].catalog.auth_required,
        "assets_installed": assets.installed(),
    }
