"""``flask keys|pools|models ...``: manage keys, pools and model lists from the shell."""
from __future__ import annotations

import json
import sys

import click
from flask import current_app
from flask.cli import AppGroup

from balancer.extensions import db
from balancer.keypool.records import Strategy
from balancer.services import keys as key_service
from balancer.services import models as model_service
from balancer.services import pool_checks
from balancer.services import pools as pool_service
from balancer.services import settings as settings_service
from balancer.upstream import request_defaults

keys_cli = AppGroup("keys", help="Manage upstream API keys.")
pools_cli = AppGroup("pools", help="Manage pools: a provider endpoint, its keys and settings.")
settings_cli = AppGroup("settings", help="Runtime settings (in effect in every worker within "
                        "a sync interval, without a restart).")
logs_cli = AppGroup("logs", help="The request log, key events and usage counts.")
secrets_cli = AppGroup("secrets", help="Encryption of the stored upstream keys.")
models_cli = AppGroup("models", help="Fetch and show the model lists of pools.")


class CliError(click.ClickException):
    """A refused command: one line on stderr, exit code 2."""

    exit_code = 2


def _rt():
    return current_app.extensions["balancer"]


def _pool(name):
    try:
        return pool_service.get_pool(name)
    except LookupError as exc:
        raise click.UsageError(str(exc)) from None


@keys_cli.command("add")
@click.argument("keys", nargs=-1, required=True)
@click.option("--label", help="A label shown beside the keys.")
@click.option("--group", help="Quota group (Google project): a rate limit cools all its keys.")
@click.option("--pool", "pool_name", help="Pool name (default: the default pool).")
def add(keys, label, group, pool_name):
    """Add one or more keys."""
    pool = _pool(pool_name)
    found, malformed = key_service.find_keys(" ".join(keys), pool.kind)
    result = key_service.add_keys(_rt(), found, pool, label=label, group=group)
    result.malformed += malformed
    click.echo(result.summary())
    if not result.added and not result.duplicates:
        sys.exit(1)


@keys_cli.command("import")
@click.argument("source", type=click.File("r"))
@click.option("--pool", "pool_name", help="Pool name (default: the default pool).")
def import_(source, pool_name):
    """Import keys from FILE (or - for stdin): our JSON export or any text."""
    result = key_service.import_text(_rt(), source.read(), _pool(pool_name))
    click.echo(result.summary())


@keys_cli.command("export")
@click.option("--reveal", is_flag=True, help="Write the keys themselves, not masked forms.")
def export(reveal):
    """Print every key as JSON (masked unless --reveal)."""
    click.echo(json.dumps(key_service.export(_rt(), reveal=reveal), indent=2))


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
        note = r["disabled_reason"] or (f"until {r['cooldown_until']}" if r["cooldown_until"] else "")
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


# --- pools ------------------------------------------------------------------------

_STRATEGIES = click.Choice([s.value for s in Strategy])


def _pairs(values, what: str) -> dict:
    """``name=value`` options as a dict; an empty value is kept as "" (meaning: remove)."""
    out = {}
    for item in values:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise CliError(f"{what} {item!r}: expected NAME=VALUE")
        out[name.strip()] = value.strip()
    return out


@pools_cli.command("add")
@click.argument("name")
@click.option("--kind", type=click.Choice(pool_checks.KINDS), required=True,
              help="gemini (Google's API) or openai (any OpenAI-compatible base URL).")
@click.option("--base-url", help="Upstream base URL; required for openai, e.g. "
              "https://api.groq.com/openai/v1 (gemini: default GEMINI_BASE_URL).")
@click.option("--proxy", "proxy_url", help="Outgoing proxy (http, https, socks5, socks5h); "
              "default PROXY_URL.")
@click.option("--proxies", help="Several outgoing proxies, comma separated; each key is "
              "pinned to one.")
@click.option("--strategy", type=_STRATEGIES, help="How this pool picks a key.")
@click.option("--set", "settings", multiple=True, metavar="NAME=VALUE",
              help="Override a runtime setting for this pool (repeatable).")
@click.option("--alias", "aliases", multiple=True, metavar="ALIAS=MODEL",
              help="Serve MODEL of this pool under the name ALIAS (repeatable).")
@click.option("--safety", metavar="THRESHOLD",
              help="Safety settings added to Gemini requests that have none: one threshold "
              "for every category (BLOCK_NONE, OFF, BLOCK_ONLY_HIGH, ...).")
@click.option("--thinking-budget", "budgets", multiple=True, metavar="MODEL=TOKENS",
              help="Thinking budget for MODEL when the request sets none (repeatable).")
@click.option("--header", "headers", multiple=True, metavar="NAME=VALUE",
              help="Extra header sent upstream with every request of the pool (repeatable).")
