"""The settings page: every runtime setting, validated, saved, in force at once."""
from __future__ import annotations

from flask import current_app, flash, redirect, render_template, request, url_for

from balancer.admin.blueprint import bp
from balancer.admin.forms import SETTING_SECTIONS, settings_form_class
from balancer.services import settings as settings_service
from balancer.settings import SPEC_BY_NAME, SPECS, SettingError, validate


def _sections() -> list[tuple[str, list[str]]]:
    listed = {name for _, names in SETTING_SECTIONS for name in names}
    sections = [(title, [n for n in names if n in SPEC_BY_NAME]) for title, names in SETTING_SECTIONS]
    other = [spec.name for spec in SPECS if spec.name not in listed]
    return [s for s in sections if s[1]] + ([("Other", other)] if other else [])


@bp.route("/settings", methods=["GET", "POST"])
def settings():
    """Show and change the runtime settings."""
    rt = current_app.extensions["balancer"]
    current = dict(rt.settings.current.values)
    form_class = settings_form_class()
    form = form_class(data=_shown(current)) if request.method == "GET" else form_class()
    if form.validate_on_submit():
        submitted = {spec.name: getattr(form, spec.name).data if spec.kind is bool
                     else getattr(form, spec.name).coerced for spec in SPECS}
        changes = {name: value for name, value in submitted.items() if value != current.get(name)}
        try:
            validate(changes, current)
        except SettingError as exc:
            # The message starts with the setting at fault: show it next to that field.
            name, _, message = str(exc).partition(": ")
            field = getattr(form, name, None)
            if field is not None:
                field.errors = [message]
        else:
            if changes:
                settings_service.update(rt, changes)
                every = rt.settings.current.sync_interval_seconds
                flash(f"Saved {', '.join(sorted(changes))}. In force now in this worker, and in "
                      f"every other worker and instance within {every:g} seconds.", "success")
            else:
                flash("Nothing changed.", "info")
            return redirect(url_for("admin.settings"))
    status = 400 if request.method == "POST" else 200
    return render_template("settings/index.html", form=form, sections=_sections(),
                           specs=SPEC_BY_NAME, current=current, defaults=_defaults()), status


def _shown(values: dict) -> dict:
    """Values as the form shows them: 60 rather than 60.0, exact otherwise."""
    return {name: (int(v) if isinstance(v, float) and v.is_integer() else v)
            for name, v in values.items()}


def _defaults() -> dict[str, str]:
    """Each setting's default as people read it (on/off, 30, 0.05)."""
    out = {}
    for spec in SPECS:
        value = spec.default
        out[spec.name] = ("on" if value else "off") if isinstance(value, bool) else \
            (f"{value:g}" if isinstance(value, float) else str(value))
    return out
