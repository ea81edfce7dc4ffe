"""INSERT ... ON CONFLICT for the three databases Balancer runs on."""
from __future__ import annotations

import functools
from typing import Iterable, Optional, Sequence

import sqlalchemy as sa
from sqlalchemy.orm import Session


def upsert(session: Session, table: sa.Table, rows: Sequence[dict], conflict: Iterable[str],
           add: Iterable[str] = (), replace: Iterable[str] = (),
           newer: Optional[str] = None) -> None:
    """Insert rows; on a unique conflict add to ``add`` columns and overwrite ``replace`` ones.

    Adding in SQL (``count = count + excluded.count``) lets several processes
    flush the same bucket without reading it first.

    :param newer: a time column: ``replace`` columns are overwritten only by a row
        at least as new, so a process that flushes late cannot undo what another
        wrote after it (last writer wins by time, not by the order of flushes).
    """
    if not rows:
        return
    add, replace, conflict = list(add), list(replace), list(conflict)
    # Every process writes the rows of one table in the same order (by their unique key),
    # so two flushes that touch the same rows lock them in the same order and cannot
    # deadlock each other (PostgreSQL and MySQL would abort one of them).
    rows = sorted(rows, key=lambda row: tuple(
        (row[c] is None, 0 if row[c] is None else row[c]) for c in conflict))
    connection = session.connection()
    # Compiled as SQLAlchemy compiles any statement it executes: for the columns the
    # rows give, and for executemany when there are several.
    compiled = _compiled(connection.dialect, table, tuple(conflict), tuple(add), tuple(replace),
                         newer, tuple(sorted(rows[0])), len(rows) > 1)
    connection.execute(compiled, list(rows))


@functools.lru_cache(maxsize=128)
def _compiled(dialect: sa.Dialect, table: sa.Table, conflict: tuple[str, ...],
              add: tuple[str, ...], replace: tuple[str, ...], newer: Optional[str],
              keys: tuple[str, ...], many: bool) -> sa.Compiled:
    """The upsert statement compiled for one engine's dialect, once.

    SQLAlchemy caches no dialect's INSERT ... ON CONFLICT (their clauses have no cache
    key), so executed as a statement it would be compiled on every flush: a quarter
    of a flush's own work. Executed compiled, it goes through the same parameter and
    type processing as any statement.
    """
    stmt = _statement(dialect.name, table, conflict, add, replace, newer)
    return stmt.compile(dialect=dialect, column_keys=list(keys), for_executemany=many)


def _statement(dialect: str, table: sa.Table, conflict: tuple[str, ...], add: tuple[str, ...],
               replace: tuple[str, ...], newer: Optional[str]) -> sa.Executable:
    """The upsert statement for a database of this name."""
    if dialect in ("postgresql", "sqlite"):
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        stmt = insert(table)
        values = {c: table.c[c] + stmt.excluded[c] for c in add}
        values.update({c: stmt.excluded[c] for c in replace})
        where = table.c[newer] <= stmt.excluded[newer] if newer else None
        stmt = stmt.on_conflict_do_update(index_elements=conflict, set_=values, where=where)
    elif dialect in ("mysql", "mariadb"):
        from sqlalchemy.dialects.mysql import insert
        stmt = insert(table)
        values = {c: table.c[c] + stmt.inserted[c] for c in add}
        if newer:
            wins = table.c[newer] <= stmt.inserted[newer]
            # MySQL assigns left to right and later ones see earlier results: the
            # time column goes last, so every test above still sees the old time.
            for c in [c for c in replace if c != newer] + [newer]:
                values[c] = sa.case((wins, stmt.inserted[c]), else_=table.c[c])
        else:
            values.update({c: stmt.inserted[c] for c in replace})
        stmt = stmt.on_duplicate_key_update(list(values.items()))  # a list keeps the order
    else:  # pragma: no cover - only the three above are supported
        raise RuntimeError(f"unsupported database {dialect}")
    return stmt
