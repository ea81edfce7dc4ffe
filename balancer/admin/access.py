"""Who may use the admin UI: login with ADMIN_PASSWORD, the guard, security headers."""
from __future__ import annotations

import hashlib
import hmac
import time
from typing import Optional
from urllib.parse import urlsplit

from flask import (Flask, Request, Response, current_app, has_request_context, jsonify, redirect,
                   request, session, url_for)
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from flask_login import UserMixin, current_user

from balancer.admin.throttle import POLICY, ThrottlePolicy, retry_after
from balancer.extensions import login_manager
from balancer.services import signin

#: Endpoints reachable without a session: the login page itself and assets.
PUBLIC_ENDPOINTS = frozenset({"admin.login"})

#: where a session keeps the session version it was signed in under.
SESSION_VERSION = "admin_version"

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


class SessionInterface(SecureCookieSessionInterface):
    """The signed session cookie, ``Secure`` whenever the request came over HTTPS.

    ``request.is_secure`` follows X-Forwarded-Proto from a trusted proxy, so behind
    Heroku's router or nginx the cookie is Secure without SESSION_COOKIE_SECURE.

    Flask opens a session for every request and builds a signing serializer first
    (about 30 µs); the proxy's callers send no session cookie, so for them that work
    is skipped and they get the empty session Flask would give them.
    """

    def open_session(self, app: Flask, request: Request) -> Optional[SecureCookieSession]:
        if request.cookies.get(self.get_cookie_name(app)) is None:
            return self.session_class()
        return super().open_session(app, request)

    def get_cookie_secure(self, app: Flask) -> bool:
        if super().get_cookie_secure(app):
            return True
        return has_request_context() and request.is_secure


def init_app(app: Flask) -> None:
    """Bind Flask-Login, the session cookie and the sign-in throttle to the app."""
    login_manager.init_app(app)
    login_manager.login_view = "admin.login"
    login_manager.session_protection = "basic"
    app.session_interface = SessionInterface()
    app.extensions["signin_policy"] = POLICY

    @login_manager.user_loader
    def load_user(user_id: str) -> Optional[Admin]:
        expected = admin_id()
        if not expected or not hmac.compare_digest(user_id, expected):
            return None
        # Signed out since (here or in another browser): the cookie is dead.
        if session.get(SESSION_VERSION) != signin.session_version():
            return None
        return Admin(user_id)


def start_session() -> None:
    """Mark the (fresh) session with the current session version."""
    session[SESSION_VERSION] = signin.session_version()


def end_sessions() -> None:
    """Sign-out: every session signed in so far stops working, copies of its cookie too."""
    signin.end_sessions()


def _policy() -> ThrottlePolicy:
    return current_app.extensions["signin_policy"]


def signin_wait(address: str) -> float:
    """Seconds before ``address`` may try to sign in (failures of every worker count)."""
    policy = _policy()
    mine, everyone = signin.failures(address, policy.horizon)
    return retry_after(policy, time.time(), mine, everyone)


def signin_failed(address: str) -> None:
    """Count a failed sign-in from ``address``."""
    signin.failed(address, _policy().horizon)


def signin_succeeded(address: str) -> None:
    """Forget ``address``'s failures."""
    signin.succeeded(address)


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
