"""Client authentication: which client token, if any, a request carries.

While no client token exists (no ALLOWED_TOKENS, no MASTER_API_KEY, no enabled
token in the database) the proxy serves callers on this machine only, unless
OPEN_ACCESS=true opens it to every caller. Refused checks are counted in
``/metrics``, not logged one row each, and limited per address
(``auth_failures.py``).
"""
from __future__ import annotations

import ipaddress
import logging
from typing import Callable, Optional, Union

from flask import Request, Response

from balancer.proxy.errors import anthropic_error, google_error, openai_error
from balancer.runtime import ClientInfo, Runtime
from balancer.telemetry import metrics

log = logging.getLogger(__name__)

ANONYMOUS = ClientInfo(None, "anonymous")

#: what a caller is told when no token exists and it is not on this machine.
NO_TOKEN_CONFIGURED = (
    "Balancer has no client token yet, so it serves only callers on its own machine. "
    "Create a token (admin UI -> Client tokens, or `flask tokens add NAME` on the server, "
    "or ALLOWED_TOKENS) and send it with each request; OPEN_ACCESS=true opens the proxy to "
    "every caller without one.")

#: (status, message, reason) -> the response in the caller's API format.
ErrorFn = Callable[[int, str, str, Optional[float]], Response]


def is_loopback(address: Optional[str]) -> bool:
    """Whether a peer address is this machine (IPv4-mapped IPv6 included)."""
    try:
        ip = ipaddress.ip_address((address or "").strip())
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)
    return (mapped or ip).is_loopback


#: headers a reverse proxy adds: a loopback peer that sends one relays someone else.
_FORWARDED = ("X-Forwarded-For", "Forwarded", "X-Real-IP")


def on_this_machine(request: Request, proxy_hops: int) -> bool:
    """Whether the caller is this machine itself.

    A reverse proxy on the same machine is a loopback peer too: while PROXY_HOPS
    does not say it is there, a request that names the client it forwards for
    counts as that client's, never as this machine's.
    """
    if not is_loopback(request.remote_addr):
        return False
    return proxy_hops > 0 or not any(request.headers.get(name) for name in _FORWARDED)


def bearer_token(request: Request) -> Optional[str]:
    """The token of an ``Authorization: Bearer`` header, or None."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def gemini_token(request: Request) -> Optional[str]:
    """A token sent the Gemini way (``x-goog-api-key`` or ``?key=``), or None."""
    token = request.headers.get("x-goog-api-key") or request.args.get("key")
    return token.strip() if token and token.strip() else None


def anonymous_allowed(request: Request, rt: Runtime) -> bool:
    """Whether a caller without a token is served: only while no token exists, and then
    only from this machine unless OPEN_ACCESS says otherwise."""
    return not rt.catalog.auth_required and (
        rt.config.OPEN_ACCESS or on_this_machine(request, rt.config.PROXY_HOPS))


def _authenticate(request: Request, rt: Runtime, token: Optional[str], missing: str,
                  error: ErrorFn) -> Union[ClientInfo, Response]:
    catalog = rt.catalog
    address = request.remote_addr or ""
    if anonymous_allowed(request, rt):
        return ANONYMOUS
    failures = rt.auth_failures
    wait = failures.blocked(address) if failures is not None else None
    if wait is not None:
        metrics.auth_failure("limited")
        return error(429, "Too many requests with a missing or invalid client token from this "
                          "address: try again in a minute.", "too_many_auth_failures", wait)
    if not catalog.auth_required:
        reason, out = "no_token_configured", error(401, NO_TOKEN_CONFIGURED, "no_client_token", None)
    elif token is None:
        reason, out = "missing", error(401, missing, "missing_api_key", None)
    else:
        client = catalog.client_for(token)
        if client is not None:
            return client
        reason, out = "invalid", error(401, "Invalid client token.", "invalid_api_key", None)
    metrics.auth_failure(reason)
    if failures is not None and failures.failed(address):
        log.warning("client address %s failed %d client-token checks within a minute: "
                    "answering it 429 for the rest of the minute", address[:64], failures.limit)
    return out


def _openai(status: int, message: str, code: str, retry_after: Optional[float]) -> Response:
    return openai_error(status, message, code=code, retry_after=retry_after)


def _google(status: int, message: str, code: str, retry_after: Optional[float]) -> Response:
    return google_error(status, message, retry_after=retry_after)


def authenticate_openai(request: Request, rt: Runtime) -> Union[ClientInfo, Response]:
    """The client, or a 401 (429 after many failures) in OpenAI's shape."""
    return _authenticate(request, rt, bearer_token(request),
                         "Missing client token: send it as 'Authorization: Bearer <token>'.",
                         _openai)


def authenticate_gemini(request: Request, rt: Runtime) -> Union[ClientInfo, Response]:
    """The client of a Gemini-format request (key, header or Bearer), or a 401 in Google's shape."""
    return _authenticate(request, rt, gemini_token(request) or bearer_token(request),
                         "Missing client token: send it as 'x-goog-api-key', '?key=' or "
                         "'Authorization: Bearer'.", _google)


def anthropic_token(request: Request) -> Optional[str]:
    """A token sent the Anthropic way (``x-api-key``), or None."""
    token = request.headers.get("x-api-key")
    return token.strip() if token and token.strip() else None


def anthropic_client(request: Request) -> bool:
    """Whether a request comes from an Anthropic client (its SDKs always send
    ``anthropic-version``; ``x-api-key`` is Anthropic's way of sending a key)."""
    return bool(request.headers.get("anthropic-version") or anthropic_token(request))


def _anthropic(status: int, message: str, code: str, retry_after: Optional[float]) -> Response:
    return anthropic_error(status, message, retry_after=retry_after)


def authenticate_anthropic(request: Request, rt: Runtime) -> Union[ClientInfo, Response]:
    """The client of an Anthropic-format request (``x-api-key`` or Bearer), or a 401 (429
    after many failures) in Anthropic's shape."""
    return _authenticate(request, rt, anthropic_token(request) or bearer_token(request),
                         "Missing client token: send it as 'x-api-key' or "
                         "'Authorization: Bearer'.", _anthropic)
