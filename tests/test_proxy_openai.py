"""The OpenAI-compatible routes through the Flask test client, against the fake upstream."""
from __future__ import annotations

import json

import pytest

from balancer.services import keys as key_service

MODEL = "gemini-2.5-flash"


def chat(client, auth, stream=False, model=MODEL, text="hello", **extra):
    body = {"model": model, "messages": [{"role": "user", "content": text}], **extra}
    if stream:
        body["stream"] = True
    return client.post("/v1/chat/completions", json=body, headers=auth)


def sse_events(resp) -> list:
    events = []
    for block in resp.get_data(as_text=True).split("\n\n"):
        block = block.strip()
        if block.startswith("data:"):
            payload = block[5:].strip()
            events.append(payload if payload == "[DONE]" else json.loads(payload))
    return events


def listed(app, key_id):
    with app.app_context():
        return next(r for r in key_service.list_keys() if r["id"] == key_id)


def key_id_of(app, secret):
    from balancer.crypto import fingerprint
    from balancer.models import ApiKey
    from balancer.extensions import db
    with app.app_context():
        return db.session.query(ApiKey.id).filter_by(fingerprint=fingerprint(secret)).scalar()


class TestChat:
    def test_a_plain_chat_is_answered_by_a_pooled_key(self, client, auth, keys, upstream):
        made = keys(2)
        resp = chat(client, auth, text="ping")
        assert resp.status_code == 200
        body = resp.get_json()
        assert body["object"] == "chat.completion"
        assert "ping" in body["choices"][0]["message"]["content"]
        assert resp.headers["x-balancer-attempts"] == "1"
        sent = upstream.requests[-1]
        assert sent["key"] in made
        # Served by Gemini's own API (the pool's openai_api is native by default).
        assert sent["flavour"] == "native"
        assert sent["path"].endswith(f"/v1beta/models/{MODEL}:generateContent")
        assert sent["body"]["contents"] == [{"role": "user", "parts": [{"text": "ping"}]}]

    def test_on_a_compat_pool_a_chat_goes_to_googles_openai_layer(self, client, auth, keys,
                                                                  upstream, compat):
        made = keys(2)
        resp = chat(client, auth, text="ping")
        assert resp.status_code == 200 and "ping" in resp.get_json()["choices"][0]["message"]["content"]
        sent = upstream.requests[-1]
        assert sent["key"] in made and sent["flavour"] == "compat"
        assert sent["path"].endswith("/v1beta/openai/chat/completions")

    def test_on_a_compat_pool_the_request_body_reaches_the_upstream_unchanged(
            self, client, auth, keys, upstream, compat):
        keys(1)
        chat(client, auth, temperature=0.3, custom_field={"x": [1, 2]})
        body = upstream.requests[-1]["body"]
        assert body["temperature"] == 0.3 and body["custom_field"] == {"x": [1, 2]}

    def test_a_field_gemini_has_no_counterpart_for_is_refused_naming_it(self, client, auth, keys,
                                                                        upstream):
        keys(1)
        resp = chat(client, auth, temperature=0.3, custom_field={"x": [1, 2]})
        assert resp.status_code == 400 and upstream.requests == []
        err = resp.get_json()["error"]
        assert err["param"] == "custom_field" and "custom_field" in err["message"]

    @pytest.mark.parametrize("mode", ["native", "compat"])
    def test_the_key_never_travels_in_the_url(self, app, rt, client, auth, keys, upstream, mode):
        from balancer.services import pools as pool_service
        with app.app_context():
            pool_service.edit_pool(rt, "gemini", overrides={"openai_api": mode})
        made = keys(1)
        chat(client, auth)
        sent = upstream.requests[-1]
        assert made[0] not in sent["path"] and not sent["query"]
        if mode == "native":
            assert sent["headers"]["x-goog-api-key"] == made[0]
            assert "authorization" not in sent["headers"]
        else:
            assert sent["headers"]["authorization"] == f"Bearer {made[0]}"

    def test_keys_rotate_round_robin(self, client, auth, keys, upstream):
        made = keys(3)
        for _ in range(6):
            assert chat(client, auth).status_code == 200
        used = [r["key"] for r in upstream.requests]
        assert sorted(set(used)) == sorted(made)
        assert all(used.count(k) == 2 for k in made)

    def test_usage_is_recorded_for_the_key(self, app, client, auth, keys, rt):
        made = keys(1)
        body = chat(client, auth).get_json()
        rt.services.flush()
        row = listed(app, key_id_of(app, made[0]))
        assert row["requests"] == 1
        assert row["tokens_in"] == body["usage"]["prompt_tokens"] > 0
        assert row["tokens_out"] == body["usage"]["completion_tokens"] > 0


