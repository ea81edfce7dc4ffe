"""Text made fit for the column that stores it.

A client chooses the model name, the route's parts and much of what ends up in
an error message. Before such text reaches a row it loses its NUL characters
(PostgreSQL refuses them), its lone surrogates become U+FFFD (no database
driver can encode them) and it is cut to its column's length (PostgreSQL and
MariaDB refuse longer text): one such row would otherwise fail the whole batch
written with it. Lengths are read from the column itself, so a migration that
widens a column widens what is kept.
"""
from __future__ import annotations

from typing import Iterable, Optional

import sqlalchemy as sa

from balancer.text import clean


def limit_of(column: sa.Column) -> Optional[int]:
    """The most characters ``column`` holds (None: no limit, or not text)."""
    return getattr(column.type, "length", None)


def shortest(columns: Iterable[sa.Column]) -> Optional[int]:
    """The least length of several columns that store one value (None: none limits it)."""
    found = [n for n in map(limit_of, columns) if n is not None]
    return min(found) if found else None


def fit(column: sa.Column, value: Optional[str]) -> Optional[str]:
    """``value`` cleaned and cut for ``column``; None stays None (and non-text is left alone)."""
    return fit_text(value, limit_of(column))


def fit_text(value: Optional[str], limit: Optional[int]) -> Optional[str]:
    """``value`` cleaned and cut to ``limit`` characters; None (and non-text) left alone."""
    if not isinstance(value, str):
        return value
    return clean(value, limit)

