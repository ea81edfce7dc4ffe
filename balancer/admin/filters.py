"""Jinja filters for times and durations on admin pages."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Optional

from balancer.admin.blueprint import bp
from balancer.services.statistics.labels import API_NAMES


@bp.app_template_filter("duration")
def duration(seconds: Optional[float]) -> str:
    """12 s, 4 min 10 s, 3 h 5 min, 2 d 4 h."""
    if not seconds or seconds <= 0:
        return ""
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, sec = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {sec} s" if sec else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


@bp.app_template_filter("ago")
def ago(value: Optional[datetime]) -> str:
    """"never", "just now", "5 min ago"."""
    if value is None:
        return "never"
    seconds = (datetime.now(timezone.utc) - value).total_seconds()
    if seconds < 5:
        return "just now"
    return f"{duration(seconds).split(' ', 2)[0]} {duration(seconds).split(' ')[1]} ago"


@bp.app_template_filter("utc")
def utc(value: Optional[datetime]) -> str:
    """An aware datetime as "2026-11-22 06:10:21 UTC" (for title attributes)."""
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value else ""


@bp.app_template_filter("number")
def number(value: Optional[float]) -> str:
    """12,345."""
    return f"{int(value or 0):,}"


@bp.app_template_filter("api_name")
def api_name(api_format: Optional[str]) -> str:
    """The client dialect as people know it ("Anthropic Messages"), as the statistics name it."""
    return API_NAMES.get(api_format or "", api_format or "")