class TestStreaming:
    def test_a_stream_arrives_as_events_and_ends_with_done(self, client, auth, keys):
        keys(1)
        resp = chat(client, auth, stream=True, text="stream me")
        assert resp.status_code == 200
        assert resp.mimetype == "text/event-stream"
        events = sse_events(resp)
        assert events[-1] == "[DONE]"
        text = "".join(e["choices"][0]["delta"].get("content") or "" for e in events[:-1] if e["choices"])
        assert "stream me" in text

    def test_balancer_asks_for_usage_but_hides_that_chunk_from_a_client_that_did_not(
            self, app, client, auth, keys, upstream, rt, compat):
        made = keys(1)
        events = sse_events(chat(client, auth, stream=True))
        assert upstream.requests[-1]["body"]["stream_options"] == {"include_usage": True}
        assert all(e == "[DONE]" or e["choices"] for e in events)
        rt.services.flush()
        assert listed(app, key_id_of(app, made[0]))["tokens_out"] > 0

    def test_a_translated_stream_counts_usage_without_showing_it_to_a_client_that_did_not_ask(
            self, app, client, auth, keys, upstream, rt):
        made = keys(1)
        events = sse_events(chat(client, auth, stream=True))
        assert upstream.requests[-1]["query"] == {"alt": "sse"}
        assert events[-1] == "[DONE]" and all(e == "[DONE]" or e["choices"] for e in events)
        assert events[-2]["choices"][0]["finish_reason"] == "stop"
        rt.services.flush()
        assert listed(app, key_id_of(app, made[0]))["tokens_out"] > 0

    def test_a_client_that_asked_for_usage_gets_the_usage_chunk(self, client, auth, keys):
        keys(1)
        events = sse_events(chat(client, auth, stream=True, stream_options={"include_usage": True}))
        usage = [e for e in events if e != "[DONE]" and not e["choices"]]
        assert len(usage) == 1 and usage[0]["usage"]["total_tokens"] > 0

    @pytest.mark.parametrize("how", ["event", "bare", "close"])
    def test_a_stream_that_breaks_midway_ends_with_an_openai_error_event(
            self, client, auth, keys, upstream, how):
        made = keys(2)
        for k in made:
            upstream.set_key(k, "break_stream", after=1, how=how)
        resp = chat(client, auth, stream=True)
        assert resp.status_code == 200
        events = sse_events(resp)
        assert events[0]["choices"]  # content reached the client before the break
        assert "error" in events[-1] and events[-1]["error"]["message"]
        assert int(resp.headers["x-balancer-attempts"]) == 1  # no retry once bytes were sent


