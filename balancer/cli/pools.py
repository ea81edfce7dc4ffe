"""flask pools: add, list, edit, delete (with request defaults)."""
from __future__ import annotations

import json

import click
from flask.cli import AppGroup

from balancer.cli.common import CliError, _pairs, _rt, _split
from balancer.keypool.records import Strategy
from balancer.services import pool_checks
from balancer.services import pools as pool_service
from balancer.upstream import request_defaults

pools_cli = AppGroup("pools", help="Manage pools: a provider endpoint, its keys and settings.")


_STRATEGIES = click.Choice([s.value for s in Strategy])




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
@click.option("--openai-api", type=click.Choice(["native", "compat"]),
              help="gemini pools: how OpenAI-format requests reach them: native (translated to "
              "Gemini's own API, every key kind) or compat (Google's OpenAI layer, as sent).")
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
def pools_add(name, kind, base_url, proxy_url, proxies, strategy, openai_api, settings, aliases,
              disabled, safety, budgets, headers):
    """Create a pool.

    Then give it keys with `flask keys add --pool NAME ...` and fetch its model
    list with `flask models refresh NAME`.
    """
    overrides = _pairs(settings, "--set")
    if strategy:
        overrides["strategy"] = strategy
    if openai_api:
        overrides["openai_api"] = openai_api
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
    openai_api = _rt().settings.current.openai_api
    for r in rows:
        k = r["keys"]
        state = ("default" if r["is_default"] else "on") if r["enabled"] else "off"
        click.echo(f"{r['name']:<16} {r['kind']:<7} {state:<8} {k['total']:>5} {k['active']:>6} "
                   f"{k['cooling_down']:>5} {k['disabled']:>5} {k['switched_off']:>5} "
                   f"{r['models']:>6}  {_base(r['base_url'], r['kind'])}"
                   + (f" via {r['proxy_url']}" if r["proxy_url"] else ""))
        extras = [f"{n}={v}" for n, v in sorted(r["overrides"].items())]
        if r["kind"] == "gemini" and "openai_api" not in r["overrides"]:
            extras.insert(0, f"openai_api={openai_api} (from settings)")
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
@click.option("--openai-api", type=click.Choice(["native", "compat"]),
              help="gemini pools: how OpenAI-format requests reach them: native (translated to "
              "Gemini's own API, every key kind) or compat (Google's OpenAI layer, as sent).")
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
def pools_edit(name, new_name, base_url, proxy_url, proxies, enabled, strategy, openai_api,
               settings, unset, aliases, unalias, safety, budgets, headers):
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
        if strategy or openai_api or settings or unset:
            overrides = dict(pool.overrides or {})
            named = {"strategy": strategy, "openai_api": openai_api}
            for setting, value in {**_pairs(settings, "--set"),
                                   **{k: v for k, v in named.items() if v}}.items():
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
