"""A batch the database refuses part of: the bad rows are set aside, the rest is written."""
from __future__ import annotations

import time

import pytest
import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families

from balancer.extensions import db
from balancer.keypool.records import ModelState, Transition, TransitionKind
from balancer.models import ApiKey, KeyEvent, KeyModelState, RequestLog, UsageBucket
from balancer.telemetry.record import RequestRecord
from balancer.telemetry.split import write_splitting

AWAY = ConnectionError("the database is away")


class Refuses:
    """A writer that refuses every chunk holding a bad item, as a database refuses a batch."""

    def __init__(self, bad=(), away_after=None):
        self.bad, self.away_after = set(bad), away_after
        self.stored, self.calls = [], 0

    def __call__(self, chunk):
        self.calls += 1
        if self.away_after is not None and self.calls > self.away_after:
            raise AWAY
        if self.bad & set(chunk):
            raise ValueError("refused")
        self.stored += chunk


@pytest.mark.parametrize("n, bad", [(0, ()), (1, ()), (10, ()), (1, (0,)), (10, (3,)),
                                    (5000, (1, 2500, 4999)), (7, tuple(range(7))),
                                    (64, (0, 63))])
def test_write_splitting_isolates_the_bad_items_and_writes_the_rest_in_order(n, bad):
    items = list(range(n))
    write = Refuses(bad)
    out = write_splitting(items, write, lambda exc: exc is AWAY)
    assert write.stored == [i for i in items if i not in bad]
    assert sorted(item for item, _ in out.refused) == sorted(bad)
    assert all(reason == "ValueError" for _, reason in out.refused)
    assert out.written == n - len(bad) and out.kept == [] and out.away is None
    if len(bad) == 1:
        assert write.calls <= 2 * max(1, n).bit_length() + 1  # halving, not one by one


def test_write_splitting_keeps_everything_not_yet_written_when_the_database_goes_away():
    items = list(range(100))
    write = Refuses(bad={10}, away_after=3)
    out = write_splitting(items, write, lambda exc: exc is AWAY)
    assert out.away is AWAY
    # Nothing is lost: what was written, refused and kept is the whole batch, once.
    assert sorted(write.stored + [i for i, _ in out.refused] + out.kept) == items
    assert 10 in out.kept or 10 in [i for i, _ in out.refused]


def test_write_splitting_keeps_the_whole_batch_when_the_database_is_away_at_once():
    out = write_splitting([1, 2, 3], Refuses(away_after=0), lambda exc: exc is AWAY)
    assert out.kept == [1, 2, 3] and out.written == 0 and out.refused == []


def record(rt, **fields) -> RequestRecord:
    base = dict(at=time.time(), api_format="openai", route="chat.completions", status=200,
                model="gemini-2.5-flash", tokens_in=3, tokens_out=4, attempts=1)
    return RequestRecord(**{**base, **fields})


def refused_metric(app) -> dict:
    with app.test_request_context():
        from balancer.telemetry.metrics import exposition
        text = exposition(app.extensions["balancer"]).decode()
    return {(s.labels["kind"], s.labels["reason"]): s.value
            for f in text_string_to_metric_families(text) for s in f.samples
            if s.name == "balancer_telemetry_refused_records_total"}


def test_one_unwritable_record_costs_only_itself(app, rt, client, caplog):
    """A value no database column takes (tokens past 64 bits) used to fail the whole batch."""
    before = refused_metric(app).get(("request", "OverflowError"), 0) + \
        refused_metric(app).get(("request", "DataError"), 0)
    good = [record(rt, route=f"good.{i}") for i in range(40)]
    poisoned = record(rt, route="poisoned", tokens_in=2 ** 70)
    for r in good[:17] + [poisoned] + good[17:]:
        rt.records.append(r)
    rt.services.flush()
    assert len(rt.records) == 0
    with app.app_context():
        routes = set(db.session.scalars(sa.select(RequestLog.route)))
        assert routes == {f"good.{i}" for i in range(40)}
        assert db.session.scalar(sa.select(sa.func.sum(UsageBucket.count))) == 40
    after = refused_metric(app)
    assert sum(after.values()) - before == 1, after
    assert any("refused 1 request record" in m for m in caplog.messages)
    assert not any(str(2 ** 70) in m for m in caplog.messages)  # never the content
    ready = client.get("/readyz").get_json()
    assert ready["status"] == "degraded" and "refused" in ready["checks"]["telemetry"]
    assert client.get("/readyz").status_code == 200  # still in rotation