class TestFailover:
    @pytest.mark.parametrize("mode", ["invalid", "suspended", "internal", "rate_minute", "rate_day",
                                      "rate_unknown", "overloaded", "empty", "reset"])
    def test_a_bad_key_is_skipped_and_the_client_still_gets_an_answer(
            self, client, auth, keys, upstream, mode):
        bad = keys(1, tag=f"bad-{mode}", modes=None)[0]
        keys(1, tag="good")
        upstream.set_key(bad, mode)
        resp = chat(client, auth)
        assert resp.status_code == 200, resp.get_data(as_text=True)
        # Whichever key came first, the request succeeded in at most two attempts.
        assert int(resp.headers["x-balancer-attempts"]) <= 2

    def test_an_invalid_key_is_disabled_with_its_reason(self, app, client, auth, keys, upstream, rt):
        bad, good = keys(2)
        upstream.set_key(bad, "invalid")
        for _ in range(3):
            assert chat(client, auth).status_code == 200
        rt.services.flush()
        row = listed(app, key_id_of(app, bad))
        assert row["status"] == "disabled"
        assert "API_KEY_INVALID" in row["disabled_reason"]
        assert upstream.count(key=bad) == 1  # never called again once known dead

    def test_a_rate_limited_key_cools_down_and_is_not_called_again(self, app, client, auth, keys,
                                                                   upstream, rt):
        limited, good = keys(2)
        upstream.set_key(limited, "rate_minute", retry_delay="30s")
        for _ in range(4):
            assert chat(client, auth).status_code == 200
        assert upstream.count(key=limited) == 1
        rt.services.flush()
        row = listed(app, key_id_of(app, limited))
        assert row["failures"] == 0 or row["status"] != "disabled"
        assert row["models"][MODEL]["status"] == "cooling_down"
        assert row["models"][MODEL]["reason"] == "per_minute_quota"

    def test_a_rate_limit_is_per_model(self, client, auth, keys, upstream):
        limited = keys(1)[0]
        upstream.set_key(limited, "rate_minute", retry_delay="30s", models=[MODEL])
        assert chat(client, auth).status_code == 429
        assert chat(client, auth, model="gemini-2.0-flash").status_code == 200

    def test_a_rate_limit_cools_the_whole_group_for_that_model(self, client, auth, keys, upstream):
        first, sibling = keys(2, tag="proj", group="project-a")
        (outsider,) = keys(1, tag="solo")
        upstream.set_key(first, "rate_minute", retry_delay="30s")
        for _ in range(6):
            assert chat(client, auth).status_code == 200
        assert upstream.count(key=first) == 1
        # The sibling shares the project's quota: at most the one call made before
        # its sibling's 429 was seen.
        assert upstream.count(key=sibling) <= 1
        assert upstream.count(key=outsider) >= 5

    def test_a_client_error_is_relayed_without_retry_or_penalty(self, app, client, auth, keys,
                                                                 upstream, rt):
        keys(2)
        resp = chat(client, auth, model="no-such-model")
        assert resp.status_code == 404
        err = resp.get_json()["error"]
        assert "no-such-model" in err["message"]
        assert len(upstream.requests) == 1
        rt.services.flush()
        with app.app_context():
            assert all(r["status"] == "active" for r in key_service.list_keys())

    def test_the_upstream_message_of_a_suspended_key_never_shows_the_key(
            self, client, auth, keys, upstream, caplog):
        made = keys(2)
        for k in made:
            upstream.set_key(k, "suspended")
        resp = chat(client, auth)
        text = resp.get_data(as_text=True)
        assert resp.status_code == 503
        assert all(k not in text for k in made)
        assert all(k not in caplog.text for k in made)


class TestNoKeyLeft:
    def test_all_keys_rate_limited_gives_a_fast_429_with_retry_after(self, client, auth, keys,
                                                                      upstream):
        made = keys(2)
        for k in made:
            upstream.set_key(k, "rate_minute", retry_delay="20s")
        first = chat(client, auth)
        assert first.status_code == 429
        calls = len(upstream.requests)
        second = chat(client, auth)
        assert second.status_code == 429
        assert len(upstream.requests) == calls  # no call on a key known to be cooling
        assert 15 <= int(second.headers["Retry-After"]) <= 25
        err = second.get_json()["error"]
        assert err["code"] == "all_keys_rate_limited" and "rate-limited" in err["message"]

    def test_all_keys_dead_gives_a_503_that_says_why(self, client, auth, keys, upstream):
        made = keys(2)
        for k in made:
            upstream.set_key(k, "invalid")
        resp = chat(client, auth)
        assert resp.status_code == 503
        assert "disabled" in resp.get_json()["error"]["message"]
        again = chat(client, auth)
        assert again.status_code == 503 and len(upstream.requests) == 2

    def test_no_keys_at_all_gives_a_503(self, client, auth):
        resp = chat(client, auth)
        assert resp.status_code == 503
        assert resp.get_json()["error"]["type"]


