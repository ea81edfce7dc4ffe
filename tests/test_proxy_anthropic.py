"""The Anthropic Messages routes through the Flask test client, against the fake upstream."""
from __future__ import annotations

import json

import pytest

from tests.conftest import TOKEN

MODEL = "gemini-2.5-flash"
HEADERS = {"x-api-key": TOKEN, "anthropic-version": "2023-06-01"}
WEATHER = {"name": "get_weather", "description": "The weather in a city.",
           "input_schema": {"type": "object", "properties": {"city": {"type": "string"}},
                            "required": ["city"], "additionalProperties": False,
                            "$schema": "http://json-schema.org/draft-07/schema#"}}


def message(client, headers=HEADERS, model=MODEL, text="hello", path="/v1/messages", **extra):
    body = {"model": model, "max_tokens": 256,
            "messages": [{"role": "user", "content": text}], **extra}
    return client.post(path, json=body, headers=headers)


def events(resp) -> list[tuple[str, dict]]:
    out = []
    for block in resp.get_data(as_text=True).split("\n\n"):
        lines = block.strip().splitlines()
        if len(lines) == 2 and lines[0].startswith("event: ") and lines[1].startswith("data: "):
            out.append((lines[0][7:], json.loads(lines[1][6:])))
    return out


class TestMessages:
    def test_a_message_is_answered_in_anthropics_shape(self, client, keys, upstream):
        keys(1)
        resp = message(client, text="ping")
        assert resp.status_code == 200, resp.get_data(as_text=True)
        body = resp.get_json()
        assert body["type"] == "message" and body["role"] == "assistant"
        assert body["model"] == MODEL
        assert body["content"] == [{"type": "text", "text": "Echo: ping"}]
        assert body["stop_reason"] == "end_turn"
        assert body["usage"]["input_tokens"] > 0 and body["usage"]["output_tokens"] > 0
        sent = upstream.requests[-1]
        assert sent["flavour"] == "native"
        assert sent["path"].endswith(f"/models/{MODEL}:generateContent")
        assert sent["body"]["generationConfig"]["maxOutputTokens"] == 256

    @pytest.mark.parametrize("path", ["/v1/messages", "/anthropic/v1/messages"])
    def test_a_bearer_token_works_as_well_under_both_prefixes(self, client, keys, path):
        keys(1)
        resp = message(client, headers={"Authorization": f"Bearer {TOKEN}"}, path=path)
        assert resp.status_code == 200
        assert resp.get_json()["content"][0]["text"] == "Echo: hello"

    def test_the_beta_query_claude_code_adds_is_ignored(self, client, keys):
        keys(1)
        resp = message(client, path="/v1/messages?beta=true")
        assert resp.status_code == 200

    def test_a_stream_comes_as_anthropic_events(self, client, keys):
        keys(1)
        resp = message(client, text="one two three", stream=True)
        assert resp.status_code == 200
        assert resp.mimetype == "text/event-stream"
        got = events(resp)
        names = [name for name, _ in got]
        assert names[0] == "message_start" and names[1] == "ping"
        assert names[-2:] == ["message_delta", "message_stop"]
        assert all(data["type"] == name for name, data in got)
        text = "".join(d["delta"]["text"] for n, d in got
                       if n == "content_block_delta" and d["delta"]["type"] == "text_delta")
        assert text == "Echo: one two three"
        assert got[-2][1]["delta"]["stop_reason"] == "end_turn"
        assert got[-2][1]["usage"]["output_tokens"] > 0

    def test_a_tool_call_comes_back_as_tool_use(self, client, keys, upstream):
        keys(1)
        resp = message(client, text="weather in Paris?", tools=[WEATHER],
                       tool_choice={"type": "any"})
        body = resp.get_json()
        assert body["stop_reason"] == "tool_use"
        (use,) = [b for b in body["content"] if b["type"] == "tool_use"]
        assert use["name"] == "get_weather" and use["input"] == {"city": ""}
        assert use["id"].startswith("toolu_")
        declared = upstream.requests[-1]["body"]["tools"][0]["functionDeclarations"][0]
        assert "additionalProperties" not in json.dumps(declared)
        assert upstream.requests[-1]["body"]["toolConfig"] == {
            "functionCallingConfig": {"mode": "ANY"}}

    def test_count_tokens_asks_gemini(self, client, keys, upstream):
        keys(1)
        resp = client.post("/v1/messages/count_tokens", headers=HEADERS, json={
            "model": MODEL, "system": "be brief",
            "messages": [{"role": "user", "content": "count these words please"}]})
        assert resp.status_code == 200, resp.get_data(as_text=True)
        assert resp.get_json()["input_tokens"] > 0
        assert upstream.requests[-1]["path"].endswith(f"/models/{MODEL}:countTokens")


