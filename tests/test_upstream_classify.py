"""Upstream answers -> verdicts, over the real bodies of the wire-format reference."""
from __future__ import annotations

import json
import re

import pytest

from balancer.keypool.days import next_pacific_midnight
from balancer.keypool.outcome import Outcome
from balancer.upstream import gemini, openai
from balancer.upstream.sanitize import redact, truncate_message
from tests import upstream_bodies as B

# 2025-07-01 12:00 UTC = 05:00 PDT; the next Pacific midnight is 07:00 UTC the day after.
NOW = 1751371200.0
MIDNIGHT = 1751439600.0

O = Outcome
KEY_SHAPES = re.compile(r"AIza[0-9A-Za-z_-]{2,}|sk-[0-9A-Za-z]{2,}|VKMIs|wjh3")


def enc(body) -> bytes:
    return json.dumps(body).encode()


def assert_no_secret(message: str) -> None:
    assert not KEY_SHAPES.search(message), message
    assert B.GEMINI_KEY not in message and B.OPENAI_KEY not in message


def test_midnight_constant_is_right():
    assert next_pacific_midnight(NOW) == MIDNIGHT


# --- Gemini native and compat ---------------------------------------------------

# (id, status, body, outcome, reason, cooldown, until)
GEMINI_CASES = [
    ("invalid-key", 400, B.INVALID_KEY, O.KEY_INVALID, "API_KEY_INVALID", None, None),
    ("expired-key", 400, B.EXPIRED_KEY, O.KEY_INVALID, "API_KEY_INVALID", None, None),
    ("key-not-found", 400, B.KEY_NOT_FOUND, O.KEY_INVALID, "API_KEY_INVALID", None, None),
    ("invalid-key-2024", 400, B.INVALID_KEY_2024, O.KEY_INVALID, "API_KEY_INVALID", None, None),
    ("no-key-sent", 403, B.NO_KEY, O.PROXY_FAULT, "unregistered_caller", None, None),
    ("suspended", 403, B.SUSPENDED, O.KEY_INVALID, "CONSUMER_SUSPENDED", None, None),
    ("suspended-newer", 403, B.SUSPENDED_NEWER, O.KEY_INVALID, "CONSUMER_SUSPENDED", None, None),
    ("suspended-full-key", 403, B.SUSPENDED_FULL_KEY, O.KEY_INVALID, "CONSUMER_SUSPENDED",
     None, None),
    ("suspended-text", 403, B.SUSPENDED_TEXT_ONLY, O.KEY_INVALID, "suspended", None, None),
    ("leaked", 403, B.LEAKED, O.KEY_INVALID, "leaked_key", None, None),
    ("service-disabled", 403, B.SERVICE_DISABLED, O.KEY_INVALID, "SERVICE_DISABLED", None, None),
    ("service-blocked", 403, B.SERVICE_BLOCKED, O.KEY_INVALID, "API_KEY_SERVICE_BLOCKED",
     None, None),
    ("referrer-blocked", 403, B.REFERRER_BLOCKED, O.KEY_INVALID,
     "API_KEY_HTTP_REFERRER_BLOCKED", None, None),
    ("referrer-text", 403, B.REFERRER_BLOCKED_TEXT_ONLY, O.KEY_INVALID, "key_restricted",
     None, None),
    ("no-permission", 403, B.NO_PERMISSION, O.NO_ACCESS, "permission_denied", None, None),
    ("location", 400, B.LOCATION, O.NO_ACCESS, "unsupported_location", None, None),
    ("free-tier-country", 400, B.FREE_TIER_COUNTRY, O.NO_ACCESS, "unsupported_location",
     None, None),
    ("file-not-active", 400, B.g(400, "FAILED_PRECONDITION", "The File abc123 is not in an "
                                 "ACTIVE state and usage is not allowed."),
     O.CLIENT_ERROR, "failed_precondition", None, None),
    ("unknown-field", 400, B.UNKNOWN_FIELD, O.CLIENT_ERROR, "bad_request", None, None),
    ("invalid-argument", 400, B.INVALID_ARGUMENT, O.CLIENT_ERROR, "bad_request", None, None),
    ("too-many-tokens", 400, B.TOO_MANY_TOKENS, O.CLIENT_ERROR, "bad_request", None, None),
    ("function-parts", 400, B.FUNCTION_PARTS, O.CLIENT_ERROR, "bad_request", None, None),
    ("unknown-model", 404, B.UNKNOWN_MODEL, O.CLIENT_ERROR, "not_found", None, None),
    ("per-minute", 429, B.QUOTA_PER_MINUTE, O.RATE_LIMITED, "per_minute_quota", 38.0, None),
    ("mid-2025-order", 429, B.QUOTA_MID_2025, O.RATE_LIMITED, "per_minute_quota", 26.0, None),
    ("fractional-delay", 429, B.QUOTA_FRACTIONAL, O.RATE_LIMITED, "per_minute_quota",
     45.837906927, None),
    ("input-tokens-per-minute", 429, B.QUOTA_INPUT_TOKENS, O.RATE_LIMITED, "per_minute_quota",
     12.0, None),
    ("per-day-short-retryinfo", 429, B.QUOTA_PER_DAY, O.RATE_LIMITED, "per_day_quota",
     None, MIDNIGHT),
    ("per-day-and-per-minute", 429, B.QUOTA_BOTH, O.RATE_LIMITED, "per_day_quota",
     None, MIDNIGHT),
    ("limit-zero", 429, B.QUOTA_LIMIT_ZERO, O.RATE_LIMITED, "per_day_quota", None, MIDNIGHT),
    ("429-no-details", 429, B.NO_DETAILS_429, O.RATE_LIMITED, "rate_limit", None, None),
    ("rate-limit-2024", 429, B.RATE_LIMIT_2024, O.RATE_LIMITED, "per_minute_quota", None, None),
    ("rate-limit-2024-text", 429, B.RATE_LIMIT_2024_NO_LIMIT, O.RATE_LIMITED,
     "per_minute_quota", None, None),
    ("internal", 500, B.INTERNAL, O.TRANSIENT, "server_error", None, None),
    ("overloaded", 503, B.OVERLOADED, O.OVERLOADED, "overloaded", None, None),
    ("high-demand", 503, B.HIGH_DEMAND, O.OVERLOADED, "overloaded", None, None),
    ("deadline-503", 503, B.DEADLINE_503, O.OVERLOADED, "overloaded", None, None),
    ("deadline-504", 504, B.DEADLINE_504, O.TRANSIENT, "server_error", None, None),
    # Section 3: the compat layer wraps the same envelopes in a list.
    ("compat-429", 429, B.COMPAT_429, O.RATE_LIMITED, "rate_limit", None, None),
    ("compat-400", 400, B.COMPAT_400, O.CLIENT_ERROR, "bad_request", None, None),
    ("compat-invalid-key", 400, B.COMPAT_INVALID_KEY, O.KEY_INVALID, "API_KEY_INVALID",
     None, None),
    ("compat-per-minute", 429, B.COMPAT_PER_MINUTE, O.RATE_LIMITED, "per_minute_quota",
     38.0, None),
    ("compat-per-day", 429, B.COMPAT_PER_DAY, O.RATE_LIMITED, "per_day_quota", None, MIDNIGHT),
]


