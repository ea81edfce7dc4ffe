"""Google error envelopes, as Gemini's API returns them (reference section 2.2).

Every function returns ``(status, body)`` where ``body`` is the native envelope
``{"error": {...}}``; the OpenAI-compatible layer wraps the same body in a one-element list.
"""

from __future__ import annotations

import hashlib
from typing import Any, Optional

from .behaviours import Script, format_duration

Envelope = tuple[int, dict[str, Any]]

_TYPE = "type.googleapis.com/google.rpc."
_SERVICE = "generativelanguage.googleapis.com"
_RATE_DOCS = "https://ai.google.dev/gemini-api/docs/rate-limits"
_METRIC = "generativelanguage.googleapis.com/generate_content_free_tier_requests"
_DEFAULT_MODEL = "gemini-2.5-flash"


def envelope(code: int, status: str, message: str, details: Optional[list] = None) -> Envelope:
    """Build ``{"error": {code, message, status[, details]}}`` with ``error`` first."""
    error: dict[str, Any] = {"code": code, "message": message, "status": status}
    if details:
        error["details"] = details
    return code, {"error": error}


def _error_info(reason: str, **metadata: str) -> dict[str, Any]:
    return {
        "@type": _TYPE + "ErrorInfo",
        "reason": reason,
        "domain": "googleapis.com",
        "metadata": {"service": _SERVICE, **metadata},
    }


def _localized(message: str) -> dict[str, Any]:
    return {"@type": _TYPE + "LocalizedMessage", "locale": "en-US", "message": message}


def _bad_request(message: str, field: Optional[str] = None) -> dict[str, Any]:
    violation = {"field": field, "description": message} if field else {"description": message}
    return {"@type": _TYPE + "BadRequest", "fieldViolations": [violation]}


def project_number(key: str) -> str:
    """A stable fake Google Cloud project number for a key."""
    return str(100_000_000_000 + int(hashlib.sha1(key.encode()).hexdigest()[:10], 16) % 10**11)


def _bad_key(message: str) -> Envelope:
    return envelope(
        400,
        "INVALID_ARGUMENT",
        message,
        [_error_info("API_KEY_INVALID"), _localized(message)],
    )


def _suspended(key: str) -> Envelope:
    # Real Google echoes the key here; Balancer's tests use this to check redaction.
    message = f"Permission denied: Consumer 'api_key:{key}' has been suspended."
    info = _error_info(
        "CONSUMER_SUSPENDED",
        consumer=f"projects/{project_number(key)}",
        containerInfo=f"api_key:{key}",
    )
    return envelope(403, "PERMISSION_DENIED", message, [info, _localized(message)])


def _service_disabled(key: str) -> Envelope:
    project = project_number(key)
    url = (
        "https://console.developers.google.com/apis/api/generativelanguage.googleapis.com/"
        f"overview?project={project}"
    )
    message = (
        f"Generative Language API has not been used in project {project} before or it is "
        f"disabled. Enable it by visiting {url} then retry. If you enabled this API recently, "
        "wait a few minutes for the action to propagate to our systems and retry."
    )
    info = _error_info(
        "SERVICE_DISABLED",
        consumer=f"projects/{project}",
        activationUrl=url,
        serviceTitle="Generative Language API",
        containerInfo=project,
    )
    help_link = {
        "@type": _TYPE + "Help",
        "links": [{"description": "Google developers console API activation", "url": url}],
    }
    return envelope(403, "PERMISSION_DENIED", message, [info, _localized(message), help_link])


def _quota(model: str, per: str, limit: str, retry: float) -> Envelope:
    delay = format_duration(retry)
    message = (
        "You exceeded your current quota, please check your plan and billing details. For more "
        f"information on this error, head to: {_RATE_DOCS}. To monitor your current usage, "
        f"head to: https://ai.dev/rate-limit. \n* Quota exceeded for metric: {_METRIC}, "
        f"limit: {limit}, model: {model}\nPlease retry in {delay}."
    )
    violation: dict[str, Any] = {
        "quotaMetric": _METRIC,
        "quotaId": f"GenerateRequestsPer{per}PerProjectPerModel-FreeTier",
        "quotaDimensions": {"location": "global", "model": model},
    }
    if limit != "0":
        # quotaValue is sometimes absent in real answers; leave it out for "limit: 0".
        violation["quotaValue"] = limit
    details = [
        {
            "@type": _TYPE + "Help",
            "links": [{"description": "Learn more about Gemini API quotas", "url": _RATE_DOCS}],
        },
        {"@type": _TYPE + "QuotaFailure", "violations": [violation]},
        {"@type": _TYPE + "RetryInfo", "retryDelay": delay},
    ]
    return envelope(429, "RESOURCE_EXHAUSTED", message, details)


