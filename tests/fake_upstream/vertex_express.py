"""Vertex AI in express mode under ``/v1/publishers/google/models/`` (and ``/v1beta1/``).

Express mode offers three methods per model (``generateContent``,
``streamGenerateContent``, ``countTokens``) with Gemini's request and answer shapes, so
the answers come from the native flavour; what differs is the path, the refusals and the
error bodies (``docs/vertex-express.md``): a quota 429 carries no details, a key refused
by IAM names the permission, an unknown model is a "Publisher Model" not found.
"""

from __future__ import annotations

from typing import Any, Optional

from . import google_errors as gerr
from .behaviours import KIND_GENERATE, KIND_OTHER, KIND_STREAM, Script
from .gemini_native import NativeFlavour
from .wire import Call, Reply

_ACTIONS = {
    "generateContent": KIND_GENERATE,
    "streamGenerateContent": KIND_STREAM,
    "countTokens": KIND_OTHER,
}
_SERVICE = "aiplatform.googleapis.com"
_TYPE = "type.googleapis.com/google.rpc."
QUOTA_MESSAGE = (
    "Resource exhausted. Please try again later. Please refer to "
    "https://cloud.google.com/vertex-ai/generative-ai/docs/error-code-429 for more details."
)


def _info(reason: str, domain: str = "googleapis.com", **metadata: str) -> dict[str, Any]:
    return {
        "@type": _TYPE + "ErrorInfo",
        "reason": reason,
        "domain": domain,
        "metadata": {"service": _SERVICE, **metadata},
    }


def _resource(key: str, model: str) -> str:
    project = gerr.project_number(key)
    return f"projects/{project}/locations/global/publishers/google/models/{model}"


def mode_error(mode: str, key: str, model: Optional[str]) -> gerr.Envelope:
    """The envelope express mode answers for a key scripted with error ``mode``."""
    model = model or "gemini-2.5-flash"
    if mode in ("invalid", "expired", "not_found_key"):
        message = "API key not valid. Please pass a valid API key."
        return gerr.envelope(400, "INVALID_ARGUMENT", message, [_info("API_KEY_INVALID")])
    if mode in ("rate_minute", "rate_day", "rate_unknown", "quota"):
        # Shared-capacity and project quota alike: no QuotaFailure, no RetryInfo.
        return gerr.envelope(429, "RESOURCE_EXHAUSTED", QUOTA_MESSAGE)
    if mode == "no_permission":
        resource = "//aiplatform.googleapis.com/" + _resource(key, model)
        message = (
            f"Permission 'aiplatform.endpoints.predict' denied on resource '{resource}' "
            "(or it may not exist)."
        )
        info = _info(
            "IAM_PERMISSION_DENIED",
            domain="aiplatform.googleapis.com",
            permission="aiplatform.endpoints.predict",
            resource=_resource(key, model),
        )
        return gerr.envelope(403, "PERMISSION_DENIED", message, [info])
    return gerr.mode_error(mode, key, model, 0.0)


class VertexExpressFlavour(NativeFlavour):
    """``/v1/publishers/google/models/{model}:{method}``; keys by header or ``?key=``."""

    name = "vertex"

    def route(self, call: Call) -> bool:
        """Only ``{model}:{method}`` for the three methods express mode offers, by POST."""
        model, _, method = call.sub.partition(":")
        if not model or "/" in model or method not in _ACTIONS:
            return False
        call.model, call.action, call.kind = model, method, _ACTIONS[method]
        return call.method == "POST"

    def auth_error(self, call: Call) -> Optional[Reply]:
        """No key: 401 UNAUTHENTICATED, as Google Cloud APIs answer a bare call."""
        if call.credentials > 1:
            return self._error(call, gerr.multiple_credentials())
        if not call.key or call.key_via == "bearer":
            message = (
                "Request is missing required authentication credential. Expected OAuth 2 "
                "access token, login cookie or other valid authentication credential."
            )
            details = [_info("CREDENTIALS_MISSING", method="google.cloud.aiplatform.v1."
                             "PredictionService.GenerateContent")]
            return self._error(call, gerr.envelope(401, "UNAUTHENTICATED", message, details))
        return None

    def mode_error(self, call: Call, script: Script) -> Reply:
        """Express mode's envelope for the scripted error."""
        return self._error(call, mode_error(script.mode, call.key or "", call.model), script.mode)

    def _not_found(self, call: Call, method: str) -> Reply:
        message = (
            f"Publisher Model `{_resource(call.key or '', call.model or '')}` was not found or "
            "your project does not have access to it. Please ensure you are using a valid "
            "model version. For more information, see: "
            "https://cloud.google.com/vertex-ai/generative-ai/docs/learn/model-versions"
        )
        return self._error(call, gerr.envelope(404, "NOT_FOUND", message))
