"""What every command group shares: the error type, the runtime, small parsers."""
from __future__ import annotations

import click
from flask import current_app

from balancer.services import pools as pool_service


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


def _pairs(values, what: str) -> dict:
    """``name=value`` options as a dict; an empty value is kept as "" (meaning: remove)."""
    out = {}
    for item in values:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise CliError(f"{what} {item!r}: expected NAME=VALUE")
        out[name.strip()] = value.strip()
    return out


def _split(text):
    """A comma- or space-separated list (None stays None)."""
    return None if text is None else [part for part in text.replace(",", " ").split() if part]
