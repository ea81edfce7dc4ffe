"""The logs pages: the request log, key events and the admin audit trail.

Filters are GET forms, so a filtered view is a link to share; pages move by a
cursor in the query string (``before`` for older rows, ``after`` for newer).
"""
from __future__ import annotations

from typing import Optional

import sqlalchemy as sa
from flask import abort, current_app, flash, redirect, render_template, request, url_for

from balancer.admin.access import safe_next
from balancer.admin.blueprint import bp
from balancer.admin.log_forms import (AuditFilterForm, CleanUpForm, KeyEventFilterForm,
                                      RequestLogFilterForm, CLEAN_UP_KINDS, choices)
from balancer.extensions import db
from balancer.models import ClientToken, Pool
from balancer.services import audit, retention
from balancer.services import request_log as log_service
from balancer.services.request_log import Cursor, CursorError, LogFilters


def _settings():
    return current_app.extensions["balancer"].settings.current


def _cursors() -> tuple[Optional[Cursor], Optional[Cursor]]:
    """The page cursors of the query string; a damaged one is a 400 that says so."""
    try:
        return Cursor.decode(request.args.get("before")), Cursor.decode(request.args.get("after"))
    except CursorError as exc:
        abort(400, str(exc))


def _filter_args() -> dict:
    """The query string without the cursors: what the page links carry along."""
    return {k: v for k, v in request.args.items() if k not in ("before", "after") and v != ""}


def _int(value) -> Optional[int]:
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _request_form() -> RequestLogFilterForm:
    form = RequestLogFilterForm(formdata=request.args)
    form.client.choices = choices([("", "Any")] + [
        (str(i), name) for i, name in db.session.execute(
            sa.select(ClientToken.id, ClientToken.name).order_by(ClientToken.name))])
    form.pool.choices = choices([("", "Any")] + [
        (str(i), name) for i, name in db.session.execute(sa.select(Pool.id, Pool.name)
                                                          .order_by(Pool.name))])
    return form


def _filters(form: RequestLogFilterForm) -> LogFilters:
    return LogFilters(
        since=form.time("since"), until=form.time("until"), outcome=form.outcome.data or "",
        key_id=form.key.data, model=(form.model.data or "").strip(),
        client_id=_int(form.client.data), pool_id=_int(form.pool.data),
        stream={"yes": True, "no": False}.get(form.stream.data or ""), status=form.status.data,
        q=(form.q.data or "").strip())


@bp.get("/logs")
def logs():
    """The request log: filters, search in error messages, pages newest first."""
    form = _request_form()
    before, after = _cursors()
    if not form.validate():
        return _render_requests(form, None, status=400)
    page = log_service.request_page(_filters(form), before=before, after=after,
                                    per_page=form.size())
    return _render_requests(form, page)


def _render_requests(form: RequestLogFilterForm, page, status: int = 200):
    return render_template(
        "logs/requests.html", form=form, page=page, args=_filter_args(),
        searching=bool((form.q.data or "").strip()), search_rows=log_service.SEARCH_ROWS,
        outcome=log_service.outcome, logging_on=_settings().log_requests,
        clean_form=CleanUpForm(), retention=_retention()), status


def _retention() -> dict[str, int]:
    current = _settings()
    return {kind: getattr(current, setting) for kind, (_, _, setting) in retention.KINDS.items()}


@bp.get("/logs/requests/<int:log_id>")
def logs_request(log_id: int):
    """One request: status, outcome, sanitized message, attempts, key (masked), timings."""
    try:
        row = log_service.get_request(log_id)
    except LookupError:
        abort(404)
    return render_template("logs/request.html", row=row, outcome=log_service.outcome(row),
                           key=log_service.key_displays([row.key_id]).get(row.key_id),
                           pool=log_service.pool_names().get(row.pool_id),
                           back=safe_next(request.args.get("back")))


@bp.get("/logs/events")
def logs_events():
    """Key events (cooldowns, ejections, disables, restores, adds, deletes), filtered."""
    form = KeyEventFilterForm(formdata=request.args)
    before, after = _cursors()
    page = None
    if form.validate():
        page = log_service.event_page(key_id=form.key.data, event=form.event.data or "",
                               since=form.time("since"), until=form.time("until"),
                               before=before, after=after, per_page=form.size())
    return render_template("logs/events.html", form=form, page=page,
                           args=_filter_args()), 200 if page else 400


@bp.get("/logs/audit")
def logs_audit():
    """The admin audit trail: sign-ins, changes, clean-ups, filtered by action and time."""
    form = AuditFilterForm(formdata=request.args)
    form.action.choices = choices([("", "Any")] + [(a, a.replace("_", " ")) for a in audit.ACTIONS])
    before, after = _cursors()
    page = None
    if form.validate():
        page = log_service.audit_page(action=form.action.data or "", since=form.time("since"),
                               until=form.time("until"), before=before, after=after,
                               per_page=form.size())
    return render_template("logs/audit.html", form=form, page=page,
                           args=_filter_args()), 200 if page else 400


@bp.post("/logs/clean-up")
def logs_clean_up():
    """Delete one kind of log older than N days now, in bounded batches; audited."""
    form = CleanUpForm()
    if not form.validate_on_submit():
        errors = "; ".join(e for errs in form.errors.values() for e in errs)
        flash(f"Nothing deleted: {errors}", "danger")
        return redirect(url_for("admin.logs", _anchor="clean-up"))
    removed, more = retention.clean_up(form.kind.data, form.days.data)
    label = dict(CLEAN_UP_KINDS)[form.kind.data]
    flash(f"{label}: {removed:,} rows older than {form.days.data} days deleted."
          + (" More are left: run it again." if more else ""), "success")
    return redirect(url_for("admin.logs"))
