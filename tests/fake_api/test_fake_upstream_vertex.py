"""The fake's Vertex AI express-mode paths, over real HTTP on loopback."""

from __future__ import annotations

import json

import pytest
import requests

BASE = "/v1/publishers/google/models"
BODY = {"contents": [{"role": "user", "parts": [{"text": "Say hi"}]}]}


def post(fake, path, key, body=BODY, **kw):
    headers = {"x-goog-api-key": key} if key else {}
    return requests.post(f"{fake.url}{path}", headers=headers, json=body, **kw)


def test_generate_answers_in_gemini_shape(fake, key):
    resp = post(fake, f"{BASE}/gemini-2.5-flash:generateContent", key)
    assert resp.status_code == 200, resp.text
    answer = resp.json()
    assert answer["candidates"][0]["content"]["parts"][0]["text"]
    assert answer["usageMetadata"]["promptTokenCount"] > 0
    assert fake.count(key=key, flavour="vertex", path_contains=":generateContent") == 1


def test_stream_is_sse_with_alt_sse(fake, key):
    resp = post(fake, f"{BASE}/gemini-2.5-flash:streamGenerateContent?alt=sse", key)
    assert resp.status_code == 200
    assert resp.headers["Content-Type"].startswith("text/event-stream")
    events = [json.loads(line[6:]) for line in resp.text.splitlines() if line.startswith("data: ")]
    assert events and events[-1]["candidates"][0]["finishReason"] == "STOP"


def test_count_tokens_and_v1beta1(fake, key):
    resp = post(fake, f"/v1beta1/publishers/google/models/gemini-2.5-flash:countTokens", key)
    assert resp.status_code == 200
    assert resp.json()["totalTokens"] > 0


def test_key_in_query_is_taken_too(fake, key):
    resp = requests.post(f"{fake.url}{BASE}/gemini-2.5-flash:generateContent",
                         params={"key": key}, json=BODY)
    assert resp.status_code == 200


@pytest.mark.parametrize("path", [
    f"{BASE}/gemini-2.5-flash:embedContent",   # not offered in express mode
    f"{BASE}/gemini-2.5-flash",                # no model get
])
def test_other_methods_are_not_found(fake, key, path):
    resp = post(fake, path, key)
    assert resp.status_code == 404
    assert resp.json()["error"]["status"] == "NOT_FOUND"


def test_no_key_is_401_credentials_missing(fake):
    resp = post(fake, f"{BASE}/gemini-2.5-flash:generateContent", None)
    assert resp.status_code == 401
    error = resp.json()["error"]
    assert error["status"] == "UNAUTHENTICATED"
    assert error["details"][0]["reason"] == "CREDENTIALS_MISSING"


def test_unknown_model_is_a_publisher_model_not_found(fake, key):
    resp = post(fake, f"{BASE}/gemini-9-nope:generateContent", key)
    assert resp.status_code == 404
    assert "Publisher Model" in resp.json()["error"]["message"]


@pytest.mark.parametrize("mode, status, gstatus, reason", [
    ("invalid", 400, "INVALID_ARGUMENT", "API_KEY_INVALID"),
    ("rate_minute", 429, "RESOURCE_EXHAUSTED", None),
    ("no_permission", 403, "PERMISSION_DENIED", "IAM_PERMISSION_DENIED"),
])
def test_scripted_errors_have_vertex_bodies(fake, key, mode, status, gstatus, reason):
    fake.set_key(key, mode)
    resp = post(fake, f"{BASE}/gemini-2.5-flash:generateContent", key)
    assert resp.status_code == status
    error = resp.json()["error"]
    assert error["status"] == gstatus
    if reason is None:
        assert "details" not in error and "error-code-429" in error["message"]
    else:
        assert error["details"][0]["reason"] == reason


def test_google_genai_in_express_mode_reads_the_fake_as_vertex(fake, key, monkeypatch):
    """Google's own client, in Vertex express mode, calls the paths the fake serves (with
    the key in ``x-goog-api-key``) and reads its answers and errors."""
    from google import genai
    from google.genai import errors, types

    for name in ("GOOGLE_CLOUD_PROJECT", "GOOGLE_CLOUD_LOCATION", "GOOGLE_GENAI_USE_VERTEXAI"):
        monkeypatch.delenv(name, raising=False)
    client = genai.Client(vertexai=True, api_key=key,
                          http_options=types.HttpOptions(base_url=fake.url, api_version="v1"))
    assert "hello sdk" in client.models.generate_content(model="gemini-2.5-flash",
                                                         contents="hello sdk").text
    streamed = client.models.generate_content_stream(model="gemini-2.5-flash", contents="s s")
    assert len([c.text for c in streamed]) > 1
    assert client.models.count_tokens(model="gemini-2.5-flash", contents="a b c").total_tokens > 0
    sent = [(r["path"], r["query"], r["headers"].get("x-goog-api-key")) for r in fake.requests]
    assert sent == [(f"{BASE}/gemini-2.5-flash:generateContent", {}, key),
                    (f"{BASE}/gemini-2.5-flash:streamGenerateContent", {"alt": "sse"}, key),
                    (f"{BASE}/gemini-2.5-flash:countTokens", {}, key)]
    fake.set_key(key, "rate_minute")
    with pytest.raises(errors.ClientError) as err:
        client.models.generate_content(model="gemini-2.5-flash", contents="x")
    assert (err.value.code, err.value.status) == (429, "RESOURCE_EXHAUSTED")
