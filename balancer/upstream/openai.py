"""OpenAI-shaped providers: what their answers mean for the key that sent them.

Errors are ``{"error": {"message", "type", "param", "code"}}``; ``error.code``
and ``error.type`` tell a temporary rate limit (``rate_limit_exceeded``) from a
billing state (``insufficient_quota``). Waits come from ``retry-after-ms``,
``retry-after`` or the ``x-ratelimit-reset-*`` headers (Go durations).
Gemini's OpenAI-compatible layer answers errors as Google envelopes; those are
recognised and handed to :mod:`balancer.upstream.gemini`, so a pool of kind
"openai" pointed at Gemini still classifies correctly.
"""
from __future__ import annotations

import re
import time
from typing import Any, Iterable, Mapping, Optional

from balancer.keypool.outcome import Outcome, Verdict
from balancer.upstream import envelope, gemini
from balancer.upstream.durations import (
    parse_go_duration,
    parse_retry_after,
    parse_retry_after_ms,
)
from balancer.upstream.envelope import parse_error_event
from balancer.upstream.sanitize import clean_message

__all__ = ["classify", "classify_error", "check_success", "parse_error_event", "rate_limit_wait"]

#: error codes/types meaning the key is dead: disable it.
KEY_DEAD_CODES = frozenset({"invalid_api_key", "account_deactivated", "api_key_revoked",
                            "invalid_organization"})
#: error codes/types meaning the key has no credit: disable it (billing state,
#: not a rate limit; it does not clear by waiting a minute).
NO_CREDIT_CODES = frozenset({"insufficient_quota", "billing_not_active",
                             "billing_hard_limit_reached", "insufficient_balance"})
REGION_CODES = frozenset({"unsupported_country_region_territory", "unsupported_country"})

_STATUS_FOR_CODE = {"rate_limit_exceeded": 429, "insufficient_quota": 429,
                    "invalid_api_key": 401, "server_error": 500, "model_not_found": 404,
                    "context_length_exceeded": 400, "invalid_request_error": 400}
_CLIENT_REASONS = {400: "bad_request", 404: "not_found", 405: "method_not_allowed",
                   413: "payload_too_large", 422: "unprocessable"}

_MISSING_KEY = re.compile(
    r"(?:didn't|did not|must) provide an api key|no api key (?:was )?provided"
    r"|missing (?:an? )?(?:api[ _-]?key|authorization|bearer)")
_BAD_KEY = re.compile(
    r"(?:incorrect|invalid) api[ _-]?key|api[ _-]?key (?:is )?(?:invalid|not valid|expired|revoked|disabled)")
_REGION = re.compile(r"country, region,? or territory|not available in your (?:country|region)"
                     r"|unsupported (?:country|region)")
_TRY_AGAIN = re.compile(r"(?i)try again in\s+((?:\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h))+)")
_CODE_WORD = re.compile(r"^[a-z][a-z0-9_.-]{0,63}$")


def _is_google(parsed: Any, error: Mapping[str, Any]) -> bool:
    """True for Google's envelope (compat layer: list-wrapped, upper-case ``status``)."""
    gstatus = error.get("status")
    google_shaped = isinstance(gstatus, str) and gstatus.isupper() and "type" not in error
    return google_shaped or (isinstance(parsed, list) and "details" in error)


def _word(value: Any) -> str:
    """``value`` if it is a short snake_case machine word, else ""."""
    if isinstance(value, str) and _CODE_WORD.match(value.lower()):
        return value.lower()
    return ""


def rate_limit_wait(headers: Optional[Mapping[str, str]], now: float,
                    message: str = "") -> Optional[float]:
    """Seconds a rate-limited key should rest, from the answer's hints, else ``None``.

    Order: ``retry-after-ms``, ``retry-after`` (seconds or HTTP date), the
    larger of ``x-ratelimit-reset-requests``/``-tokens`` (Go durations; the
    larger is the one that still blocks), then "try again in 644ms." in the text.
    """
    wait = parse_retry_after_ms(envelope.header(headers, "retry-after-ms"))
    if wait is None:
        wait = parse_retry_after(envelope.header(headers, "retry-after"), now)
    if wait is None:
        resets = [parse_go_duration(envelope.header(headers, f"x-ratelimit-reset-{dim}"))
                  for dim in ("requests", "tokens")]
        known = [r for r in resets if r is not None]
        wait = max(known) if known else None
    if wait is None and message:
        m = _TRY_AGAIN.search(message)
        wait = parse_go_duration(m.group(1)) if m else None
    return wait


def _rate_reason(low: str) -> str:
    if "per day" in low or "(rpd)" in low or "(tpd)" in low:
        return "per_day_quota"
    if "per min" in low or "(rpm)" in low or "(tpm)" in low:
        return "per_minute_quota"
    return "rate_limit"


