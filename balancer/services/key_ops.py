"""Operations on single keys beyond add/enable/delete: edit, reset failures, test now.

Like ``services.keys``, each commits its change and applies it to this
process's key pool at once; other processes follow through the sync loop
(rows carry a newer ``updated_at``).
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Optional

import sqlalchemy as sa

from balancer.extensions import db
from balancer.keypool.outcome import Outcome
from balancer.keypool.records import KeyStatus
from balancer.models import ApiKey, KeyEvent, KeyModelState
from balancer.models.types import utcnow
from balancer.runtime import Runtime
from balancer.services import audit
from balancer.services.key_import import MAX_TAGS, TAG_RE as _TAG_RE
from balancer.services.keys import _record, get_key
from balancer.text import clean
from balancer.upstream.errors import UpstreamError
from balancer.upstream.network import classify_exception
from balancer.upstream.providers import PROVIDERS, probe_headers

#: a test waits this long for an answer: a person is watching the page.
TEST_READ_TIMEOUT = 15.0


class KeyEditError(ValueError):
    """An edit was refused; ``field`` names the form field at fault."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


def parse_tags(text: Optional[str]) -> list[str]:
    """Tags from "a, b c": split on commas and spaces, de-duplicated, order kept."""
    tags: list[str] = []
    for part in re.split(r"[\s,]+", (text or "").strip()):
        if not part:
            continue
        if not _TAG_RE.fullmatch(part):
            raise KeyEditError("tags", f"tag {part[:20]!r}…: at most 64 characters")
        if part not in tags:
            tags.append(part)
    if len(tags) > MAX_TAGS:
        raise KeyEditError("tags", f"at most {MAX_TAGS} tags")
    return tags


def _text(field: str, value: Optional[str], limit: int = 128) -> Optional[str]:
    value = (value or "").strip()
    if len(value) > limit:
        raise KeyEditError(field, f"at most {limit} characters")
    if clean(value) != value:
        raise KeyEditError(field, "no NUL characters or lone surrogates")
    return value or None


def _limit(field: str, value: Optional[int]) -> Optional[int]:
    if value is None:
        return None
    if not 1 <= value <= 10_000_000:
        raise KeyEditError(field, "a whole number from 1 to 10,000,000, or empty for none")
    return value


#: what an edit may change on a key (the key itself never).
EDITABLE = ("label", "group", "tags", "rpm_limit", "rpd_limit")


def _clean(changes: Mapping[str, Any]) -> dict[str, Any]:
    """Checked column values for the fields given; KeyEditError names a bad one."""
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise KeyEditError(sorted(unknown)[0], "cannot be edited")
    clean: dict[str, Any] = {}
    if "label" in changes:
        clean["label"] = _text("label", changes["label"])
    if "group" in changes:
        clean["group_name"] = _text("group", changes["group"])
    if "tags" in changes:
        tags = list(changes["tags"] or [])
        if len(tags) > MAX_TAGS:
            raise KeyEditError("tags", f"at most {MAX_TAGS} tags")
        clean["tags"] = tags
    for name in ("rpm_limit", "rpd_limit"):
        if name in changes:
            clean[name] = _limit(name, changes[name])
    return clean


def edit_keys(rt: Runtime, key_ids: Iterable[int], changes: Mapping[str, Any]) -> int:
    """Set some of label, quota group, tags and limits on keys; others stay as they are.

    The group matters to the key pool (a rate limit cools the group's keys), so
    the pool gets the new records at once; other processes follow in their sync
    (``updated_at`` moves).

    :returns: how many keys were changed.
    :raises KeyEditError: a value was refused; nothing is saved then.
    """
    clean = _clean(changes)
    rows = list(db.session.scalars(sa.select(ApiKey).where(ApiKey.id.in_(list(key_ids)))))
    now = utcnow()
    for row in rows:
        for column, value in clean.items():
            setattr(row, column, list(value) if column == "tags" else value)
        row.updated_at = now
    db.session.commit()
    audit.record_keys("key_edit", [row.id for row in rows], audit.changes_detail(changes))
    for row in rows:
        rt.keypool.upsert_key(_record(row, rt.box.decrypt(row.secret_encrypted)))
    return len(rows)


def edit_key(rt: Runtime, key_id: int, *, label: Optional[str], group: Optional[str],
             tags: Iterable[str], rpm_limit: Optional[int], rpd_limit: Optional[int]) -> ApiKey:
    """Change all of a key's label, quota group, tags and limits.

    :raises KeyEditError: a value was refused; nothing is saved then.
    :raises LookupError: no such key.
    """
    row = get_key(key_id)
    edit_keys(rt, [key_id], {"label": label, "group": group, "tags": tags,
                             "rpm_limit": rpm_limit, "rpd_limit": rpd_limit})
    return row