@click.option("--disabled", is_flag=True, help="Create it switched off.")
def pools_add(name, kind, base_url, proxy_url, proxies, strategy, settings, aliases, disabled,
              safety, budgets, headers):
    """Create a pool.

    Then give it keys with `flask keys add --pool NAME ...` and fetch its model
    list with `flask models refresh NAME`.
    """
    overrides = _pairs(settings, "--set")
    if strategy:
        overrides["strategy"] = strategy
    try:
        pool = pool_service.create_pool(_rt(), name, kind, base_url, proxy_url=proxy_url,
                                        overrides=overrides, aliases=_pairs(aliases, "--alias"),
                                        enabled=not disabled, proxies=_split(proxies),
                                        request_defaults=_defaults({}, safety, budgets, headers))
    except pool_service.PoolError as exc:
        raise CliError(str(exc)) from None
    click.echo(f"pool {pool.name} created ({pool.kind}, {_base(pool.base_url, pool.kind)})")


@pools_cli.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def pools_list(as_json):
    """List pools with their keys per status and their model lists."""
    rows = pool_service.list_pools()
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    click.echo(f"{'NAME':<16} {'KIND':<7} {'STATE':<8} {'KEYS':>5} {'ACTIVE':>6} {'COOL':>5} "
               f"{'DEAD':>5} {'OFF':>5} {'MODELS':>6}  BASE URL")
    for r in rows:
        k = r["keys"]
        state = ("default" if r["is_default"] else "on") if r["enabled"] else "off"
        click.echo(f"{r['name']:<16} {r['kind']:<7} {state:<8} {k['total']:>5} {k['active']:>6} "
                   f"{k['cooling_down']:>5} {k['disabled']:>5} {k['switched_off']:>5} "
                   f"{r['models']:>6}  {_base(r['base_url'], r['kind'])}"
                   + (f" via {r['proxy_url']}" if r["proxy_url"] else ""))
        extras = [f"{n}={v}" for n, v in sorted(r["overrides"].items())]
        extras += [f"{a} -> {m}" for a, m in sorted(r["aliases"].items())]
        extras += _describe_defaults(r["request_defaults"])
        if extras:
            click.echo(f"{'':<16} " + ", ".join(extras))


def _describe_defaults(defaults: dict) -> list[str]:
    safety = {s["threshold"] for s in defaults.get("safety_settings", ())}
    out = [f"safety {'/'.join(sorted(safety))}"] if safety else []
    out += [f"thinking {m}={b}" for m, b in sorted(defaults.get("thinking_budgets", {}).items())]
    out += [f"header {n}" for n in sorted(defaults.get("headers", {}))]
    return out


def _defaults(current: dict, safety, budgets, headers) -> dict:
    """Request defaults from --safety, --thinking-budget and --header over ``current``;
    an empty value removes that default."""
    out = {name: (dict(v) if isinstance(v, dict) else list(v)) for name, v in current.items()}
    if safety is not None:
        if safety:
            try:
                out["safety_settings"] = request_defaults.safety_for_all(safety.strip().upper())
            except request_defaults.DefaultsError as exc:
                raise CliError(str(exc)) from None
        else:
            out.pop("safety_settings", None)
    for option, field, values in (("--thinking-budget", "thinking_budgets", budgets),
                                  ("--header", "headers", headers)):
        merged = dict(out.get(field) or {})
        for name, value in _pairs(values, option).items():
            if value == "":
                merged.pop(name, None)
            elif field == "thinking_budgets":
                try:
                    merged[name] = int(value)
                except ValueError:
                    raise CliError(f"{option} {name}={value}: the budget is a whole number") from None
            else:
                merged[name] = value
        if merged:
            out[field] = merged
        else:
            out.pop(field, None)
    return out


def _split(text):
    """A comma- or space-separated list (None stays None)."""
    return None if text is None else [part for part in text.replace(",", " ").split() if part]


def _base(url, kind) -> str:
    return url or ("GEMINI_BASE_URL" if kind == "gemini" else "-")


@pools_cli.command("edit")
@click.argument("name")
@click.option("--name", "new_name", help="Rename the pool (clients' NAME/model prefixes change).")
@click.option("--base-url", help="New base URL; \"\" for GEMINI_BASE_URL (gemini pools).")
@click.option("--proxy", "proxy_url", help="New outgoing proxy; \"\" for PROXY_URL.")
@click.option("--proxies", help="New list of outgoing proxies, comma separated; \"\" for none.")
@click.option("--enable/--disable", "enabled", default=None, help="Switch the pool on or off.")
@click.option("--strategy", type=_STRATEGIES, help="How this pool picks a key.")
@click.option("--set", "settings", multiple=True, metavar="NAME=VALUE",
              help="Override a runtime setting (repeatable); NAME= removes the override.")
@click.option("--unset", multiple=True, metavar="NAME", help="Remove a setting override.")
@click.option("--alias", "aliases", multiple=True, metavar="ALIAS=MODEL",
              help="Add or change an alias (repeatable).")