@pytest.mark.parametrize("status,body,outcome,reason,cooldown,until",
                         [c[1:] for c in GEMINI_CASES], ids=[c[0] for c in GEMINI_CASES])
def test_gemini_classify(status, body, outcome, reason, cooldown, until):
    v = gemini.classify(status, {}, enc(body), NOW, secrets=[B.GEMINI_KEY])
    assert (v.outcome, v.reason, v.status) == (outcome, reason, status)
    assert v.cooldown == pytest.approx(cooldown) if cooldown is not None else v.cooldown is None
    assert v.until == until
    assert v.message and len(v.message) <= 500
    assert_no_secret(v.message)


@pytest.mark.parametrize("status,body,outcome,reason,cooldown,until",
                         [c[1:] for c in GEMINI_CASES], ids=[c[0] for c in GEMINI_CASES])
def test_openai_kind_pointed_at_gemini_classifies_google_envelopes_the_same(
        status, body, outcome, reason, cooldown, until):
    if not isinstance(body, list):
        body = [body]  # what the compat layer sends
    v = openai.classify(status, {}, enc(body), NOW)
    assert (v.outcome, v.reason, v.until) == (outcome, reason, until)


def test_suspended_message_keeps_its_meaning_but_not_the_key():
    v = gemini.classify(403, {}, enc(B.SUSPENDED_FULL_KEY), NOW)
    assert v.message == "Permission denied: Consumer 'api_key:AIza…' has been suspended."