def test_poisoned_text_in_every_field_is_cleaned_and_the_batch_written(app, rt, keys):
    """NULs, lone surrogates and overlong text in a request record and a key event."""
    keys(1)
    with app.app_context():
        key_id = db.session.scalar(sa.select(ApiKey.id))
    poison = "a\x00b\ud800" + "m" * 300
    now = time.time()
    rt.records.append(record(rt, model=poison, route="r\x00" * 80, client_name="c\ud800" * 90,
                             error_message="e\x00\udfff" * 900, key_id=key_id))
    rt.records.append(record(rt, route="good"))
    state = ModelState(key_id=key_id, model=poison, cooldown_until=now + 60,
                       reason="rate\x00limit\ud800" * 10, last_error="x\ud800" * 600,
                       updated_at=now)
    rt.push([Transition(TransitionKind.COOLDOWN, key_id, poison, "why\x00\ud800" * 200,
                        now + 60, now, model_state=state)])
    rt.services.flush()
    assert len(rt.records) == 0 and len(rt.transitions) == 0
    with app.app_context():
        rows = {r.route: r for r in db.session.scalars(sa.select(RequestLog))}
        assert set(rows) == {"r" * 64, "good"}
        bad = rows["r" * 64]
        assert bad.model == ("ab\ufffd" + "m" * 300)[:128]
        assert bad.client_name == ("c\ufffd" * 90)[:128]
        assert len(bad.error_message) == 1000 and "\x00" not in bad.error_message
        assert db.session.scalar(sa.select(sa.func.sum(UsageBucket.count))) == 2
        event = db.session.scalar(sa.select(KeyEvent).where(KeyEvent.event == "cooldown"))
        assert event.model == ("ab\ufffd" + "m" * 300)[:128]
        assert len(event.reason) == 512 and "\x00" not in event.reason
        state_row = db.session.scalar(sa.select(KeyModelState))
        assert state_row.model == event.model and len(state_row.last_error) == 512
    assert client_ready(app)


def client_ready(app) -> bool:
    return app.test_client().get("/readyz").get_json()["status"] == "ready"


def test_a_backlog_while_the_database_is_away_ends_the_round_without_recursion(
        app, rt, monkeypatch):
    """Many batches waiting and a database that fails every write: one try per round, the
    batch kept; the old flush called itself again at once, without end."""
    import balancer.background as background
    monkeypatch.setattr(background, "BATCH", 10)
    calls = []

    def away(*args, **kwargs):
        calls.append(1)
        raise sa.exc.OperationalError("INSERT", {}, Exception("database is down"))
    monkeypatch.setattr(background, "write_records", away)
    for i in range(50):
        rt.records.append(record(rt, route=f"r{i}"))
    rt.services.flush()
    assert len(calls) == 1 and len(rt.records) == 50
    assert rt.services.last_flush_error == "OperationalError"
    monkeypatch.undo()
    monkeypatch.setattr(background, "BATCH", 10)
    rt.services.flush()
    assert len(rt.records) == 0 and rt.services.last_flush_error is None
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(RequestLog)) == 50


def test_an_unexpected_error_while_writing_loses_no_good_record(app, rt, monkeypatch):
    """Any exception is caught; the rows that can be written still are."""
    import balancer.background as background
    real = background.write_records

    def picky(session, records, log_requests):
        if any(r.route == "explodes" for r in records):
            raise KeyError("a bug in one record's rows")
        return real(session, records, log_requests)
    monkeypatch.setattr(background, "write_records", picky)
    for i in range(9):
        rt.records.append(record(rt, route=f"r{i}"))
    rt.records.append(record(rt, route="explodes"))
    rt.services.flush()  # must not raise
    assert len(rt.records) == 0
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(RequestLog)) == 9


def _dbapi(cls, orig=Exception("x")):
    return cls("INSERT ...", {}, orig)


@pytest.mark.parametrize("exc, away", [
    (_dbapi(sa.exc.OperationalError), True),      # lost connection, lock, deadlock
    (_dbapi(sa.exc.InterfaceError), True),
    (_dbapi(sa.exc.ProgrammingError), True),      # a missing table: the operator's to fix
    (sa.exc.DisconnectionError(), True),
    (sa.exc.TimeoutError(), True),                # the connection pool is exhausted
    (ConnectionResetError(), True),
    (_dbapi(sa.exc.IntegrityError), False),       # this row
    (_dbapi(sa.exc.DataError), False),            # too long, out of range, a NUL
    (UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed"), False),
    (OverflowError("Python int too large to convert to SQLite INTEGER"), False),
    (sa.exc.StatementError("bind", "INSERT", {}, ValueError("naive datetime")), False),
    (TypeError("a bug in one record"), False),
])
def test_database_away_or_a_bad_row(exc, away):
    from balancer.background import database_away
    assert database_away(exc) is away
