"""flask import-from gemini-balance: bring a gemini-balance configuration over.

What each setting becomes is decided in ``services/gemini_balance.py``; this
command reads the source, prints that table and writes what is not there yet,
so running it again adds nothing twice. It never prints a key or a token.
"""
from __future__ import annotations

from pathlib import Path

import click
import sqlalchemy as sa
from flask.cli import AppGroup

from balancer.cli.common import CliError, _rt
from balancer.services import client_tokens as token_service
from balancer.services import gemini_balance, gemini_balance_values
from balancer.services import keys as key_service
from balancer.services import pools as pool_service
from balancer.services import settings as settings_service
from balancer.services.pool_checks import PoolError
from balancer.settings import SettingError

import_cli = AppGroup("import-from", help="Bring another gateway's configuration over.")

_SQLITE_MAGIC = b"SQLite format 3\x00"
#: gemini-balance's settings table (its ``app/database/models.py``); SQLAlchemy quotes
#: "key" as each database needs.
_SETTINGS = sa.table("t_settings", sa.column("key"), sa.column("value"))


@import_cli.command("gemini-balance")
@click.argument("source")
@click.option("--dry-run", is_flag=True, help="Print what would be taken; write nothing.")
def gemini_balance_cmd(source, dry_run):
    """Import gemini-balance's keys, client tokens, proxies and settings.

    SOURCE is its .env file, its SQLite database file, or its database URL
    (mysql+pymysql://user:password@host/db): the settings it keeps in t_settings.
    """
    values = _read(source)
    plan = gemini_balance.plan(values)
    click.echo(gemini_balance.table(plan.rows))
    click.echo("")
    if dry_run:
        click.echo("Dry run: nothing was written.")
        return
    rt = _rt()
    settings_service.load(rt)
    try:
        lines, changed = _apply(rt, plan)
    except (PoolError, SettingError, token_service.TokenError) as exc:
        raise CliError(f"import stopped: {exc}") from None
    for line in lines:
        click.echo(line)
    if not changed:
        click.echo("Nothing to change: this configuration is in Balancer already.")


def _read(source: str) -> dict[str, str]:
    """The source's settings as name -> the string gemini-balance stores."""
    if "://" in source:
        return _from_database(source)
    path = Path(source)
    try:
        with path.open("rb") as handle:
            head = handle.read(len(_SQLITE_MAGIC))
        if head == _SQLITE_MAGIC:
            return _from_database(f"sqlite:///{path.resolve()}")
        return gemini_balance_values.read_env(path.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError) as exc:
        raise CliError(f"cannot read {source}: {exc.__class__.__name__}") from None


def _from_database(url: str) -> dict[str, str]:
    """gemini-balance's ``t_settings`` table (key, value), where its settings win over .env."""
    if url.startswith("mysql://"):
        url = "mysql+pymysql://" + url[len("mysql://"):]
    try:
        engine = sa.create_engine(url)
    except (sa.exc.ArgumentError, ImportError):
        raise CliError("not a database URL Balancer can open (e.g. "
                       "mysql+pymysql://user:password@host/db)") from None
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.select(_SETTINGS.c.key, _SETTINGS.c.value)).all()
    except sa.exc.SQLAlchemyError as exc:
        # The URL may hold a password: name the kind of failure only.
        raise CliError(f"cannot read gemini-balance's settings table t_settings "
                       f"({exc.__class__.__name__})") from None
    finally:
        engine.dispose()
    return {str(key): "" if value is None else str(value) for key, value in rows}


def _apply(rt, plan: gemini_balance.Plan) -> tuple[list[str], bool]:
    """Write what is not there yet; lines for people, and whether anything changed."""
    lines: list[str] = []
    changed = False
    pool = pool_service.ensure_default_pool()

    if plan.gemini_keys:
        result = key_service.add_keys(rt, plan.gemini_keys, pool)
        lines.append(f"keys of pool {pool.name}: {result.summary()}")
        changed |= bool(result.added)
    if plan.vertex_keys:
        try:
            vertex = pool_service.get_pool(gemini_balance.VERTEX_POOL)
        except LookupError:
            vertex = pool_service.create_pool(rt, gemini_balance.VERTEX_POOL,
                                              gemini_balance.VERTEX_KIND)
            changed = True
        result = key_service.add_keys(rt, plan.vertex_keys, vertex)
        lines.append(f"keys of pool {vertex.name}: {result.summary()}")
        changed |= bool(result.added)

    if plan.tokens:
        made = [row for name, plain in plan.tokens
                if (row := token_service.adopt_token(rt, name, plain)) is not None]
        lines.append(f"client tokens: {len(made)} created, "
                     f"{len(plan.tokens) - len(made)} already present")
        changed |= bool(made)

    edits: dict = {}
    have = list(pool.proxies or ())
    new = [url for url in plan.proxies if url not in have]
    if plan.proxies:
        lines.append(f"outgoing proxies of pool {pool.name}: {len(new)} added, "
                     f"{len(plan.proxies) - len(new)} already present")
    if new:
        edits["proxies"] = have + new
    if plan.base_url and pool.base_url != plan.base_url:
        edits["base_url"] = plan.base_url
        lines.append(f"base URL of pool {pool.name}: set")
    current = dict(pool.request_defaults or {})
    merged = dict(current)
    for part, value in plan.defaults.items():
        # Maps are merged (a model or header set here by hand stays); lists replaced.
        merged[part] = {**current.get(part, {}), **value} if isinstance(value, dict) else value
    merged = {part: value for part, value in merged.items() if value}
    if plan.defaults:
        lines.append(f"request defaults of pool {pool.name}: "
                     + ("updated" if merged != current else "unchanged"))
    if merged != current:
        edits["request_defaults"] = merged
    if edits:
        pool_service.edit_pool(rt, pool.name, **edits)
        changed = True

    if plan.settings:
        now = rt.settings.current.values
        differ = {name: value for name, value in plan.settings.items() if now.get(name) != value}
        if differ:
            settings_service.update(rt, differ)
        lines.append(f"settings: {len(differ)} changed"
                     + (f" ({', '.join(sorted(differ))})" if differ else "")
                     + f", {len(plan.settings) - len(differ)} already so")
        changed |= bool(differ)
    return lines, changed
