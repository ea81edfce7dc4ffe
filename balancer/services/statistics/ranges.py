"""The time range, granularity and filter of a statistics request, parsed from its query string.

A window is aligned to its granularity (whole minutes, hours or UTC days), so
every chart point is one whole bucket and the sums of a window are exactly
those of the request log between ``start`` and ``end``.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Mapping, Optional

from balancer.models.types import utcnow

#: Bucket length in seconds per granularity.
GRANULARITIES: dict[str, int] = {"minute": 60, "hour": 3600, "day": 86400}
#: Named ranges of the picker, in seconds.
PRESETS: dict[str, int] = {"1h": 3600, "6h": 6 * 3600, "24h": 86400, "7d": 7 * 86400,
                           "30d": 30 * 86400}
DEFAULT_RANGE = "24h"
#: The finest granularity a span gets without asking (span up to, granularity).
AUTO: tuple[tuple[int, str], ...] = ((6 * 3600, "minute"), (8 * 86400, "hour"))
#: A chart never gets more points than this; ask for a coarser granularity.
MAX_POINTS = 1500
FILTERS: tuple[str, ...] = ("pool", "key", "model", "client", "api")
#: Filters whose value is text (a model name, an API dialect), not an id.
TEXT_FILTERS = {"model": 128, "api": 16}


class RangeError(ValueError):
    """A range, granularity or filter the endpoints refuse; the message says why."""


@dataclass(frozen=True)
class Window:
    """An aligned time window [start, end), its granularity and at most one filter."""

    start: datetime
    end: datetime
    granularity: str
    #: (dimension, subject as text), e.g. ("key", "12") or ("model", "gemini-2.5-flash").
    filter: Optional[tuple[str, str]] = None

    @property
    def step(self) -> timedelta:
        """The length of one bucket."""
        return timedelta(seconds=GRANULARITIES[self.granularity])

    def points(self) -> list[datetime]:
        """The start of every bucket in the window."""
        out, at = [], self.start
        while at < self.end:
            out.append(at)
            at += self.step
        return out

    def describe(self) -> dict:
        """The window as JSON answers state it."""
        return {"from": iso(self.start), "to": iso(self.end), "granularity": self.granularity,
                "filter": {"dimension": self.filter[0], "value": self.filter[1]}
                if self.filter else None}


def iso(value: datetime) -> str:
    """An aware datetime as ISO 8601 with a Z."""
    return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def parse_time(raw: str, name: str) -> datetime:
    """ISO 8601 (a date, or a date and time; no zone means UTC) to an aware datetime."""
    text = raw.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise RangeError(f"{name}: expected an ISO 8601 time such as 2026-01-31T12:00:00Z, "
                         f"got {raw[:40]!r}") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def floor(value: datetime, seconds: int) -> datetime:
    """``value`` rounded down to a multiple of ``seconds`` since the epoch (UTC)."""
    ts = value.timestamp()
    return datetime.fromtimestamp(ts - ts % seconds, timezone.utc)


def ceil(value: datetime, seconds: int) -> datetime:
    """``value`` rounded up to a multiple of ``seconds`` since the epoch (UTC)."""
    down = floor(value, seconds)
    return down if down == value else down + timedelta(seconds=seconds)


def parse(args: Mapping[str, str], now: Optional[datetime] = None) -> Window:
    """Read ``range`` (a preset) or ``from``/``to``, ``granularity`` and one filter.

    :raises RangeError: on anything unknown, malformed, reversed or too fine.
    """
    now = now or utcnow()
    if args.get("from") or args.get("to"):
        if args.get("range"):
            raise RangeError("give either range or from/to, not both")
        if not (args.get("from") and args.get("to")):
            raise RangeError("a custom range needs both from and to")
        begin, end = parse_time(args["from"], "from"), parse_time(args["to"], "to")
        if begin >= end:
            raise RangeError("from must be before to")
    else:
        name = args.get("range") or DEFAULT_RANGE
        if name not in PRESETS:
            raise RangeError(f"range: expected one of {', '.join(PRESETS)}, got {name[:20]!r}")
        begin, end = now - timedelta(seconds=PRESETS[name]), now
    span = (end - begin).total_seconds()
    granularity = args.get("granularity") or next(
        (g for limit, g in AUTO if span <= limit), "day")
    if granularity not in GRANULARITIES:
        raise RangeError(f"granularity: expected one of {', '.join(GRANULARITIES)}, "
                         f"got {granularity[:20]!r}")
    step = GRANULARITIES[granularity]
    start = floor(begin, step)
    # "Last hour" ends now: the current, still filling bucket is part of it.
    stop = floor(end, step) + timedelta(seconds=step) if end == now else ceil(end, step)
    if (stop - start).total_seconds() / step > MAX_POINTS:
        raise RangeError(f"{granularity} granularity over this range gives more than "
                         f"{MAX_POINTS} points: choose a coarser granularity or a shorter range")
    return Window(start, stop, granularity, _filter(args))


def _filter(args: Mapping[str, str]) -> Optional[tuple[str, str]]:
    given = [(name, args[name]) for name in FILTERS if args.get(name) not in (None, "")]
    if len(given) > 1:
        raise RangeError("filter by one of pool, key, model, client or api at a time")
    if not given:
        return None
    name, raw = given[0]
    if name in TEXT_FILTERS:
        if len(raw) > TEXT_FILTERS[name]:
            raise RangeError(f"{name}: at most {TEXT_FILTERS[name]} characters")
        return name, raw
    if not raw.isdigit() or len(raw) > 18:
        raise RangeError(f"{name}: expected an id (a whole number), got {raw[:20]!r}")
    return name, str(int(raw))