def test_message_falls_back_on_please_retry_in_when_retryinfo_is_missing():
    body = B.g(429, "RESOURCE_EXHAUSTED", B.QUOTA_MSG, B.quota_failure(B.violation(B.PER_MINUTE)))
    v = gemini.classify(429, {}, enc(body), NOW)
    assert (v.reason, v.cooldown) == ("per_minute_quota", pytest.approx(38.962214405))


@pytest.mark.parametrize("delay,expected", [
    ("26s", 26.0), ("1.5s", 1.5), ("500ms", 0.5), ("1m2s", 62.0),
    ({"seconds": "3", "nanos": 250000000}, 3.25), ("junk", None), (None, None),
])
def test_retry_delay_is_read_tolerantly(delay, expected):
    detail = {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": delay}
    v = gemini.classify(429, {}, enc(B.g(429, "RESOURCE_EXHAUSTED", "slow down", detail)), NOW)
    assert v.outcome is O.RATE_LIMITED
    assert v.cooldown == (pytest.approx(expected) if expected is not None else None)


def test_gemini_429_with_a_retry_after_header_from_an_intermediary():
    v = gemini.classify(429, {"Retry-After": "7"}, enc(B.NO_DETAILS_429), NOW)
    assert (v.reason, v.cooldown) == ("rate_limit", 7.0)


def test_gemini_401_bearer_on_native_is_our_fault_and_plain_401_kills_the_key():
    oauth = B.g(401, "UNAUTHENTICATED", "Request had invalid authentication credentials. "
                "Expected OAuth 2 access token, login cookie or other valid authentication "
                "credential.")
    assert gemini.classify(401, {}, enc(oauth), NOW).outcome is O.PROXY_FAULT
    plain = B.g(401, "UNAUTHENTICATED", "Unauthenticated.")
    assert gemini.classify(401, {}, enc(plain), NOW).outcome is O.KEY_INVALID


NON_JSON = [
    (502, b"<html><body><h1>502 Bad Gateway</h1></body></html>", O.TRANSIENT, "server_error"),
    (500, b"", O.TRANSIENT, "server_error"),
    (504, b"upstream request timeout", O.TRANSIENT, "server_error"),
    (503, b"Service Unavailable", O.OVERLOADED, "overloaded"),
    (429, b"Too Many Requests", O.RATE_LIMITED, "rate_limit"),
    (407, b"Proxy Authentication Required", O.PROXY_FAULT, "proxy_auth_required"),
    (400, b"\xff\xfe not json", O.CLIENT_ERROR, "bad_request"),
    (404, b"Not Found", O.CLIENT_ERROR, "not_found"),
    (413, b"Request Entity Too Large", O.CLIENT_ERROR, "payload_too_large"),
    (422, b'{"detail": "unprocessable"}', O.CLIENT_ERROR, "unprocessable"),
    (301, b"", O.PROXY_FAULT, "unexpected_status"),
    (500, b'{"error": {"code": 500, "message": "trunc', O.TRANSIENT, "server_error"),
    (429, b"null", O.RATE_LIMITED, "rate_limit"),
    (400, b'[1, 2, 3]', O.CLIENT_ERROR, "bad_request"),
]


@pytest.mark.parametrize("status,body,outcome,reason", NON_JSON)
@pytest.mark.parametrize("module", [gemini, openai], ids=["gemini", "openai"])
def test_unexpected_bodies_fall_back_on_status(module, status, body, outcome, reason):
    v = module.classify(status, {}, body, NOW)
    assert (v.outcome, v.reason, v.status) == (outcome, reason, status)


@pytest.mark.parametrize("module,status,outcome,reason", [
    # Google's API front end always answers in its envelope: a bare 401/403
    # comes from something in between and must not disable a Gemini key.
    (gemini, 401, O.NO_ACCESS, "unauthorized"),
    (gemini, 403, O.NO_ACCESS, "forbidden"),
    # OpenAI-compatible servers do answer a bad key with a bare 401.
    (openai, 401, O.KEY_INVALID, "unauthorized"),
    (openai, 403, O.NO_ACCESS, "permission_denied"),
], ids=["gemini-401", "gemini-403", "openai-401", "openai-403"])
def test_bare_401_403(module, status, outcome, reason):
    v = module.classify(status, {}, b"<html><title>Error</title></html>", NOW)
    assert (v.outcome, v.reason) == (outcome, reason)


def test_html_bodies_become_one_clean_line():
    v = gemini.classify(502, {}, b"<html>\n<body><h1>502  Bad\nGateway</h1></body></html>", NOW)
    assert v.message == "502 Bad Gateway"


WEIRD = [b'{"error": {"details": "x", "code": "429", "status": 5}}',
         b'{"error": {"details": [1, null, {"@type": 5}, {"@type": "type.googleapis.com/google.rpc'
         b'.QuotaFailure", "violations": "PerDay"}]}}',
         b'{"error": {"details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo",'
         b' "retryDelay": 12}]}}',
         b'{"error": {"message": {"nested": true}}}', b'{"error": []}', b'{"error": "plain"}',
         b"[[[[[[[[[[[[" * 1000, b"\x00\x01\x02", b'"just a string"', b"1e999"]


@pytest.mark.parametrize("body", WEIRD)
@pytest.mark.parametrize("status", [400, 401, 403, 429, 500, 503])
def test_classify_never_raises(status, body):
    for module in (gemini, openai):
        assert module.classify(status, {}, body, NOW).status == status


def test_2xx_passed_to_classify_is_success():
    assert gemini.classify(200, {}, b"{}", NOW).outcome is O.SUCCESS
    assert openai.classify(204, {}, b"", NOW).outcome is O.SUCCESS


def test_long_messages_are_truncated():
    body = B.g(400, "INVALID_ARGUMENT", "x" * 5000)
    assert len(gemini.classify(400, {}, enc(body), NOW).message) == 500


# --- mid-stream errors ------------------------------------------------------------

@pytest.mark.parametrize("data", [
    'data: {"error": {"code": 500, "message": "Internal", "status": "INTERNAL"}}',
    '{\n  "error": {\n    "code": 500,\n    "message": "Internal",\n    "status": "INTERNAL"\n  }\n}\n',
    b'[{"error": {"code": 500, "message": "Internal", "status": "INTERNAL"}}]',
    ',\r\n{\n  "error": {\n    "code": 500,\n    "status": "INTERNAL"\n  }\n}\n]',
])
def test_parse_error_event_finds_the_error(data):
    err = gemini.parse_error_event(data)
    assert err is not None and err["code"] == 500
    assert gemini.classify_error(err, NOW).outcome is O.TRANSIENT


@pytest.mark.parametrize("data", [
    '{"candidates": [{"content": {"parts": [{"text": "Here"}], "role": "model"}}]}',
    "[DONE]", "", "not json", b"\xff", '{"error": null}', '{"choices": []}',
])
def test_parse_error_event_ignores_normal_events(data):
    assert gemini.parse_error_event(data) is None
    assert openai.parse_error_event(data) is None


def test_mid_stream_quota_error_inside_a_200_keeps_its_meaning():
    err = gemini.parse_error_event(json.dumps(B.QUOTA_PER_DAY))
    v = gemini.classify_error(err, NOW, status=200)
    assert (v.outcome, v.reason, v.status, v.until) == (O.RATE_LIMITED, "per_day_quota", 429,
                                                       MIDNIGHT)


def test_openai_mid_stream_error_without_status():
    err = openai.parse_error_event('{"error": {"message": "An error occurred during streaming",'
                                   ' "type": "server_error", "param": null, "code": null}}')
    v = openai.classify_error(err, NOW)
    assert (v.outcome, v.status) == (O.TRANSIENT, 500)


# --- 2xx bodies ---------------------------------------------------------------------

GENERATE_OK = {"candidates": [{"content": {"role": "model", "parts": [{"text": "Scoop"}]},
                               "finishReason": "STOP", "index": 0}],
               "usageMetadata": {"promptTokenCount": 11, "totalTokenCount": 13},
               "modelVersion": "gemini-2.5-flash", "responseId": "IopyaseNCL-s-8YP7urOoAY"}
BLOCKED = {"promptFeedback": {"blockReason": "SAFETY"},
           "usageMetadata": {"promptTokenCount": 11, "totalTokenCount": 11},
           "modelVersion": "gemini-2.5-flash"}
NO_CANDIDATES = {"usageMetadata": {"promptTokenCount": 11, "totalTokenCount": 11},
                 "modelVersion": "gemini-2.5-flash", "responseId": "x"}
CHAT_OK = {"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
           "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi"},
                        "finish_reason": "stop"}],
           "usage": {"prompt_tokens": 9, "completion_tokens": 1, "total_tokens": 10}}
