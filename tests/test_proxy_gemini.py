"""The Gemini-format routes through the Flask test client, against the fake upstream."""
from __future__ import annotations

import json

import pytest

from tests.conftest import TOKEN

MODEL = "gemini-2.5-flash"
GEMINI_AUTH = {"x-goog-api-key": TOKEN}
BODY = {"contents": [{"role": "user", "parts": [{"text": "hello native"}]}]}


def generate(client, action="generateContent", model=MODEL, body=None, headers=None, query="",
             prefix="/v1beta"):
    return client.post(f"{prefix}/models/{model}:{action}{query}", headers=headers or GEMINI_AUTH,
                       json=BODY if body is None else body)


def sse_chunks(resp) -> list:
    text = resp.get_data(as_text=True).replace("\r\n", "\n")
    return [json.loads(block.strip()[5:]) for block in text.split("\n\n") if block.strip().startswith("data:")]


class TestGenerate:
    @pytest.mark.parametrize("prefix", ["/v1beta", "/gemini/v1beta", "/v1"])
    def test_generate_content_is_answered_under_every_prefix(self, client, keys, upstream, prefix):
        made = keys(2)
        resp = generate(client, prefix=prefix)
        assert resp.status_code == 200
        body = resp.get_json()
        assert "hello native" in body["candidates"][0]["content"]["parts"][0]["text"]
        sent = upstream.requests[-1]
        assert sent["flavour"] == "native" and sent["key"] in made
        assert sent["path"] == f"/{'v1' if prefix == '/v1' else 'v1beta'}/models/{MODEL}:generateContent"

    @pytest.mark.parametrize("headers, query", [
        ({"x-goog-api-key": TOKEN}, ""),
        ({}, f"?key={TOKEN}"),
        ({"Authorization": f"Bearer {TOKEN}"}, ""),
    ])
    def test_the_client_token_is_accepted_three_ways_and_never_sent_upstream(
            self, client, keys, upstream, headers, query):
        made = keys(1)
        resp = generate(client, headers=headers or {"X-Other": "1"}, query=query)
        assert resp.status_code == 200
        sent = upstream.requests[-1]
        assert sent["headers"]["x-goog-api-key"] == made[0]
        assert TOKEN not in json.dumps(sent["headers"]) and not sent["query"]

    def test_usage_is_recorded_with_thinking_tokens(self, app, client, keys, rt):
        keys(1)
        body = generate(client).get_json()
        meta = body["usageMetadata"]
        rt.services.flush()
        from balancer.services import keys as key_service
        with app.app_context():
            row = key_service.list_keys()[0]
        assert row["tokens_in"] == meta["promptTokenCount"]
        assert row["tokens_out"] == meta.get("candidatesTokenCount", 0) + meta.get("thoughtsTokenCount", 0)

    def test_count_tokens_and_embeddings(self, client, keys):
        keys(1)
        assert generate(client, "countTokens").get_json()["totalTokens"] > 0
        emb = generate(client, "embedContent", model="gemini-embedding-001",
                       body={"content": {"parts": [{"text": "x"}]}}).get_json()
        assert emb["embedding"]["values"]
        batch = generate(client, "batchEmbedContents", model="gemini-embedding-001", body={
            "requests": [{"model": "models/gemini-embedding-001", "content": {"parts": [{"text": t}]}}
                         for t in ("a", "b")]}).get_json()
        assert len(batch["embeddings"]) == 2


class TestStreams:
    def test_sse_stream_is_relayed_event_by_event(self, client, keys, upstream):
        keys(1)
        resp = generate(client, "streamGenerateContent", query="?alt=sse")
        assert resp.status_code == 200 and resp.mimetype == "text/event-stream"
        chunks = sse_chunks(resp)
        assert len(chunks) > 1
        text = "".join(p["text"] for c in chunks for p in c["candidates"][0]["content"]["parts"])
        assert "hello native" in text
        assert chunks[-1]["candidates"][0]["finishReason"] == "STOP"
        assert upstream.requests[-1]["query"] == {"alt": "sse"}

    def test_the_json_array_framing_is_relayed_as_valid_json(self, client, keys, upstream):
        keys(1)
        resp = generate(client, "streamGenerateContent")
        assert resp.status_code == 200 and resp.mimetype == "application/json"
        items = json.loads(resp.get_data())
        assert isinstance(items, list) and len(items) > 1
        assert items[-1]["usageMetadata"]["totalTokenCount"] > 0
        assert upstream.requests[-1]["query"] == {}

    @pytest.mark.parametrize("how", ["bare", "event", "close"])
    def test_a_broken_sse_stream_ends_with_an_error_the_sdk_raises(self, client, keys, upstream, how):
        for key in keys(2):
            upstream.set_key(key, "break_stream", after=1, how=how)
        resp = generate(client, "streamGenerateContent", query="?alt=sse")
        text = resp.get_data(as_text=True)
        last = [b for b in text.replace("\r\n", "\n").split("\n\n") if b.strip()][-1].strip()
        assert last.startswith('data: {"error":')
        assert resp.headers["x-balancer-attempts"] == "1"

    def test_a_stream_failing_before_its_first_byte_moves_to_another_key(self, client, keys, upstream):
        broken, good = keys(2)
        upstream.set_key(broken, "break_stream", after=0, how="bare", error="rate_minute")
        for _ in range(2):
            chunks = sse_chunks(generate(client, "streamGenerateContent", query="?alt=sse"))
            assert chunks and all("error" not in c for c in chunks)
        assert upstream.count(key=broken) == 1


