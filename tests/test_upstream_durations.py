"""Go and protobuf durations, Retry-After, and the US Pacific midnight."""
from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest

from balancer.upstream import durations as D

UTC = timezone.utc


def ts(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


@pytest.mark.parametrize("text,seconds", [
    ("12ms", 0.012), ("6m0s", 360.0), ("2m59.56s", 179.56), ("1s", 1.0), ("0", 0.0),
    ("0s", 0.0), ("1h2m3.5s", 3723.5), ("1.5", 1.5), (" 20s ", 20.0), ("300us", 0.0003),
    ("1µs", 1e-6), ("1.5h", 5400.0), (".5s", 0.5), (7, 7.0), (0.25, 0.25),
    ("-1", None), ("-1s", None), ("", None), ("abc", None), ("5x", None), ("s", None),
    ("1s2", None), (None, None), (True, None), ("nan", None), ("inf", None),
])
def test_parse_go_duration(text, seconds):
    got = D.parse_go_duration(text)
    assert got == (pytest.approx(seconds) if seconds is not None else None)


@pytest.mark.parametrize("value,seconds", [
    ("26s", 26.0), ("45.837906927s", 45.837906927), ("1.5s", 1.5), ("500ms", 0.5),
    ("0s", 0.0), ("1m2s", 62.0), ("30", 30.0), (30, 30.0),
    ({"seconds": 26}, 26.0), ({"seconds": "3", "nanos": 500000000}, 3.5), ({}, 0.0),
    ({"seconds": "x"}, None), ("-5s", None), ("soon", None), (None, None), ([], None),
])
def test_parse_proto_duration(value, seconds):
    got = D.parse_proto_duration(value)
    assert got == (pytest.approx(seconds) if seconds is not None else None)


NOW = ts("2025-07-01T12:00:00")


@pytest.mark.parametrize("value,seconds", [
    ("7", 7.0), ("1.5", 1.5), ("0", 0.0), (" 20 ", 20.0), (20, 20.0),
    ("Tue, 01 Jul 2025 12:00:30 GMT", 30.0),
    (format_datetime(datetime(2025, 7, 1, 12, 2, 0, tzinfo=UTC), usegmt=True), 120.0),
    ("Tue, 01 Jul 2025 11:00:00 GMT", 0.0),      # in the past
    ("-3", None), ("soon", None), ("", None), (None, None), ("Tue, 99 Foo", None),
])
def test_parse_retry_after(value, seconds):
    got = D.parse_retry_after(value, NOW)
    assert got == (pytest.approx(seconds) if seconds is not None else None)


@pytest.mark.parametrize("value,seconds", [
    ("644", 0.644), ("1500.5", 1.5005), ("0", 0.0), ("x", None), (None, None), ("-1", None),
])
def test_parse_retry_after_ms(value, seconds):
    got = D.parse_retry_after_ms(value)
    assert got == (pytest.approx(seconds) if seconds is not None else None)


ZONES = [pytest.param(None, id="zoneinfo"), pytest.param(D._USPacific(), id="fallback")]


@pytest.mark.parametrize("zone", ZONES)
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
def test_next_pacific_midnight(zone, now, midnight):
    assert D.next_pacific_midnight(ts(now), zone) == ts(midnight)


def test_fallback_zone_agrees_with_zoneinfo():
    zoneinfo = pytest.importorskip("zoneinfo")
    try:
        real = zoneinfo.ZoneInfo("America/Los_Angeles")
    except zoneinfo.ZoneInfoNotFoundError:
        pytest.skip("no tz database on this host")
    fallback = D._USPacific()
    rng = random.Random(7)
    start = ts("2024-01-01T00:00:00")
    for _ in range(3000):
        t = start + rng.uniform(0, 6 * 365 * 86400)
        assert datetime.fromtimestamp(t, fallback).utcoffset() == \
            datetime.fromtimestamp(t, real).utcoffset(), datetime.fromtimestamp(t, UTC)
        assert D.next_pacific_midnight(t, fallback) == D.next_pacific_midnight(t, real)


def test_midnight_is_within_a_day_and_lands_on_local_midnight():
    t = ts("2025-04-10T15:16:17")
    m = D.next_pacific_midnight(t)
    assert 0 < m - t <= 86400 + 3600
    local = datetime.fromtimestamp(m, D.PACIFIC)
    assert (local.hour, local.minute, local.second) == (0, 0, 0)
    assert local.date() == (datetime.fromtimestamp(t, D.PACIFIC) + timedelta(days=1)).date()