EMBEDDINGS = {"object": "list", "data": [{"object": "embedding", "index": 0, "embedding": [0.1]}],
              "model": "text-embedding-3-small", "usage": {"prompt_tokens": 8, "total_tokens": 8}}


@pytest.mark.parametrize("body,empty", [
    (GENERATE_OK, False), (BLOCKED, False), (NO_CANDIDATES, True),
    ({"candidates": [], "modelVersion": "gemini-2.5-flash"}, True), ({}, True),
    ([NO_CANDIDATES, GENERATE_OK], False), ([], True),
    ({"embedding": {"values": [0.1]}}, False), ({"embeddings": [{"values": [0.1]}]}, False),
    ({"totalTokens": 31}, False), ({"models": [], "nextPageToken": "t"}, False),
    (None, False), ("text", False),
])
def test_gemini_native_check_success(body, empty):
    v = gemini.check_success(body, compat=False)
    if empty:
        assert (v.outcome, v.reason) == (O.TRANSIENT, "empty_response")
    else:
        assert v is None


@pytest.mark.parametrize("body,empty", [
    (CHAT_OK, False), ({**CHAT_OK, "choices": []}, True),
    ({"id": "x", "object": "chat.completion", "model": "m"}, True),
    (EMBEDDINGS, False), ({**EMBEDDINGS, "data": []}, True),
    ({"object": "list", "data": []}, False),
    ({"object": "chat.completion.chunk", "choices": [], "usage": {"total_tokens": 1}}, False),
    ({"object": "chat.completion", "choices": [], "promptFeedback": {"blockReason": "SAFETY"}},
     False),
    ({}, True), (None, False),
])
def test_openai_shaped_check_success(body, empty):
    for v in (openai.check_success(body), gemini.check_success(body, compat=True)):
        if empty:
            assert (v.outcome, v.reason) == (O.TRANSIENT, "empty_response")
        else:
            assert v is None


