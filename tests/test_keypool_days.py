"""The US Pacific day and its midnight."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from balancer.keypool.days import PACIFIC, next_pacific_midnight

UTC = timezone.utc


def ts(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


@pytest.mark.parametrize("now,midnight", [
    # Summer, PDT (UTC-7): 05:00 local -> next midnight is 07:00 UTC the next day.
    ("2025-07-01T12:00:00", "2025-07-02T07:00:00"),
    # Winter, PST (UTC-8): one second before midnight.
    ("2025-01-15T07:59:59", "2025-01-15T08:00:00"),
    # Exactly midnight: the *next* one, strictly after.
    ("2025-01-15T08:00:00", "2025-01-16T08:00:00"),
    # Late evening Pacific is already the next day in UTC.
    ("2025-07-02T06:30:00", "2025-07-02T07:00:00"),
    # DST starts 2025-03-09 02:00: the day before ends in PST, that day in PDT.
    ("2025-03-08T12:00:00", "2025-03-09T08:00:00"),
    ("2025-03-09T12:00:00", "2025-03-10T07:00:00"),
    # DST ends 2025-11-02 02:00: that midnight is PDT, the next one PST.
    ("2025-11-01T12:00:00", "2025-11-02T07:00:00"),
    ("2025-11-02T12:00:00", "2025-11-03T08:00:00"),
    # Year end, leap day.
    ("2025-12-31T20:00:00", "2026-01-01T08:00:00"),
    ("2028-02-29T09:00:00", "2028-03-01T08:00:00"),
])
def test_next_pacific_midnight(now, midnight):
    assert next_pacific_midnight(ts(now)) == ts(midnight)


def test_midnight_is_within_a_day_and_lands_on_local_midnight():
    t = ts("2025-04-10T15:16:17")
    m = next_pacific_midnight(t)
    assert 0 < m - t <= 86400 + 3600
    local = datetime.fromtimestamp(m, PACIFIC)
    assert (local.hour, local.minute, local.second) == (0, 0, 0)
    assert local.date() == (datetime.fromtimestamp(t, PACIFIC) + timedelta(days=1)).date()
