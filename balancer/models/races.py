"""Which database errors mean that another writer got there first.

Two workers start at the same moment and both add the default pool and the keys of
GEMINI_API_KEYS. The loser of that race sees either a unique-key error or, on MySQL
and MariaDB (whose inserts take gap locks) and on PostgreSQL, a deadlock: both mean
"try again and you will find the other's rows", never that the data is wrong.
"""
from __future__ import annotations

import sqlalchemy as sa

#: MySQL/MariaDB error numbers: deadlock, lock wait timeout.
_MYSQL_RACE = frozenset({1213, 1205})
#: PostgreSQL SQLSTATEs: serialization failure, deadlock detected.
_PG_RACE = frozenset({"40001", "40P01"})


def lost_race(exc: BaseException) -> bool:
    """Whether a failed write lost a race with another transaction (worth one more try)."""
    if isinstance(exc, sa.exc.IntegrityError):
        return True
    if not isinstance(exc, sa.exc.DBAPIError):
        return False
    orig = exc.orig
    args = getattr(orig, "args", ())
    if args and isinstance(args[0], int) and args[0] in _MYSQL_RACE:
        return True
    code = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    return code in _PG_RACE
