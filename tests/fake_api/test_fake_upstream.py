"""Tests of the fake upstream itself: real HTTP over loopback, and the openai SDK."""

from __future__ import annotations

import base64
import json
import os
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

import openai
import pytest
import requests

from tests.fake_upstream import FakeControl, make_key

PROMPT = {"contents": [{"role": "user", "parts": [{"text": "hello there friend"}]}]}
CHAT = {"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "hello there"}]}
PROVIDER_CHAT = {**CHAT, "model": "gpt-4o-mini"}


def native(fake, key, model="gemini-2.5-flash", method="generateContent", body=PROMPT, **kw):
    """POST a native call with the key in x-goog-api-key."""
    url = f"{fake.url}/v1beta/models/{model}:{method}"
    return requests.post(url, headers={"x-goog-api-key": key}, json=body, **kw)


def compat_chat(fake, key, body=CHAT, **kw):
    """POST chat/completions to Gemini's OpenAI-compatible layer."""
    url = f"{fake.url}/v1beta/openai/chat/completions"
    return requests.post(url, headers={"Authorization": f"Bearer {key}"}, json=body, **kw)


def provider_chat(fake, key, body=PROVIDER_CHAT, **kw):
    """POST chat/completions to the OpenAI-style provider."""
    url = f"{fake.url}/openai/v1/chat/completions"
    return requests.post(url, headers={"Authorization": f"Bearer {key}"}, json=body, **kw)


def sse_events(raw: bytes, sep: bytes = b"\n\n") -> list[str]:
    """The ``data:`` payloads of an SSE body."""
    events = [e for e in raw.split(sep) if e.strip()]
    assert all(e.startswith(b"data: ") for e in events), raw
    return [e[len(b"data: ") :].decode() for e in events]


def detail(body: dict, name: str) -> dict:
    """The Google error detail of type ``google.rpc.<name>``."""
    wanted = f"type.googleapis.com/google.rpc.{name}"
    return next(d for d in body["error"]["details"] if d["@type"] == wanted)


# -- keys and the native API ------------------------------------------------------------


def test_make_key_is_stable_distinct_and_gemini_shaped():
    key = make_key("pool", 1)
    assert key == make_key("pool", 1) != make_key("pool", 2) != make_key("other", 1)
    assert key.startswith("AIza") and len(key) == 39
    assert all(c.isalnum() or c in "-_" for c in key)
    assert make_key("pool", 1, openai=True).startswith("sk-")


def test_native_generate_echoes_and_reports_thinking_usage(fake, key):
    response = native(fake, key)
    assert response.status_code == 200
    body = response.json()
    assert body["candidates"][0]["content"]["parts"][0]["text"] == "Echo: hello there friend"
    assert body["candidates"][0]["finishReason"] == "STOP"
    usage = body["usageMetadata"]
    assert usage["thoughtsTokenCount"] > 0
    assert usage["totalTokenCount"] == (
        usage["promptTokenCount"] + usage["candidatesTokenCount"] + usage["thoughtsTokenCount"]
    )
    plain = native(fake, key, model="gemini-2.0-flash").json()["usageMetadata"]
    assert "thoughtsTokenCount" not in plain
    assert "retry-after" not in response.headers


def test_native_key_by_query_is_recorded(fake, key):
    url = f"{fake.url}/v1/models/gemini-2.5-pro:generateContent?key={key}"
    assert requests.post(url, json=PROMPT).status_code == 200
    entry = fake.requests[-1]
    assert (entry["key"], entry["flavour"], entry["model"], entry["status"]) == (
        key,
        "native",
        "gemini-2.5-pro",
        200,
    )
    assert entry["query"]["key"] == key and entry["body"] == PROMPT
    assert fake.count(key=key) == 1 and fake.count(path_contains=":generateContent") == 1


def test_native_without_key_is_403_and_bearer_is_401(fake, key):
    url = f"{fake.url}/v1beta/models/gemini-2.5-flash:generateContent"
    response = requests.post(url, json=PROMPT)
    assert response.status_code == 403
    assert "unregistered callers" in response.json()["error"]["message"]
    response = requests.post(url, headers={"Authorization": f"Bearer {key}"}, json=PROMPT)
    assert response.status_code == 401
    assert response.json()["error"]["status"] == "UNAUTHENTICATED"


@pytest.mark.parametrize("crlf", [False, True])
def test_native_sse_stream_has_partial_then_full_usage(fake, key, crlf):
    fake.configure(chunks=4, sse_crlf=crlf)
    url = f"{fake.url}/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
    response = requests.post(url, headers={"x-goog-api-key": key}, json=PROMPT)
    assert response.headers["content-type"] == "text/event-stream"
    assert "chunked" in response.headers["transfer-encoding"]
    chunks = [json.loads(e) for e in sse_events(response.content, b"\r\n\r\n" if crlf else b"\n\n")]
    assert len(chunks) == 4
    text = "".join(c["candidates"][0]["content"]["parts"][0]["text"] for c in chunks)
    assert text == "Echo: hello there friend"
    assert "candidatesTokenCount" not in chunks[0]["usageMetadata"]
    assert chunks[-1]["usageMetadata"]["candidatesTokenCount"] > 0
    assert chunks[-1]["candidates"][0]["finishReason"] == "STOP"
    assert len({c["responseId"] for c in chunks}) == 1
    assert b"[DONE]" not in response.content


def test_native_stream_without_alt_is_one_json_array(fake, key):
    raw = native(fake, key, method="streamGenerateContent").content
    assert raw.startswith(b"[{\n  ") and raw.endswith(b"\n]") and raw.count(b"\n,\r\n") == 2
    chunks = json.loads(raw)
    assert len(chunks) == 3 and chunks[-1]["candidates"][0]["finishReason"] == "STOP"


def test_stream_chunks_arrive_one_by_one(fake, key):
    fake.set_key(key, "trickle", delay=0.15)
    url = f"{fake.url}/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
    start = time.monotonic()
    with requests.post(url, headers={"x-goog-api-key": key}, json=PROMPT, stream=True) as r:
        arrivals = [time.monotonic() - start for _ in r.iter_lines() if _]
    # Buffered chunks would arrive together; these come two 0.15 s gaps apart.
    assert len(arrivals) == 3 and arrivals[2] - arrivals[0] >= 0.25


def test_models_pagination(fake, key):
    url, names, token, pages = f"{fake.url}/v1beta/models", [], None, 0
    while True:
        params = {"key": key, **({"pageToken": token} if token else {})}
        page = requests.get(url, params=params).json()
        pages += 1
        names += [m["name"] for m in page["models"]]
        assert pages > 1 or len(page["models"]) == 50
        token = page.get("nextPageToken")
        if not token:
            break
    assert pages == 2 and len(names) == len(set(names)) >= 60
    for wanted in ("gemini-2.5-flash", "gemini-2.5-pro", "gemini-2.0-flash", "text-embedding-004"):
        assert f"models/{wanted}" in names
    everything = requests.get(url, params={"key": key, "pageSize": 5000}).json()
    assert len(everything["models"]) == len(names) and "nextPageToken" not in everything
    small = requests.get(url, params={"key": key, "pageSize": 7}).json()
    assert len(small["models"]) == 7 and small["nextPageToken"]


def test_get_model_and_unknown_models(fake, key):
    got = requests.get(f"{fake.url}/v1beta/models/gemini-embedding-001", params={"key": key})
    assert "embedContent" in got.json()["supportedGenerationMethods"]
    assert requests.get(f"{fake.url}/v1beta/models/nope", params={"key": key}).status_code == 404
    missing = native(fake, key, model="gemini-pro")
    assert missing.status_code == 404 and missing.json()["error"]["status"] == "NOT_FOUND"
    assert native(fake, key, model="gemini-embedding-001").status_code == 404


def test_native_count_and_embeddings(fake, key):
    assert native(fake, key, method="countTokens").json()["totalTokens"] == 3
    one = native(
        fake,
        key,
        model="gemini-embedding-001",
        method="embedContent",
        body={"content": {"parts": [{"text": "a"}]}, "outputDimensionality": 8},
    ).json()
    assert len(one["embedding"]["values"]) == 8
    batch = native(
        fake,
        key,
        model="text-embedding-004",
        method="batchEmbedContents",
        body={"requests": [{"content": {"parts": [{"text": t}]}} for t in ("a", "b")]},
    ).json()
    assert len(batch["embeddings"]) == 2 and batch["embeddings"][0] != batch["embeddings"][1]


def test_bad_bodies_in_each_flavour(fake, key):
    bad = native(fake, key, data=b"{nope", body=None)
    assert bad.status_code == 400 and bad.json()["error"]["status"] == "INVALID_ARGUMENT"
    unknown = native(fake, key, body={**PROMPT, "foo": 1})
    assert 'Unknown name "foo"' in unknown.json()["error"]["message"]
    compat = compat_chat(fake, key, body={**CHAT, "google": {"thinking_config": {}}})
    assert compat.status_code == 400
    assert compat.json()[0]["error"]["message"] == (
        'Invalid JSON payload received. Unknown name "google": Cannot find field.'
    )
    assert compat_chat(fake, key, body=None, data=b"{").json()[0]["error"]["code"] == 400
    provider = provider_chat(fake, key, body=None, data=b"{")
    assert provider.status_code == 400
    assert provider.json()["error"]["type"] == "invalid_request_error"


# -- scripted modes ---------------------------------------------------------------------

GOOGLE_MODES = {
    "invalid": (400, "INVALID_ARGUMENT"),
    "expired": (400, "INVALID_ARGUMENT"),
    "not_found_key": (400, "INVALID_ARGUMENT"),
    "suspended": (403, "PERMISSION_DENIED"),
    "leaked": (403, "PERMISSION_DENIED"),
    "service_disabled": (403, "PERMISSION_DENIED"),
    "no_permission": (403, "PERMISSION_DENIED"),
    "location": (400, "FAILED_PRECONDITION"),
    "rate_minute": (429, "RESOURCE_EXHAUSTED"),
    "rate_day": (429, "RESOURCE_EXHAUSTED"),
    "rate_unknown": (429, "RESOURCE_EXHAUSTED"),
    "quota": (429, "RESOURCE_EXHAUSTED"),
    "internal": (500, "INTERNAL"),
    "overloaded": (503, "UNAVAILABLE"),
}
PROVIDER_MODES = {
    "invalid": (401, "invalid_api_key"),
    "suspended": (401, "account_deactivated"),
    "no_permission": (403, "model_not_found"),
    "location": (403, "unsupported_country_region_territory"),
    "rate_minute": (429, "rate_limit_exceeded"),
    "rate_day": (429, "rate_limit_exceeded"),
    "quota": (429, "insufficient_quota"),
    "internal": (500, None),
    "overloaded": (503, None),
}


@pytest.mark.parametrize("mode", sorted(GOOGLE_MODES))
def test_google_error_modes_native_and_compat(fake, key, mode):
    status, google_status = GOOGLE_MODES[mode]
    fake.set_key(key, mode)
    response = native(fake, key)
    assert response.status_code == status
    error = response.json()["error"]
    assert (error["code"], error["status"]) == (status, google_status)
    assert list(response.json()) == ["error"] and "retry-after" not in response.headers
    wrapped = compat_chat(fake, key)
    assert wrapped.status_code == status
    assert wrapped.json() == [response.json()]
    assert fake.requests[-1]["mode"] == mode


@pytest.mark.parametrize("mode", sorted(PROVIDER_MODES))
def test_provider_error_modes(fake, key, mode):
    status, code = PROVIDER_MODES[mode]
    fake.set_key(key, mode)
    response = provider_chat(fake, key)
    assert response.status_code == status
    assert set(response.json()["error"]) == {"message", "type", "param", "code"}
    assert response.json()["error"]["code"] == code
    assert response.headers["x-request-id"].startswith("req_")


def test_invalid_key_details_and_suspended_echoes_the_key(fake, key):
    fake.set_key(key, "invalid")
    assert detail(native(fake, key).json(), "ErrorInfo")["reason"] == "API_KEY_INVALID"
    fake.set_key(key, "suspended")
    body = native(fake, key).json()
    assert f"api_key:{key}" in body["error"]["message"]
    assert detail(body, "ErrorInfo")["reason"] == "CONSUMER_SUSPENDED"


def test_rate_modes_carry_quota_ids_and_fractional_retry_delay(fake, key):
    fake.set_key(key, "rate_minute", retry_delay="0.75s")
    body = native(fake, key).json()
    violation = detail(body, "QuotaFailure")["violations"][0]
    assert "PerMinute" in violation["quotaId"]
    assert violation["quotaDimensions"]["model"] == "gemini-2.5-flash"
    assert detail(body, "RetryInfo")["retryDelay"] == "0.75s"
    assert "Please retry in 0.75s." in body["error"]["message"]
    fake.set_key(key, "rate_day")
    body = native(fake, key).json()
    assert "PerDay" in detail(body, "QuotaFailure")["violations"][0]["quotaId"]
    assert "limit: 0" in body["error"]["message"] and detail(body, "RetryInfo")["retryDelay"]
    fake.set_key(key, "rate_unknown")
    assert "details" not in native(fake, key).json()["error"]


def test_provider_rate_limit_headers(fake, key):
    fake.set_key(key, "rate_minute", retry_delay=2.5)
    response = provider_chat(fake, key)
    assert response.headers["retry-after"] == "3"
    assert response.headers["x-ratelimit-reset-requests"] == "2.5s"
    fake.set_key(key, "rate_minute", retry_after=False)
    assert "retry-after" not in provider_chat(fake, key).headers
    fake.set_key(key, "quota")
    assert "retry-after" not in provider_chat(fake, key).headers
    ok = provider_chat(fake, "sk-other")
    assert ok.headers["x-ratelimit-remaining-requests"] and ok.headers["openai-version"]


def test_times_then_good(fake, key):
    fake.set_key(key, "internal", times=2)
    assert [native(fake, key).status_code for _ in range(3)] == [500, 500, 200]


def test_models_limits_the_misbehaviour(fake, key):
    fake.set_key(key, "rate_minute", models=["gemini-2.5-pro"])
    assert native(fake, key, model="gemini-2.5-pro").status_code == 429
    assert native(fake, key, model="gemini-2.5-flash").status_code == 200
    assert requests.get(f"{fake.url}/v1beta/models", params={"key": key}).status_code == 200
    chat = compat_chat(fake, key, body={**CHAT, "model": "models/gemini-2.5-pro"})
    assert chat.status_code == 429


def test_slow_and_reset(fake, key):
    fake.set_key(key, "slow", delay=0.3)
    start = time.monotonic()
    assert native(fake, key).status_code == 200
    assert time.monotonic() - start >= 0.3
    fake.set_key(key, "reset", times=1)
    with pytest.raises(requests.ConnectionError):
        native(fake, key)
    assert fake.requests[-1]["status"] == 0
    assert native(fake, key).status_code == 200


def test_latency_applies_to_every_answer(fake, key):
    fake.configure(latency=0.2)
    start = time.monotonic()
    requests.get(f"{fake.url}/v1beta/models", params={"key": key})
    assert time.monotonic() - start >= 0.2


def test_break_stream_native_sse(fake, key):
    url = f"{fake.url}/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
    post = lambda: requests.post(url, headers={"x-goog-api-key": key}, json=PROMPT)  # noqa: E731
    fake.set_key(key, "break_stream", after=2, how="bare")
    raw = post().content
    events = raw.split(b"\n\n")
    assert [e.startswith(b"data: ") for e in events[:2]] == [True, True]
    assert json.loads(b"\n\n".join(events[2:]))["error"]["code"] == 500
    assert raw.index(b'{\n  "error"') > 0
    fake.set_key(key, "break_stream", after=1, how="event", error="rate_minute")
    payloads = sse_events(post().content)
    assert len(payloads) == 2 and json.loads(payloads[1])["error"]["code"] == 429
    fake.set_key(key, "break_stream", after=1, how="close")
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        post()


def test_break_stream_native_array(fake, key):
    fake.set_key(key, "break_stream", after=1)
    chunks = json.loads(native(fake, key, method="streamGenerateContent").content)
    assert len(chunks) == 2 and chunks[1]["error"]["status"] == "INTERNAL"
    # Non-streaming calls are untouched and do not spend the script.
    assert native(fake, key).status_code == 200


def test_empty_and_blocked(fake, key):
    fake.set_key(key, "blocked")
    body = native(fake, key).json()
    assert body["promptFeedback"]["blockReason"] == "SAFETY" and "candidates" not in body
    fake.set_key(key, "empty")
    body = native(fake, key).json()
    assert "candidates" not in body and "promptFeedback" not in body
    assert compat_chat(fake, key).json()["choices"] == []


# -- the openai SDK against the compat layer and the provider ---------------------------


def sdk(fake, key, base="/v1beta/openai"):
    """An openai client that does not retry."""
    return openai.OpenAI(base_url=fake.url + base, api_key=key, max_retries=0)


def test_compat_with_openai_sdk(fake, key):
    client = sdk(fake, key)
    done = client.chat.completions.create(**CHAT)
    assert done.choices[0].message.content == "Echo: hello there"
    assert done.usage.total_tokens == done.usage.prompt_tokens + done.usage.completion_tokens
    chunks = list(client.chat.completions.create(**CHAT, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "Echo: hello there"
    assert all(c.usage is None for c in chunks) and chunks[-1].choices[0].finish_reason == "stop"
    with_usage = list(
        client.chat.completions.create(**CHAT, stream=True, stream_options={"include_usage": True})
    )
    assert with_usage[-1].choices == [] and with_usage[-1].usage.total_tokens > 0
    vectors = client.embeddings.create(model="gemini-embedding-001", input=["a", "b"])
    assert fake.requests[-1]["body"]["encoding_format"] == "base64"
    floats = client.embeddings.create(
        model="gemini-embedding-001", input=["a", "b"], encoding_format="float"
    )
    assert [len(v.embedding) for v in vectors.data] == [16, 16]
    for packed, plain in zip(vectors.data, floats.data):
        assert packed.embedding == pytest.approx(plain.embedding, abs=1e-6)
    ids = [m.id for m in client.models.list()]
    assert "models/gemini-2.5-flash" in ids
    assert client.models.retrieve("gemini-2.5-flash").id == "models/gemini-2.5-flash"


def test_compat_errors_and_odd_answers_through_the_sdk(fake, key):
    client = sdk(fake, key)
    fake.set_key(key, "rate_unknown", times=1)
    with pytest.raises(openai.RateLimitError) as caught:
        client.chat.completions.create(**CHAT)
    assert caught.value.status_code == 429
    fake.set_key(key, "break_stream", after=1, how="event", times=1)
    with pytest.raises(openai.APIError, match="internal error"):
        list(client.chat.completions.create(**CHAT, stream=True))
    fake.set_key(key, "blocked", times=1)
    assert client.chat.completions.create(**CHAT).choices[0].finish_reason == "content_filter"
    fake.set_key(key, "empty", times=1)
    chunks = list(client.chat.completions.create(**CHAT, stream=True))
    assert [c.choices for c in chunks] == [[]]


def test_provider_with_openai_sdk(fake):
    key = make_key("provider", 1, openai=True)
    client = sdk(fake, key, "/openai/v1")
    done = client.chat.completions.create(**PROVIDER_CHAT)
    assert done.choices[0].message.content == "Echo: hello there"
    stream = client.chat.completions.create(
        **PROVIDER_CHAT, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    # OpenAI puts finish_reason on its own empty chunk, then the usage-only chunk.
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-2].choices[0].delta.content is None
    assert chunks[-1].usage.completion_tokens > 0
    vectors = client.embeddings.create(model="text-embedding-3-small", input="x", dimensions=4)
    body = {"model": "text-embedding-3-small", "input": "x", "dimensions": 4}
    body["encoding_format"] = "base64"
    raw = requests.post(
        f"{fake.url}/openai/v1/embeddings", headers={"Authorization": f"Bearer {key}"}, json=body
    ).json()["data"][0]["embedding"]
    assert list(struct.unpack("<4f", base64.b64decode(raw))) == vectors.data[0].embedding
    assert "gpt-4o-mini" in [m.id for m in client.models.list()]
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="gpt-nope", messages=CHAT["messages"])


def test_provider_errors_through_the_sdk(fake):
    key = make_key("provider", 2, openai=True)
    client = sdk(fake, key, "/openai/v1")
    fake.set_key(key, "invalid", times=1)
    with pytest.raises(openai.AuthenticationError) as caught:
        client.models.list()
    assert caught.value.code == "invalid_api_key" and caught.value.request_id.startswith("req_")
    fake.set_key(key, "break_stream", after=1, how="event")
    with pytest.raises(openai.APIError, match="server had an error"):
        list(client.chat.completions.create(**PROVIDER_CHAT, stream=True))
    missing = requests.get(f"{fake.url}/openai/v1/models")
    assert missing.status_code == 401 and missing.json()["error"]["code"] is None


# -- control over HTTP, and the standalone gevent server --------------------------------


def test_fake_control_over_http(fake, key):
    control = FakeControl(fake.url)
    control.set_key(key, "overloaded", times=1)
    control.configure(chunks=5)
    assert native(fake, key).status_code == 503
    assert len(json.loads(native(fake, key, method="streamGenerateContent").content)) == 5
    assert control.count(key=key) == 2 and control.count(flavour="compat") == 0
    assert control.count(path_contains="streamGenerateContent") == 1
    assert [r["status"] for r in control.requests] == [503, 200]
    assert control.stats()["keys"][key] == 2
    with pytest.raises(ValueError):
        control.set_key(key, "no-such-mode")
    control.reset()
    assert control.count() == 0 and fake.state.config.chunks == 3
    control.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_standalone_gevent_server():
    port = _free_port()
    root = Path(__file__).resolve().parents[2]
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.fake_upstream", "--port", str(port), "--server", "gevent"],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
        stderr=subprocess.PIPE,
    )
    try:
        control = FakeControl(f"http://127.0.0.1:{port}").wait_ready()
        key = make_key("gevent", 1)
        url = f"{control.url}/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse"
        response = requests.post(url, headers={"x-goog-api-key": key}, json=PROMPT)
        assert len(sse_events(response.content)) == 3
        control.set_key(key, "break_stream", after=1, how="close")
        with pytest.raises(requests.exceptions.ChunkedEncodingError):
            requests.post(url, headers={"x-goog-api-key": key}, json=PROMPT)
        control.set_key(key, "reset")
        with pytest.raises(requests.ConnectionError):
            requests.post(url, headers={"x-goog-api-key": key}, json=PROMPT)
        assert control.count(key=key) == 3
    finally:
        process.terminate()
        _, errors = process.communicate(timeout=10)
    assert b"Traceback" not in errors, errors.decode()
