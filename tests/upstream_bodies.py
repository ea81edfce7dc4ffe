"""Real upstream error bodies, copied from ``reference/upstream-wire-formats.md``.

Section numbers refer to that file. Where the reference only describes a body
(e.g. the 2024 RATE_LIMIT_EXCEEDED form), it is composed from the fields it
names and marked "composed". Plain data: the fake upstream may reuse it.
"""
from __future__ import annotations

import json

# A Gemini-looking key (AIza + 35) and an OpenAI-looking one, for leak checks.
GEMINI_KEY = "AIzaSyD" + "x7Qk2Lm9Np4Rs6Tv8Wy0Za1Bc3De5Fg7H"
OPENAI_KEY = "sk-proj-" + "VKMIs8f7d6c5b4a3Z2Y1X0wjh3"

_T = "type.googleapis.com/google.rpc."


def g(code: int, status: str, message: str, *details: dict) -> dict:
    """A Google error envelope."""
    err: dict = {"code": code, "message": message, "status": status}
    if details:
        err["details"] = list(details)
    return {"error": err}


def error_info(reason: str, **metadata: str) -> dict:
    return {"@type": _T + "ErrorInfo", "reason": reason, "domain": "googleapis.com",
            "metadata": metadata}


def localized(message: str) -> dict:
    return {"@type": _T + "LocalizedMessage", "locale": "en-US", "message": message}


def quota_failure(*violations: dict) -> dict:
    return {"@type": _T + "QuotaFailure", "violations": list(violations)}


def violation(quota_id: str, metric: str = "generate_content_free_tier_requests",
              value: str | None = "10", model: str = "gemini-2.5-flash") -> dict:
    v = {"quotaMetric": "generativelanguage.googleapis.com/" + metric, "quotaId": quota_id,
         "quotaDimensions": {"location": "global", "model": model}}
    if value is not None:
        v["quotaValue"] = value
    return v


def retry_info(delay: str) -> dict:
    return {"@type": _T + "RetryInfo", "retryDelay": delay}


HELP_QUOTA = {"@type": _T + "Help", "links": [{
    "description": "Learn more about Gemini API quotas",
    "url": "https://ai.google.dev/gemini-api/docs/rate-limits"}]}

PER_MINUTE = "GenerateRequestsPerMinutePerProjectPerModel-FreeTier"
PER_DAY = "GenerateRequestsPerDayPerProjectPerModel-FreeTier"
TOKENS_PER_MINUTE = "GenerateContentInputTokensPerModelPerMinute-FreeTier"

# --- 2.2 catalogue -----------------------------------------------------------

INVALID_KEY_MSG = "API key not valid. Please pass a valid API key."
INVALID_KEY = g(400, "INVALID_ARGUMENT", INVALID_KEY_MSG,
                error_info("API_KEY_INVALID", service="generativelanguage.googleapis.com"),
                localized(INVALID_KEY_MSG))
EXPIRED_KEY = g(400, "INVALID_ARGUMENT", "API key expired. Please renew the API key.",
                error_info("API_KEY_INVALID", service="generativelanguage.googleapis.com"),
                localized("API key expired. Please renew the API key."))
KEY_NOT_FOUND = g(400, "INVALID_ARGUMENT", "API Key not found. Please pass a valid API key.",
                  error_info("API_KEY_INVALID", service="generativelanguage.googleapis.com"),
                  localized("API Key not found. Please pass a valid API key."))
# 2024: only the ErrorInfo entry.
INVALID_KEY_2024 = g(400, "INVALID_ARGUMENT", INVALID_KEY_MSG,
                     error_info("API_KEY_INVALID", service="generativelanguage.googleapis.com"))

NO_KEY = json.loads(
    '{"error":{"code":403,"message":"Method doesn\'t allow unregistered callers (callers without'
    ' established identity). Please use API Key or other form of API consumer identity to call this'
    ' API.","status":"PERMISSION_DENIED"}}')

SUSPENDED_MSG = "Permission denied: Consumer 'api_key:AIzaSy...' has been suspended."
SUSPENDED = g(403, "PERMISSION_DENIED", SUSPENDED_MSG,
              error_info("CONSUMER_SUSPENDED", consumer="projects/895908428397",
                         service="generativelanguage.googleapis.com",
                         containerInfo="api_key:AIzaSy..."))
