"""flask models: refresh and list each pool's model list."""
from __future__ import annotations

import json
import sys

import click
from flask.cli import AppGroup

from balancer.cli.common import CliError, _rt
from balancer.extensions import db
from balancer.services import models as model_service
from balancer.services import pools as pool_service
from balancer.services import settings as settings_service

models_cli = AppGroup("models", help="Fetch and show the model lists of pools.")


def _loaded_rt():
    """The runtime with settings, pools and keys loaded, as the server has them."""
    rt = _rt()
    if not rt.loaded:
        settings_service.load(rt)
        pool_service.load_catalog(rt)
        rt.services.syncer.load_all(db.session)
    return rt


@models_cli.command("refresh")
@click.argument("pool_name", required=False, metavar="[POOL]")
def models_refresh(pool_name):
    """Fetch the model list of POOL (default: every enabled pool) from its upstream."""
    rt = _loaded_rt()
    try:
        results = model_service.refresh_pools(rt, pool_name)
    except pool_service.PoolError as exc:
        raise CliError(str(exc)) from None
    finally:
        rt.services.flush()  # key health learnt on the way (a dead key) reaches the database
    for name, result in results.items():
        if isinstance(result, Exception):
            click.echo(f"{name}: failed: {result}", err=True)
        else:
            click.echo(f"{name}: {len(result)} models")
    if any(isinstance(r, Exception) for r in results.values()):
        sys.exit(1)


@models_cli.command("list")
@click.argument("pool_name", required=False, metavar="[POOL]")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def models_list(pool_name, as_json):
    """Show the stored model lists and aliases of POOL (default: every pool)."""
    try:
        rows = model_service.list_models(pool_name)
    except pool_service.PoolError as exc:
        raise CliError(str(exc)) from None
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for r in rows:
        when = r["refreshed_at"] or "never refreshed"
        click.echo(f"{r['pool']} ({r['kind']}{'' if r['enabled'] else ', off'}): "
                   f"{len(r['models'])} models, {when}")
        for alias, model in sorted(r["aliases"].items()):
            click.echo(f"  {alias} -> {model}")
        for model in r["models"]:
            click.echo(f"  {model}")
