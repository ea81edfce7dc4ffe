"""flask tokens: client tokens and their limits."""
from __future__ import annotations

import json

import click
from flask.cli import AppGroup

from balancer.cli.common import CliError, _rt, _split
from balancer.services import client_tokens as token_service
from balancer.services.pools import load_catalog

tokens_cli = AppGroup("tokens", help="Client tokens: who may call the proxy, within which limits.")

_LIMITS = (
    click.option("--rpm", type=int, help="Requests per minute (0: no limit)."),
    click.option("--concurrent", type=int, help="Requests at once (0: no limit)."),
    click.option("--models", help="Allowed model names, comma separated; * and ? match "
                 "(\"\": any model)."),
    click.option("--max-kb", "max_kb", type=int, help="Largest request body in KiB (0: none)."),
)


def _with_limits(fn):
    for option in reversed(_LIMITS):
        fn = option(fn)
    return fn


def _describe(row) -> str:
    limits = []
    if row.rpm_limit:
        limits.append(f"{row.rpm_limit}/min")
    if row.max_concurrent:
        limits.append(f"{row.max_concurrent} at once")
    if row.allowed_models:
        limits.append("models " + ",".join(row.allowed_models))
    if row.max_request_kb:
        limits.append(f"<= {row.max_request_kb} KiB")
    return ", ".join(limits) or "no limits"


@tokens_cli.command("add")
@click.argument("name")
@_with_limits
def tokens_add(name, rpm, concurrent, models, max_kb):
    """Create a token; it is printed once and stored only as a hash."""
    rt = _rt()
    try:
        row, plain = token_service.create_token(rt, name)
        if any(v is not None for v in (rpm, concurrent, models, max_kb)):
            row = token_service.set_limits(rt, row.id, rpm=rpm, concurrent=concurrent,
                                           models=_split(models), max_request_kb=max_kb)
    except token_service.TokenError as exc:
        raise CliError(str(exc)) from None
    click.echo(f"token {row.id} ({row.name}, {_describe(row)}): {plain}")
    click.echo("Keep it now: Balancer stores only its hash.", err=True)


@tokens_cli.command("limit")
@click.argument("token_id", type=int)
@_with_limits
def tokens_limit(token_id, rpm, concurrent, models, max_kb):
    """Change a token's limits; the options not given keep their value."""
    rt = _rt()
    try:
        row = token_service.get_token(token_id)
        row = token_service.set_limits(
            rt, token_id, rpm=row.rpm_limit if rpm is None else rpm,
            concurrent=row.max_concurrent if concurrent is None else concurrent,
            models=row.allowed_models if models is None else _split(models),
            max_request_kb=row.max_request_kb if max_kb is None else max_kb)
    except (token_service.TokenError, LookupError) as exc:
        raise CliError(str(exc).strip("'\"")) from None
    click.echo(f"token {row.id} ({row.name}): {_describe(row)}")


@tokens_cli.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def tokens_list(as_json):
    """Every token: its prefix, state and limits (never the token)."""
    rows = token_service.list_tokens()
    if as_json:
        click.echo(json.dumps([{"id": r.id, "name": r.name, "prefix": r.prefix,
                                "enabled": r.enabled, "rpm_limit": r.rpm_limit,
                                "max_concurrent": r.max_concurrent,
                                "allowed_models": r.allowed_models,
                                "max_request_kb": r.max_request_kb} for r in rows], indent=2))
        return
    for r in rows:
        click.echo(f"{r.id:>4}  {r.prefix}…  {'on ' if r.enabled else 'off'}  {r.name:<24} "
                   f"{_describe(r)}")


@tokens_cli.command("revoke")
@click.argument("token_id", type=int)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def tokens_revoke(token_id, yes):
    """Delete a token for good: its clients get 401.

    Revoking the last token never opens the proxy: with no token left it serves
    only callers on this machine (loopback), unless OPEN_ACCESS=true.
    """
    rt = _rt()
    try:
        row = token_service.get_token(token_id)
    except LookupError as exc:
        raise CliError(str(exc).strip("'\"")) from None
    load_catalog(rt)  # the command's own process has not read the tokens yet
    last = token_service.is_last_token(rt, token_id)
    if not yes:
        question = f"Revoke token {row.id} ({row.name}) for good? Its clients get 401 from now on."
        if last:
            question += f" It is the last token: with none left, {token_service.without_tokens(rt)}."
        click.confirm(question, abort=True)
    token_service.revoke(rt, token_id)
    click.echo(f"token {token_id} revoked: requests with it get 401 (other workers follow "
               "within the sync interval)")
    if not rt.catalog.auth_required:
        click.echo(f"No client token is left: {token_service.without_tokens(rt)}.")