@click.option("--unalias", multiple=True, metavar="ALIAS", help="Remove an alias.")
@click.option("--safety", metavar="THRESHOLD",
              help="Safety settings added to Gemini requests that have none: one threshold "
              "for every category (BLOCK_NONE, OFF, BLOCK_ONLY_HIGH, ...); \"\" removes them.")
@click.option("--thinking-budget", "budgets", multiple=True, metavar="MODEL=TOKENS",
              help="Thinking budget for MODEL when the request sets none (repeatable); MODEL= removes it.")
@click.option("--header", "headers", multiple=True, metavar="NAME=VALUE",
              help="Extra header sent upstream with every request of the pool (repeatable); NAME= removes it.")
def pools_edit(name, new_name, base_url, proxy_url, proxies, enabled, strategy, settings, unset,
               aliases, unalias, safety, budgets, headers):
    """Change a pool's name, URLs, switch, setting overrides or aliases."""
    try:
        pool = pool_service.get_pool(name)
        changes = {}
        for field, value in (("name", new_name), ("base_url", base_url),
                             ("proxy_url", proxy_url), ("enabled", enabled)):
            if value is not None:
                changes[field] = value
        if proxies is not None:
            changes["proxies"] = _split(proxies)
        if strategy or settings or unset:
            overrides = dict(pool.overrides or {})
            for setting, value in {**_pairs(settings, "--set"),
                                   **({"strategy": strategy} if strategy else {})}.items():
                if value == "":
                    overrides.pop(setting, None)
                else:
                    overrides[setting] = value
            for setting in unset:
                if overrides.pop(setting, None) is None:
                    raise CliError(f"pool {pool.name} has no override named {setting!r}")
            changes["overrides"] = overrides
        if aliases or unalias:
            merged = {**(pool.aliases or {}), **_pairs(aliases, "--alias")}
            for alias in unalias:
                if merged.pop(alias, None) is None:
                    raise CliError(f"pool {pool.name} has no alias {alias!r}")
            changes["aliases"] = {a: m for a, m in merged.items() if m}
        if safety is not None or budgets or headers:
            changes["request_defaults"] = _defaults(pool.request_defaults or {}, safety, budgets,
                                                    headers)
        if not changes:
            raise CliError("nothing to change: give at least one option (see --help)")
        pool = pool_service.edit_pool(_rt(), name, **changes)
    except pool_service.PoolError as exc:
        raise CliError(str(exc)) from None
    click.echo(f"pool {pool.name} changed")


@pools_cli.command("delete")
@click.argument("name")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def pools_delete(name, yes):
    """Delete a pool and all of its keys (never the default pool)."""
    try:
        pool = pool_service.check_deletable(pool_service.get_pool(name))
        if not yes:
            count = pool_service.key_count(pool.id)
            click.confirm(f"Delete pool {pool.name} and its {count} keys for good?", abort=True)
        count = pool_service.delete_pool(_rt(), name)
    except pool_service.PoolError as exc:
        raise CliError(str(exc)) from None
    click.echo(f"pool {name} deleted, with {count} keys")


# --- models -----------------------------------------------------------------------


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


# --- secrets ----------------------------------------------------------------------


@secrets_cli.command("generate-key")
def secrets_generate_key():
    """Print a new Fernet key for ENCRYPTION_KEY."""
    from cryptography.fernet import Fernet
    click.echo(Fernet.generate_key().decode())


@secrets_cli.command("rotate")
def secrets_rotate():
    """Re-encrypt every stored key under ENCRYPTION_KEY.

    Set the new key as ENCRYPTION_KEY and the previous one in ENCRYPTION_OLD_KEYS
    (not needed when the previous key was derived from SECRET_KEY), restart, run
    this, then drop ENCRYPTION_OLD_KEYS. Workers keep serving throughout.
    """
    from balancer.services import secrets as secrets_service
    result = secrets_service.rotate(_rt())
    click.echo(result.summary())
    if result.unreadable:
        raise CliError("some keys could not be decrypted: add the key they were written "
                       "with to ENCRYPTION_OLD_KEYS and run this again")


# --- logs -------------------------------------------------------------------------


@logs_cli.command("purge")
@click.option("--kind", "kinds", multiple=True, type=click.Choice(["request_logs", "key_events",
                                                                   "usage"]),
              help="Only this kind (repeatable; default: all).")
def logs_purge(kinds):
    """Delete now what is older than the retention settings (the background does it
    every ten minutes)."""
    from balancer.services import retention
    rt = _rt()
    settings_service.load(rt)
    purged = retention.purge(rt.settings.current, list(kinds) or None, max_batches=1_000_000)
    click.echo(", ".join(f"{kind}: {n} deleted" for kind, n in purged.counts.items()))


# --- settings ---------------------------------------------------------------------


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
