"""Inserting many rows through the driver, in few statements, for the three databases."""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import sqlalchemy as sa
from sqlalchemy.orm import Session

#: The most parameters one statement carries: SQLite before 3.32 took no more than 999,
#: and every database takes that many.
MAX_PARAMETERS = 999


@dataclass(frozen=True)
class _Plan:
    """One table's INSERT as one database takes it."""

    #: the statement for one row
    sql: str
    #: (position in a row, the column type's processing on this database), for the
    #: columns that have any (dates on SQLite and MariaDB, say); most have none.
    processors: tuple[tuple[int, Callable[[Any], Any]], ...]
    #: for a driver that takes named parameters: the names, in the order of a row.
    names: tuple[str, ...] | None
    #: for a driver that takes parameters by position: the statement up to its VALUES,
    #: and one row's group of placeholders, to repeat for several rows.
    head: str = ""
    group: str = ""

    def many(self, n: int) -> str:
        """The statement for ``n`` rows at once."""
        return self.head + ", ".join([self.group] * n)


def insert_many(session: Session, table: sa.Table, columns: tuple[str, ...],
                rows: Sequence[Sequence[Any]]) -> None:
    """Insert ``rows``, each the values of ``columns`` in that order, in the session's
    transaction.

    The flusher writes hundreds of request-log rows a second from a thread of the worker
    that serves the requests, and shares the interpreter's lock with them: its Python work
    is taken from theirs. SQLAlchemy's own executemany makes a dict of every row and
    passes each value through its type in Python, and the driver then runs one statement
    per row (SQLite's gives the lock up and takes it back around each). Here the statement
    is compiled once per database, only the columns whose type does something there are
    processed, and the rows go in a few statements of many rows each: by the driver's
    executemany where it takes named parameters (PyMySQL makes an INSERT's rows one
    statement of many itself), in one COPY on PostgreSQL. Errors are SQLAlchemy's, as for
    any statement.
    """
    if not rows:
        return
    connection = session.connection()
    plan = _plan(connection.dialect, table, columns)
    if plan.processors:
        processed = []
        for row in rows:
            values = list(row)
            for i, process in plan.processors:
                values[i] = process(values[i])
            processed.append(values)
        rows = processed
    if connection.dialect.driver == "psycopg":
        _copy(connection, table, columns, rows)
        return
    if plan.names is not None:
        connection.exec_driver_sql(plan.sql, [dict(zip(plan.names, row)) for row in rows])
        return
    start = 0
    for size in statement_sizes(len(rows), MAX_PARAMETERS // len(columns)):
        chunk = rows[start:start + size]
        start += size
        connection.exec_driver_sql(plan.many(size), tuple(value for row in chunk for value in row))


def _copy(connection: sa.Connection, table: sa.Table, columns: tuple[str, ...],
          rows: Sequence[Sequence[Any]]) -> None:
    """PostgreSQL: the rows through COPY, which psycopg feeds row after row in C.

    Its executemany, pipelined as it is, still runs a round of Python per row, and a
    statement of many rows is parsed anew at each call (psycopg keeps none of more than
    50 parameters parsed): COPY takes half the time of either. Its errors are raised as
    SQLAlchemy raises any driver's (a row's DataError, a lost connection's
    OperationalError, the connection dropped from the pool then).
    """
    quote = connection.dialect.identifier_preparer
    sql = (f"COPY {quote.format_table(table)} "
           f"({', '.join(quote.format_column(table.c[name]) for name in columns)}) FROM STDIN")
    raw = connection.connection  # the pool's proxy of psycopg's connection
    driver_error = connection.dialect.loaded_dbapi.Error
    try:
        with raw.cursor() as cursor, cursor.copy(sql) as copy:
            for row in rows:
                copy.write_row(row)
    except driver_error as exc:
        gone = connection.dialect.is_disconnect(exc, raw, None)
        if gone:
            connection.invalidate(exc)
        raise sa.exc.DBAPIError.instance(sql, None, exc, driver_error, dialect=connection.dialect,
                                         connection_invalidated=gone) from exc


def statement_sizes(n: int, most: int) -> list[int]:
    """How many rows each statement carries to insert ``n``: powers of two, the largest
    at most ``most``, the rest as few as add up to what is left.

    The driver prepares and keeps each statement text it meets (SQLite's cache holds
    a hundred or more, each many kilobytes for a statement of many rows): a handful of
    sizes keeps that to a handful of statements, where one per batch size would grow it
    with every new size a flush happened to have.
    """
    largest = 1 << (max(1, most).bit_length() - 1)
    sizes = [largest] * (n // largest)
    left = n % largest
    while left:
        size = 1 << (left.bit_length() - 1)
        sizes.append(size)
        left -= size
    return sizes


@functools.lru_cache(maxsize=16)
def _plan(dialect: sa.Dialect, table: sa.Table, columns: tuple[str, ...]) -> _Plan:
    compiled = table.insert().compile(dialect=dialect, column_keys=list(columns))
    processors = []
    for i, name in enumerate(columns):
        process = table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
        if process is not None:
            processors.append((i, process))
    if not compiled.positional:
        return _Plan(compiled.string, tuple(processors), names=columns)
    # The driver reads parameters by position: they must come in the statement's order.
    order = tuple(compiled.positiontup or ())
    if order != columns:
        raise ValueError(f"{table.name}: the statement takes {order}, not {columns}")
    head, values, group = compiled.string.rpartition(" VALUES ")
    if not values or not group.startswith("(") or not group.endswith(")"):
        raise ValueError(f"{table.name}: an INSERT of an unexpected form: {compiled.string}")
    return _Plan(compiled.string, tuple(processors), names=None, head=head + values, group=group)
