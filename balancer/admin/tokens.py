"""The client tokens page: create (shown once), rename, enable, disable, revoke, usage."""
from __future__ import annotations

from flask import abort, current_app, flash, redirect, render_template, request, url_for

from balancer.admin.blueprint import bp
from balancer.admin.forms import CreateTokenForm, RenameTokenForm
from balancer.services import client_tokens as token_service

ACTIONS = ("enable", "disable", "revoke")


def _rt():
    return current_app.extensions["balancer"]


def _page(form: CreateTokenForm, created: str = "", status: int = 200):
    rt = _rt()
    env_names = sorted(c.name for c in rt.catalog.clients.values() if c.id is None)
    return render_template(
        "tokens/index.html", form=form, tokens=token_service.list_tokens(),
        usage=token_service.usage_by_client(), created=created, env_names=env_names,
        no_token=not rt.catalog.auth_required, open_access=rt.config.OPEN_ACCESS,
        rename_form=RenameTokenForm()), status


@bp.get("/tokens")
def tokens():
    """Every client token with its usage in the last 24 hours."""
    return _page(CreateTokenForm())


@bp.post("/tokens")
def tokens_create():
    """Create a token and show it in this answer, this once.

    The token is in the page and nowhere else: not in the session cookie,
    which the browser keeps and sends back, and admin pages are never cached.
    """
    form = CreateTokenForm()
    if not form.validate_on_submit():
        return _page(form, status=400)
    first = not _rt().catalog.auth_required
    row, plain = token_service.create_token(_rt(), form.name.data)
    if first:
        flash("From now on the proxy accepts only requests with a client token.", "warning")
    flash(f"Token “{row.name}” created.", "success")
    return _page(CreateTokenForm(formdata=None), created=plain)


@bp.post("/tokens/<int:token_id>/rename")
def token_rename(token_id: int):
    """Another name for a token."""
    form = RenameTokenForm()
    if not form.validate_on_submit():
        flash("A token needs a name of 1 to 128 characters.", "danger")
        return redirect(url_for("admin.tokens"))
    try:
        row = token_service.rename(_rt(), token_id, form.name.data)
    except LookupError:
        abort(404)
    flash(f"Token renamed to “{row.name}”.", "success")
    return redirect(url_for("admin.tokens"))


@bp.post("/tokens/<int:token_id>/action")
def token_action(token_id: int):
    """Enable, disable or revoke; the last token asks first, saying what the proxy does without one."""
    action = request.form.get("action")
    if action not in ACTIONS:
        abort(400, "unknown action")
    rt = _rt()
    try:
        row = token_service.get_token(token_id)
    except LookupError:
        abort(404)
    if action != "enable" and request.form.get("confirmed") != "yes" and (
            action == "revoke" or token_service.is_last_token(rt, token_id)):
        last = token_service.is_last_token(rt, token_id)
        return render_template("tokens/confirm.html", row=row, action=action, last=last,
                               without=token_service.without_tokens(rt))
    if action == "revoke":
        token_service.revoke(rt, token_id)
        flash(f"Token “{row.name}” revoked: requests with it are refused.", "success")
    else:
        token_service.set_enabled(rt, token_id, action == "enable")
        flash(f"Token “{row.name}” {action}d.", "success")
    if not rt.catalog.auth_required:
        flash(f"No client token is left: {token_service.without_tokens(rt)}.", "warning")
    return redirect(url_for("admin.tokens"))