def test_check_success_classifies_an_error_inside_a_200():
    v = gemini.check_success(B.QUOTA_PER_DAY, compat=False, now=NOW)
    assert (v.outcome, v.until) == (O.RATE_LIMITED, MIDNIGHT)
    v = gemini.check_success(B.COMPAT_429, compat=True, now=NOW)
    assert v.outcome is O.RATE_LIMITED
    v = openai.check_success(B.O_SERVER_ERROR, now=NOW)
    assert v.outcome is O.TRANSIENT


# --- OpenAI-shaped providers ------------------------------------------------------

OPENAI_CASES = [
    ("bad-temperature", 400, B.O_BAD_TEMPERATURE, {}, O.CLIENT_ERROR, "decimal_above_max_value",
     None),
    ("context-length", 400, B.O_CONTEXT, {}, O.CLIENT_ERROR, "context_length_exceeded", None),
    ("invalid-key", 401, B.O_INVALID_KEY, {}, O.KEY_INVALID, "invalid_api_key", None),
    ("missing-key", 401, B.O_MISSING_KEY, {}, O.PROXY_FAULT, "missing_api_key", None),
    ("region", 403, B.O_REGION, {}, O.CLIENT_ERROR, "unsupported_region", None),
    ("model-not-found", 404, B.O_MODEL_NOT_FOUND, {}, O.CLIENT_ERROR, "model_not_found", None),
    ("422", 422, B.o("bad", "invalid_request_error", None), {}, O.CLIENT_ERROR, "unprocessable",
     None),
    ("rate-limit-retry-after", 429, B.O_RATE_LIMIT,
     {"retry-after": "1", "x-ratelimit-reset-tokens": "6m0s"}, O.RATE_LIMITED,
     "per_minute_quota", 1.0),
    ("rate-limit-retry-after-ms", 429, B.O_RATE_LIMIT,
     {"retry-after-ms": "644", "retry-after": "1"}, O.RATE_LIMITED, "per_minute_quota", 0.644),
    ("rate-limit-http-date", 429, B.O_RATE_LIMIT,
     {"Retry-After": "Tue, 01 Jul 2025 12:00:30 GMT"}, O.RATE_LIMITED, "per_minute_quota", 30.0),
    ("rate-limit-resets", 429, B.O_RATE_LIMIT,
     {"x-ratelimit-reset-requests": "1s", "x-ratelimit-reset-tokens": "6m0s"}, O.RATE_LIMITED,
     "per_minute_quota", 360.0),
    ("rate-limit-resets-fraction", 429, B.O_RATE_LIMIT,
     {"X-RateLimit-Reset-Requests": "2m59.56s", "X-RateLimit-Reset-Tokens": "12ms"},
     O.RATE_LIMITED, "per_minute_quota", 179.56),
    ("rate-limit-azure-resets", 429, B.O_RATE_LIMIT,
     {"x-ratelimit-reset-requests": "-1", "x-ratelimit-reset-tokens": "0"}, O.RATE_LIMITED,
     "per_minute_quota", 0.0),
    ("rate-limit-message-only", 429, B.O_RATE_LIMIT, {}, O.RATE_LIMITED, "per_minute_quota",
     0.644),
    ("rate-limit-rpd", 429, B.O_RATE_LIMIT_RPD, {"retry-after": "87"}, O.RATE_LIMITED,
     "per_day_quota", 87.0),
    ("rate-limit-no-hint", 429, B.o("Too many requests", "requests", "rate_limit_exceeded"), {},
     O.RATE_LIMITED, "rate_limit", None),
    ("insufficient-quota", 429, B.O_INSUFFICIENT_QUOTA, {}, O.KEY_INVALID, "insufficient_quota",
     None),
    ("insufficient-quota-old", 429, B.O_INSUFFICIENT_QUOTA_OLD, {}, O.KEY_INVALID,
     "insufficient_quota", None),
    ("payment-required", 402, {"error": {"message": "Insufficient Balance"}}, {}, O.KEY_INVALID,
     "payment_required", None),
    ("server-error", 500, B.O_SERVER_ERROR, {}, O.TRANSIENT, "server_error", None),
    ("502", 502, B.O_SERVER_ERROR, {}, O.TRANSIENT, "server_error", None),
    ("slow-down", 503, B.O_SLOW_DOWN, {}, O.OVERLOADED, "overloaded", None),
    ("408", 408, B.o("timeout", "server_error", None), {}, O.TRANSIENT, "request_timeout", None),
    ("409", 409, B.o("conflict", "server_error", None), {}, O.TRANSIENT, "conflict", None),
    ("403-other", 403, B.o("You are not allowed to sample from this model",
                           "invalid_request_error", None), {}, O.NO_ACCESS,
     "permission_denied", None),
    ("400-invalid-key-text", 400, {"error": {"message": "Invalid API Key"}}, {}, O.KEY_INVALID,
     "invalid_api_key", None),
]