def reset_failures(rt: Runtime, key_ids: Iterable[int]) -> int:
    """Zero the failure counts of keys (per model and in total); cooldowns stay.

    :returns: how many keys were reset.
    """
    ids = [k for k in key_ids]
    found = list(db.session.scalars(sa.select(ApiKey.id).where(ApiKey.id.in_(ids))))
    if not found:
        return 0
    now = utcnow()
    db.session.execute(sa.update(KeyModelState).where(KeyModelState.key_id.in_(found)).values(
        consecutive_failures=0, updated_at=now))
    db.session.execute(sa.update(ApiKey).where(ApiKey.id.in_(found)).values(
        failure_count=0, last_error=None))
    db.session.commit()
    audit.record_keys("key_reset", found)
    for key_id in found:
        # Written above already: the pool's own transitions need not be queued.
        rt.keypool.reset_failures(key_id)
    return len(found)


@dataclass(frozen=True)
class TestResult:
    """What one test call said about a key (no secret in it)."""

    key_id: int
    display: str
    ok: bool
    status: Optional[int]
    reason: str
    message: str
    latency_ms: int
    #: what the test changed: "restored", "disabled" or "".
    effect: str = ""


def test_key(rt: Runtime, key_id: int) -> TestResult:
    """Make the cheapest authenticated call with a key (one model-list page).

    A key found dead (invalid, expired, suspended) is disabled as the proxy
    would; a working key that was disabled by health comes back, as after a
    recovery probe. Rate limits and network errors change nothing.

    :raises LookupError: no such key.
    """
    result = _test(rt, get_key(key_id))
    audit.record_keys("key_test", [key_id], _test_detail(result))
    return result


def _test_detail(result: TestResult) -> str:
    """The audit trail's line for a test: its result, never the upstream's message."""
    said = result.reason if result.status is None else f"{result.reason}, HTTP {result.status}"
    text = "works" if result.ok else f"failed ({said})"
    return f"{text}; {result.effect}" if result.effect else text


def _test(rt: Runtime, row: ApiKey) -> TestResult:
    key_id = row.id
    pool = rt.catalog.pools.get(row.pool_id)
    if pool is None or not pool.base_url:
        return TestResult(key_id, row.display, False, None, "no_pool",
                          "the key's pool has no base URL", 0)
    provider = PROVIDERS[pool.kind]
    secret = rt.box.decrypt(row.secret_encrypted)
    call = provider.probe(pool.base_url, None)
    proxy = rt.proxy_for(pool, key_id)
    started = time.monotonic()
    try:
        resp = rt.upstream.send(
            pool.id, proxy, call.method, call.url,
            headers={**call.headers, **probe_headers(pool.kind, secret)}, body=call.body, stream=False,
            timeout=(rt.settings.current.connect_timeout_seconds, TEST_READ_TIMEOUT))
    except UpstreamError as err:
        rt.proxy_failed(proxy, err)
        verdict = classify_exception(err)
        return TestResult(key_id, row.display, False, None, verdict.reason,
                          verdict.message or "upstream unreachable", _ms(started))
    try:
        status, body, headers = resp.status_code, resp.content, resp.headers
    finally:
        resp.close()
    elapsed = _ms(started)
    if 200 <= status < 300:
        effect = ""
        if row.status == KeyStatus.DISABLED.value:
            rt.push(rt.keypool.record_probe(key_id, None, True))
            _set_status(rt, row, KeyStatus.ACTIVE, None, "test succeeded")
            effect = "restored"
        return TestResult(key_id, row.display, True, status, "ok", "the key works", elapsed, effect)
    verdict = provider.classify(status, headers, body, rt.clock(), secrets=(secret,))
    effect = ""
    if verdict.outcome is Outcome.KEY_INVALID and row.status != KeyStatus.DISABLED.value:
        _set_status(rt, row, KeyStatus.DISABLED, verdict.reason or "invalid key",
                    f"test: {verdict.reason}")
        effect = "disabled"
    return TestResult(key_id, row.display, False, status, verdict.reason or verdict.outcome.value,
                      (verdict.message or "")[:300], elapsed, effect)


def _set_status(rt: Runtime, row: ApiKey, status: KeyStatus, reason: Optional[str],
                event: str) -> None:
    row.status = status.value
    row.disabled_reason = reason
    if reason:
        row.last_error = reason
    row.updated_at = utcnow()
    db.session.add(KeyEvent(key_id=row.id, event="disable" if reason else "restore",
                            reason=event[:512]))
    db.session.commit()
    rt.keypool.upsert_key(_record(row, rt.box.decrypt(row.secret_encrypted)))


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
