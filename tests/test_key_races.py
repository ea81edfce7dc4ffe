"""Two workers adding the same keys at one moment: both start, each key is stored once."""
from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from balancer.extensions import db
from balancer.models import ApiKey, KeyEvent, Pool
from balancer.models.races import lost_race
from balancer.services import keys as key_service
from balancer.services.key_import import Entry
from tests.fake_upstream import make_key


class _Driver(Exception):
    """Stands for a DB-API error as pymysql or psycopg raise it."""

    def __init__(self, *args, sqlstate=None):
        super().__init__(*args)
        self.sqlstate = sqlstate


def _wrapped(kind, orig):
    return kind("INSERT INTO api_keys ...", {}, orig)


@pytest.mark.parametrize("exc, lost", [
    (_wrapped(sa.exc.IntegrityError, _Driver(1062, "Duplicate entry")), True),
    (_wrapped(sa.exc.OperationalError, _Driver(1213, "Deadlock found")), True),
    (_wrapped(sa.exc.OperationalError, _Driver(1205, "Lock wait timeout")), True),
    (_wrapped(sa.exc.OperationalError, _Driver("deadlock detected", sqlstate="40P01")), True),
    (_wrapped(sa.exc.OperationalError, _Driver("could not serialize", sqlstate="40001")), True),
    (_wrapped(sa.exc.OperationalError, _Driver(2013, "Lost connection to server")), False),
    (_wrapped(sa.exc.OperationalError, _Driver("database is locked")), False),
    (_wrapped(sa.exc.DataError, _Driver(1406, "Data too long")), False),
    (ValueError("not a database error"), False),
])
def test_which_errors_are_a_race_lost_to_another_writer(exc, lost):
    assert lost_race(exc) is lost


def _count(model) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def test_an_add_that_loses_a_deadlock_is_done_again_and_stores_each_key_once(
        app, rt, monkeypatch):
    real_flush = sa.orm.Session.flush
    calls = {"n": 0}

    def flush_deadlocked_once(self, *args, **kwargs):
        if any(isinstance(o, ApiKey) for o in self.new):
            calls["n"] += 1
        if calls["n"] == 1:
            calls["n"] += 1
            raise _wrapped(sa.exc.OperationalError, _Driver(1213, "Deadlock found"))
        return real_flush(self, *args, **kwargs)

    monkeypatch.setattr(sa.orm.Session, "flush", flush_deadlocked_once)
    secrets = [make_key("race", i) for i in range(3)]
    with app.app_context():
        result = key_service.add_keys(rt, secrets + ["not a key"], label="env")
        assert (len(result.added), result.duplicates, result.malformed) == (3, 0, 1)
        assert _count(ApiKey) == 3 and _count(KeyEvent) == 3
    assert rt.keypool.key_ids() == set(result.added)


def test_an_error_that_is_not_a_race_is_raised_and_nothing_is_stored(app, rt, monkeypatch):
    def flush_lost_connection(self, *args, **kwargs):
        raise _wrapped(sa.exc.OperationalError, _Driver(2013, "Lost connection"))

    monkeypatch.setattr(sa.orm.Session, "flush", flush_lost_connection)
    with app.app_context():
        with pytest.raises(sa.exc.OperationalError):
            key_service.add_keys(rt, [make_key("race", 1)])
        monkeypatch.undo()
        assert _count(ApiKey) == 0


def test_two_workers_importing_the_same_keys_at_once_both_succeed(make_app):
    """Both "workers" start (default pool, GEMINI_API_KEYS) at one instant, rounds over."""
    secrets = [make_key("boot", i) for i in range(8)]
    env = {"GEMINI_API_KEYS": ",".join(secrets)}
    apps = [make_app(**env), make_app(**env)]
    for round_ in range(10):
        with apps[0].app_context():
            db.session.execute(sa.delete(KeyEvent))
            db.session.execute(sa.delete(ApiKey))
            db.session.execute(sa.delete(Pool))
            db.session.commit()
        barrier = threading.Barrier(2)
        errors: list[str] = []

        def boot(i):
            rt = apps[i].extensions["balancer"]
            barrier.wait()
            try:
                rt.services.bootstrap()
            except Exception as exc:  # noqa: BLE001 - the test reports it
                errors.append(repr(exc))

        threads = [threading.Thread(target=boot, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert not errors, f"round {round_}: {errors}"
        with apps[0].app_context():
            stored = set(db.session.scalars(sa.select(ApiKey.id)))
            assert len(stored) == 8 and _count(KeyEvent) == 8 and _count(Pool) == 1
        for app in apps:
            assert app.extensions["balancer"].keypool.key_ids() == stored