def classify_error(error: Mapping[str, Any], now: float, *, status: Optional[int] = None,
                   headers: Optional[Mapping[str, str]] = None,
                   secrets: Iterable[str] = ()) -> Verdict:
    """The verdict for one OpenAI-style error object.

    :param error: the object inside ``{"error": ...}`` (or ``{"message": text}``
        built from a body that had none).
    :param now: epoch seconds, for ``retry-after`` HTTP dates.
    :param status: the HTTP status; ``None`` for a mid-stream error, then
        inferred from ``error.code``/``error.type``.
    :param secrets: values to strip verbatim from the message (the key used).
    """
    code, etype = _word(error.get("code")), _word(error.get("type"))
    words = {w for w in (code, etype) if w}
    if status is None or 200 <= status < 300:
        raw = error.get("code")
        status = raw if isinstance(raw, int) and not isinstance(raw, bool) and raw >= 400 else \
            next((_STATUS_FOR_CODE[w] for w in (code, etype) if w in _STATUS_FOR_CODE), 500)
    message = envelope.error_message(error)
    low = message.lower()
    base = {"status": status, "message": clean_message(message, secrets)}

    no_credit = words & NO_CREDIT_CODES
    if no_credit or status == 402 or (
            status == 429 and "rate_limit_exceeded" not in words
            and "exceeded your current quota" in low):
        reason = sorted(no_credit)[0] if no_credit else (
            "payment_required" if status == 402 else "insufficient_quota")
        return Verdict(Outcome.KEY_INVALID, reason=reason, **base)
    if status == 407:
        return Verdict(Outcome.PROXY_FAULT, reason="proxy_auth_required", **base)
    if status in (400, 401, 403) or words & KEY_DEAD_CODES:
        if _MISSING_KEY.search(low):
            # We always send a key: "you didn't provide one" is our bug.
            return Verdict(Outcome.PROXY_FAULT, reason="missing_api_key", **base)
        dead = words & KEY_DEAD_CODES
        if dead or status == 401 or _BAD_KEY.search(low):
            reason = sorted(dead)[0] if dead else ("invalid_api_key" if _BAD_KEY.search(low)
                                                   else code or "unauthorized")
            return Verdict(Outcome.KEY_INVALID, reason=reason, **base)
    if status == 403:
        if words & REGION_CODES or _REGION.search(low):
            # The egress region is refused: the same for every key of the pool
            # and every retry, and no key is at fault. CLIENT_ERROR relays the
            # upstream's 403 and message as is, with no penalty and no retry
            # (section 6: "none for key", "no" retry). NO_ACCESS would cool
            # every key in turn and hide the real cause behind a 503.
            return Verdict(Outcome.CLIENT_ERROR, reason="unsupported_region", **base)
        return Verdict(Outcome.NO_ACCESS, reason=code or "permission_denied", **base)
    if status == 429:
        return Verdict(Outcome.RATE_LIMITED, reason=_rate_reason(low),
                       cooldown=rate_limit_wait(headers, now, message), **base)
    if status == 503:
        return Verdict(Outcome.OVERLOADED, reason="overloaded", **base)
    if status >= 500:
        return Verdict(Outcome.TRANSIENT, reason="server_error", **base)
    if status == 408:
        return Verdict(Outcome.TRANSIENT, reason="request_timeout", **base)
    if status == 409:
        return Verdict(Outcome.TRANSIENT, reason="conflict", **base)
    if 400 <= status < 500:
        return Verdict(Outcome.CLIENT_ERROR,
                       reason=code or _CLIENT_REASONS.get(status, "client_error"), **base)
    return Verdict(Outcome.PROXY_FAULT, reason="unexpected_status", **base)


def classify(status: int, headers: Mapping[str, str], body: bytes, now: float, *,
             secrets: Iterable[str] = ()) -> Verdict:
    """The verdict for a non-2xx answer from an OpenAI-shaped provider; never raises.

    :param status: the HTTP status.
    :param headers: response headers (any case).
    :param body: the raw body, possibly empty, possibly not JSON.
    :param now: epoch seconds, for ``retry-after`` HTTP dates.
    :param secrets: values to strip verbatim from the message (the key used).
    """
    if 200 <= status < 300:
        return Verdict(Outcome.SUCCESS, status=status)
    parsed = envelope.load_json(body)
    error = envelope.find_error(parsed)
    if error is not None and _is_google(parsed, error):
        return gemini.classify_error(error, now, status=status, headers=headers, secrets=secrets)
    if error is None:
        error = {"message": envelope.other_message(parsed) or envelope.body_text(body)}
    return classify_error(error, now, status=status, headers=headers, secrets=secrets)


def check_success(body_json: object, *, now: Optional[float] = None) -> Optional[Verdict]:
    """A failure verdict for a 2xx OpenAI-shaped JSON body that is not a real answer.

    A chat completion without choices is TRANSIENT ``empty_response``;
    embeddings with data, model lists and stream chunks are fine (``None``).
    An error object inside a 200 is classified like any error.
    """
    error = envelope.find_error(body_json)
    if error is not None:
        when = time.time() if now is None else now
        if _is_google(body_json, error):
            return gemini.classify_error(error, when)
        return classify_error(error, when)
    if envelope.openai_body_is_empty(body_json):
        return Verdict(Outcome.TRANSIENT, reason="empty_response", status=200,
                       message="upstream answered 2xx without choices")
    return None
