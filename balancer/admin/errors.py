"""What the admin UI shows when a request is refused before its view ran."""
from __future__ import annotations

from flask import flash, jsonify, redirect, render_template, request, url_for
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import BadRequest, NotFound

from balancer.admin import access
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


@bp.errorhandler(NotFound)
@bp.errorhandler(BadRequest)
def http_error(exc):
    """A page for people (the app-wide handler answers JSON, for the proxy's clients)."""
    if isinstance(exc, CSRFError):
        return csrf_error(exc)
    if access.wants_json():
        return jsonify(error=exc.description), exc.code
    title = "Not found" if exc.code == 404 else "Request refused"
    message = "There is nothing here: it may have been deleted." if exc.code == 404 \
        else exc.description
    return render_template("error.html", title=title, message=message), exc.code
