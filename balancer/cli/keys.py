"""flask keys: add, import, export, list, enable, disable, limit, delete."""
from __future__ import annotations

import json
import sys

import click
from flask.cli import AppGroup

from balancer import keyshapes
from balancer.cli.common import _pool, _rt
from balancer.services import audit, key_ops
from balancer.services import keys as key_service
from balancer.services.key_import import KeyImportError

keys_cli = AppGroup("keys", help="Manage upstream API keys.")


@keys_cli.command("add")
@click.argument("keys", nargs=-1, required=True)
@click.option("--label", help="A label shown beside the keys.")
@click.option("--group", help="Quota group (Google project): a rate limit cools all its keys.")
@click.option("--pool", "pool_name", help="Pool name (default: the default pool).")
def add(keys, label, group, pool_name):
    """Add one or more keys (a key of an unknown shape is added with a warning)."""
    pool = _pool(pool_name)
    found = keyshapes.check_keys(keys, pool.kind)
    result = key_service.add_found(_rt(), found, pool, label=label, group=group)
    click.echo(result.summary())
    if not result.added and not result.duplicates:
        sys.exit(1)


@keys_cli.command("import")
@click.argument("source", type=click.File("r"))
@click.option("--pool", "pool_name", help="Pool name (default: the default pool).")
def import_(source, pool_name):
    """Import keys from FILE (or - for stdin): our JSON export or any text."""
    try:
        result = key_service.import_text(_rt(), source.read(), _pool(pool_name))
    except KeyImportError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(result.summary())


@keys_cli.command("export")
@click.option("--reveal", is_flag=True, help="Write the keys themselves, not masked forms.")
def export(reveal):
    """Print every key as JSON (masked unless --reveal)."""
    doc = key_service.export(_rt(), reveal=reveal)
    if reveal:
        audit.keys_exported(doc)
    click.echo(json.dumps(doc, indent=2))


@keys_cli.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def list_(as_json):
    """List keys with status, counters and per-model state."""
    rows = key_service.list_keys()
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo("no keys")
        return
    click.echo(f"{'ID':>5}  {'KEY':<10} {'STATUS':<13} {'REQS':>7} {'FAILS':>6}  LABEL / REASON")
    for r in rows:
        cooling = "; ".join(f"{model}: {m['reason_text']} until {m['cooldown_until']}"
                            for model, m in r["models"].items() if m["cooldown_until"])
        note = r["disabled_reason"] or cooling
        click.echo(f"{r['id']:>5}  {r['key']:<10} {r['status']:<13} {r['requests']:>7} "
                   f"{r['failures']:>6}  {r['label'] or ''} {note}".rstrip())


def _switch(key_id: int, enabled: bool) -> None:
    try:
        row = key_service.set_enabled(_rt(), key_id, enabled)
    except LookupError as exc:
        raise click.UsageError(str(exc)) from None
    click.echo(f"key {row.id} ({row.display}) {'enabled' if enabled else 'disabled'}")


@keys_cli.command("enable")
@click.argument("key_id", type=int)
def enable(key_id):
    """Switch a key on (and clear a health disable)."""
    _switch(key_id, True)


@keys_cli.command("disable")
@click.argument("key_id", type=int)
def disable(key_id):
    """Switch a key off."""
    _switch(key_id, False)


@keys_cli.command("limit")
@click.argument("key_ids", type=int, nargs=-1, required=True)
@click.option("--rpm", type=int, help="Requests per minute this key may make (0: no limit).")
@click.option("--rpd", type=int, help="Requests per day, US Pacific (0: no limit).")
def limit(key_ids, rpm, rpd):
    """Set keys' own request limits; a key at its limit is passed over until it frees up."""
    changes = {name: value or None for name, value in (("rpm_limit", rpm), ("rpd_limit", rpd))
               if value is not None}
    if not changes:
        raise click.UsageError("say which limit to set: --rpm and/or --rpd")
    try:
        changed = key_ops.edit_keys(_rt(), key_ids, changes)
    except key_ops.KeyEditError as exc:
        raise click.UsageError(f"{exc.field}: {exc}") from None
    missing = len(set(key_ids)) - changed
    click.echo(f"{changed} key{'s' if changed != 1 else ''} changed"
               + (f"; {missing} not found" if missing else ""))
    if missing:
        sys.exit(1)


@keys_cli.command("delete")
@click.argument("key_id", type=int)
@click.confirmation_option(prompt="Delete this key for good?")
def delete(key_id):
    """Delete a key."""
    try:
        key_service.delete(_rt(), key_id)
    except LookupError as exc:
        raise click.UsageError(str(exc)) from None
    click.echo(f"key {key_id} deleted")
