"""The request log's rows, written through the driver (many rows per statement, or
PostgreSQL's COPY), read back as SQLAlchemy's own INSERT would have stored them, on every
database; and the driver's errors reach the flusher as SQLAlchemy's."""
from __future__ import annotations

import time

import pytest
import sqlalchemy as sa

from balancer.background import database_away
from balancer.extensions import db
from balancer.models import RequestLog
from balancer.models.bulk import insert_many, statement_sizes
from balancer.telemetry import flusher
from balancer.telemetry.record import RequestRecord
from tests.conftest import database_kind

RECORDS = [
    RequestRecord(at=1_765_000_000.123456, api_format="openai", route="chat.completions",
                  model="gemini-2.5-flash", pool_id=1, key_id=3, client_id=2,
                  client_name="ci", stream=True, status=200, attempts=2, latency_ms=812,
                  ttfb_ms=140, tokens_in=12, tokens_out=340),
    RequestRecord(at=time.time(), api_format="gemini", route="models.generate",
                  model=None, stream=False, status=429, attempts=1, latency_ms=3,
                  error_class="rate_limited", error_message="Quota exceeded: 50% of it \u2014 'x'"),
]
COLUMNS = [c for c in RequestLog.__table__.c.keys() if c != "id"]


def _stored(marker: str) -> list[dict]:
    rows = db.session.execute(sa.select(RequestLog.__table__)
                              .where(RequestLog.route.like(f"{marker}%"))
                              .order_by(RequestLog.id)).mappings().all()
    return [{c: row[c] for c in COLUMNS if c != "route"} for row in rows]


def test_rows_written_in_bulk_read_back_as_sqlalchemy_would_have_stored_them(app):
    with app.app_context():
        ours = [RequestRecord(**{**vars(r), "route": "bulk." + r.route}) for r in RECORDS]
        insert_many(db.session, RequestLog.__table__, flusher.LOG_COLUMNS,
                    [flusher.log_values(r) for r in ours])
        theirs = [dict(zip(flusher.LOG_COLUMNS, flusher.log_values(r))) for r in RECORDS]
        for row in theirs:
            row["route"] = "orm." + row["route"]
        db.session.execute(RequestLog.__table__.insert(), theirs)
        db.session.commit()

        bulk, orm = _stored("bulk."), _stored("orm.")
        assert len(bulk) == 2 and bulk == orm
        assert bulk[0]["created_at"].timestamp() == RECORDS[0].at
        assert bulk[0]["stream"] is True and bulk[1]["stream"] is False
        assert bulk[1]["model"] is None and bulk[1]["error_message"].startswith("Quota exceeded: 50%")


def test_nothing_is_written_for_no_rows(app):
    with app.app_context():
        insert_many(db.session, RequestLog.__table__, flusher.LOG_COLUMNS, [])
        db.session.commit()
        assert db.session.scalar(sa.select(sa.func.count()).select_from(RequestLog)) == 0


def test_more_rows_than_one_statement_carries_all_arrive_in_their_order(app):
    n = 181  # on SQLite in statements of 32, 32, 32, 32, 32, 16, 4 and 1 rows
    records = [RequestRecord(at=1_765_000_000 + i, api_format="openai", route="many",
                             status=200, latency_ms=i) for i in range(n)]
    with app.app_context():
        insert_many(db.session, RequestLog.__table__, flusher.LOG_COLUMNS,
                    [flusher.log_values(r) for r in records])
        db.session.commit()
        stored = db.session.scalars(sa.select(RequestLog.latency_ms)
                                    .order_by(RequestLog.id)).all()
        assert stored == list(range(n))


def test_a_batch_goes_in_statements_of_a_few_sizes_whatever_its_length():
    assert statement_sizes(0, 58) == []
    assert statement_sizes(450, 58) == [32] * 14 + [2]
    assert statement_sizes(63, 58) == [32, 16, 8, 4, 2, 1]
    sizes = set()
    for n in range(1, 2000):
        parts = statement_sizes(n, 58)
        assert sum(parts) == n and len(parts) <= n // 32 + 5
        sizes.update(parts)
    assert sizes == {32, 16, 8, 4, 2, 1}  # the driver keeps six statements, not hundreds


def test_a_row_the_database_refuses_is_the_rows_fault_not_the_databases(app):
    """The flusher sets such a row aside and writes the rest (``database_away``: False)."""
    with app.app_context():
        with pytest.raises(Exception) as err:
            insert_many(db.session, RequestLog.__table__, flusher.LOG_COLUMNS,
                        [flusher.log_values(RequestRecord(at=time.time(), api_format="openai",
                                                          route="big", tokens_in=2 ** 63))])
        assert isinstance(err.value, (sa.exc.DataError, OverflowError)), err.value
        assert not database_away(err.value)
        db.session.rollback()
        assert db.session.scalar(sa.select(sa.func.count()).select_from(RequestLog)) == 0


@pytest.mark.skipif(database_kind() != "postgresql", reason="PostgreSQL's COPY")
def test_a_connection_lost_during_copy_is_an_operational_error_and_leaves_the_pool(app):
    """The flusher keeps the batch for a later round (the database is away), and the
    next write gets a new connection rather than the dead one."""
    rows = [flusher.log_values(RequestRecord(at=time.time(), api_format="openai", route="lost",
                                                   status=200))]
    with app.app_context():
        pid = db.session.scalar(sa.text("SELECT pg_backend_pid()"))
        other = sa.create_engine(db.engine.url)
        with other.connect() as conn:
            conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        other.dispose()
        with pytest.raises(sa.exc.OperationalError) as err:
            insert_many(db.session, RequestLog.__table__, flusher.LOG_COLUMNS, rows)
        assert err.value.connection_invalidated and database_away(err.value)
        db.session.rollback()
        insert_many(db.session, RequestLog.__table__, flusher.LOG_COLUMNS, rows)
        db.session.commit()
        assert db.session.scalars(sa.select(RequestLog.route)).all() == ["lost"]
