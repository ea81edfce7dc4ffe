"""Retention: old request logs, key events and usage counts are deleted in batches."""
from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from balancer.extensions import db
from balancer.models import KeyEvent, RequestLog, UsageBucket
from balancer.models.types import utcnow
from balancer.services import retention
from balancer.services import settings as settings_service


def seed(days_old: list[int]) -> None:
    now = utcnow()
    db.session.execute(sa.insert(RequestLog), [
        {"created_at": now - timedelta(days=d, minutes=i), "api_format": "openai", "route": "chat",
         "status": 200} for i, d in enumerate(days_old)])
    db.session.execute(sa.insert(KeyEvent), [
        {"created_at": now - timedelta(days=d, minutes=i), "event": "cooldown"}
        for i, d in enumerate(days_old)])
    db.session.execute(sa.insert(UsageBucket), [
        {"minute": (now - timedelta(days=d, minutes=i)).replace(second=0, microsecond=0),
         "status_class": "success", "count": 1} for i, d in enumerate(days_old)])
    db.session.commit()


def count(model) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def test_each_kind_keeps_its_own_number_of_days(app, rt, monkeypatch):
    with app.app_context():
        seed([0, 1, 20, 40, 100, 200, 500])
        settings_service.update(rt, {"request_log_retention_days": 30,
                                     "key_event_retention_days": 150,
                                     "usage_retention_days": 0})
        monkeypatch.setattr(retention, "BATCH", 2)  # several batches, each its own commit
        purged = retention.purge(rt.settings.current)
        assert purged.counts == {"request_logs": 4, "key_events": 2, "usage": 0,
                                 "audit": 0, "stored_responses": 0}
        assert count(RequestLog) == 3 and count(KeyEvent) == 5 and count(UsageBucket) == 7
        newest = db.session.scalar(sa.select(sa.func.max(RequestLog.created_at)))
        assert newest is not None


def test_a_round_stops_after_its_batches_and_the_next_one_goes_on(app, rt, monkeypatch):
    with app.app_context():
        seed([90] * 7)
        monkeypatch.setattr(retention, "BATCH", 2)
        first = retention.purge(rt.settings.current, ["request_logs"], max_batches=2)
        assert first.counts == {"request_logs": 4} and count(RequestLog) == 3
        second = retention.purge(rt.settings.current, ["request_logs"], max_batches=2)
        assert second.counts == {"request_logs": 3} and count(RequestLog) == 0


def test_the_background_round_and_the_cli_purge(app, rt):
    with app.app_context():
        seed([0, 45, 300, 450])
    rt.services.housekeeping()
    with app.app_context():
        # The defaults: request logs 30 days, key events 180, per-minute usage 35.
        assert count(RequestLog) == 1 and count(KeyEvent) == 2 and count(UsageBucket) == 1
        seed([45, 2, 3])
        settings_service.update(rt, {"usage_retention_days": 1})
    result = app.test_cli_runner().invoke(args=["logs", "purge", "--kind", "usage"])
    assert result.exit_code == 0 and "usage: 3 deleted" in result.output
    with app.app_context():
        assert count(UsageBucket) == 1 and count(RequestLog) == 4  # only usage was purged


def test_retention_settings_are_validated(app, rt):
    import pytest

    from balancer.settings import SettingError
    with app.app_context(), pytest.raises(SettingError):
        settings_service.update(rt, {"request_log_retention_days": -1})
