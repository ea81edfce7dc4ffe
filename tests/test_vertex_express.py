"""Vertex AI express mode: its URLs, what its error bodies mean for a key, its key shapes
and its pool kind; pure code, no server (``docs/vertex-express.md``)."""
from __future__ import annotations

import json

import pytest

from balancer import keyshapes
from balancer.keypool.outcome import Outcome as O
from balancer.proxy.formats import FORMATS
from balancer.services import pool_checks
from balancer.upstream import vertex
from balancer.upstream.providers import PROVIDERS, probe_headers, speaks_gemini

NOW = 1751371200.0
KEY = "AQ.Ab8RN6K1vertexexpresskeyfortests_0123"
_INFO = "type.googleapis.com/google.rpc.ErrorInfo"


def envelope(code, status, message, reason=None, domain="googleapis.com", **meta):
    error = {"code": code, "message": message, "status": status}
    if reason:
        error["details"] = [{"@type": _INFO, "reason": reason, "domain": domain,
                             "metadata": {"service": "aiplatform.googleapis.com", **meta}}]
    return json.dumps({"error": error}).encode()


QUOTA = ("Resource exhausted. Please try again later. Please refer to "
         "https://cloud.google.com/vertex-ai/generative-ai/docs/error-code-429 for more details.")

# (id, status, body, outcome, reason)
CASES = [
    ("quota-429", 429, envelope(429, "RESOURCE_EXHAUSTED", QUOTA), O.RATE_LIMITED, "rate_limit"),
    ("project-quota-429", 429, envelope(
        429, "RESOURCE_EXHAUSTED", "Quota exceeded for aiplatform.googleapis.com/"
        "generate_content_requests_per_minute_per_project_per_base_model with base model: "
        "gemini-2.5-pro. Please submit a quota increase request."), O.RATE_LIMITED, "rate_limit"),
    ("invalid-key", 400, envelope(400, "INVALID_ARGUMENT",
                                  "API key not valid. Please pass a valid API key.",
                                  "API_KEY_INVALID"), O.KEY_INVALID, "API_KEY_INVALID"),
    ("expired-key-text", 400, envelope(400, "INVALID_ARGUMENT",
                                       "API key expired. Please renew the API key."),
     O.KEY_INVALID, "api_key_invalid"),
    ("unauthenticated", 401, envelope(401, "UNAUTHENTICATED", "Request had invalid "
                                      "authentication credentials."), O.KEY_INVALID,
     "unauthenticated"),
    ("no-key-sent", 401, envelope(401, "UNAUTHENTICATED", "Request is missing required "
                                  "authentication credential. Expected OAuth 2 access token, "
                                  "login cookie or other valid authentication credential.",
                                  "CREDENTIALS_MISSING"), O.PROXY_FAULT, "CREDENTIALS_MISSING"),
    ("not-an-express-url", 401, envelope(401, "UNAUTHENTICATED", "API keys are not supported "
                                         "by this API. Expected OAuth2 access token or other "
                                         "authentication credentials that assert a principal.",
                                         "CREDENTIALS_MISSING"), O.PROXY_FAULT,
     "not_an_express_url"),
    ("iam-permission", 403, envelope(
        403, "PERMISSION_DENIED", "Permission 'aiplatform.endpoints.predict' denied on resource "
        "'//aiplatform.googleapis.com/projects/123/locations/global/publishers/google/models/"
        "gemini-2.5-pro' (or it may not exist).", "IAM_PERMISSION_DENIED",
        domain="aiplatform.googleapis.com", permission="aiplatform.endpoints.predict"),
     O.NO_ACCESS, "IAM_PERMISSION_DENIED"),
    ("billing", 403, envelope(403, "PERMISSION_DENIED", "This API method requires billing to be "
                              "enabled. Please enable billing on project #123 by visiting "
                              "https://console.developers.google.com/billing/enable?project=123 "
                              "then retry.", "BILLING_DISABLED"), O.KEY_INVALID,
     "BILLING_DISABLED"),
    ("service-disabled", 403, envelope(403, "PERMISSION_DENIED", "Vertex AI API has not been used "
                                       "in project 123 before or it is disabled.",
                                       "SERVICE_DISABLED"), O.KEY_INVALID, "SERVICE_DISABLED"),
    ("model-not-found", 404, envelope(404, "NOT_FOUND", "Publisher Model `projects/123/locations/"
                                      "global/publishers/google/models/gemini-9` was not found or "
                                      "your project does not have access to it."),
     O.CLIENT_ERROR, "not_found"),
    ("bad-request", 400, envelope(400, "INVALID_ARGUMENT", "Request contains an invalid "
                                  "argument."), O.CLIENT_ERROR, "bad_request"),
    ("overloaded", 503, envelope(503, "UNAVAILABLE", "The service is currently unavailable."),
     O.OVERLOADED, "overloaded"),
    ("internal", 500, envelope(500, "INTERNAL", "Internal error encountered."), O.TRANSIENT,
     "server_error"),
]