class TestErrors:
    def test_a_wrong_token_is_a_401_in_anthropics_shape(self, client, keys):
        keys(1)
        resp = message(client, headers={"x-api-key": "nope"})
        assert resp.status_code == 401
        assert resp.get_json() == {"type": "error", "error": {
            "type": "authentication_error", "message": "Invalid client token."}}

    def test_a_missing_token_is_a_401_saying_how_to_send_one(self, client, keys):
        keys(1)
        resp = message(client, headers={"anthropic-version": "2023-06-01"})
        assert resp.status_code == 401
        assert resp.get_json()["error"]["type"] == "authentication_error"
        assert "x-api-key" in resp.get_json()["error"]["message"]

    def test_a_client_tokens_limits_answer_in_anthropics_shape(self, client, keys, app, rt):
        from balancer.crypto import token_hash
        from balancer.extensions import db
        from balancer.models import ClientToken
        from balancer.services import pools as pool_service
        keys(1)
        limited = "limited-client-token-0123456789"
        with app.app_context():
            db.session.add(ClientToken(name="limited", token_hash=token_hash(limited),
                                       prefix=limited[:8], rpm_limit=1))
            db.session.commit()
            pool_service.load_catalog(rt)
        headers = {"x-api-key": limited}
        assert message(client, headers=headers).status_code == 200
        over = message(client, headers=headers)
        assert over.status_code == 429 and int(over.headers["Retry-After"]) >= 1
        assert over.get_json()["type"] == "error"
        assert over.get_json()["error"]["type"] == "rate_limit_error"

    def test_a_missing_field_is_a_400_naming_it(self, client, keys):
        keys(1)
        resp = client.post("/v1/messages", headers=HEADERS,
                           json={"model": MODEL, "messages": [{"role": "user", "content": "x"}]})
        assert resp.status_code == 400
        body = resp.get_json()
        assert body["type"] == "error" and body["error"]["type"] == "invalid_request_error"
        assert "max_tokens" in body["error"]["message"]

    def test_an_untranslatable_block_is_a_400(self, client, keys):
        keys(1)
        resp = message(client, text=[{"type": "image", "source": {
            "type": "url", "url": "https://example.com/a.png"}}])
        assert resp.status_code == 400
        assert "messages[0].content[0].source" in resp.get_json()["error"]["message"]

    def test_a_rate_limited_pool_is_a_429_with_retry_after(self, client, keys, upstream):
        (key,) = keys(1)
        upstream.set_key(key, "rate_minute", retry_delay="30s")
        resp = message(client)
        assert resp.status_code == 429
        assert resp.get_json()["type"] == "error"
        assert resp.get_json()["error"]["type"] == "rate_limit_error"
        assert int(resp.headers["Retry-After"]) > 0
        assert key not in resp.get_data(as_text=True)

    def test_an_upstream_5xx_keeps_its_status(self, client, keys, upstream):
        for key in keys(2):
            upstream.set_key(key, "internal")
        resp = message(client)
        assert resp.status_code == 500
        assert resp.get_json()["error"]["type"] == "api_error"

    def test_an_upstream_400_keeps_its_status_and_message(self, client, keys):
        keys(1)
        resp = message(client, tools=[WEATHER], tool_choice={"type": "tool", "name": "nothing"})
        assert resp.status_code == 400
        body = resp.get_json()
        assert body["type"] == "error" and body["error"]["type"] == "invalid_request_error"
        assert "nothing" in body["error"]["message"]

    def test_thinking_on_gemini_3_pro_goes_as_a_level_it_takes(self, client, keys, upstream):
        keys(1)
        resp = message(client, model="gemini-3-pro-preview",
                       thinking={"type": "enabled", "budget_tokens": 2048})
        assert resp.status_code == 200, resp.get_data(as_text=True)
        assert upstream.requests[-1]["body"]["generationConfig"]["thinkingConfig"] == {
            "thinkingLevel": "LOW", "includeThoughts": True}
        blocks = resp.get_json()["content"]
        assert blocks[0] == {"type": "thinking", "thinking": "Thinking about: hello",
                             "signature": ""}

    def test_a_broken_stream_ends_with_an_error_event(self, client, keys, upstream):
        (key,) = keys(1)
        upstream.set_key(key, "break_stream", after=1, how="close")
        got = events(message(client, text="one two three four", stream=True))
        assert got[0][0] == "message_start"
        assert got[-1][0] == "error" and got[-1][1]["type"] == "error"
        assert "message_stop" not in [name for name, _ in got]

    def test_bodies_that_are_not_json_and_unknown_routes_answer_in_anthropics_shape(self, client,
                                                                                   keys):
        keys(1)
        resp = client.post("/v1/messages", data="hi", headers={**HEADERS,
                                                                "Content-Type": "text/plain"})
        assert resp.status_code == 415 and resp.get_json()["error"]["type"] == \
            "invalid_request_error"
        resp = client.post("/anthropic/v1/nothing", json={}, headers=HEADERS)
        assert resp.status_code == 404
        assert resp.get_json()["error"]["type"] == "not_found_error"

    def test_a_model_of_an_openai_pool_is_served_by_its_chat_completions(self, client, keys,
                                                                          app, rt, upstream):
        from balancer.extensions import db
        from balancer.models import Pool
        from balancer.services import keys as key_service
        from balancer.services import pools as pool_service
        from tests.fake_upstream import make_key
        keys(1)
        with app.app_context():
            pool = Pool(name="groq", kind="openai", base_url=f"{upstream.url}/openai/v1",
                        overrides={})
            db.session.add(pool)
            db.session.commit()
            key_service.add_keys(rt, [make_key("groq", 0, openai=True)], pool)
            pool_service.load_catalog(rt)
        resp = message(client, model="groq/gpt-4o-mini")
        assert resp.status_code == 200, resp.get_data(as_text=True)
        assert resp.get_json()["content"] == [{"type": "text", "text": "Echo: hello"}]
        assert upstream.requests[-1]["flavour"] == "provider"
        counted = client.post("/v1/messages/count_tokens", headers=HEADERS, json={
            "model": "groq/gpt-4o-mini", "messages": [{"role": "user", "content": "x"}]})
        assert counted.status_code == 200 and counted.get_json()["input_tokens"] > 0


