"""Go and protobuf durations and Retry-After."""
from __future__ import annotations

from datetime import datetime, timezone
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