class TestClientAuth:
    def test_no_token_is_refused_in_openai_shape(self, client, keys):
        keys(1)
        resp = client.post("/v1/chat/completions", json={"model": MODEL, "messages": [{"role": "user", "content": "x"}]})
        assert resp.status_code == 401
        assert set(resp.get_json()["error"]) == {"message", "type", "param", "code"}

    def test_a_wrong_token_is_refused(self, client, keys):
        keys(1)
        resp = chat(client, {"Authorization": "Bearer nope"})
        assert resp.status_code == 401 and resp.get_json()["error"]["code"] == "invalid_api_key"

    def test_the_master_key_is_accepted(self, make_app, upstream):
        app = make_app(MASTER_API_KEY="master-secret-token")
        app.extensions["balancer"].services.bootstrap()
        resp = chat(app.test_client(), {"Authorization": "Bearer master-secret-token"})
        assert resp.status_code == 503  # authenticated; no keys in the pool yet

    def test_with_no_token_configured_the_proxy_is_open(self, make_app, upstream):
        app = make_app(ALLOWED_TOKENS="")
        app.extensions["balancer"].services.bootstrap()
        assert chat(app.test_client(), {}).status_code == 503


class TestBadInput:
    @pytest.mark.parametrize("body, status", [
        (b"{not json", 400),
        (b"[1, 2]", 400),
        (b"", 400),
        (json.dumps({"messages": [{"role": "user", "content": "x"}]}).encode(), 400),
        (json.dumps({"model": "../../admin", "messages": [{"role": "user", "content": "x"}]}).encode(), 400),
        (json.dumps({"model": "a b?c", "messages": [{"role": "user", "content": "x"}]}).encode(), 400),
        (json.dumps({"model": 42, "messages": [{"role": "user", "content": "x"}]}).encode(), 400),
        (json.dumps({"model": MODEL, "messages": "x"}).encode(), 400),
        (json.dumps({"model": MODEL, "messages": [{"role": "user", "content": "x"}], "stream": "yes"}).encode(), 400),
    ])
    def test_bad_bodies_get_a_clear_openai_error(self, client, auth, keys, upstream, body, status):
        keys(1)
        resp = client.post("/v1/chat/completions", data=body, headers={**auth, "Content-Type": "application/json"})
        assert resp.status_code == status
        assert resp.get_json()["error"]["message"]
        assert upstream.requests == []

    def test_an_oversize_body_gets_413(self, make_app, auth):
        app = make_app(MAX_REQUEST_MB="1")
        app.extensions["balancer"].services.bootstrap()
        big = b'{"model":"x","messages":[{"role":"user","content":"' + b"a" * (2 << 20) + b'"}]}'
        resp = app.test_client().post("/v1/chat/completions", data=big,
                                      headers={**auth, "Content-Type": "application/json"})
        assert resp.status_code == 413
        assert resp.get_json()["error"]["type"] == "invalid_request_error"

    def test_an_unknown_route_answers_in_openai_shape(self, client, auth):
        resp = client.get("/v1/nothing-here", headers=auth)
        assert resp.status_code == 404 and "error" in resp.get_json()


