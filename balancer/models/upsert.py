"""INSERT ... ON CONFLICT for the three databases Balancer runs on."""
from __future__ import annotations

from typing import Iterable, Sequence

import sqlalchemy as sa
from sqlalchemy.orm import Session


def upsert(session: Session, table: sa.Table, rows: Sequence[dict], conflict: Iterable[str],
           add: Iterable[str] = (), replace: Iterable[str] = ()) -> None:
    """Insert rows; on a unique conflict add to ``add`` columns and overwrite ``replace`` ones.

    Adding in SQL (``count = count + excluded.count``) lets several processes
    flush the same bucket without reading it first.
    """
    if not rows:
        return
    add, replace, conflict = list(add), list(replace), list(conflict)
    dialect = session.get_bind().dialect.name
    if dialect in ("postgresql", "sqlite"):
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        stmt = insert(table)
        values = {c: table.c[c] + stmt.excluded[c] for c in add}
        values.update({c: stmt.excluded[c] for c in replace})
        stmt = stmt.on_conflict_do_update(index_elements=conflict, set_=values)
    elif dialect in ("mysql", "mariadb"):
        from sqlalchemy.dialects.mysql import insert
        stmt = insert(table)
        values = {c: table.c[c] + stmt.inserted[c] for c in add}
        values.update({c: stmt.inserted[c] for c in replace})
        stmt = stmt.on_duplicate_key_update(values)
    else:  # pragma: no cover - only the three above are supported
        raise RuntimeError(f"unsupported database {dialect}")
    session.execute(stmt, list(rows))