SUSPENDED_NEWER = g(403, "PERMISSION_DENIED", SUSPENDED_MSG,
                    error_info("CONSUMER_SUSPENDED", consumer="projects/895908428397",
                               service="generativelanguage.googleapis.com",
                               containerInfo="api_key:AIzaSy..."),
                    localized(SUSPENDED_MSG))
# The same with a whole key echoed back (composed), for the leak check.
SUSPENDED_FULL_KEY = g(403, "PERMISSION_DENIED",
                       f"Permission denied: Consumer 'api_key:{GEMINI_KEY}' has been suspended.",
                       error_info("CONSUMER_SUSPENDED", containerInfo=f"api_key:{GEMINI_KEY}"))
# Suspension known only from the text (no details).
SUSPENDED_TEXT_ONLY = g(403, "PERMISSION_DENIED", SUSPENDED_MSG)

LEAKED = g(403, "PERMISSION_DENIED",
           "Your API key was reported as leaked. Please use another API key.")

SERVICE_DISABLED = g(
    403, "PERMISSION_DENIED",
    "Generative Language API has not been used in project 895908428397 before or it is "
    "disabled. Enable it by visiting https://console.developers.google.com/apis/api/"
    "generativelanguage.googleapis.com/overview?project=895908428397 then retry. If you "
    "enabled this API recently, wait a few minutes for the action to propagate to our "
    "systems and retry.",
    error_info("SERVICE_DISABLED", consumer="projects/895908428397",
               service="generativelanguage.googleapis.com",
               activationUrl="https://console.developers.google.com/apis/api/"
                             "generativelanguage.googleapis.com/overview?project=895908428397"),
    {"@type": _T + "Help", "links": [{"description": "Google developers console API activation",
                                      "url": "https://console.developers.google.com/apis/api/"
                                             "generativelanguage.googleapis.com/overview"}]})

SERVICE_BLOCKED = g(
    403, "PERMISSION_DENIED",
    "Requests to this API generativelanguage.googleapis.com method "
    "google.ai.generativelanguage.v1beta.GenerativeService.StreamGenerateContent are blocked.",
    error_info("API_KEY_SERVICE_BLOCKED", consumer="projects/895908428397",
               service="generativelanguage.googleapis.com",
               apiName="generativelanguage.googleapis.com",
               methodName="google.ai.generativelanguage.v1beta.GenerativeService."
                          "StreamGenerateContent"))

REFERRER_BLOCKED = g(403, "PERMISSION_DENIED", "Requests from referer <empty> are blocked.",
                     error_info("API_KEY_HTTP_REFERRER_BLOCKED", consumer="projects/1"))
REFERRER_BLOCKED_TEXT_ONLY = g(403, "PERMISSION_DENIED",
                               "Requests from referer <empty> are blocked.")

NO_PERMISSION = g(403, "PERMISSION_DENIED", "The caller does not have permission")

LOCATION = json.loads('{"error":{"code":400,"message":"User location is not supported for the API'
                      ' use.","status":"FAILED_PRECONDITION"}}')
FREE_TIER_COUNTRY = g(400, "FAILED_PRECONDITION",
                      "Gemini API free tier is not available in your country. Please enable "
                      "billing on your project in Google AI Studio.")

UNKNOWN_FIELD_MSG = ("Invalid JSON payload received. Unknown name \"foo\" at 'contents[0]': "
                     "Cannot find field.")
UNKNOWN_FIELD = g(400, "INVALID_ARGUMENT", UNKNOWN_FIELD_MSG,
                  {"@type": _T + "BadRequest",
                   "fieldViolations": [{"field": "contents[0]", "description": UNKNOWN_FIELD_MSG}]})
INVALID_ARGUMENT = g(400, "INVALID_ARGUMENT", "Request contains an invalid argument.")
TOO_MANY_TOKENS = g(400, "INVALID_ARGUMENT",
                    "The input token count (1200000) exceeds the maximum number of tokens "
                    "allowed (1048576).")
FUNCTION_PARTS = g(400, "INVALID_ARGUMENT",
                   "Please ensure that the number of function response parts is equal to the "
                   "number of function call parts of the function call turn.")

UNKNOWN_MODEL = json.loads(
    '{"error":{"code":404,"message":"models/gemini-pro is not found for API version v1beta, or is'
    ' not supported for generateContent. Call ListModels to see the list of available models and'
    ' their supported methods.","status":"NOT_FOUND"}}')

QUOTA_MSG = (
    "You exceeded your current quota, please check your plan and billing details. For more "
    "information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits. To "
    "monitor your current usage, head to: https://ai.dev/rate-limit. \n* Quota exceeded for "
    "metric: generativelanguage.googleapis.com/generate_content_free_tier_requests, limit: 10, "
    "model: gemini-2.5-flash\nPlease retry in 38.962214405s.")
