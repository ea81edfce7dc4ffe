"""Column types that behave the same on SQLite, PostgreSQL and MariaDB."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Optional

import sqlalchemy as sa
from sqlalchemy.dialects import mysql


class UTCDateTime(sa.types.TypeDecorator):
    """Aware UTC datetimes in Python, naive UTC in the database.

    MySQL has no time zones and SQLite none at all, so storing naive UTC is the
    one representation all three agree on. MariaDB gets microseconds, which the
    sync loop's watermarks need.
    """

    impl = sa.DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect):
        if dialect.name in ("mysql", "mariadb"):
            return dialect.type_descriptor(mysql.DATETIME(fsp=6))
        return dialect.type_descriptor(sa.DateTime())

    def process_bind_param(self, value: Optional[datetime], dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use aware UTC datetimes")
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value: Optional[datetime], dialect):
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc)


def utcnow() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(timezone.utc)


def from_epoch(ts: Optional[float]) -> Optional[datetime]:
    """Epoch seconds to an aware UTC datetime."""
    return None if ts is None else datetime.fromtimestamp(ts, timezone.utc)


def to_epoch(value: Optional[datetime]) -> Optional[float]:
    """An aware datetime to epoch seconds."""
    return None if value is None else value.timestamp()


#: 64-bit ids for high-volume tables; SQLite only autoincrements INTEGER.
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

#: Text of any length: MySQL's and MariaDB's TEXT stops at 64 KiB, so they get LONGTEXT.
LongText = sa.Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb")
