"""Hostile input on every proxy route: never a 500, never a stack trace, never a key.

Hypothesis generates wrong JSON types, huge numbers and strings, odd unicode,
path tricks, hostile headers, truncated and oversize bodies. The app runs
against the fake upstream with good keys, so input that passes Balancer's
checks really goes upstream and comes back.
"""
from __future__ import annotations

import json
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import TOKEN

FUZZ = settings(max_examples=150, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])
OPENAI_AUTH = {"Authorization": f"Bearer {TOKEN}"}
GEMINI_AUTH = {"x-goog-api-key": TOKEN}

POST_ROUTES = [
    ("/v1/chat/completions", OPENAI_AUTH),
    ("/openai/v1/chat/completions", OPENAI_AUTH),
    ("/v1/embeddings", OPENAI_AUTH),
    ("/v1/images/generations", OPENAI_AUTH),
    ("/v1beta/models/gemini-2.5-flash:generateContent", GEMINI_AUTH),
    ("/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse", GEMINI_AUTH),
    ("/v1beta/models/gemini-2.5-flash:streamGenerateContent", GEMINI_AUTH),
    ("/v1/models/gemini-2.5-flash:countTokens", GEMINI_AUTH),
    ("/gemini/v1beta/models/gemini-embedding-001:embedContent", GEMINI_AUTH),
    ("/v1beta/models/gemini-embedding-001:batchEmbedContents", GEMINI_AUTH),
    ("/v1beta/cachedContents", GEMINI_AUTH),
]

# Strings that have broken parsers, URL builders and loggers elsewhere.
NASTY = st.sampled_from([
    "", " ", "..", "../../etc/passwd", "%2e%2e%2f", "models/../../x", "a" * 5000, "\u0000",
    "\ud7ff\ue000", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "‮reversed", "null", "true", "NaN", "1e309", "?key=x",
    "gemini-2.5-flash?key=AIza", "gemini-2.5-flash#frag", "gemini 2.5", "groq/", "/", "//",
    "gemini-2.5-flash:generateContent", "pool/../model", "\\x00", "%00", "{{7*7}}", "${jndi:x}",
])
TEXT = st.one_of(NASTY, st.text(max_size=300))
SCALAR = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(10**40), max_value=10**40),
                   st.floats(allow_nan=False, allow_infinity=False), TEXT)
JSON = st.recursive(SCALAR, lambda inner: st.one_of(
    st.lists(inner, max_size=5), st.dictionaries(TEXT, inner, max_size=5)), max_leaves=25)
FIELDS = ["model", "messages", "stream", "stream_options", "input", "prompt", "contents",
          "generationConfig", "safetySettings", "tools", "cachedContent", "n", "max_tokens",
          "systemInstruction", "ttl", "extra_body", "reasoning_effort"]
BODIES = st.one_of(
    JSON,
    st.dictionaries(st.sampled_from(FIELDS), JSON, max_size=6),
    st.fixed_dictionaries({"model": st.one_of(NASTY, JSON), "messages": JSON}),
    st.fixed_dictionaries({"contents": JSON}, optional={"generationConfig": JSON,
                                                        "cachedContent": TEXT}),
)


@pytest.fixture
def fuzz_client(make_app, upstream):
    """An app with good keys, a 1 MiB body limit, and the keys it must never show."""
    from balancer.services import keys as key_service
    from tests.fake_upstream import make_key
    app = make_app(MAX_REQUEST_MB="1")
    rt = app.extensions["balancer"]
    rt.services.bootstrap()
    secrets = [make_key("fuzz", i) for i in range(3)]
    with app.app_context():
        key_service.add_keys(rt, secrets)
    return app.test_client(), secrets


def check(resp, secrets, path: str) -> None:
    """What a client may see: a real status, an API-shaped error, nothing secret."""
    data = resp.get_data()
    text = data.decode("utf-8", "replace")
    assert resp.status_code != 500, text[:500]
    assert "Traceback" not in text and 'File "' not in text
    for secret in secrets:
        assert secret not in text and secret not in str(resp.headers)
    if resp.status_code >= 400:
        body = json.loads(data)
        error = body[0]["error"] if isinstance(body, list) else body["error"]
        assert isinstance(error, dict) and error.get("message"), text[:300]
        if "/v1beta" in path or ":" in path.rsplit("/", 1)[-1]:
            assert error.get("status"), f"not Google's envelope on {path}: {text[:200]}"


