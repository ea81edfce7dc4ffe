"""What differs between provider kinds: URLs, auth headers, error meaning.

A pool's ``kind`` picks one of these. The proxy asks them everything
provider-specific, so adding a kind touches only this package.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Callable, Mapping, Optional

from balancer.keypool.outcome import Verdict
from balancer.upstream import gemini, openai, vertex
from balancer.upstream.sanitize import redact


@dataclass(frozen=True)
class Call:
    """One upstream HTTP call, before a key is chosen."""

    method: str
    url: str
    headers: Mapping[str, str]
    body: Optional[bytes] = None


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
    #: (base, api version, Gemini API path) -> URL, for Gemini-format calls.
    native_url: Callable[[str, str, str], str] = gemini.native_url


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


def _vertex_probe(base: str, model: Optional[str]) -> Call:
    # Express mode has no model list or model get: counting tokens is its cheapest call.
    path = f"models/{model or vertex.PROBE_MODEL}:countTokens"
    return Call("POST", vertex.native_url(base, "v1", path), {"Content-Type": "application/json"},
                vertex.PROBE_BODY)


def _no_openai_layer(base: str, path: str) -> str:
    raise vertex.Unsupported("Vertex AI express mode has no OpenAI-compatible endpoint for "
                             "API keys; its pools serve OpenAI requests through Gemini's own API.")


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

VERTEX_EXPRESS = Provider(
    kind=vertex.KIND,
    openai_url=_no_openai_layer,
    auth_headers=gemini.native_headers,
    classify=vertex.classify,
    check_success=lambda body: gemini.check_success(body, compat=False),
    probe=_vertex_probe,
    native_url=vertex.native_url,
)

PROVIDERS: dict[str, Provider] = {"gemini": GEMINI, "openai": OPENAI,
                                  vertex.KIND: VERTEX_EXPRESS}

#: Kinds whose upstream speaks Gemini's own API (generateContent and its kin): the
#: Gemini routes pass through to them and the other APIs are translated to it.
GEMINI_NATIVE_KINDS = frozenset({"gemini", vertex.KIND})


def speaks_gemini(kind: str) -> bool:
    """Whether a pool of ``kind`` is called in Gemini's own API."""
    return kind in GEMINI_NATIVE_KINDS


def translates_only(kind: str) -> bool:
    """Whether a pool of ``kind`` has no OpenAI-compatible endpoint of its own, so
    OpenAI-format requests must go through the Gemini translation."""
    return kind == vertex.KIND


def probe_headers(kind: str, key: str) -> dict:
    """Auth headers for a probe call of this kind."""
    # Gemini's native API (which probes call) takes x-goog-api-key, not Bearer.
    return gemini.native_headers(key) if speaks_gemini(kind) else OPENAI.auth_headers(key)
