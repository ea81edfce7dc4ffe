"""Who may use the admin UI: login with ADMIN_PASSWORD, the guard, security headers."""
from __future__ import annotations

import hashlib
import hmac
from typing import Optional
from urllib.parse import urlsplit

from flask import Flask, Response, current_app, jsonify, redirect, request, url_for
from flask_login import UserMixin, current_user

from balancer.admin.throttle import LoginThrottle
from balancer.extensions import login_manager

#: Endpoints reachable without a session: the login page itself and assets.
PUBLIC_ENDPOINTS = frozenset({"admin.login"})

#: Everything the admin pages load comes from Balancer itself; scripts only from
#: files (no inline script or handler), no framing by other sites.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; "
       "form-action 'self'; frame-ancestors 'none'")


class Admin(UserMixin):
    """The one admin. Its id changes with ADMIN_PASSWORD, so a new password ends old sessions."""

    def __init__(self, user_id: str):
        self.id = user_id


def admin_id(app: Optional[Flask] = None) -> Optional[str]:
    """The session id of the admin under the current password; None without a password."""
    config = (app or current_app).config
    password = config.get("ADMIN_PASSWORD")
    if not password:
        return None
    digest = hmac.new(config["SECRET_KEY"].encode(), password.encode(), hashlib.sha256)
    return "admin:" + digest.hexdigest()[:24]


def login_required_here() -> bool:
    """False only when REQUIRE_ADMIN_LOGIN=false."""
    return bool(current_app.config.get("REQUIRE_ADMIN_LOGIN", True))


def password_matches(given: str) -> bool:
    """Compare in constant time, so timing says nothing about how close a guess came."""
    expected = current_app.config.get("ADMIN_PASSWORD") or ""
    return bool(expected) and hmac.compare_digest(given.encode(), expected.encode())


def init_app(app: Flask) -> None:
    """Bind Flask-Login and the login throttle to the app."""
    login_manager.init_app(app)
    login_manager.login_view = "admin.login"
    login_manager.session_protection = "basic"
    app.extensions["admin_throttle"] = LoginThrottle()

    @login_manager.user_loader
    def load_user(user_id: str) -> Optional[Admin]:
        expected = admin_id()
        if expected and hmac.compare_digest(user_id, expected):
            return Admin(user_id)
        return None


def throttle() -> LoginThrottle:
    """The process's failed-login counter."""
    return current_app.extensions["admin_throttle"]


def wants_json() -> bool:
    """True for the UI's fetch calls and other JSON clients."""
    if request.blueprint == "stats" or request.is_json:
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json"


def require_admin() -> Optional[Response]:
    """Before every admin and stats request: a session, unless login is switched off."""
    if request.endpoint in PUBLIC_ENDPOINTS or not login_required_here():
        return None
    if current_user.is_authenticated:
        return None
    if wants_json():
        return jsonify(error="login required"), 401
    if request.method != "GET":
        # Coming back to a POST-only URL after the login would only answer 405.
        return redirect(url_for("admin.login"))
    return redirect(url_for("admin.login", next=request.full_path.rstrip("?")))


def safe_next(target: Optional[str]) -> Optional[str]:
    """``target`` when it is a path on this site, else None (no open redirects)."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return None
    if "\\" in target or any(ord(c) < 32 or ord(c) == 127 for c in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target


def security_headers(response: Response) -> Response:
    """Headers that keep admin pages from being framed, sniffed or cached."""
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    # Pages show key metadata and one-time tokens: never keep them in a cache.
    response.headers["Cache-Control"] = "no-store"
    return response