class TestModels:
    def test_claude_names_go_to_a_gemini_model_of_their_class(self, client, keys, upstream):
        keys(1)
        for name, model in (("claude-sonnet-4-5", "gemini-2.5-flash"),
                            ("claude-opus-4-1", "gemini-2.5-pro"),
                            ("claude-3-5-haiku-latest", "gemini-2.5-flash-lite")):
            resp = message(client, model=name)
            assert resp.status_code == 200, resp.get_data(as_text=True)
            assert resp.get_json()["model"] == name
            assert upstream.requests[-1]["path"].endswith(f"/models/{model}:generateContent")

    def test_a_pool_alias_wins_over_the_default_mapping(self, client, keys, app, rt, upstream):
        from balancer.services import pools as pool_service
        keys(1)
        with app.app_context():
            pool_service.edit_pool(rt, "gemini",
                                   aliases={"claude-sonnet-4-5": "gemini-3-flash-preview"})
        assert message(client, model="claude-sonnet-4-5").status_code == 200
        assert "/models/gemini-3-flash-preview:" in upstream.requests[-1]["path"]

    @pytest.mark.parametrize("path", ["/v1/models", "/anthropic/v1/models"])
    def test_an_anthropic_client_gets_anthropics_model_list(self, client, keys, path):
        keys(1)
        resp = client.get(path, headers=HEADERS)
        assert resp.status_code == 200
        body = resp.get_json()
        assert body["has_more"] is False
        ids = [m["id"] for m in body["data"]]
        assert "claude-sonnet-4-5" in ids
        assert body["first_id"] == ids[0] and body["last_id"] == ids[-1]
        assert all(m["type"] == "model" and m["created_at"].endswith("Z") for m in body["data"])
        one = client.get(f"{path}/claude-opus-4-5", headers=HEADERS)
        assert one.status_code == 200 and one.get_json()["id"] == "claude-opus-4-5"
        missing = client.get(f"{path}/no-such-model", headers=HEADERS)
        assert missing.status_code == 404
        assert missing.get_json()["error"]["type"] == "not_found_error"
        # An OpenAI client still gets OpenAI's list.
        assert client.get("/v1/models", headers={"Authorization": f"Bearer {TOKEN}"}
                          ).get_json()["object"] == "list"


def test_the_request_log_shows_the_dialect(app, client, keys, rt):
    from balancer.extensions import db
    from balancer.models import RequestLog
    keys(1)
    assert message(client).status_code == 200
    assert message(client, headers={"x-api-key": "nope"}).status_code == 401
    assert client.post("/v1/messages", headers=HEADERS, json={"model": MODEL}).status_code == 400
    rt.services.flush()
    with app.app_context():
        rows = db.session.query(RequestLog.api_format, RequestLog.route,
                                RequestLog.status).all()
    assert ("anthropic", "messages", 200) in rows
    assert ("anthropic", "messages", 400) in rows


def test_a_body_over_the_routes_limit_is_a_413_in_anthropics_shape(make_app, upstream):
    from balancer.services import keys as key_service
    from tests.fake_upstream import make_key
    app = make_app(MAX_REQUEST_MB="1")
    app.extensions["balancer"].services.bootstrap()
    with app.app_context():
        key_service.add_keys(app.extensions["balancer"], [make_key("k", 0)])
    client = app.test_client()
    resp = message(client, text="x" * (2 * 1024 * 1024))
    assert resp.status_code == 413
    assert resp.get_json()["type"] == "error"
    assert resp.get_json()["error"]["type"] == "request_too_large"
    assert "1 MiB" in resp.get_json()["error"]["message"]
    assert upstream.requests == []
