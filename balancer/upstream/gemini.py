"""Gemini, native API and its OpenAI-compatible layer: URLs, auth, what answers mean.

Classification follows section 6 of ``reference/upstream-wire-formats.md``:
decide by HTTP status, ``error.status``, the ErrorInfo ``reason`` and the
QuotaFailure ``quotaId``s; read the message text only where details are
missing. The compat layer answers errors as the same Google envelope wrapped
in a one-element list, so both go through one classifier.
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Optional
from urllib.parse import parse_qsl

from balancer.keypool.days import next_pacific_midnight
from balancer.keypool.outcome import Outcome, Verdict
from balancer.upstream import envelope
from balancer.upstream.durations import (
    parse_go_duration,
    parse_proto_duration,
    parse_retry_after,
)
from balancer.upstream.envelope import parse_error_event
from balancer.upstream.sanitize import clean_message

__all__ = [
    "native_url", "compat_url", "native_headers", "compat_headers",
    "classify", "classify_error", "check_success", "parse_error_event",
]

COMPAT_PREFIX = "v1beta/openai"

# --- URLs and headers ---------------------------------------------------------

# Query parameters that would carry a key: the key travels in a header only.
_KEY_PARAMS = frozenset({"key", "api_key", "apikey", "access_token"})


def _join(base_url: str, *parts: str) -> str:
    path = "/".join(p.strip("/") for p in parts if p and p.strip("/"))
    route, _, query = path.partition("?")
    if any(c in path for c in "\r\n\t ") or any(seg in (".", "..") for seg in route.split("/")):
        raise ValueError("refusing an upstream path with whitespace or dot segments")
    if any(name.lower() in _KEY_PARAMS for name, _ in parse_qsl(query, keep_blank_values=True)):
        # The message must not repeat the URL: it holds the key.
        raise ValueError("refusing to put an API key in an upstream URL")
    return f"{base_url.rstrip('/')}/{path}"


def native_url(base_url: str, api_version: str, path: str) -> str:
    """``{base}/{version}/{path}``, e.g. ``.../v1beta/models/gemini-2.5-flash:generateContent``.

    :raises ValueError: when ``path`` holds a ``key=`` parameter, whitespace
        or ``..`` segments.
    """
    return _join(base_url, api_version, path)


def compat_url(base_url: str, path: str) -> str:
    """``{base}/v1beta/openai/{path}``; a base that already ends in it is not doubled."""
    base = base_url.rstrip("/")
    if base.endswith("/" + COMPAT_PREFIX):
        base = base[: -len(COMPAT_PREFIX) - 1]
    return _join(base, COMPAT_PREFIX, path)


def native_headers(key: str) -> dict[str, str]:
    """Auth header for the native API (what google-genai sends)."""
    return {"x-goog-api-key": key.strip()}


def compat_headers(key: str) -> dict[str, str]:
    """Auth header for the OpenAI-compatible layer."""
    return {"Authorization": f"Bearer {key.strip()}"}


# --- what the error details say ----------------------------------------------

#: ErrorInfo reasons that mean the key or its project is dead or misconfigured
#: until an operator acts: disable the key (the recovery probe re-checks it).
KEY_DEAD_REASONS = frozenset({
    "API_KEY_INVALID", "API_KEY_EXPIRED", "CONSUMER_SUSPENDED", "CONSUMER_INVALID",
    "SERVICE_DISABLED", "BILLING_DISABLED", "ACCOUNT_STATE_INVALID",
    "RESOURCE_PROJECT_INVALID", "API_KEY_SERVICE_BLOCKED",
    "API_KEY_HTTP_REFERRER_BLOCKED", "API_KEY_IP_ADDRESS_BLOCKED",
    "API_KEY_ANDROID_APP_BLOCKED", "API_KEY_IOS_APP_BLOCKED",
})
#: Reasons that mean Balancer sent the key wrongly or not at all.
PROXY_FAULT_REASONS = frozenset({"CREDENTIALS_MISSING", "ACCESS_TOKEN_TYPE_UNSUPPORTED"})
RATE_REASONS = frozenset({"RATE_LIMIT_EXCEEDED", "RESOURCE_QUOTA_EXCEEDED"})
#: The caller's region, not the request: cool the key for the model.
REGION_REASONS = frozenset({"LOCATION_POLICY_VIOLATED", "LOCATION_TAX_POLICY_VIOLATION"})

# Google canonical codes, for an error object whose HTTP status is unknown
# (mid-stream errors arrive inside a 200).
_HTTP_FOR_STATUS = {
    "INVALID_ARGUMENT": 400, "FAILED_PRECONDITION": 400, "OUT_OF_RANGE": 400,
    "UNAUTHENTICATED": 401, "PERMISSION_DENIED": 403, "NOT_FOUND": 404,
    "ALREADY_EXISTS": 409, "ABORTED": 409, "RESOURCE_EXHAUSTED": 429,
    "CANCELLED": 499, "UNKNOWN": 500, "INTERNAL": 500, "DATA_LOSS": 500,
    "NOT_IMPLEMENTED": 501, "UNAVAILABLE": 503, "DEADLINE_EXCEEDED": 504,
}
_CLIENT_REASONS = {400: "bad_request", 404: "not_found", 405: "method_not_allowed",
                   413: "payload_too_large", 422: "unprocessable"}

# "limit: 0" in a quota message: the tier has no quota at all for the model.
_LIMIT_ZERO = re.compile(r"\blimit:\s*0(?![\d.])")
# FAILED_PRECONDITION texts about request resources rather than the caller
# ("The File abc is not in an ACTIVE state and usage is not allowed.").
_OTHER_PROJECTS = re.compile(
    r"permission to access the (?:file|cachedcontent)|cachedcontent not found")
_CLIENT_PRECONDITION = re.compile(r"\bfile\b.*\bactive state\b|\bnot in an active state\b")
_RETRY_IN = re.compile(r"(?i)retry in\s+((?:\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h)?)+)")


def _type_name(detail: Mapping[str, Any]) -> str:
    return str(detail.get("@type") or "").rsplit("/", 1)[-1]


@dataclass
class _Details:
    """What the ``details`` list of a Google error says, in any order."""

    reason: str = ""
    metadata: dict = field(default_factory=dict)
    quota_ids: list[str] = field(default_factory=list)
    zero_quota: bool = False
    retry_delay: Optional[float] = None

    @classmethod
    def parse(cls, details: Any) -> _Details:
        out = cls()
        if not isinstance(details, list):
            return out
        for d in details:
            if not isinstance(d, dict):
                continue
            kind = _type_name(d)
            if kind == "google.rpc.ErrorInfo" and not out.reason:
                out.reason = str(d.get("reason") or "").upper()
                meta = d.get("metadata")
                out.metadata = meta if isinstance(meta, dict) else {}
                # The 2024 quota form names its limit in the metadata.
                limit = out.metadata.get("quota_limit") or out.metadata.get("quotaLimit")
                if isinstance(limit, str) and limit:
                    out.quota_ids.append(limit)
                if str(out.metadata.get("quota_limit_value", "")).strip() == "0":
                    out.zero_quota = True
            elif kind == "google.rpc.QuotaFailure":
                for v in d.get("violations") or ():
                    if not isinstance(v, dict):
                        continue
                    qid = v.get("quotaId") or v.get("quota_id")
                    if isinstance(qid, str) and qid:
                        out.quota_ids.append(qid)
                    if str(v.get("quotaValue", "")).strip() == "0":
                        out.zero_quota = True
            elif kind == "google.rpc.RetryInfo" and out.retry_delay is None:
                out.retry_delay = parse_proto_duration(d.get("retryDelay"))
        if out.retry_delay is None and out.metadata.get("quotaResetDelay"):
            out.retry_delay = parse_go_duration(out.metadata.get("quotaResetDelay"))
        return out


def _text_clue(code: int, low: str) -> Optional[tuple[Outcome, str]]:
    """Outcome from the message alone, for 4xx errors without an ErrorInfo reason."""
    if code not in (400, 401, 403):
        return None
    if "unregistered callers" in low:
        return Outcome.PROXY_FAULT, "unregistered_caller"
    if "expected oauth 2 access token" in low:
        return Outcome.PROXY_FAULT, "wrong_auth_header"
    if "reported as leaked" in low:
        return Outcome.KEY_INVALID, "leaked_key"
    if "has been suspended" in low:
        return Outcome.KEY_INVALID, "suspended"
    if re.search(r"api key (not valid|expired|not found)|api_key_invalid", low):
        return Outcome.KEY_INVALID, "api_key_invalid"
    if "has not been used in project" in low or re.search(r"\bapi\b.*\bis disabled\b", low):
        return Outcome.KEY_INVALID, "service_disabled"
    if re.search(r"requests (to this api|from referer|from this)\b.*\bare blocked", low):
        return Outcome.KEY_INVALID, "key_restricted"
    if "caller does not have permission" in low:
        return Outcome.NO_ACCESS, "permission_denied"
    if "location is not supported" in low:
        return Outcome.NO_ACCESS, "unsupported_location"
    return None


def _precondition_reason(low: str) -> str:
    if "location" in low or "country" in low or "region" in low:
        return "unsupported_location"
    if "billing" in low or "free tier" in low:
        return "billing_required"
    return "failed_precondition"


def _rate_limited(info: _Details, text: str, headers: Optional[Mapping[str, str]],
                  now: float, base: dict) -> Verdict:
    ids = [q.lower() for q in info.quota_ids]
    low = text.lower()
    per_day = any("perday" in q for q in ids) or info.zero_quota or bool(_LIMIT_ZERO.search(text))
    per_minute = any("perminute" in q for q in ids)
    if not ids:
        # Text only where details are missing (e.g. the 2024 message form).
        per_day = per_day or "per day" in low
        per_minute = "per minute" in low
    if per_day:
        # Per-day wins over per-minute: waiting a minute gives nothing back.
        # Decided by quotaId, not retryDelay, which stays short even then.
        return Verdict(Outcome.RATE_LIMITED, reason="per_day_quota",
                       until=next_pacific_midnight(now), **base)
    delay = info.retry_delay
    if delay is None:
        m = _RETRY_IN.search(text)
        delay = parse_go_duration(m.group(1)) if m else None
    if delay is None:
        # Gemini never sends Retry-After, but an intermediary might.
        delay = parse_retry_after(envelope.header(headers, "retry-after"), now)
    reason = "per_minute_quota" if per_minute else "rate_limit"
    return Verdict(Outcome.RATE_LIMITED, reason=reason, cooldown=delay, **base)


def classify_error(error: Mapping[str, Any], now: float, *, status: Optional[int] = None,
                   headers: Optional[Mapping[str, str]] = None,
                   secrets: Iterable[str] = ()) -> Verdict:
    """The verdict for one Google error object (``{"code", "message", "status", "details"}``).

    :param error: the object inside ``{"error": ...}``, e.g. from
        :func:`parse_error_event` for a mid-stream failure.
    :param now: epoch seconds, for per-day quota resets.
    :param status: the HTTP status; defaults to ``error.code`` (mid-stream
        errors arrive inside a 200), then to the code of ``error.status``.
    :param secrets: values to strip verbatim from the message (the key used).
    """
    gstatus = str(error.get("status") or "").upper()
    code = status
    if code is None or 200 <= code < 300:
        raw = error.get("code")
        code = raw if isinstance(raw, int) and not isinstance(raw, bool) and raw >= 400 \
            else _HTTP_FOR_STATUS.get(gstatus, 500)
    message = envelope.error_message(error)
    low = message.lower()
    info = _Details.parse(error.get("details"))
    base = {"status": code, "message": clean_message(message, secrets)}
    reason = info.reason

    if reason in KEY_DEAD_REASONS:
        return Verdict(Outcome.KEY_INVALID, reason=reason, **base)
    if reason in PROXY_FAULT_REASONS or code == 407:
        return Verdict(Outcome.PROXY_FAULT, reason=reason or "proxy_auth_required", **base)
    if code == 429 or gstatus == "RESOURCE_EXHAUSTED" or reason in RATE_REASONS:
        return _rate_limited(info, message, headers, now, base)
    if reason in REGION_REASONS:
        return Verdict(Outcome.NO_ACCESS, reason=reason, **base)
    if not reason:
        clue = _text_clue(code, low)
        if clue is not None:
            return Verdict(clue[0], reason=clue[1], **base)
    if gstatus == "FAILED_PRECONDITION":
        if _CLIENT_PRECONDITION.search(low):
            # A precondition on something the request names (a File still
            # processing), not on the key: the client's to fix.
            return Verdict(Outcome.CLIENT_ERROR, reason="failed_precondition", **base)
        # Egress region or project billing: the same for every request on this
        # key, so not the client's fault; cool the key for the model.
        return Verdict(Outcome.NO_ACCESS, reason=reason or _precondition_reason(low), **base)
    if code == 401 or gstatus == "UNAUTHENTICATED":
        return Verdict(Outcome.KEY_INVALID, reason=reason or "unauthenticated", **base)
    if not reason and _OTHER_PROJECTS.search(low):
        # A file or cache of another project: the request names something this
        # key cannot see, which says nothing about the key.
        return Verdict(Outcome.CLIENT_ERROR, reason="resource_of_another_project", **base)
    if code == 403 or gstatus == "PERMISSION_DENIED":
        # An unrecognised 403 is key/project-level but not proven dead: cool
        # the key for this model (self-healing) rather than disable it.
        return Verdict(Outcome.NO_ACCESS, reason=reason or "permission_denied", **base)
    return _by_status(code, gstatus, reason, base)


def _by_status(code: int, gstatus: str, reason: str, base: dict) -> Verdict:
    if code == 503 or gstatus == "UNAVAILABLE":
        return Verdict(Outcome.OVERLOADED, reason="overloaded", **base)
    if code >= 500 or gstatus in ("INTERNAL", "UNKNOWN", "DATA_LOSS", "DEADLINE_EXCEEDED"):
        return Verdict(Outcome.TRANSIENT, reason="server_error", **base)
    if code == 408:
        return Verdict(Outcome.TRANSIENT, reason="request_timeout", **base)
    if code == 409 or gstatus == "ABORTED":
        return Verdict(Outcome.TRANSIENT, reason="conflict", **base)
    if code == 499 or gstatus == "CANCELLED":
        return Verdict(Outcome.TRANSIENT, reason="cancelled", **base)
    if 400 <= code < 500:
        return Verdict(Outcome.CLIENT_ERROR,
                       reason=reason or _CLIENT_REASONS.get(code, "client_error"), **base)
    # 1xx/3xx: requests does not follow redirects for us, so a redirect means
    # a wrong base URL, which is Balancer's configuration, not the key.
    return Verdict(Outcome.PROXY_FAULT, reason="unexpected_status", **base)


def _no_envelope(status: int, headers: Optional[Mapping[str, str]], text: str,
                 now: float, secrets: Iterable[str]) -> Verdict:
    """A non-2xx answer without a Google envelope (HTML from a proxy, empty body)."""
    base = {"status": status, "message": clean_message(text, secrets)}
    if status == 429:
        cooldown = parse_retry_after(envelope.header(headers, "retry-after"), now)
        return Verdict(Outcome.RATE_LIMITED, reason="rate_limit", cooldown=cooldown, **base)
    if status == 407:
        return Verdict(Outcome.PROXY_FAULT, reason="proxy_auth_required", **base)
    if status in (401, 403):
        # Google's API front end always answers in its envelope: a bare 401/403
        # comes from something in between (a proxy, a WAF) and proves nothing
        # about the key. Cool the key for the model, never disable it.
        return Verdict(Outcome.NO_ACCESS,
                       reason="unauthorized" if status == 401 else "forbidden", **base)
    return _by_status(status, "", "", base)


def classify(status: int, headers: Mapping[str, str], body: bytes, now: float, *,
             secrets: Iterable[str] = ()) -> Verdict:
    """The verdict for a non-2xx Gemini answer (native or OpenAI-compatible).

    Never raises: a body that is not a Google envelope is classified by status.

    :param status: the HTTP status.
    :param headers: response headers (any case).
    :param body: the raw body, possibly empty, possibly not JSON.
    :param now: epoch seconds, for per-day quota resets and HTTP dates.
    :param secrets: values to strip verbatim from the message (the key used).
    """
    if 200 <= status < 300:
        return Verdict(Outcome.SUCCESS, status=status)
    parsed = envelope.load_json(body)
    error = envelope.find_error(parsed)
    if error is None:
        text = envelope.other_message(parsed) or envelope.body_text(body)
        return _no_envelope(status, headers, text, now, secrets)
    return classify_error(error, now, status=status, headers=headers, secrets=secrets)


def _is_generate_response(body: Mapping[str, Any]) -> bool:
    return not body or any(k in body for k in (
        "candidates", "usageMetadata", "modelVersion", "responseId", "promptFeedback"))


def _native_empty(body: Any) -> bool:
    items = body if isinstance(body, list) else [body]
    if not items:
        return True
    looked = False
    for item in items:
        if not isinstance(item, dict):
            return False
        if not _is_generate_response(item):
            return False  # embeddings, countTokens, models: nothing to judge
        looked = True
        candidates = item.get("candidates")
        if (isinstance(candidates, list) and candidates) or envelope.has_block_reason(item):
            return False
    return looked


def check_success(body_json: object, compat: bool = False, *,
                  now: Optional[float] = None) -> Optional[Verdict]:
    """A failure verdict for a 2xx JSON body that is not a real answer, else ``None``.

    No candidates (native) or choices (compat) and no ``blockReason`` means an
    empty answer: TRANSIENT ``empty_response``. A blocked prompt is the
    client's content, not a key problem: ``None``. An error object inside a
    200 is classified like any error.
    """
    error = envelope.find_error(body_json)
    if error is not None:
        return classify_error(error, time.time() if now is None else now)
    empty = envelope.openai_body_is_empty(body_json) if compat else _native_empty(body_json)
    if empty:
        return Verdict(Outcome.TRANSIENT, reason="empty_response", status=200,
                       message="upstream answered 2xx without candidates or choices")
    return None
