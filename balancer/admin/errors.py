"""What the admin UI shows when a request is refused before its view ran."""
from __future__ import annotations

from flask import current_app, flash, jsonify, redirect, render_template, request, url_for
from flask_wtf.csrf import CSRFError

from balancer.admin import access, assets
from balancer.admin.blueprint import bp


@bp.errorhandler(CSRFError)
def csrf_error(exc: CSRFError):
    """A form or JSON post without a valid CSRF token: nothing was changed."""
    if access.wants_json():
        return jsonify(error=f"CSRF check failed: {exc.description}"), 400
    flash("The form had expired or did not come from this page; nothing was changed. "
          "Please try again.", "danger")
    if request.endpoint == "admin.login":
        return redirect(url_for("admin.login"))
    return render_template("error.html", title="Request refused", message=exc.description), 400


#: The main menu: endpoint, label, Bootstrap icon.
NAV = (("admin.dashboard", "Dashboard", "speedometer2"), ("admin.keys", "Keys", "key"),
       ("admin.pools", "Pools", "collection"), ("admin.tokens", "Client tokens", "person-badge"),
       ("admin.settings", "Settings", "sliders"))


@bp.app_context_processor
def admin_context() -> dict:
    """What the base layout needs on every admin page."""
    return {
        "nav": [item for item in NAV if item[0] in current_app.view_functions],
        "login_enabled": current_app.config.get("REQUIRE_ADMIN_LOGIN", True),
        "password_set": bool(current_app.config.get("ADMIN_PASSWORD")),
        "assets_installed": assets.installed(),
    }
