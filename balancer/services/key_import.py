"""A key export file, checked whole before any key of it is stored.

Balancer's export (``{"keys": [{"key", "label", "group", "tags", "enabled"}, ...]}``)
comes back as a file a person may have edited. Every entry is checked first;
the first problem is reported with the entry's number, and then nothing is
stored. Pure: no database, no Flask.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Optional

from balancer.models import ApiKey
from balancer.models.fit import limit_of
from balancer.text import clean, quoted

MAX_TAGS = 20
TAG_RE = re.compile(r"[^\s,]{1,64}")
LABEL_LENGTH = limit_of(ApiKey.__table__.c.label)
GROUP_LENGTH = limit_of(ApiKey.__table__.c.group_name)


class KeyImportError(ValueError):
    """The file cannot be imported as it is; the message names the entry and the problem."""


@dataclass(frozen=True)
class Entry:
    """One checked entry of an export file."""

    key: str
    label: Optional[str]
    group: Optional[str]
    tags: tuple[str, ...]
    enabled: bool


def check_export(items: list, label: Optional[str] = None,
                 group: Optional[str] = None) -> list[Entry]:
    """Every entry of the file's ``keys`` list checked; ``label`` and ``group`` go to
    entries that carry none.

    :raises KeyImportError: "entry 3: ..." for the first entry that is wrong.
    """
    return [_entry(n, item, label, group) for n, item in enumerate(items, 1)]


def _entry(n: int, item: Any, label: Optional[str], group: Optional[str]) -> Entry:
    def fail(problem: str) -> KeyImportError:
        return KeyImportError(f"entry {n}: {problem}; nothing was imported")

    if not isinstance(item, dict):
        raise fail(f"expected an object, got {_kind(item)}")
    key = item.get("key")
    if not isinstance(key, str):
        raise fail(f'"key" must be a string, got {_kind(key)}')
    enabled = item.get("enabled", True)
    if not isinstance(enabled, bool):
        raise fail(f'"enabled" must be true or false (a JSON boolean), got {_kind(enabled)}')
    tags = item.get("tags")
    if tags is None:
        tags = []
    if not isinstance(tags, list):
        raise fail(f'"tags" must be a list of strings, got {_kind(tags)}')
    if len(tags) > MAX_TAGS:
        raise fail(f'"tags": at most {MAX_TAGS} tags, got {len(tags)}')
    for tag in tags:
        if not isinstance(tag, str) or not TAG_RE.fullmatch(tag) or clean(tag) != tag:
            raise fail(f'"tags": each tag is 1 to 64 characters without spaces or commas, '
                       f"got {_kind(tag)}")
    return Entry(key=key, label=_text(fail, "label", item.get("label"), LABEL_LENGTH) or label,
                 group=_text(fail, "group", item.get("group"), GROUP_LENGTH) or group,
                 tags=tuple(dict.fromkeys(tags)), enabled=enabled)


def _text(fail, name: str, value: Any, limit: Optional[int]) -> Optional[str]:
    if value is None:
        return None
    if not isinstance(value, str):
        raise fail(f'"{name}" must be a string or null, got {_kind(value)}')
    if clean(value) != value:
        raise fail(f'"{name}" holds a NUL character or a lone surrogate')
    value = value.strip()
    if limit is not None and len(value) > limit:
        raise fail(f'"{name}" is {len(value)} characters long, at most {limit} are allowed')
    return value or None


def _kind(value: Any) -> str:
    """What a value is, for a message: its JSON type, and a short quoted form of a string."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, str):
        return f"the string {quoted(value, 40)}"
    if isinstance(value, (int, float)):
        return "a number"
    return {dict: "an object", list: "a list"}.get(type(value), type(value).__name__)
