"""gemini-balance's settings as it writes them: read, parsed, and shown without secrets.

Its ``.env`` file and its ``t_settings`` rows hold strings: lists and maps as JSON (or
comma separated, or with single quotes, as its own readers also take), switches as
``true``/``false``. Pure: no database, no Flask, no files.
"""
from __future__ import annotations

import io
import json
import math
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from dotenv import dotenv_values

#: names ending so hold keys, tokens or passwords: the table never shows their values.
_SECRET_ENDINGS = ("_KEY", "_KEYS", "_TOKEN", "_TOKENS", "PASSWORD", "_SECRET", "AUTH_CODE")


def read_env(text: str) -> dict[str, str]:
    """A ``.env`` file's variables as gemini-balance's pydantic settings read them
    (python-dotenv: quotes, comments and ``export`` handled)."""
    values = dotenv_values(stream=io.StringIO(text))
    return {name: value for name, value in values.items() if value is not None}


def parse_list(raw: str) -> list[str]:
    """A list setting: JSON as gemini-balance writes it, or comma separated as its
    database reader also takes."""
    raw = raw.strip()
    if not raw:
        return []
    try:
        parsed = json.loads(raw)
    except json.JSONDecodeError:
        return [item.strip().strip("\"'") for item in raw.split(",") if item.strip().strip("\"'")]
    if not isinstance(parsed, list):
        raise ValueError("expected a JSON list")
    return [str(item).strip() for item in parsed if str(item).strip()]


def parse_object(raw: str) -> Any:
    raw = raw.strip()
    if not raw:
        return None
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        try:
            # gemini-balance's own reader retries a map written with single quotes.
            return json.loads(raw.replace("'", '"'))
        except json.JSONDecodeError:
            raise ValueError("not valid JSON") from None


def parse_bool(raw: str) -> bool:
    return raw.strip().lower() in ("true", "1", "yes", "on")


def parse_number(raw: str) -> float:
    value = float(raw.strip())
    if not math.isfinite(value):
        raise ValueError(f"{raw.strip()!r} is not a number")
    return value


def shown(name: str, raw: str) -> str:
    """A value as the table may print it: secrets counted or masked, proxies without
    their passwords."""
    upper = name.upper()
    if raw.strip().lower() in ("true", "false"):
        # A switch such as PROXIES_USE_CONSISTENCY_HASH_BY_API_KEY, not a key.
        return raw.strip().lower()
    if upper == "CUSTOM_HEADERS":
        # A header's value may be a credential: its name is enough to recognise it by.
        try:
            headers = parse_object(raw)
        except ValueError:
            return "(unreadable)"
        return ", ".join(headers) if isinstance(headers, dict) and headers else "(none)"
    if upper.endswith(_SECRET_ENDINGS) or any(w in upper for w in ("SECRET", "PASSWORD")):
        if upper in ("API_KEYS", "VERTEX_API_KEYS", "ALLOWED_TOKENS"):
            try:
                return f"{len(parse_list(raw))} (hidden)"
            except ValueError:
                return "(hidden)"
        return "(hidden)" if raw.strip() else "(empty)"
    if upper == "PROXIES":
        try:
            return ", ".join(mask_url(url) for url in parse_list(raw)) or "[]"
        except ValueError:
            return "(unreadable)"
    if "URL" in upper or "HOST" in upper:
        # A URL may carry credentials too.
        return mask_url(raw.strip())
    return " ".join(raw.split())


def mask_url(url: str) -> str:
    """``url`` with its user name and password (a proxy's, say) replaced by ``***``."""
    try:
        parts = urlsplit(url)
        if parts.password is None and parts.username is None:
            return url
        host = parts.hostname or ""
        netloc = "***@" + host + (f":{parts.port}" if parts.port else "")
    except ValueError:
        return "(unreadable)"
    return urlunsplit(parts._replace(netloc=netloc))
