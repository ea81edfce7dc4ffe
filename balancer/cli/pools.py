"""flask pools: add, list, edit, delete (with request defaults)."""
from __future__ import annotations

import json
import sys

import click
from flask.cli import AppGroup

from balancer.cli.common import CliError, _pairs, _rt, _split
from balancer.keypool.records import Strategy
from balancer.services import pool_checks
from balancer.services import pools as pool_service
from balancer.upstream import image_hosts, request_defaults

pools_cli = AppGroup("pools", help="Manage pools: a provider endpoint, its keys and settings.")


_STRATEGIES = click.Choice([s.value for s in Strategy])




@pools_cli.command("add")
@click.argument("name")
@click.option("--kind", type=click.Choice(pool_checks.KINDS), required=True,
              help="gemini (Google's API), openai (any OpenAI-compatible base URL) or "
              "vertex_express (Vertex AI express-mode keys).")
@click.option("--base-url", help="Upstream base URL; required for openai, e.g. "
              "https://api.groq.com/openai/v1 (gemini: default GEMINI_BASE_URL; vertex_express: "
              "default https://aiplatform.googleapis.com).")
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
@click.option("--fake-stream/--real-stream", "fake_stream", default=None,
              help="Serve clients' streams from the upstream's non-streaming call (keep-alives "
              "while it waits, the whole answer in the client's stream framing), or stream as "
              "the upstream does.")
@click.option("--disabled", is_flag=True, help="Create it switched off.")
def pools_add(name, kind, base_url, proxy_url, proxies, strategy, openai_api, settings, aliases,
              disabled, safety, budgets, headers, fake_stream):
    """Create a pool.

    Then give it keys with `flask keys add --pool NAME ...` and fetch its model
    list with `flask models refresh NAME`.
    """
    overrides = _pairs(settings, "--set")
    if strategy:
        overrides["strategy"] = strategy
    if openai_api:
        overrides["openai_api"] = openai_api
    if fake_stream is not None:
        overrides["fake_stream"] = fake_stream
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
    click.echo(f"{'NAME':<16} {'KIND':<14} {'STATE':<8} {'KEYS':>5} {'ACTIVE':>6} {'COOL':>5} "
               f"{'DEAD':>5} {'OFF':>5} {'MODELS':>6}  BASE URL")
    openai_api = _rt().settings.current.openai_api
    for r in rows:
        k = r["keys"]
        state = ("default" if r["is_default"] else "on") if r["enabled"] else "off"
        click.echo(f"{r['name']:<16} {r['kind']:<14} {state:<8} {k['total']:>5} {k['active']:>6} "
                   f"{k['cooling_down']:>5} {k['disabled']:>5} {k['switched_off']:>5} "
                   f"{r['models']:>6}  {_base(r['base_url'], r['kind'])}"
                   + (f" via {r['proxy_url']}" if r["proxy_url"] else ""))
        extras = [f"{n}={v}" for n, v in sorted(r["overrides"].items())]
        if r["kind"] == "gemini" and "openai_api" not in r["overrides"]:
            extras.insert(0, f"openai_api={openai_api} (from settings)")
        extras += [f"{a} -> {m}" for a, m in sorted(r["aliases"].items())]
        extras += _describe_defaults(r["request_defaults"])
        if r["image_host"]:
            host = r["image_host"]
            extras.append(f"images to {host['kind']}"
                          + (f" at {host['base_url']}" if host["base_url"] else "")
                          + (" (token set)" if host["token"] else ""))
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
    return url or {"gemini": "GEMINI_BASE_URL", "vertex_express": "aiplatform.googleapis.com"}.get(
        kind, "-")


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
@click.option("--image-host", metavar="KIND[=BASE_URL]",
              help="Upload generated images to an image host and answer OpenAI clients with "
              "its links: smms, picgo or imgbed (=BASE_URL: the host's address; smms and "
              "picgo have defaults); off switches it off.")
@click.option("--image-host-token", metavar="TOKEN",
              help="The image host's token (stored encrypted); - reads it from stdin, \"\" "
              "removes it. Unchanged when not given.")
@click.option("--fake-stream/--real-stream", "fake_stream", default=None,
              help="Serve clients' streams from the upstream's non-streaming call (keep-alives "
              "while it waits, the whole answer in the client's stream framing), or stream as "
              "the upstream does.")
def pools_edit(name, new_name, base_url, proxy_url, proxies, enabled, strategy, openai_api,
               settings, unset, aliases, unalias, safety, budgets, headers, image_host,
               image_host_token, fake_stream):
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
        if strategy or openai_api or settings or unset or fake_stream is not None:
            overrides = dict(pool.overrides or {})
            named = {"strategy": strategy, "openai_api": openai_api,
                     "fake_stream": None if fake_stream is None else str(fake_stream).lower()}
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
        if image_host is not None or image_host_token is not None:
            changes["image_host"] = _image_host(pool, image_host, image_host_token)
        if not changes:
            raise CliError("nothing to change: give at least one option (see --help)")
        pool = pool_service.edit_pool(_rt(), name, **changes)
    except pool_service.PoolError as exc:
        raise CliError(str(exc)) from None
    click.echo(f"pool {pool.name} changed")


def _image_host(pool, spec, token) -> dict:
    """The ``image_host`` change for ``--image-host`` and ``--image-host-token``."""
    if token == "-":
        token = sys.stdin.readline().strip()
    if spec is None:
        stored = pool.image_host or {}
        if not stored.get("kind"):
            raise CliError("--image-host-token: the pool has no image host; give --image-host")
        return {"kind": stored["kind"], "base_url": stored.get("base_url"), "token": token}
    try:
        parsed = image_hosts.parse_spec(spec)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    if parsed is None:
        return {"kind": "off"}
    kind, base = parsed
    return {"kind": kind, "base_url": base, "token": token}


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
