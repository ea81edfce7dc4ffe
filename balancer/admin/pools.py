"""The pools page: create, edit and delete pools, refresh their model lists."""
from __future__ import annotations

from typing import Optional

from flask import abort, current_app, flash, redirect, render_template, request, url_for

from balancer.admin.blueprint import bp
from balancer.admin.forms import PoolForm, parse_pairs
from balancer.extensions import db
from balancer.models import Pool
from balancer.services import models as model_service
from balancer.services import pools as pool_service


def _rt():
    return current_app.extensions["balancer"]


def _get(pool_id: int) -> Pool:
    pool = db.session.get(Pool, pool_id)
    if pool is None:
        abort(404)
    return pool


@bp.get("/pools")
def pools():
    """Every pool with its keys per state and its model list."""
    settings = _rt().settings.current
    return render_template("pools/index.html", pools=pool_service.list_pools(),
                           global_strategy=settings.strategy, global_openai_api=settings.openai_api)


def _values(form: PoolForm, pool: Optional[Pool]) -> dict:
    """The service's arguments from the form; masked proxies left as they were."""
    try:
        overrides = parse_pairs(form.overrides.data, "NAME=VALUE")
    except ValueError as exc:
        raise pool_service.PoolError(f"overrides: {exc}") from None
    try:
        aliases = parse_pairs(form.aliases.data, "ALIAS=MODEL")
    except ValueError as exc:
        raise pool_service.PoolError(f"aliases: {exc}") from None
    for field in (form.strategy, form.openai_api, form.fake_stream):
        if field.data:
            overrides[field.name] = field.data
    proxy_url = (form.proxy_url.data or "").strip() or None
    proxies = [line.strip() for line in (form.proxies.data or "").splitlines() if line.strip()]
    if pool is not None:
        # The form shows proxies with their passwords hidden; unchanged means keep.
        if proxy_url and proxy_url == pool_service.mask_proxy(pool.proxy_url):
            proxy_url = pool.proxy_url
        stored = {pool_service.mask_proxy(url): url for url in pool.proxies or ()}
        proxies = [stored.get(url, url) for url in proxies]
    # The token field is never filled in: empty means keep the stored token.
    image_host = {"kind": form.image_host.data or "off", "base_url": form.image_host_url.data,
                  "token": (form.image_host_token.data or "").strip() or None}
    return dict(name=form.name.data.strip(), kind=form.kind.data,
                base_url=(form.base_url.data or "").strip() or None, proxy_url=proxy_url,
                proxies=proxies, enabled=form.enabled.data, overrides=overrides, aliases=aliases,
                image_host=image_host)


#: where a service message belongs on the form, by how it starts.
_FIELD_OF = (("pool name", "name"), ("a pool named", "name"), ("kind", "kind"),
             ("the default pool is always", "kind"), ("base URL", "base_url"),
             ("an openai pool needs", "base_url"), ("proxy URL", "proxy_url"),
             ("alias", "aliases"), ("aliases", "aliases"), ("strategy:", "strategy"),
             ("image host token", "image_host_token"), ("image host URL", "image_host_url"),
             ("image host", "image_host"),
             ("pool ", "kind"))


def _show_error(form: PoolForm, message: str) -> None:
    for start, field in _FIELD_OF:
        if message.startswith(start):
            if field == "proxy_url" and form.proxies.data and form.proxies.data.strip():
                field = "proxies"
            getattr(form, field).errors = [message]
            return
    form.overrides.errors = [message]


@bp.route("/pools/new", methods=["GET", "POST"])
def pool_new():
    """Create a pool."""
    form = PoolForm()
    if form.validate_on_submit():
        try:
            values = _values(form, None)
            pool = pool_service.create_pool(_rt(), values.pop("name"), values.pop("kind"),
                                            values.pop("base_url"), **values)
        except pool_service.PoolError as exc:
            db.session.rollback()
            _show_error(form, str(exc))
        else:
            flash(f"Pool {pool.name} created. Add its keys on the Keys page, then refresh its "
                  "model list.", "success")
            return redirect(url_for("admin.pools"))
    status = 400 if request.method == "POST" else 200
    return render_template("pools/form.html", form=form, pool=None), status


@bp.route("/pools/<int:pool_id>/edit", methods=["GET", "POST"])
def pool_edit(pool_id: int):
    """Change a pool; in force in this worker at once, in others after a sync."""
    pool = _get(pool_id)
    if request.method == "GET":
        overrides = dict(pool.overrides or {})
        form = PoolForm(data=dict(
            name=pool.name, kind=pool.kind, base_url=pool.base_url or "",
            proxy_url=pool_service.mask_proxy(pool.proxy_url) or "",
            proxies="\n".join(pool_service.mask_proxy(u) for u in pool.proxies or ()),
            enabled=pool.enabled, strategy=overrides.pop("strategy", ""),
            openai_api=overrides.pop("openai_api", ""),
            fake_stream=str(overrides.pop("fake_stream", "")).lower(),
            overrides="\n".join(f"{k}={v}" for k, v in sorted(overrides.items())),
            aliases="\n".join(f"{k}={v}" for k, v in sorted((pool.aliases or {}).items())),
            image_host=(pool.image_host or {}).get("kind") or "",
            image_host_url=(pool.image_host or {}).get("base_url") or ""))
    else:
        form = PoolForm()
        if pool.is_default:
            # Its kind is shown disabled (browsers do not send it) and never changes.
            form.kind.data = pool.kind
    if form.validate_on_submit():
        try:
            values = _values(form, pool)
            if pool.is_default:
                values.pop("kind")
            pool_service.edit_pool(_rt(), pool.name, **values)
        except pool_service.PoolError as exc:
            db.session.rollback()
            _show_error(form, str(exc))
        else:
            flash(f"Pool {values['name']} saved.", "success")
            return redirect(url_for("admin.pools"))
    status = 400 if request.method == "POST" else 200
    return render_template("pools/form.html", form=form, pool=pool), status


@bp.post("/pools/<int:pool_id>/delete")
def pool_delete(pool_id: int):
    """Delete a pool and its keys, after a confirmation that says how many."""
    pool = _get(pool_id)
    if pool.is_default:
        flash(f"Pool {pool.name} is the default pool and cannot be deleted.", "danger")
        return redirect(url_for("admin.pools"))
    if request.form.get("confirmed") != "yes":
        return render_template("pools/confirm_delete.html", pool=pool,
                               keys=pool_service.key_count(pool.id))
    name = pool.name
    deleted = pool_service.delete_pool(_rt(), name)
    flash(f"Pool {name} deleted with its {deleted} key{'s' if deleted != 1 else ''}.", "success")
    return redirect(url_for("admin.pools"))


@bp.post("/pools/refresh")
def pools_refresh():
    """Fetch the model list of one pool (``pool`` in the form) or of every enabled pool."""
    name = request.form.get("pool") or None
    try:
        results = model_service.refresh_pools(_rt(), name)
    except LookupError:
        abort(404)
    if not results:
        flash("No enabled pool to refresh.", "info")
    for pool_name, result in results.items():
        if isinstance(result, Exception):
            flash(f"Model list of {pool_name} not refreshed: {result}", "danger")
        else:
            flash(f"Model list of {pool_name}: {len(result)} models.", "success")
    return redirect(url_for("admin.pools"))


@bp.get("/pools/<int:pool_id>/models")
def pool_models(pool_id: int):
    """The model list of one pool as last fetched."""
    pool = _get(pool_id)
    return render_template("pools/models.html", pool=pool, models=list(pool.models or ()))
