"""Sign in and out of the admin UI."""
from __future__ import annotations

import logging
import math
from datetime import timedelta

from flask import current_app, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_user, logout_user
from werkzeug.wrappers import Response

from balancer.admin import access
from balancer.admin.blueprint import bp
from balancer.admin.forms import LoginForm
from balancer.models.types import utcnow
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
    wait = access.signin_wait(address)
    if wait > 0:
        # Even the right password waits: otherwise the limit would stop no guesser.
        # Logged, not audited: a refused attempt writes nothing to the database (the
        # failure that started the pause is in the audit trail).
        log.warning("admin sign-in from %s refused: too many failed sign-ins", address)
        form.password.errors = [_locked_out(wait)]
        page = render_template("auth/login.html", form=form, configured=True)
        return Response(page, 429, {"Retry-After": str(math.ceil(wait))})
    if form.validate_on_submit():
        if access.password_matches(form.password.data):
            access.signin_succeeded(address)
            log.info("admin signed in from %s", address)
            audit.record("sign_in")
            # A fresh session: nothing set before the login (a planted session
            # id, an old CSRF token) survives it.
            session.clear()
            login_user(access.Admin(access.admin_id()))
            access.start_session()
            session.permanent = False
            return redirect(target)
        access.signin_failed(address)
        # An operator watching the log sees guessing before the throttle stops it.
        log.warning("failed admin sign-in from %s", address)
        paused = access.signin_wait(address)
        audit.record("sign_in_failed", detail="wrong password" + (
            f"; sign-in paused for {math.ceil(paused)} s" if paused > 0 else ""))
        form.password.errors = ["Wrong password."]
        return render_template("auth/login.html", form=form, configured=True), 401
    return render_template("auth/login.html", form=form, configured=True), 400


def _locked_out(wait: float) -> str:
    """What a refused sign-in is told: why, and when to try again."""
    at = (utcnow() + timedelta(seconds=wait)).strftime("%H:%M:%S UTC")
    if wait < 60:
        after = f"{math.ceil(wait)} second{'s' if math.ceil(wait) > 1 else ''}"
    else:
        minutes = math.ceil(wait / 60)
        after = f"{minutes} minute{'s' if minutes > 1 else ''}"
    return (f"Too many failed sign-ins: signing in is paused, even with the right password. "
            f"Try again in {after} (at {at}).")


@bp.post("/logout")
def logout() -> Response:
    """End the session (a POST, so another site cannot sign the admin out).

    The session version goes up, so the cookie stops working even where it was
    copied; every other admin session ends with it.
    """
    audit.record("sign_out")
    access.end_sessions()
    logout_user()
    session.clear()
    flash("Signed out.", "info")
    return redirect(url_for("admin.login"))
