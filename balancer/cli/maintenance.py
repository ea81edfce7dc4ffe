"""flask logs purge, flask secrets generate-key|rotate."""
from __future__ import annotations

import click
from flask.cli import AppGroup

from balancer.cli.common import CliError, _rt
from balancer.services import settings as settings_service

logs_cli = AppGroup("logs", help="The request log, key events, usage counts and audit trail.")
secrets_cli = AppGroup("secrets", help="Encryption of the stored upstream keys.")


@logs_cli.command("purge")
@click.option("--kind", "kinds", multiple=True, type=click.Choice(["request_logs", "key_events",
                                                                   "usage", "audit"]),
              help="Only this kind (repeatable; default: all).")
def logs_purge(kinds):
    """Delete now what is older than the retention settings (the background does it
    every ten minutes)."""
    from balancer.services import audit, retention
    rt = _rt()
    settings_service.load(rt)
    purged = retention.purge(rt.settings.current, list(kinds) or None, max_batches=1_000_000)
    click.echo(", ".join(f"{kind}: {n} deleted" for kind, n in purged.counts.items()))
    audit.record("logs_clean_up", ", ".join(purged.counts), "by retention: " + ", ".join(
        f"{kind}: {n} deleted" for kind, n in purged.counts.items()))


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
    if result.unreadable or result.unreadable_hosts:
        raise CliError("some keys could not be decrypted: add the key they were written "
                       "with to ENCRYPTION_OLD_KEYS and run this again")
