"""flask settings: list and set the runtime settings."""
from __future__ import annotations

import json

import click
from flask.cli import AppGroup

from balancer.cli.common import CliError, _pairs, _rt
from balancer.services import settings as settings_service

settings_cli = AppGroup("settings", help="Runtime settings (in effect in every worker within "
                        "a sync interval, without a restart).")


@settings_cli.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def settings_list(as_json):
    """Every runtime setting with its value, default and meaning."""
    from balancer.settings import SPECS
    rt = _rt()
    current = settings_service.load(rt)
    rows = [{"name": spec.name, "value": getattr(current, spec.name), "default": spec.default,
             "help": spec.help} for spec in SPECS]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        changed = "" if row["value"] == row["default"] else f"  (default {row['default']})"
        click.echo(f"{row['name']:<30} {row['value']!s:<14}{changed}")
        click.echo(f"{'':<30} {row['help']}")


@settings_cli.command("set")
@click.argument("pairs", nargs=-1, required=True, metavar="NAME=VALUE...")
def settings_set(pairs):
    """Change runtime settings; all are checked before any is saved."""
    from balancer.settings import SettingError
    rt = _rt()
    settings_service.load(rt)
    try:
        settings_service.update(rt, _pairs(pairs, "setting"))
    except SettingError as exc:
        raise CliError(str(exc)) from None
    click.echo("saved: " + ", ".join(f"{name}={getattr(rt.settings.current, name)}"
                                     for name in _pairs(pairs, "setting")))
