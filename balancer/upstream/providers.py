"""What differs between provider kinds: URLs, auth headers, error meaning.

A pool's ``kind`` picks one of these. The proxy asks them everything
provider-specific, so adding a kind touches only this package.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Callable, Mapping, Optional

from balancer.keypool.outcome import Verdict
from balancer.upstream import gemini, openai
from balancer.upstream.sanitize import redact


@dataclass(frozen=True)
class Call:
    """One upstream HTTP call, before a key is chosen."""

    method: str
    url: str
    headers: Mapping[str, str]


@dataclass(frozen=True)
class Provider:
    """The behaviour of one provider kind."""

    kind: str
    #: OpenAI-format path ("chat/completions") -> URL under the pool's base.
    openai_url: Callable[[str, str], str]
    auth_headers: Callable[[str], dict]
    #: (status, headers, body, now, *, secrets=()) -> Verdict
    classify: Callable[..., Verdict]
    #: a 2xx OpenAI-shaped JSON body -> a failure verdict, or None when fine.
    check_success: Callable[[object], Optional[Verdict]]
    #: (base, model or None) -> a cheap call that proves a key works.
    probe: Callable[[str, Optional[str]], Call]


def openai_error_from_upstream(status: int, body: bytes, secrets: tuple[str, ...] = ()) -> bytes:
    """Any upstream error body as OpenAI's ``{"error": {...}}`` envelope.

    Gemini's OpenAI layer answers errors as a Google envelope wrapped in a list,
    which OpenAI SDKs cannot read; OpenAI-shaped bodies keep their fields.
    """
    try:
        parsed = json.loads(body or b"null")
    except ValueError:
        parsed = None
    if isinstance(parsed, list) and parsed and isinstance(parsed[0], dict):
        parsed = parsed[0]
    err = parsed.get("error") if isinstance(parsed, dict) else None
    if isinstance(err, dict):
        message = str(err.get("message") or "")
        etype = err.get("type") or _google_type(status, err.get("status"))
        code = err.get("code") if isinstance(err.get("code"), str) else err.get("status")
        param = err.get("param") if isinstance(err.get("param"), str) else None
    else:
        text = body.decode("utf-8", "replace") if body else ""
        message, etype, code, param = text[:500] or f"upstream answered {status}", _google_type(status, None), None, None
    out = {"error": {"message": redact(message, secrets)[:2000], "type": etype,
                     "param": param, "code": code}}
    return json.dumps(out).encode()


def _google_type(status: int, google_status: Optional[str]) -> str:
    if status == 429:
        return "rate_limit_error"
    if status in (401, 403):
        return "authentication_error" if status == 401 else "permission_error"
    if status >= 500:
        return "server_error"
    return "invalid_request_error"


def _gemini_probe(base: str, model: Optional[str]) -> Call:
    path = f"models/{model}" if model else "models?pageSize=1"
    return Call("GET", gemini.native_url(base, "v1beta", path), {})


def _openai_probe(base: str, model: Optional[str]) -> Call:
    return Call("GET", f"{base.rstrip('/')}/models", {})


GEMINI = Provider(
    kind="gemini",
    openai_url=gemini.compat_url,
    auth_headers=gemini.compat_headers,
    classify=gemini.classify,
    check_success=lambda body: gemini.check_success(body, compat=True),
    probe=_gemini_probe,
)

OPENAI = Provider(
    kind="openai",
    openai_url=lambda base, path: f"{base.rstrip('/')}/{path.lstrip('/')}",
    auth_headers=lambda key: {"Authorization": f"Bearer {key}"},
    classify=openai.classify,
    check_success=openai.check_success,
    probe=_openai_probe,
)

PROVIDERS: dict[str, Provider] = {"gemini": GEMINI, "openai": OPENAI}


def probe_headers(kind: str, key: str) -> dict:
    """Auth headers for a probe call of this kind."""
    # Gemini's native API (which probes call) takes x-goog-api-key, not Bearer.
    return gemini.native_headers(key) if kind == "gemini" else OPENAI.auth_headers(key)