class TestOtherRoutes:
    @pytest.mark.parametrize("prefix", ["/v1", "/openai/v1", "/api/v1"])
    def test_models_are_listed_under_every_prefix(self, client, auth, keys, prefix):
        keys(1)
        resp = client.get(f"{prefix}/models", headers=auth)
        assert resp.status_code == 200
        assert any("gemini-2.5-flash" in m["id"] for m in resp.get_json()["data"])

    @pytest.mark.parametrize("prefix", ["/v1", "/openai/v1", "/api/v1"])
    def test_chat_is_served_under_every_prefix(self, client, auth, keys, prefix):
        keys(1)
        resp = client.post(f"{prefix}/chat/completions", headers=auth, json={
            "model": MODEL, "messages": [{"role": "user", "content": "prefixed"}]})
        assert resp.status_code == 200
        assert "prefixed" in resp.get_json()["choices"][0]["message"]["content"]

    def test_one_model(self, client, auth, keys):
        keys(1)
        resp = client.get(f"/v1/models/{MODEL}", headers=auth)
        assert resp.status_code == 200 and MODEL in resp.get_json()["id"]

    def test_embeddings(self, client, auth, keys):
        keys(1)
        resp = client.post("/v1/embeddings", json={"model": "gemini-embedding-001", "input": ["a", "b"]},
                           headers=auth)
        assert resp.status_code == 200
        assert len(resp.get_json()["data"]) == 2


def test_one_log_line_per_request_names_the_key_id_never_the_key(app, client, auth, keys, caplog):
    made = keys(1)
    key_id = key_id_of(app, made[0])
    with caplog.at_level("INFO", logger="balancer.proxy"):
        chat(client, auth, model="gemini-2.0-flash")
    lines = [r.getMessage() for r in caplog.records if r.name == "balancer.proxy"]
    assert len(lines) == 1
    line = lines[0]
    for part in ("chat.completions", "model=gemini-2.0-flash", f"key_id={key_id}", "status=200",
                 "attempts=1", "latency_ms=", "ttfb_ms="):
        assert part in line
    assert made[0] not in caplog.text and TOKEN_VALUE not in caplog.text


TOKEN_VALUE = "test-client-token"


@pytest.mark.parametrize("how", ["event", "bare"])
def test_a_stream_that_fails_before_its_first_byte_is_retried_on_another_key(
        client, auth, keys, upstream, how):
    broken, good = keys(2)
    upstream.set_key(broken, "break_stream", after=0, how=how, error="rate_minute")
    for _ in range(2):
        resp = chat(client, auth, stream=True)
        events = sse_events(resp)
        assert events[-1] == "[DONE]"
        assert not any(isinstance(e, dict) and "error" in e for e in events)
    assert upstream.count(key=broken) == 1  # cooled down after its in-band 429


class TestEmptyStreams:
    """A 200 stream that ends with no answer is retried on another key, not relayed."""

    @pytest.mark.parametrize("path, body, headers", [
        ("/v1/chat/completions", {"model": "gemini-2.5-flash", "stream": True,
                                  "messages": [{"role": "user", "content": "fill me"}]}, "openai"),
        ("/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
         {"contents": [{"parts": [{"text": "fill me"}]}]}, "gemini"),
        ("/v1beta/models/gemini-2.5-flash:streamGenerateContent",
         {"contents": [{"parts": [{"text": "fill me"}]}]}, "gemini"),
    ])
    def test_an_empty_stream_goes_to_another_key(self, client, keys, upstream, rt, path, body,
                                                 headers):
        from tests.conftest import TOKEN
        made = keys(2)
        upstream.set_key(made[0], "empty")
        auth = ({"Authorization": f"Bearer {TOKEN}"} if headers == "openai"
                else {"x-goog-api-key": TOKEN})
        for _ in range(2):  # whichever key the rotation tries first
            resp = client.post(path, json=body, headers=auth)
            text = resp.get_data(as_text=True)
            assert resp.status_code == 200 and '"error"' not in text
            assert '"finish_reason":"stop"' in text or '"finishReason"' in text
            assert "fill" in text and "me" in text
        tried = [r["key"] for r in upstream.requests]
        assert made[0] in tried and tried[-1] == made[1]
