"""Sign in and out of the admin UI."""
from __future__ import annotations

import logging
import math

from flask import current_app, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_user, logout_user
from werkzeug.wrappers import Response

from balancer.admin import access
from balancer.admin.blueprint import bp
from balancer.admin.forms import LoginForm
from balancer.services import audit

log = logging.getLogger(__name__)


@bp.route("/login", methods=["GET", "POST"])
def login() -> Response | tuple[str, int] | str:
    """The password form; a good password starts a new session."""
    target = access.safe_next(request.values.get("next")) or url_for("admin.dashboard")
    if not access.login_required_here() or current_user.is_authenticated:
        return redirect(target)
    form = LoginForm(next=request.values.get("next", ""))
    configured = bool(current_app.config.get("ADMIN_PASSWORD"))
    if not configured:
        # Nothing to check against: say how to set it instead of failing.
        return render_template("auth/login.html", form=form, configured=False), 503
    if request.method == "GET":
        return render_template("auth/login.html", form=form, configured=True)
    address = request.remote_addr or "unknown"
    wait = access.throttle().retry_after(address)
    if wait > 0:
        log.warning("admin sign-in from %s refused: too many failures", address)
        audit.record("sign_in_failed", detail="refused: too many failed sign-ins")
        minutes = max(1, math.ceil(wait / 60))
        form.password.errors = [f"Too many failed sign-ins from your address. Try again in "
                                f"{minutes} minute{'s' if minutes > 1 else ''}."]
        return render_template("auth/login.html", form=form, configured=True), 429
    if form.validate_on_submit():
        if access.password_matches(form.password.data):
            access.throttle().succeeded(address)
            log.info("admin signed in from %s", address)
            audit.record("sign_in")
            # A fresh session: nothing set before the login (a planted session
            # id, an old CSRF token) survives it.
            session.clear()
            login_user(access.Admin(access.admin_id()))
            session.permanent = False
            return redirect(target)
        access.throttle().failed(address)
        # An operator watching the log sees guessing before the throttle stops it.
        log.warning("failed admin sign-in from %s", address)
        audit.record("sign_in_failed", detail="wrong password")
        form.password.errors = ["Wrong password."]
        return render_template("auth/login.html", form=form, configured=True), 401
    return render_template("auth/login.html", form=form, configured=True), 400


@bp.post("/logout")
def logout() -> Response:
    """End the session (a POST, so another site cannot sign the admin out)."""
    audit.record("sign_out")
    logout_user()
    session.clear()
    flash("Signed out.", "info")
    return redirect(url_for("admin.login"))