def mode_error(mode: str, key: str, model: Optional[str], retry: float) -> Envelope:
    """The envelope a key scripted with error ``mode`` gets."""
    model = model or _DEFAULT_MODEL
    if mode == "invalid":
        return _bad_key("API key not valid. Please pass a valid API key.")
    if mode == "expired":
        return _bad_key("API key expired. Please renew the API key.")
    if mode == "not_found_key":
        return _bad_key("API Key not found. Please pass a valid API key.")
    if mode == "suspended":
        return _suspended(key)
    if mode == "leaked":
        return envelope(
            403,
            "PERMISSION_DENIED",
            "Your API key was reported as leaked. Please use another API key.",
        )
    if mode == "service_disabled":
        return _service_disabled(key)
    if mode == "no_permission":
        return envelope(403, "PERMISSION_DENIED", "The caller does not have permission")
    if mode == "location":
        return envelope(
            400, "FAILED_PRECONDITION", "User location is not supported for the API use."
        )
    if mode == "rate_minute":
        return _quota(model, "Minute", "10", retry)
    if mode in ("rate_day", "quota"):
        return _quota(model, "Day", "0", retry)
    if mode == "rate_unknown":
        return envelope(
            429, "RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota)."
        )
    if mode == "overloaded":
        return envelope(503, "UNAVAILABLE", "The model is overloaded. Please try again later.")
    if mode == "internal":
        return internal()
    raise ValueError(f"not an error mode: {mode!r}")


def mid_stream(script: Script, key: str, model: Optional[str]) -> dict[str, Any]:
    """The body a ``break_stream`` script sends in place of the rest of the stream."""
    return mode_error(script.error, key, model, script.retry_seconds(script.error))[1]


def internal() -> Envelope:
    """500 INTERNAL, as sent before or in the middle of a stream."""
    return envelope(
        500,
        "INTERNAL",
        "An internal error has occurred. Please retry or report in "
        "https://developers.generativeai.google/guide/troubleshooting",
    )


def unregistered_caller() -> Envelope:
    """403 for a request that carried no API key at all."""
    return envelope(
        403,
        "PERMISSION_DENIED",
        "Method doesn't allow unregistered callers (callers without established identity). "
        "Please use API Key or other form of API consumer identity to call this API.",
    )


def bearer_not_oauth() -> Envelope:
    """401 ACCESS_TOKEN_TYPE_UNSUPPORTED, byte for byte as captured (ErrorInfo without domain).

    The native API answers it to an API key sent as ``Authorization: Bearer`` and to a
    malformed auth key; the OpenAI-compatible layer answers it (list-wrapped) to every
    ``AQ.`` auth key.
    """
    message = (
        "Request had invalid authentication credentials. Expected OAuth 2 access token, login "
        "cookie or other valid authentication credential. See "
        "https://developers.google.com/identity/sign-in/web/devconsole-project."
    )
    info = {
        "@type": _TYPE + "ErrorInfo",
        "reason": "ACCESS_TOKEN_TYPE_UNSUPPORTED",
        "metadata": {
            "method": "google.ai.generativelanguage.v1beta.GenerativeService.GenerateContent",
            "service": _SERVICE,
        },
    }
    return envelope(401, "UNAUTHENTICATED", message, [info])


def multiple_credentials() -> Envelope:
    """400 for a request carrying two credentials (header and ``?key=``, or Bearer and a key)."""
    return invalid_argument("Multiple authentication credentials received. Please pass only one.")


def payload_errors(violations: list[tuple[str, str]]) -> Envelope:
    """400 for proto-JSON parse errors: one message line and one fieldViolation each.

    ``violations`` holds ``(field, description)``; the message joins the descriptions with
    newlines, as Google does when a request has several unknown names.
    """
    message = "\n".join(description for _, description in violations)
    fields = [{"field": field, "description": text} for field, text in violations]
    return envelope(
        400,
        "INVALID_ARGUMENT",
        message,
        [{"@type": _TYPE + "BadRequest", "fieldViolations": fields}],
    )


def request_invalid(problems: list[tuple[str, str]]) -> Envelope:
    """400 listing semantic problems as ``* GenerateContentRequest.<field>: <text>`` lines."""
    message = "".join(f"* GenerateContentRequest.{field}: {text}\n" for field, text in problems)
    return invalid_argument(message)


SIGNATURE_DOCS = "https://ai.google.dev/gemini-api/docs/thought-signatures"


def signature_missing(name: str, position: int) -> Envelope:
    """400 for a current-turn function call without its thought signature (Gemini 3)."""
    return invalid_argument(
        "Function call is missing a thought_signature in functionCall parts. This is required "
        "for tools to work correctly, and missing thought_signature may lead to degraded model "
        f"performance. Additional data, function call `default_api:{name}` , position "
        f"{position}. Please refer to {SIGNATURE_DOCS} for more details."
    )


def bad_json(detail: str) -> Envelope:
    """400 for a body that is not JSON."""
    message = f"Invalid JSON payload received. {detail}"
    return envelope(400, "INVALID_ARGUMENT", message, [_bad_request(message)])


def unknown_field(name: str, where: Optional[str] = None) -> Envelope:
    """400 for a body key the request message does not have."""
    place = f" at '{where}'" if where else ""
    message = f'Invalid JSON payload received. Unknown name "{name}"{place}: Cannot find field.'
    return envelope(400, "INVALID_ARGUMENT", message, [_bad_request(message, where)])


def invalid_argument(message: str = "Request contains an invalid argument.") -> Envelope:
    """400 INVALID_ARGUMENT with no details."""
    return envelope(400, "INVALID_ARGUMENT", message)


def model_not_found(model: str, method: str, version: str = "v1beta") -> Envelope:
    """404 for an unknown model or one that does not support ``method``."""
    return envelope(
        404,
        "NOT_FOUND",
        f"models/{model} is not found for API version {version}, or is not supported for "
        f"{method}. Call ListModels to see the list of available models and their supported "
        "methods.",
    )


def path_not_found(path: str) -> Envelope:
    """404 for a path no endpoint serves."""
    return envelope(404, "NOT_FOUND", f"The requested URL {path} was not found on this server.")
