"""The keys page: the table, paste and import, export, actions per key and per selection."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Optional

import sqlalchemy as sa
from flask import (Response, abort, current_app, flash, jsonify, redirect, render_template,
                   request, url_for)
from wtforms.fields.choices import SelectChoice

from balancer.admin.access import safe_next
from balancer.admin.blueprint import bp
from balancer.admin.forms import (AddKeysForm, BulkEditKeysForm, EditKeyForm, ExportKeysForm,
                                  ImportKeysForm)
from balancer.extensions import db
from balancer.models import ApiKey, Pool
from balancer.services import audit, key_ops
from balancer.services import keys as key_service
from balancer.services.key_table import PAGE_SIZES, SORTS, STATUSES, KeyQuery, key_page
from balancer.services.key_import import KeyImportError

#: what the action buttons may ask for.
ACTIONS = ("enable", "disable", "test", "reset", "edit", "delete")
#: a test call per key waits for the upstream: keep one page's worth at most.
MAX_TESTS = 25
#: keys an import file may hold (a large paste is fine; a huge file is a mistake).
MAX_IMPORT_BYTES = 5 * 1024 * 1024


def _rt():
    return current_app.extensions["balancer"]


def _pool_choices() -> list[tuple[int, str]]:
    return [(p.id, f"{p.name} ({p.kind})") for p in db.session.scalars(
        sa.select(Pool).order_by(Pool.is_default.desc(), Pool.name))]


def _forms() -> tuple[AddKeysForm, ImportKeysForm]:
    add_form, import_form = AddKeysForm(prefix="add"), ImportKeysForm(prefix="import")
    add_form.pool.choices = import_form.pool.choices = [
        SelectChoice(str(pool_id), label) for pool_id, label in _pool_choices()]
    return add_form, import_form


def _index(add_form: AddKeysForm, import_form: ImportKeysForm, status: int = 200):
    query = KeyQuery.from_args(request.args)
    page = key_page(_rt(), query)
    if request.method == "GET" and query.pool_id:
        # Adding keys while looking at one pool most likely means adding to it.
        add_form.pool.data = import_form.pool.data = query.pool_id
    empty = page.total == 0 and not (query.q or query.status or query.pool_id)
    return render_template("keys/index.html", page=page, query=page.query, add_form=add_form,
                           import_form=import_form, export_form=ExportKeysForm(prefix="export"),
                           pools=_pool_choices(), statuses=STATUSES, sorts=SORTS,
                           page_sizes=PAGE_SIZES, show_add=status != 200 or empty), status


@bp.get("/keys")
def keys():
    """The table of keys, with search, filters, sorting and pages."""
    add_form, import_form = _forms()
    return _index(add_form, import_form)


@bp.post("/keys/add")
def keys_add():
    """Add keys found in pasted text; the summary says what was added."""
    add_form, import_form = _forms()
    if not add_form.validate_on_submit():
        return _index(add_form, import_form, 400)
    pool = db.session.get(Pool, add_form.pool.data)
    try:
        result = key_service.import_text(_rt(), add_form.text.data, pool,
                                         label=add_form.label.data or None,
                                         group=add_form.group.data or None)
    except KeyImportError as exc:
        add_form.text.errors = [str(exc)]
        return _index(add_form, import_form, 400)
    if not result.added and not result.duplicates:
        add_form.text.errors = [f"No {pool.kind} key found in the text"
                                + (f" ({result.malformed} malformed)." if result.malformed else ".")]
        return _index(add_form, import_form, 400)
    flash(f"Keys for pool {pool.name}: {result.summary()}.", _category(result))
    return redirect(url_for("admin.keys"))


@bp.post("/keys/import")
def keys_import():
    """Import a JSON export (keys revealed) or any text file."""
    add_form, import_form = _forms()
    if not import_form.validate_on_submit():
        return _index(add_form, import_form, 400)
    raw = import_form.file.data.read(MAX_IMPORT_BYTES + 1)
    if len(raw) > MAX_IMPORT_BYTES:
        import_form.file.errors = ["The file is larger than 5 MiB."]
        return _index(add_form, import_form, 400)
    pool = db.session.get(Pool, import_form.pool.data)
    try:
        result = key_service.import_text(_rt(), raw.decode("utf-8", "replace"), pool)
    except KeyImportError as exc:
        import_form.file.errors = [str(exc)]
        return _index(add_form, import_form, 400)
    if not result.added and not result.duplicates:
        import_form.file.errors = [f"No key found in the file ({result.summary()})."]
        return _index(add_form, import_form, 400)
    flash(f"Import into pool {pool.name}: {result.summary()}.", _category(result))
    return redirect(url_for("admin.keys"))


def _category(result: key_service.AddResult) -> str:
    """A summary with nothing added, or with a warning in it, is shown as a warning."""
    return "success" if result.added and not (result.unknown or result.notes) else "warning"


@bp.get("/keys/export")
def keys_export():
    """Every key as our JSON export, masked (safe to share)."""
    return _json_download(key_service.export(_rt(), reveal=False), "balancer-keys-masked.json")


@bp.post("/keys/export")
def keys_export_revealed():
    """Every key with its secret, for a backup or a move; only behind a real login."""
    form = ExportKeysForm(prefix="export")
    if not form.validate_on_submit():
        abort(400)
    if not current_app.config.get("REQUIRE_ADMIN_LOGIN", True):
        flash("Exporting the keys themselves needs the admin login on (ADMIN_PASSWORD).", "danger")
        return redirect(url_for("admin.keys"))
    doc = key_service.export(_rt(), reveal=True)
    audit.keys_exported(doc)
    return _json_download(doc, "balancer-keys.json")


def _json_download(doc: dict, name: str) -> Response:
    response = Response(json.dumps(doc, indent=2), mimetype="application/json")
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


def _selection() -> tuple[str, list[int], bool]:
    """The action, key ids and confirmation of a form or JSON post.

    A form's row button sends "disable:17" to act on key 17 alone; JSON sends
    ``{"action": "disable", "ids": [17], "confirmed": true}``.
    """
    if request.is_json:
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            abort(400, "expected a JSON object")
        action, ids, confirmed = str(body.get("action") or ""), body.get("ids") or [], \
            body.get("confirmed") is True
        if not isinstance(ids, list):
            abort(400, "ids: expected a list")
    else:
        action, _, one = (request.form.get("action") or "").partition(":")
        ids = [one] if one else request.form.getlist("ids")
        confirmed = request.form.get("confirmed") == "yes"
    if action not in ACTIONS:
        abort(400, "unknown action")
    try:
        return action, sorted({int(i) for i in ids}), confirmed
    except (TypeError, ValueError):
        abort(400, "bad key id")


@dataclass
class _Done:
    """What an action did, for a flash message or a JSON answer."""

    message: str
    category: str = "success"
    results: Optional[list] = None
    #: a delete that waits for its confirmation.
    confirm: Optional[list] = None
    #: keys to edit together (a form comes first).
    edit: Optional[list] = None


def _perform(action: str, ids: list[int], confirmed: bool) -> _Done:
    if not ids:
        return _Done("Select at least one key first.", "warning")
    rt = _rt()
    rows = list(db.session.scalars(sa.select(ApiKey).where(ApiKey.id.in_(ids))))
    if not rows:
        return _Done("Those keys no longer exist.", "warning")
    if action in ("enable", "disable"):
        for row in rows:
            key_service.set_enabled(rt, row.id, action == "enable")
        return _Done(f"{_count(rows)} {action}d.")
    if action == "reset":
        return _Done(f"Failures reset on {_count(key_ops.reset_failures(rt, [r.id for r in rows]))}.")
    if action == "test":
        if len(rows) > MAX_TESTS:
            return _Done(f"Test at most {MAX_TESTS} keys at once (each is a call upstream).",
                         "warning")
        results = [key_ops.test_key(rt, row.id) for row in rows]
        works = sum(r.ok for r in results)
        return _Done(f"{works} of {_count(results)} work.", "info", results=results)
    if action == "edit":
        return _Done("", edit=rows)
    if not confirmed:
        return _Done("", confirm=rows)
    for row in rows:
        key_service.delete(rt, row.id)
    return _Done(f"{_count(rows)} deleted.")


@bp.post("/keys/action")
def keys_action():
    """Enable, disable, test, reset failures or delete one key or a selection.

    Forms get a page (results, a confirmation) or a redirect back to the table;
    the page's scripts post JSON (with the X-CSRFToken header) and get JSON.
    """
    action, ids, confirmed = _selection()
    done = _perform(action, ids, confirmed)
    if request.is_json:
        if done.confirm is not None:
            return jsonify(error="deleting keys needs \"confirmed\": true"), 400
        if done.edit is not None:
            return jsonify(error="edit keys with the form at /admin/keys/bulk-edit"), 400
        return jsonify(message=done.message, category=done.category,
                       results=[asdict(r) for r in done.results or []])
    back = _back()
    if done.confirm is not None:
        return render_template("keys/confirm_delete.html", rows=done.confirm, back=back)
    if done.edit is not None:
        return render_template("keys/bulk_edit.html", rows=done.edit, back=back,
                               form=BulkEditKeysForm(formdata=None))
    if done.results is not None:
        return render_template("keys/test_results.html", results=done.results, back=back)
    flash(done.message, done.category)
    return redirect(back)


def _count(rows) -> str:
    n = rows if isinstance(rows, int) else len(rows)
    return f"{n} key{'s' if n != 1 else ''}"


def _back() -> str:
    """Where to return after an action: the table as it was (a local path only)."""
    target = safe_next(request.values.get("back"))
    return target if target and target.startswith("/admin/keys") else url_for("admin.keys")


@bp.route("/keys/<int:key_id>/edit", methods=["GET", "POST"])
def key_edit(key_id: int):
    """Label, group, tags and limits of one key."""
    row: Optional[ApiKey] = db.session.get(ApiKey, key_id)
    if row is None:
        abort(404)
    form = EditKeyForm(obj=None if request.method == "POST" else _edit_data(row))
    if form.validate_on_submit():
        try:
            key_ops.edit_key(_rt(), key_id, label=form.label.data, group=form.group.data,
                             tags=key_ops.parse_tags(form.tags.data),
                             rpm_limit=form.rpm_limit.data, rpd_limit=form.rpd_limit.data)
        except key_ops.KeyEditError as exc:
            db.session.rollback()
            getattr(form, exc.field).errors = [str(exc)]
        else:
            flash(f"Key {row.display} saved.", "success")
            return redirect(_back())
    status = 400 if request.method == "POST" else 200
    return render_template("keys/edit.html", form=form, row=row, back=_back()), status


@bp.post("/keys/bulk-edit")
def keys_bulk_edit():
    """Set label, group, tags or limits on every selected key at once."""
    form = BulkEditKeysForm()
    try:
        ids = sorted({int(i) for i in request.form.getlist("ids")})
    except ValueError:
        abort(400, "bad key id")
    rows = list(db.session.scalars(sa.select(ApiKey).where(ApiKey.id.in_(ids))))
    if not rows:
        flash("Those keys no longer exist.", "warning")
        return redirect(_back())
    if form.validate_on_submit():
        changes = form.changes()
        if not changes:
            flash("Nothing changed: switch on the fields to set.", "info")
            return redirect(_back())
        try:
            if "tags" in changes:
                changes["tags"] = key_ops.parse_tags(changes["tags"])
            count = key_ops.edit_keys(_rt(), [row.id for row in rows], changes)
        except key_ops.KeyEditError as exc:
            db.session.rollback()
            getattr(form, exc.field).errors = [str(exc)]
        else:
            names = ", ".join(n.replace("_", " ") for n in changes)
            flash(f"{names.capitalize()} set on {_count(count)}.", "success")
            return redirect(_back())
    return render_template("keys/bulk_edit.html", rows=rows, back=_back(), form=form), 400


class _EditData:
    def __init__(self, row: ApiKey):
        self.label = row.label
        self.group = row.group_name
        self.tags = ", ".join(row.tags or [])
        self.rpm_limit = row.rpm_limit
        self.rpd_limit = row.rpd_limit


def _edit_data(row: ApiKey) -> _EditData:
    return _EditData(row)