@pytest.mark.parametrize("status, body, outcome, reason", [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_classification_table(status, body, outcome, reason):
    """What the proxy decides for each Vertex answer on the Gemini routes it serves."""
    verdict = FORMATS["gemini"].classify(PROVIDERS["vertex_express"], status, {}, body, NOW, (KEY,))
    assert (verdict.outcome, verdict.reason) == (outcome, reason)
    assert verdict.status == status


def test_a_quota_429_without_details_cools_for_no_fixed_time():
    verdict = vertex.classify(429, {}, envelope(429, "RESOURCE_EXHAUSTED", QUOTA), NOW)
    assert verdict.until is None and verdict.cooldown is None  # the short, growing cooldown


def test_a_key_echoed_in_a_message_is_removed():
    body = envelope(400, "INVALID_ARGUMENT", f"API key not valid: {KEY}", "API_KEY_INVALID")
    verdict = vertex.classify(400, {}, body, NOW, secrets=(KEY,))
    assert KEY not in verdict.message


@pytest.mark.parametrize("version, path, url", [
    ("v1beta", "models/gemini-2.5-flash:generateContent",
     "https://aiplatform.googleapis.com/v1/publishers/google/models/gemini-2.5-flash:generateContent"),
    ("v1", "models/gemini-2.5-pro:streamGenerateContent",
     "https://aiplatform.googleapis.com/v1/publishers/google/models/gemini-2.5-pro:streamGenerateContent"),
    ("v1beta", "models/gemini-2.0-flash:countTokens",
     "https://aiplatform.googleapis.com/v1/publishers/google/models/gemini-2.0-flash:countTokens"),
])
def test_gemini_paths_map_to_the_express_urls(version, path, url):
    assert vertex.native_url(vertex.DEFAULT_BASE_URL, version, path) == url


@pytest.mark.parametrize("path, says", [
    ("files", "Files API"), ("cachedContents", "cached contents"),
    ("models", "'models'"), ("models/gemini-2.5-flash", "'models/gemini-2.5-flash'"),
    ("models/gemini-2.5-flash:embedContent", "embedContent"),
])
def test_what_express_mode_lacks_is_refused_by_name(path, says):
    with pytest.raises(vertex.Unsupported, match="express mode does not offer") as exc:
        vertex.native_url(vertex.DEFAULT_BASE_URL, "v1beta", path)
    assert says in str(exc.value)


def test_a_key_never_goes_into_the_url():
    with pytest.raises(ValueError, match="API key in an upstream URL"):
        vertex.native_url("https://x", "v1", f"models/m:generateContent?key={KEY}")
    assert probe_headers("vertex_express", KEY) == {"x-goog-api-key": KEY}


def test_the_probe_counts_tokens_with_a_body():
    call = PROVIDERS["vertex_express"].probe("https://x", None)
    assert call.method == "POST"
    assert call.url == f"https://x/v1/publishers/google/models/{vertex.PROBE_MODEL}:countTokens"
    assert json.loads(call.body)["contents"]


def test_the_kind_takes_google_keys_of_both_shapes():
    standard = "AIza" + "A" * 35
    assert keyshapes.check_key(standard, "vertex_express").shape is keyshapes.GEMINI_STANDARD
    assert keyshapes.check_key(KEY, "vertex_express").shape is keyshapes.GEMINI_AUTH
    found = keyshapes.find_keys(f"my vertex key: {KEY}\n", "vertex_express")
    assert found.secrets == [KEY]


def test_the_kind_is_a_pool_kind_that_speaks_gemini():
    assert pool_checks.check_kind("vertex_express") == "vertex_express"
    assert speaks_gemini("vertex_express") and not speaks_gemini("openai")
    defaults = pool_checks.check_request_defaults({"thinking_budgets": {"gemini-2.5-flash": 0}},
                                                  "vertex_express")
    assert defaults["thinking_budgets"] == {"gemini-2.5-flash": 0}


def test_configured_models_are_the_documented_ones_and_alias_targets():
    models = vertex.configured_models({"fast": "gemini-2.5-flash", "x": "gemini-3-pro-preview"})
    assert models[:len(vertex.DEFAULT_MODELS)] == vertex.DEFAULT_MODELS
    assert models[-1] == "gemini-3-pro-preview" and models.count("gemini-2.5-flash") == 1