@pytest.mark.parametrize("status,body,headers,outcome,reason,cooldown",
                         [c[1:] for c in OPENAI_CASES], ids=[c[0] for c in OPENAI_CASES])
def test_openai_classify(status, body, headers, outcome, reason, cooldown):
    v = openai.classify(status, headers, enc(body), NOW, secrets=[B.OPENAI_KEY])
    assert (v.outcome, v.reason, v.status) == (outcome, reason, status)
    assert v.cooldown == (pytest.approx(cooldown) if cooldown is not None else None)
    assert v.until is None
    assert_no_secret(v.message)


def test_openai_invalid_key_message_is_masked():
    v = openai.classify(401, {}, enc(B.O_INVALID_KEY), NOW)
    assert v.message.startswith("Incorrect API key provided: sk-…. You can find")


def test_a_key_of_no_known_shape_is_removed_when_passed_as_secret():
    secret = "0123456789abcdef0123456789abcdef"
    body = B.o(f"Incorrect API key provided: {secret}", "invalid_request_error",
               "invalid_api_key")
    v = openai.classify(401, {}, enc(body), NOW, secrets=[secret])
    assert secret not in v.message and "[redacted]" in v.message


# --- sanitize -------------------------------------------------------------------------

@pytest.mark.parametrize("text,expected", [
    (f"key {B.GEMINI_KEY} bad", "key AIza… bad"),
    ("Consumer 'api_key:AIzaSy...' has been suspended.", "Consumer 'api_key:AIza…' has been suspended."),
    ("Incorrect API key provided: sk-VKMIs***...wjh3.", "Incorrect API key provided: sk-…."),
    (f"used {B.OPENAI_KEY}!", "used sk-…!"),
    ("GET /v1beta/models?alt=sse&key=AIzaSyABC&x=1", "GET /v1beta/models?alt=sse&key=[redacted]&x=1"),
    ("url ?key=secretvalue123", "url ?key=[redacted]"),
    ("Authorization: Bearer abc.def-ghi", "Authorization: Bearer [redacted]"),
    ("using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)",
     "using Bearer auth (i.e. Authorization: Bearer [redacted])"),
    ("Authorization: Basic dXNlcjpwYXNz", "Authorization: Basic [redacted]"),
    ("Basic information", "Basic information"),
    ("x-goog-api-key: someopaquevalue", "x-goog-api-key: [redacted]"),
    ("proxy http://user:pa55@proxy:3128 failed", "proxy http://[redacted]@proxy:3128 failed"),
    ("token abcd****wxyz shown", "token [redacted] shown"),
    ("gsk_abcdefghijklmnop and xai-abcdefghijkl", "gsk_… and xai-…"),
    ("task-force, risk-free, monkey=1, max_tokens=5", "task-force, risk-free, monkey=1, max_tokens=5"),
    ("Please retry in 38.962214405s.", "Please retry in 38.962214405s."),
])
def test_redact(text, expected):
    assert redact(text) == expected


def test_redact_listed_secrets_verbatim_and_ignores_tiny_ones():
    assert redact("a hunter2hunter2 b", ["hunter2hunter2"]) == "a [redacted] b"
    assert redact("abc abc", ["abc", ""]) == "abc abc"
    assert redact("x AIzaFOO123456 y", ["AIzaFOO123456"]) == "x AIza… y"


def test_truncate_message():
    assert truncate_message("short") == "short"
    cut = truncate_message("word " * 200, 50)
    assert len(cut) <= 50 and cut.endswith("…")
    assert truncate_message("abc", 0) == ""