# 2025-2026 form: Help, QuotaFailure, RetryInfo.
QUOTA_PER_MINUTE = g(429, "RESOURCE_EXHAUSTED", QUOTA_MSG, HELP_QUOTA,
                     quota_failure(violation(PER_MINUTE)), retry_info("38s"))
QUOTA_MID_2025_MSG = (
    "You exceeded your current quota, please check your plan and billing details. For more "
    "information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits.")
# Mid-2025 order: QuotaFailure, Help, RetryInfo.
QUOTA_MID_2025 = g(429, "RESOURCE_EXHAUSTED", QUOTA_MID_2025_MSG,
                   quota_failure(violation(PER_MINUTE)), HELP_QUOTA, retry_info("26s"))
QUOTA_FRACTIONAL = g(429, "RESOURCE_EXHAUSTED", QUOTA_MID_2025_MSG,
                     quota_failure(violation(PER_MINUTE)), HELP_QUOTA,
                     retry_info("45.837906927s"))
QUOTA_INPUT_TOKENS = g(429, "RESOURCE_EXHAUSTED", QUOTA_MID_2025_MSG, HELP_QUOTA,
                       quota_failure(violation(TOKENS_PER_MINUTE,
                                               "generate_content_free_tier_input_token_count",
                                               value=None)),
                       retry_info("12s"))
# A per-day violation still comes with a short RetryInfo.
QUOTA_PER_DAY = g(429, "RESOURCE_EXHAUSTED",
                  QUOTA_MSG.replace("limit: 10", "limit: 250").replace("38.962214405s", "47.1s"),
                  HELP_QUOTA, quota_failure(violation(PER_DAY, value="250")), retry_info("47s"))
# Several violations at once: per-minute listed first, per-day must win.
QUOTA_BOTH = g(429, "RESOURCE_EXHAUSTED", QUOTA_MID_2025_MSG,
               quota_failure(violation(PER_MINUTE), violation(PER_DAY, value="250")),
               HELP_QUOTA, retry_info("9s"))
# "limit: 0": the tier has no quota at all for that model.
QUOTA_LIMIT_ZERO = g(429, "RESOURCE_EXHAUSTED",
                     QUOTA_MSG.replace("limit: 10", "limit: 0")
                     .replace("gemini-2.5-flash", "gemini-2.5-pro"),
                     HELP_QUOTA, quota_failure(violation(PER_MINUTE, value=None,
                                                         model="gemini-2.5-pro")),
                     retry_info("38s"))

NO_DETAILS_429 = json.loads('{"error":{"code":429,"message":"Resource has been exhausted (e.g. '
                            'check quota).","status":"RESOURCE_EXHAUSTED"}}')
# 2024 form (composed from the fields the reference names).
RATE_LIMIT_2024 = g(
    429, "RESOURCE_EXHAUSTED",
    "Quota exceeded for quota metric 'Generate Content API requests per minute' and limit "
    "'GenerateContent request limit per minute for a region' of service "
    "'generativelanguage.googleapis.com' for consumer 'project_number:895908428397'.",
    error_info("RATE_LIMIT_EXCEEDED", service="generativelanguage.googleapis.com",
               consumer="projects/895908428397",
               quota_metric="generativelanguage.googleapis.com/generate_content_requests",
               quota_limit="GenerateContentRequestsPerMinutePerProjectPerRegion",
               quota_limit_value="60"),
    {"@type": _T + "Help", "links": [{"description": "Request a higher quota limit.",
                                      "url": "https://cloud.google.com/docs/quota"}]})
RATE_LIMIT_2024_NO_LIMIT = g(
    429, "RESOURCE_EXHAUSTED",
    "Quota exceeded for quota metric 'Generate Content API requests per minute' and limit "
    "'GenerateContent request limit per minute for a region' of service "
    "'generativelanguage.googleapis.com' for consumer 'project_number:895908428397'.",
    error_info("RATE_LIMIT_EXCEEDED", service="generativelanguage.googleapis.com"))

INTERNAL = json.loads(
    '{"error":{"code":500,"message":"An internal error has occurred. Please retry or report in'
    ' https://developers.generativeai.google/guide/troubleshooting","status":"INTERNAL"}}')
OVERLOADED = json.loads('{"error":{"code":503,"message":"The model is overloaded. Please try again'
                        ' later.","status":"UNAVAILABLE"}}')
