"""Buffered records reach the database in batches; a database outage loses nothing bounded."""
from __future__ import annotations

import sqlalchemy as sa

from balancer.extensions import db
from balancer.models import RequestLog, UsageBucket
from balancer.telemetry.buffer import Buffer
from balancer.telemetry.record import RequestRecord


def chat(client, auth, model="gemini-2.5-flash"):
    return client.post("/v1/chat/completions", headers=auth,
                       json={"model": model, "messages": [{"role": "user", "content": "x"}]})


def test_a_flush_writes_request_log_rows_and_usage_buckets(app, client, auth, keys, rt):
    keys(2)
    for _ in range(5):
        assert chat(client, auth).status_code == 200
    assert chat(client, auth, model="bad model").status_code == 400
    rt.services.flush()
    with app.app_context():
        rows = db.session.scalars(sa.select(RequestLog).order_by(RequestLog.id)).all()
        assert len(rows) == 6
        ok = rows[0]
        assert ok.status == 200 and ok.attempts == 1 and ok.key_id and ok.tokens_out > 0
        assert ok.route == "chat.completions" and ok.api_format == "openai"
        counts = dict(db.session.execute(sa.select(UsageBucket.status_class, sa.func.sum(UsageBucket.count))
                                         .group_by(UsageBucket.status_class)).all())
        assert counts == {"success": 5, "client_error": 1}


def test_buckets_add_up_across_flushes(app, client, auth, keys, rt):
    keys(1)
    chat(client, auth)
    rt.services.flush()
    chat(client, auth)
    rt.services.flush()
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.sum(UsageBucket.count))) == 2
        assert db.session.scalar(sa.select(sa.func.count()).select_from(UsageBucket)) == 1


def test_request_logging_can_be_switched_off_while_counters_go_on(app, client, auth, keys, rt):
    from balancer.services import settings as settings_service
    keys(1)
    with app.app_context():
        settings_service.update(rt, {"log_requests": False})
    chat(client, auth)
    rt.services.flush()
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(RequestLog)) == 0
        assert db.session.scalar(sa.select(sa.func.sum(UsageBucket.count))) == 1


def test_a_failed_flush_keeps_the_records_for_the_next_round(app, client, auth, keys, rt, monkeypatch):
    keys(1)
    chat(client, auth)
    import balancer.background as background

    def broken(*args, **kwargs):
        raise sa.exc.OperationalError("INSERT", {}, Exception("database is down"))
    monkeypatch.setattr(background, "write_records", broken)
    rt.services.flush()
    assert len(rt.records) == 1 and rt.services.last_flush_error == "OperationalError"
    monkeypatch.undo()
    rt.services.flush()
    assert len(rt.records) == 0
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(RequestLog)) == 1


def test_a_graceful_stop_tries_its_last_flush_again_after_a_passing_failure(
        app, client, auth, keys, rt, monkeypatch):
    keys(1)
    for _ in range(3):
        chat(client, auth)
    import balancer.background as background
    real, failures = background.write_records, []

    def deadlocked_twice(*args, **kwargs):
        if len(failures) < 2:
            failures.append(True)
            raise sa.exc.OperationalError("INSERT", {}, Exception("deadlock detected"))
        return real(*args, **kwargs)
    monkeypatch.setattr(background, "write_records", deadlocked_twice)
    rt.services.stop(timeout=1)
    assert len(failures) == 2 and len(rt.records) == 0
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(RequestLog)) == 3


def test_flushes_write_each_tables_rows_in_one_order_so_they_cannot_deadlock(app, rt):
    from balancer.models.upsert import upsert
    seen = []

    class Recording:
        """A session whose connection notes the rows it is given, in their order."""

        def connection(self):
            return self

        @property
        def dialect(self):
            return db.session.get_bind().dialect

        def execute(self, stmt, rows):
            seen.append([(r["minute"], r["key_id"], r["model"]) for r in rows])
    rows = [{"minute": m, "pool_id": 1, "key_id": k, "model": model, "client_id": c,
             "status_class": "success", "count": 1}
            for m, k, model, c in ((2, 3, "b", None), (1, None, "a", 4), (2, 1, "a", None),
                                   (1, 2, "z", None), (2, None, "a", None))]
    with app.app_context():
        upsert(Recording(), UsageBucket.__table__, rows, conflict=(
            "minute", "pool_id", "key_id", "model", "client_id", "status_class"), add=("count",))
        upsert(Recording(), UsageBucket.__table__, list(reversed(rows)), conflict=(
            "minute", "pool_id", "key_id", "model", "client_id", "status_class"), add=("count",))
    assert seen[0] == seen[1] == [(1, 2, "z"), (1, None, "a"), (2, 1, "a"), (2, 3, "b"),
                                  (2, None, "a")]


def test_a_late_flush_of_older_uses_does_not_set_last_used_back(app, rt, keys):
    from balancer.models import ApiKey
    from balancer.telemetry.flusher import write_records
    keys(1)
    with app.app_context():
        key_id = db.session.scalar(sa.select(ApiKey.id))
    newer, older = 1_790_000_000.0, 1_789_990_000.0

    def flush(at: float) -> None:
        with app.app_context():
            write_records(db.session, [RequestRecord(at=at, api_format="openai", route="x",
                                                     status=200, key_id=key_id)], True)
            db.session.commit()

    def last_used() -> float:
        with app.app_context():
            return db.session.get(ApiKey, key_id).last_used_at.timestamp()

    flush(newer)
    assert last_used() == newer
    flush(older)  # another worker's buffer, flushed late
    assert last_used() == newer
    with app.app_context():
        assert db.session.get(ApiKey, key_id).request_count == 2


def test_the_buffer_drops_the_oldest_when_full_and_counts_them():
    buf: Buffer[int] = Buffer(maxlen=3)
    for i in range(5):
        buf.append(i)
    assert buf.drain() == [2, 3, 4] and buf.dropped == 2
    buf.extend([7, 8])
    buf.requeue([5, 6])  # one place left: the older of the two is dropped
    assert buf.drain() == [6, 7, 8] and buf.dropped == 3


def test_a_record_classifies_its_outcome():
    assert RequestRecord(at=0, api_format="openai", route="x", status=200).status_class == "success"
    assert RequestRecord(at=0, api_format="openai", route="x", status=404).status_class == "client_error"
    assert RequestRecord(at=0, api_format="openai", route="x", status=429,
                         error_class="rate_limited").status_class == "rate_limited"
