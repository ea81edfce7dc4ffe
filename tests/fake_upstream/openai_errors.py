"""OpenAI error envelopes and headers, as OpenAI-style providers return them (section 4.2).

Every function returns ``(status, body, headers)``; ``body`` is
``{"error": {"message", "type", "param", "code"}}``.
"""

from __future__ import annotations

import math
from typing import Any, Optional

from .behaviours import Script, format_duration

Envelope = tuple[int, dict[str, Any], list[tuple[str, str]]]

_KEYS_URL = "https://platform.openai.com/account/api-keys"
_DEFAULT_MODEL = "gpt-4o-mini"


def envelope(
    status: int,
    message: str,
    type_: str = "invalid_request_error",
    code: Optional[str] = None,
    param: Optional[str] = None,
    headers: Optional[list[tuple[str, str]]] = None,
) -> Envelope:
    """Build an OpenAI error envelope."""
    body = {"error": {"message": message, "type": type_, "param": param, "code": code}}
    return status, body, list(headers or [])


def mask_key(key: str) -> str:
    """Mask a key the way OpenAI's 401 message does (``sk-VKMIs***...wjh3``)."""
    return f"{key[:8]}***...{key[-4:]}" if len(key) > 12 else "***"


def go_duration(seconds: float) -> str:
    """Format seconds the way ``x-ratelimit-reset-*`` headers do (``12ms``, ``6m0s``)."""
    if seconds < 1:
        return f"{round(seconds * 1000)}ms"
    minutes, rest = divmod(seconds, 60)
    text = format_duration(round(rest, 3))
    return f"{int(minutes)}m{text}" if minutes else text


def _rate_limit(model: str, per: str, unit: str, retry: float, retry_after: bool) -> Envelope:
    message = (
        f"Rate limit reached for {model} in organization org-fake on requests per {per} "
        f"({unit}): Limit 3, Used 3, Requested 1. Please try again in {go_duration(retry)}. "
        "Visit https://platform.openai.com/account/rate-limits to learn more."
    )
    headers = [
        ("x-ratelimit-limit-requests", "3"),
        ("x-ratelimit-remaining-requests", "0"),
        ("x-ratelimit-reset-requests", go_duration(retry)),
        ("x-ratelimit-limit-tokens", "150000"),
        ("x-ratelimit-remaining-tokens", "149000"),
        ("x-ratelimit-reset-tokens", "400ms"),
    ]
    if retry_after:
        headers.append(("retry-after", str(max(1, math.ceil(retry)))))
    return envelope(429, message, "requests", "rate_limit_exceeded", headers=headers)


def insufficient_quota() -> Envelope:
    """429 for a billing problem; never carries ``retry-after``."""
    return envelope(
        429,
        "You exceeded your current quota, please check your plan and billing details. For more "
        "information on this error, read the docs: "
        "https://platform.openai.com/docs/guides/error-codes/api-errors.",
        "insufficient_quota",
        "insufficient_quota",
    )


def server_error() -> Envelope:
    """500 server_error, as sent before or in the middle of a stream."""
    return envelope(
        500,
        "The server had an error processing your request. Sorry about that! You can retry your "
        "request, or contact us through our help center at help.openai.com if you keep seeing "
        "this error. (Please include the request ID req_00000000000000000000000000000000 in "
        "your email.)",
        "server_error",
    )


def mode_error(
    mode: str, key: str, model: Optional[str], retry: float, retry_after: bool = True
) -> Envelope:
    """The envelope a key scripted with error ``mode`` gets from the provider."""
    model = model or _DEFAULT_MODEL
    if mode in ("invalid", "expired", "not_found_key", "leaked"):
        return invalid_key(key)
    if mode == "suspended":
        return envelope(
            401,
            "This key is associated with a deactivated account. If you feel this is an error, "
            "contact us through our help center at help.openai.com.",
            code="account_deactivated",
        )
    if mode in ("service_disabled", "no_permission"):
        return envelope(
            403,
            f"Project `proj_fake` does not have access to model `{model}`",
            code="model_not_found",
        )
    if mode == "location":
        return envelope(
            403,
            "Country, region, or territory not supported",
            "request_forbidden",
            "unsupported_country_region_territory",
        )
    if mode == "rate_minute":
        return _rate_limit(model, "min", "RPM", retry, retry_after)
    if mode == "rate_day":
        return _rate_limit(model, "day", "RPD", retry, retry_after)
    if mode == "rate_unknown":
        # A 429 with no hint at all: no retry-after, no x-ratelimit-* headers.
        return envelope(
            429,
            "Rate limit reached. Please try again later.",
            "requests",
            "rate_limit_exceeded",
        )
    if mode == "quota":
        return insufficient_quota()
    if mode == "internal":
        return server_error()
    if mode == "overloaded":
        return envelope(
            503, "The engine is currently overloaded, please try again later", "server_error"
        )
    raise ValueError(f"not an error mode: {mode!r}")


def mid_stream(script: Script, key: str, model: Optional[str]) -> dict[str, Any]:
    """The body a ``break_stream`` script sends in place of the rest of the stream."""
    return mode_error(script.error, key, model, script.retry_seconds(script.error))[1]


def invalid_key(key: str) -> Envelope:
    """401 invalid_api_key."""
    return envelope(
        401,
        f"Incorrect API key provided: {mask_key(key)}. You can find your API key at {_KEYS_URL}.",
        code="invalid_api_key",
    )


def missing_key() -> Envelope:
    """401 for a request without ``Authorization: Bearer``."""
    return envelope(
        401,
        "You didn't provide an API key. You need to provide your API key in an Authorization "
        "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password "
        "field (with blank username) if you're accessing the API from your browser and are "
        f"prompted for a username and password. You can obtain an API key from {_KEYS_URL}.",
    )


def bad_json() -> Envelope:
    """400 for a body that is not JSON."""
    return envelope(
        400,
        "We could not parse the JSON body of your request. (HINT: This likely means you aren't "
        "using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was "
        "sent was not valid JSON. If you have trouble figuring out how to fix this, please "
        "contact us through our help center at help.openai.com.)",
    )


def missing_model() -> Envelope:
    """400 for a body without ``model``."""
    return envelope(400, "you must provide a model parameter")


def model_not_found(model: str) -> Envelope:
    """404 for an unknown model."""
    return envelope(
        404,
        f"The model `{model}` does not exist or you do not have access to it.",
        code="model_not_found",
    )


def wrong_endpoint(endpoint: str) -> Envelope:
    """404 for a chat call to an embedding model, or the reverse."""
    return envelope(
        404,
        f"This model is not supported in the v1/{endpoint} endpoint.",
        param="model",
    )


def invalid_url(method: str, path: str) -> Envelope:
    """404 for a path no endpoint serves."""
    return envelope(404, f"Invalid URL ({method} {path})")