HIGH_DEMAND = g(503, "UNAVAILABLE",
                "This model is currently experiencing high demand. Spikes in demand are usually "
                "temporary. Please try again later.")
DEADLINE_503 = g(503, "UNAVAILABLE", "Deadline expired before operation could complete.")
# Exact text unconfirmed.
DEADLINE_504 = g(504, "DEADLINE_EXCEEDED", "Deadline exceeded.")

# --- 3. OpenAI-compatible layer: Google envelopes wrapped in a list -----------

COMPAT_429 = [{"error": {"code": 429, "message": "Resource has been exhausted (e.g. check quota).",
                         "status": "RESOURCE_EXHAUSTED"}}]
COMPAT_UNKNOWN_NAME_MSG = ("Invalid JSON payload received. Unknown name \"google\": Cannot find "
                           "field.")
COMPAT_400 = [{"error": {"code": 400, "message": COMPAT_UNKNOWN_NAME_MSG,
                         "status": "INVALID_ARGUMENT",
                         "details": [{"@type": _T + "BadRequest", "fieldViolations": [
                             {"description": COMPAT_UNKNOWN_NAME_MSG}]}]}}]
COMPAT_INVALID_KEY = [INVALID_KEY]          # presumed (unconfirmed on this endpoint)
COMPAT_PER_MINUTE = [QUOTA_PER_MINUTE]
COMPAT_PER_DAY = [QUOTA_PER_DAY]

# --- 4.2 OpenAI ----------------------------------------------------------------


def o(message: str, type_: str, code: str | None, param: str | None = None) -> dict:
    """An OpenAI error envelope."""
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


O_BAD_TEMPERATURE = o("Invalid 'temperature': decimal above maximum value. Expected a value <= 2,"
                      " but got 200 instead.", "invalid_request_error", "decimal_above_max_value",
                      "temperature")
O_CONTEXT = o("This model's maximum context length is 8192 tokens. However, your messages "
              "resulted in 9000 tokens.", "invalid_request_error", "context_length_exceeded",
              "messages")
O_INVALID_KEY = o("Incorrect API key provided: sk-VKMIs***...wjh3. You can find your API key at "
                  "https://platform.openai.com/account/api-keys.", "invalid_request_error",
                  "invalid_api_key")
O_MISSING_KEY = o("You didn't provide an API key. You need to provide your API key in an "
                  "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), "
                  "or as the password field (with blank username) if you're accessing the API "
                  "from your browser and are prompted for a username and password. You can "
                  "obtain an API key from https://platform.openai.com/account/api-keys.",
                  "invalid_request_error", None)
O_REGION = o("Country, region, or territory not supported", "request_forbidden",
             "unsupported_country_region_territory")
O_MODEL_NOT_FOUND = o("The model `x` does not exist or you do not have access to it.",
                      "invalid_request_error", "model_not_found")
O_RATE_LIMIT = o("Rate limit reached for gpt-4o in organization org-abc123 on tokens per min "
                 "(TPM): Limit 30000, Used 29937, Requested 385. Please try again in 644ms. "
                 "Visit https://platform.openai.com/account/rate-limits to learn more.",
                 "tokens", "rate_limit_exceeded")
O_RATE_LIMIT_RPD = o("Rate limit reached for model `llama-3.1-8b-instant` in organization "
                     "`org_01` on requests per day (RPD): Limit 14400, Used 14400, Requested 1. "
                     "Please try again in 1m26.4s.", "requests", "rate_limit_exceeded")
O_INSUFFICIENT_QUOTA_MSG = ("You exceeded your current quota, please check your plan and billing "
                            "details. For more information on this error, read the docs: "
                            "https://platform.openai.com/docs/guides/error-codes/api-errors.")
O_INSUFFICIENT_QUOTA = o(O_INSUFFICIENT_QUOTA_MSG, "insufficient_quota", "insufficient_quota")
O_INSUFFICIENT_QUOTA_OLD = o(O_INSUFFICIENT_QUOTA_MSG, "insufficient_quota", None)
O_SERVER_ERROR = o("The server had an error processing your request. Sorry about that! You can "
                   "retry your request, or contact us through our help center at "
                   "help.openai.com if you keep seeing this error. (Please include the request "
                   "ID req_0123456789abcdef0123456789abcdef in your email.)", "server_error", None)
O_SLOW_DOWN = o("Slow Down", "server_error", None)  # body unconfirmed