class TestFailover:
    @pytest.mark.parametrize("mode", ["invalid", "suspended", "rate_minute", "rate_day", "internal",
                                      "overloaded", "empty"])
    def test_a_bad_key_is_skipped(self, client, keys, upstream, mode):
        bad, good = keys(2)
        upstream.set_key(bad, mode)
        for _ in range(2):
            assert generate(client).status_code == 200

    def test_a_client_error_passes_through_in_googles_shape(self, client, keys, upstream):
        keys(2)
        resp = generate(client, model="no-such-model")
        assert resp.status_code == 404
        err = resp.get_json()["error"]
        assert err["status"] == "NOT_FOUND" and "no-such-model" in err["message"]
        assert len(upstream.requests) == 1

    def test_all_keys_rate_limited_gives_a_google_429_with_retry_after(self, client, keys, upstream):
        for key in keys(2):
            upstream.set_key(key, "rate_minute", retry_delay="20s")
        generate(client)
        resp = generate(client)
        assert resp.status_code == 429
        assert resp.get_json()["error"]["status"] == "RESOURCE_EXHAUSTED"
        assert int(resp.headers["Retry-After"]) > 0

    def test_a_suspended_keys_message_never_shows_the_key(self, client, keys, upstream):
        made = keys(2)
        for key in made:
            upstream.set_key(key, "suspended")
        text = generate(client).get_data(as_text=True)
        assert all(key not in text for key in made)


class TestModels:
    def test_models_are_listed_in_geminis_shape_with_pagination(self, client, keys, upstream):
        keys(1)
        page = client.get("/v1beta/models?pageSize=5", headers=GEMINI_AUTH).get_json()
        names = [m["name"] for m in page["models"]]
        variants = [n for n in names if n.endswith(("-search", "-image", "-non-thinking"))]
        assert len(names) - len(variants) == 5 and page["nextPageToken"]
        # Each switched-on suffix variant is listed right after its model.
        for name in variants:
            base = name.rsplit("-", 2 if name.endswith("-non-thinking") else 1)[0]
            assert base in names and names.index(base) < names.index(name)
        nxt = client.get(f"/v1beta/models?pageSize=5&pageToken={page['nextPageToken']}",
                         headers=GEMINI_AUTH).get_json()
        assert nxt["models"][0]["name"] != page["models"][0]["name"]

    def test_suffix_variants_are_listed_only_while_switched_on(self, client, keys, rt, app):
        keys(1)
        names = [m["name"] for m in client.get("/v1beta/models?pageSize=50",
                                               headers=GEMINI_AUTH).get_json()["models"]]
        assert f"models/{MODEL}-search" in names and f"models/{MODEL}-non-thinking" in names
        assert "models/gemini-embedding-001-search" not in names  # only models that write
        from balancer.services import settings as settings_service
        with app.app_context():
            settings_service.update(rt, {"suffix_search": False, "suffix_non_thinking": False,
                                         "suffix_image": False})
        off = [m["name"] for m in client.get("/v1beta/models?pageSize=50",
                                             headers=GEMINI_AUTH).get_json()["models"]]
        assert f"models/{MODEL}-search" not in off and f"models/{MODEL}-non-thinking" not in off
        assert set(off) < set(names)  # the upstream's own models, nothing added

    def test_v1_models_answers_in_the_shape_of_how_the_client_authenticated(self, client, keys):
        keys(1)
        gemini = client.get("/v1/models", headers=GEMINI_AUTH).get_json()
        openai = client.get("/v1/models", headers={"Authorization": f"Bearer {TOKEN}"}).get_json()
        assert "models" in gemini and "data" in openai
        one = client.get(f"/v1/models/{MODEL}", headers=GEMINI_AUTH).get_json()
        assert one["name"] == f"models/{MODEL}"


class TestBadInput:
    @pytest.mark.parametrize("path, body, status", [
        (f"/v1beta/models/{MODEL}:explode", BODY, 404),
        ("/v1beta/models/..%2F..%2Fadmin:generateContent", BODY, 400),
        ("/v1beta/models/a b:generateContent", BODY, 400),
        ("/v1beta/models/tuned/x:generateContent", BODY, 400),
        (f"/v1beta/models/{MODEL}:generateContent", "not json", 400),
        (f"/v1beta/models/{MODEL}:generateContent", [1], 400),
        (f"/v1beta/models/{MODEL}:streamGenerateContent?alt=xml", BODY, 400),
        ("/v1beta/models?pageSize=0", None, 400),
        ("/v1beta/models?pageToken=%3Cscript%3E", None, 400),
    ])
    def test_bad_requests_get_a_google_error_and_nothing_goes_upstream(
            self, client, keys, upstream, path, body, status):
        keys(1)
        if body is None:
            resp = client.get(path, headers=GEMINI_AUTH)
        elif isinstance(body, str):
            resp = client.post(path, data=body, headers={**GEMINI_AUTH, "Content-Type": "application/json"})
        else:
            resp = client.post(path, json=body, headers=GEMINI_AUTH)
        assert resp.status_code == status
        err = resp.get_json()["error"]
        assert err["code"] == status and err["status"] and err["message"]
        assert upstream.requests == []

    def test_a_wrong_token_gets_a_google_401(self, client, keys):
        keys(1)
        resp = generate(client, headers={"x-goog-api-key": "nope"})
        assert resp.status_code == 401 and resp.get_json()["error"]["status"] == "UNAUTHENTICATED"

    def test_an_unknown_gemini_route_answers_in_googles_shape(self, client):
        resp = client.get("/v1beta/nothing", headers=GEMINI_AUTH)
        assert resp.status_code == 404 and resp.get_json()["error"]["status"] == "NOT_FOUND"
