"""The US Pacific calendar day, on which Gemini's daily quotas reset."""
from __future__ import annotations

import time
from datetime import date, datetime
from typing import Optional
from zoneinfo import ZoneInfo

PACIFIC = ZoneInfo("America/Los_Angeles")


def pacific_day(ts: Optional[float] = None) -> date:
    """The Pacific date at epoch ``ts`` (now when None)."""
    return datetime.fromtimestamp(time.time() if ts is None else ts, PACIFIC).date()
