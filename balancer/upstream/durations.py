"""Parsing the waits upstreams announce (Go and protobuf durations, Retry-After).

Every parser returns seconds as a float, or ``None`` when the value is absent,
malformed or negative: a hint we cannot read must never raise, the key pool
then falls back on its own setting.
"""
from __future__ import annotations

import math
import re
from datetime import timezone
from email.utils import parsedate_to_datetime
from typing import Optional

_GO_UNITS = {
    "ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3,
    "s": 1.0, "m": 60.0, "h": 3600.0,
}
# One Go duration term: a decimal number and a unit ("2m", "59.56s", "12ms").
_GO_TERM = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)")


def _finite(value: float) -> Optional[float]:
    if math.isnan(value) or math.isinf(value) or value < 0:
        return None
    return value


def parse_go_duration(text: object) -> Optional[float]:
    """Seconds in a Go duration string such as ``"6m0s"``, ``"2m59.56s"``, ``"12ms"``.

    A bare number is read as seconds ("0", "1.5"); negative values (Azure's
    ``"-1"``) and anything unreadable give ``None``.
    """
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        return _finite(float(text))
    if not isinstance(text, str):
        return None
    s = text.strip()
    if not s:
        return None
    if _NUMBER.fullmatch(s):
        return _finite(float(s))
    sign = 1.0
    if s[0] in "+-":
        sign = -1.0 if s[0] == "-" else 1.0
        s = s[1:]
    total, pos = 0.0, 0
    for m in _GO_TERM.finditer(s):
        if m.start() != pos:
            return None
        total += float(m.group(1)) * _GO_UNITS[m.group(2)]
        pos = m.end()
    if pos != len(s) or pos == 0:
        return None
    return _finite(sign * total)


def parse_proto_duration(value: object) -> Optional[float]:
    """Seconds in a protobuf Duration: ``"26s"``, ``"45.837906927s"``.

    Tolerant on purpose: also Go-style strings (``"500ms"``, ``"1m2s"``), a bare
    number of seconds, and the expanded ``{"seconds": N, "nanos": M}`` form.
    """
    if isinstance(value, dict):
        try:
            seconds = float(value.get("seconds") or 0)
            nanos = float(value.get("nanos") or 0)
        except (TypeError, ValueError):
            return None
        return _finite(seconds + nanos / 1e9)
    return parse_go_duration(value)


def parse_retry_after(value: object, now: float) -> Optional[float]:
    """Seconds to wait from a ``Retry-After`` header: delay-seconds or an HTTP date.

    Fractional seconds are accepted (openai-python does too); a date in the
    past gives 0.

    :param now: epoch seconds the date is measured from.
    """
    if value is None:
        return None
    s = str(value).strip()
    if not s:
        return None
    if _NUMBER.fullmatch(s):
        return _finite(float(s))
    try:
        when = parsedate_to_datetime(s)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, when.timestamp() - now)


def parse_retry_after_ms(value: object) -> Optional[float]:
    """Seconds from the non-standard ``retry-after-ms`` header (milliseconds)."""
    if value is None:
        return None
    s = str(value).strip()
    if not _NUMBER.fullmatch(s):
        return None
    ms = _finite(float(s))
    return None if ms is None else ms / 1000.0
