"""The US Pacific calendar day, on which Gemini's daily quotas reset.

Midnight is never inside a DST switch in this zone (switches happen at 02:00),
so every midnight exists and is unambiguous. The zone comes from the tz
database (``tzdata`` is a pinned requirement, so it exists on every host).
"""
from __future__ import annotations

import time
from datetime import date, datetime, timedelta
from typing import Optional
from zoneinfo import ZoneInfo

PACIFIC = ZoneInfo("America/Los_Angeles")


def pacific_day(ts: Optional[float] = None) -> date:
    """The Pacific date at epoch ``ts`` (now when None)."""
    return datetime.fromtimestamp(time.time() if ts is None else ts, PACIFIC).date()


def _midnight(day: date) -> float:
    return datetime(day.year, day.month, day.day, tzinfo=PACIFIC).timestamp()


def pacific_day_bounds(now: float) -> tuple[float, float]:
    """Epoch seconds of the start and end of the US Pacific day that holds ``now``."""
    day = pacific_day(now)
    return _midnight(day), _midnight(day + timedelta(days=1))


def next_pacific_midnight(now: float) -> float:
    """Epoch seconds of the first midnight in US Pacific time strictly after ``now``."""
    return _midnight(pacific_day(now) + timedelta(days=1))