@pytest.mark.parametrize("path, headers", POST_ROUTES)
def test_hostile_json_bodies(fuzz_client, path, headers):
    client, secrets = fuzz_client

    @FUZZ
    @given(body=BODIES)
    def run(body):
        raw = json.dumps(body, allow_nan=False).encode()
        check(client.post(path, data=raw, headers={**headers, "Content-Type": "application/json"}),
              secrets, path)
    run()


@pytest.mark.parametrize("path, headers", POST_ROUTES[:1] + POST_ROUTES[4:6])
def test_truncated_binary_and_oversize_bodies(fuzz_client, path, headers):
    client, secrets = fuzz_client
    good = json.dumps({"model": "gemini-2.5-flash", "contents": [{"parts": [{"text": "x"}]}],
                       "messages": [{"role": "user", "content": "x"}]}).encode()

    @FUZZ
    @given(cut=st.integers(min_value=0, max_value=len(good) - 1), junk=st.binary(max_size=200))
    def run(cut, junk):
        for raw in (good[:cut], junk, good[:cut] + junk):
            check(client.post(path, data=raw, headers=headers), secrets, path)
    run()
    big = client.post(path, data=b'{"model": "' + b"a" * (2 * 1024 * 1024) + b'"}', headers=headers)
    assert big.status_code == 413
    check(big, secrets, path)


def test_hostile_paths(fuzz_client):
    client, secrets = fuzz_client
    templates = ["/v1beta/models/{}:generateContent", "/v1beta/models/{}", "/v1/models/{}",
                 "/v1beta/files/{}", "/v1beta/cachedContents/{}", "/v1beta/models/x:{}",
                 "/gemini/v1beta/models/{}:streamGenerateContent"]

    @FUZZ
    @given(template=st.sampled_from(templates), part=TEXT, method=st.sampled_from(["GET", "POST"]),
           raw=st.booleans())
    def run(template, part, method, raw):
        segment = part if raw else quote(part, safe="")
        if raw and any(c in part for c in "?#") or "\x00" in part:
            segment = quote(part, safe="/")
        path = template.format(segment)
        headers = GEMINI_AUTH if "v1beta" in path else OPENAI_AUTH
        resp = client.open(path, method=method, headers=headers,
                           json={"contents": [{"parts": [{"text": "x"}]}]} if method == "POST" else None)
        check(resp, secrets, path.split("?")[0])
    run()


def test_hostile_headers_and_tokens(fuzz_client):
    client, secrets = fuzz_client
    header_text = st.text(alphabet=st.characters(blacklist_characters="\r\n\x00",
                                                 blacklist_categories=("Cs",)), max_size=400)

    @FUZZ
    @given(token=header_text, upload=header_text, which=st.sampled_from(
        ["Authorization", "x-goog-api-key", "X-Goog-Upload-Header-Content-Length",
         "X-Goog-Upload-Header-Content-Type", "X-Goog-Upload-Command", "Content-Type"]))
    def run(token, upload, which):
        for path, base in (("/v1/chat/completions", {}), ("/v1beta/models/gemini-2.5-flash:generateContent", {}),
                           ("/upload/v1beta/files", {"X-Goog-Upload-Protocol": "resumable",
                                                     "X-Goog-Upload-Command": "start"})):
            headers = {**base, which: upload, "Authorization": f"Bearer {token}"}
            try:
                resp = client.post(path, headers=headers, json={"model": "gemini-2.5-flash"})
            except ValueError:
                continue  # the test client itself refuses the header (not sent at all)
            check(resp, secrets, path)
    run()


def test_hostile_query_strings(fuzz_client):
    client, secrets = fuzz_client

    @FUZZ
    @given(alt=TEXT, size=TEXT, token=TEXT, upload=TEXT)
    def run(alt, size, token, upload):
        q = lambda v: quote(v, safe="")  # noqa: E731
        for path in (f"/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt={q(alt)}",
                     f"/v1beta/models?pageSize={q(size)}&pageToken={q(token)}",
                     f"/v1beta/files?pageSize={q(size)}&pageToken={q(token)}",
                     f"/upload/v1beta/files?upload_id={q(upload)}"):
            method = "POST" if (":" in path or "upload" in path) else "GET"
            resp = client.open(path, method=method, headers=GEMINI_AUTH,
                               json={"contents": [{"parts": [{"text": "x"}]}]} if method == "POST" else None)
            check(resp, secrets, path.split("?")[0])
    run()
