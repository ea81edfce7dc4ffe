"""Anthropic Messages and OpenAI Responses served by an OpenAI-kind pool's chat completions."""
from __future__ import annotations

import json

import sqlalchemy as sa

from balancer.extensions import db
from balancer.models import RequestLog
from tests.conftest import TOKEN
from tests.test_proxy_pools import provider_pool  # noqa: F401  (a fixture)

MODEL = "groq/gpt-4o-mini"
HEADERS = {"x-api-key": TOKEN, "anthropic-version": "2023-06-01"}
WEATHER = {"name": "get_weather", "description": "The weather in a city.",
           "input_schema": {"type": "object", "properties": {"city": {"type": "string"}},
                            "required": ["city"]}}
FUNCTION = {"type": "function", "name": "get_weather", "description": "The weather in a city.",
            "parameters": WEATHER["input_schema"]}
ASK = "What is the weather in Paris? Use get_weather."


def message(client, messages, **extra):
    return client.post("/v1/messages", headers=HEADERS, json={
        "model": MODEL, "max_tokens": 300, "messages": messages, **extra})


def create(client, auth, **body):
    return client.post("/v1/responses", headers=auth, json={"model": MODEL, **body})


def sse(resp) -> list[tuple[str, dict]]:
    out = []
    for block in resp.get_data(as_text=True).split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.strip().splitlines() if ": " in line)
        if "data" in lines:
            out.append((lines.get("event", ""), json.loads(lines["data"])))
    return out


def provider_requests(upstream):
    return [r for r in upstream.requests if r["flavour"] == "provider"]


def log_rows(app, rt):
    rt.services.flush()
    with app.app_context():
        return [(r.api_format, r.route, r.status, r.pool_id, r.model)
                for r in db.session.scalars(sa.select(RequestLog).order_by(RequestLog.id))]


class TestMessages:
    def test_a_message_is_answered_from_chat_completions(self, app, rt, client, provider_pool,
                                                         upstream):
        resp = message(client, [{"role": "user", "content": "ping"}], system="Be brief.")
        assert resp.status_code == 200, resp.get_data(as_text=True)
        body = resp.get_json()
        assert body["type"] == "message" and body["model"] == MODEL
        assert body["content"] == [{"type": "text", "text": "Echo: ping"}]
        assert body["stop_reason"] == "end_turn"
        assert body["usage"]["input_tokens"] > 0 and body["usage"]["output_tokens"] > 0
        (sent,) = provider_requests(upstream)
        assert sent["path"].endswith("/openai/v1/chat/completions")
        assert sent["body"]["model"] == "gpt-4o-mini" and sent["body"]["max_tokens"] == 300
        assert sent["body"]["messages"][0] == {"role": "system", "content": "Be brief."}
        assert sent["headers"]["authorization"] in {f"Bearer {k}" for k in provider_pool}
        ((api, route, status, pool_id, model),) = log_rows(app, rt)
        assert (api, route, status, model) == ("anthropic", "messages", 200, "gpt-4o-mini")
        assert pool_id == next(p.id for p in rt.catalog.pools.values() if p.name == "groq")

    def test_a_message_streams_as_anthropic_streams(self, app, rt, client, provider_pool,
                                                    upstream):
        resp = message(client, [{"role": "user", "content": "stream me"}], stream=True)
        assert resp.status_code == 200 and resp.mimetype == "text/event-stream"
        events = sse(resp)
        names = [name for name, _ in events]
        assert names[0] == "message_start" and names[-1] == "message_stop"
        assert "error" not in names
        text = "".join(d["delta"]["text"] for n, d in events
                       if n == "content_block_delta" and d["delta"]["type"] == "text_delta")
        assert text == "Echo: stream me"
        (delta,) = [d for n, d in events if n == "message_delta"]
        assert delta["delta"]["stop_reason"] == "end_turn" and delta["usage"]["output_tokens"] > 0
        sent = provider_requests(upstream)[-1]["body"]
        assert sent["stream"] is True and sent["stream_options"] == {"include_usage": True}
        assert log_rows(app, rt)[-1][:3] == ("anthropic", "messages", 200)

    def test_a_tool_loop_runs_over_chat_completions(self, client, provider_pool, upstream):
        asked = [{"role": "user", "content": ASK}]
        first = message(client, asked, tools=[WEATHER])
        assert first.status_code == 200, first.get_data(as_text=True)
        answer = first.get_json()
        assert answer["stop_reason"] == "tool_use"
        (use,) = [b for b in answer["content"] if b["type"] == "tool_use"]
        assert use["name"] == "get_weather" and set(use["input"]) == {"city"}
        sent = provider_requests(upstream)[-1]["body"]
        assert sent["tools"][0]["function"]["name"] == "get_weather"
        second = message(client, asked + [
            {"role": "assistant", "content": answer["content"]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use["id"],
                                          "content": "18 degrees and sunny"}]}], tools=[WEATHER])
        assert second.status_code == 200, second.get_data(as_text=True)
        done = second.get_json()
        assert done["stop_reason"] == "end_turn" and done["content"][0]["type"] == "text"
        messages = provider_requests(upstream)[-1]["body"]["messages"]
        assert messages[-2]["tool_calls"][0]["id"] == use["id"]
        assert messages[-1] == {"role": "tool", "tool_call_id": use["id"],
                                "content": "18 degrees and sunny"}

    def test_a_tool_call_streams_as_input_json(self, client, provider_pool):
        resp = message(client, [{"role": "user", "content": ASK}], tools=[WEATHER], stream=True)
        events = sse(resp)
        (start,) = [d for n, d in events if n == "content_block_start"
                    and d["content_block"]["type"] == "tool_use"]
        assert start["content_block"]["name"] == "get_weather"
        args = "".join(d["delta"]["partial_json"] for n, d in events
                       if n == "content_block_delta" and d["delta"]["type"] == "input_json_delta")
        assert set(json.loads(args)) == {"city"}
        (delta,) = [d for n, d in events if n == "message_delta"]
        assert delta["delta"]["stop_reason"] == "tool_use"

    def test_a_provider_rate_limit_reaches_the_client_in_anthropics_shape(
            self, app, rt, client, provider_pool, upstream):
        for key in provider_pool:
            upstream.set_key(key, "rate_minute", retry_after=7)
        resp = message(client, [{"role": "user", "content": "hi"}])
        assert resp.status_code == 429
        body = resp.get_json()
        assert body["type"] == "error" and body["error"]["type"] == "rate_limit_error"
        assert float(resp.headers["retry-after"]) > 0
        assert not any(k in resp.get_data(as_text=True) for k in provider_pool)
        assert log_rows(app, rt)[-1][:3] == ("anthropic", "messages", 429)

    def test_a_provider_client_error_keeps_its_status_and_message(self, client, provider_pool):
        resp = client.post("/v1/messages", headers=HEADERS, json={
            "model": "groq/no-such-model", "max_tokens": 10,
            "messages": [{"role": "user", "content": "hi"}]})
        assert resp.status_code == 404
        body = resp.get_json()
        assert body["error"]["type"] == "not_found_error"
        assert "no-such-model" in body["error"]["message"]

    def test_count_tokens_is_estimated_without_an_upstream_call(self, app, rt, client,
                                                               provider_pool, upstream):
        short = client.post("/v1/messages/count_tokens", headers=HEADERS, json={
            "model": MODEL, "messages": [{"role": "user", "content": "x"}]})
        long = client.post("/v1/messages/count_tokens", headers=HEADERS, json={
            "model": MODEL, "messages": [{"role": "user", "content": "word " * 400}]})
        assert short.status_code == long.status_code == 200
        assert 0 < short.get_json()["input_tokens"] < 20
        assert 450 < long.get_json()["input_tokens"] < 600  # 2000 characters, 4 a token
        assert not provider_requests(upstream)
        groq = next(p.id for p in rt.catalog.pools.values() if p.name == "groq")
        assert log_rows(app, rt)[-1] == ("anthropic", "messages.count_tokens", 200, groq,
                                         "gpt-4o-mini")


class TestResponses:
    def test_a_response_is_answered_from_chat_completions(self, app, rt, client, auth,
                                                          provider_pool, upstream):
        resp = create(client, auth, input="ping", instructions="Be brief.",
                      max_output_tokens=200)
        assert resp.status_code == 200, resp.get_data(as_text=True)
        body = resp.get_json()
        assert body["object"] == "response" and body["status"] == "completed"
        assert body["model"] == MODEL
        (item,) = body["output"]
        assert item["content"][0]["text"] == "Echo: ping"
        assert body["usage"]["input_tokens"] > 0
        (sent,) = provider_requests(upstream)
        assert sent["body"]["max_tokens"] == 200
        assert sent["body"]["messages"][0] == {"role": "system", "content": "Be brief."}
        ((api, route, status, pool_id, _),) = log_rows(app, rt)
        assert (api, route, status) == ("responses", "responses", 200)
        assert pool_id == next(p.id for p in rt.catalog.pools.values() if p.name == "groq")

    def test_a_response_streams_as_openai_streams(self, client, auth, provider_pool):
        resp = create(client, auth, input="stream me", stream=True)
        assert resp.status_code == 200
        events = [d for _, d in sse(resp)]
        types = [e["type"] for e in events]
        assert types[0] == "response.created" and types[-1] == "response.completed"
        text = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
        assert text == "Echo: stream me"
        assert events[-1]["response"]["usage"]["output_tokens"] > 0
        assert [e["sequence_number"] for e in events] == list(range(len(events)))

    def test_a_function_call_loop_continues_with_previous_response_id(self, client, auth,
                                                                      provider_pool, upstream):
        first = create(client, auth, input=ASK, tools=[FUNCTION])
        assert first.status_code == 200, first.get_data(as_text=True)
        (call,) = [i for i in first.get_json()["output"] if i["type"] == "function_call"]
        assert call["name"] == "get_weather" and set(json.loads(call["arguments"])) == {"city"}
        second = create(client, auth, previous_response_id=first.get_json()["id"],
                        tools=[FUNCTION], input=[{"type": "function_call_output",
                                                  "call_id": call["call_id"],
                                                  "output": "18 degrees and sunny"}],
                        stream=True)
        assert second.status_code == 200
        events = [d for _, d in sse(second)]
        assert events[-1]["type"] == "response.completed"
        assert events[-1]["response"]["output"][0]["type"] == "message"
        messages = provider_requests(upstream)[-1]["body"]["messages"]
        assert messages[0] == {"role": "user", "content": ASK}
        assert messages[1]["tool_calls"][0]["id"] == call["call_id"]
        assert messages[2] == {"role": "tool", "tool_call_id": call["call_id"],
                               "content": "18 degrees and sunny"}

    def test_a_provider_rate_limit_reaches_the_client_in_openais_shape(
            self, app, rt, client, auth, provider_pool, upstream):
        for key in provider_pool:
            upstream.set_key(key, "rate_minute", retry_after=7)
        resp = create(client, auth, input="hi")
        assert resp.status_code == 429
        error = resp.get_json()["error"]
        assert error["message"] and error["code"]
        assert float(resp.headers["retry-after"]) > 0
        assert log_rows(app, rt)[-1][:3] == ("responses", "responses", 429)


def test_openais_own_api_takes_max_completion_tokens():
    from balancer.proxy.chat_bridge import max_tokens_field
    assert max_tokens_field("https://api.openai.com/v1") == "max_completion_tokens"
    for other in ("https://api.groq.com/openai/v1", "https://openrouter.ai/api/v1",
                  "https://api.mistral.ai/v1", "http://127.0.0.1:9/openai/v1"):
        assert max_tokens_field(other) == "max_tokens"


class TestBrokenStreams:
    def test_a_provider_error_inside_the_stream_ends_it_with_an_error_event(
            self, client, provider_pool, upstream):
        for key in provider_pool:
            upstream.set_key(key, "break_stream", after=1, how="event")
        resp = message(client, [{"role": "user", "content": "a longer answer to break"}],
                       stream=True)
        names = [name for name, _ in sse(resp)]
        assert names[0] == "message_start" and names[-1] == "error"
        assert "message_stop" not in names

    def test_a_cut_stream_is_not_passed_off_as_complete(self, client, auth, provider_pool,
                                                         upstream):
        for key in provider_pool:
            upstream.set_key(key, "break_stream", after=1, how="close")
        resp = create(client, auth, input="a longer answer to break", stream=True)
        types = [d["type"] for _, d in sse(resp)]
        assert types[0] == "response.created" and types[-1] == "response.failed"
        assert "response.completed" not in types


def _chat_stream_bytes(crlf: bool = False) -> bytes:
    end = b"\r\n\r\n" if crlf else b"\n\n"
    chunks = [
        {"id": "c1", "model": "m", "choices": [{"index": 0, "delta": {"role": "assistant",
                                                                    "content": "Hel"}}]},
        {"id": "c1", "model": "m", "choices": [{"index": 0, "delta": {"content": "lo"}}]},
        {"id": "c1", "model": "m", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
        {"id": "c1", "model": "m", "choices": [],
         "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}},
    ]
    out = b": OPENROUTER PROCESSING" + end
    for chunk in chunks:
        out += b"data: " + json.dumps(chunk).encode() + end
    return out + b"data: [DONE]" + end


def _anthropic_tap():
    from balancer.dialects import anthropic_request
    from balancer.proxy.anthropic_native import MessagesTranslation
    from balancer.proxy.chat_bridge import ChatBridgeTap
    _, ctx = anthropic_request.to_native({"model": "m", "max_tokens": 10, "messages": [
        {"role": "user", "content": "hi"}]}, model="m")
    return ChatBridgeTap(MessagesTranslation(ctx).tap())


def _texts(out: bytes) -> tuple[str, list[str]]:
    events = [b for b in out.decode().split("\n\n") if b.strip()]
    names = [e.splitlines()[0][7:] for e in events]
    text = "".join(json.loads(e.splitlines()[1][6:])["delta"].get("text", "")
                   for e in events if e.startswith("event: content_block_delta"))
    return text, names


def test_a_chat_stream_cut_anywhere_into_pieces_translates_the_same():
    for crlf in (False, True):
        raw = _chat_stream_bytes(crlf)
        for size in (1, 7, len(raw)):
            tap = _anthropic_tap()
            out = b"".join(tap.feed(raw[i:i + size]) for i in range(0, len(raw), size))
            out += tap.finish()
            text, names = _texts(out)
            assert text == "Hello" and names[0] == "message_start" \
                and names[-1] == "message_stop", (crlf, size)
            assert tap.done and tap.error is None and tap.tokens() == (5, 2)


def test_a_chat_stream_cut_before_its_end_is_not_finished():
    raw = _chat_stream_bytes()
    tap = _anthropic_tap()
    out = tap.feed(raw[:raw.index(b'"finish_reason"') - 60]) + tap.finish()
    assert not tap.done and b"message_stop" not in out


def test_a_claude_name_aliased_on_an_openai_kind_pool_is_served_there(app, rt, client, keys,
                                                                       provider_pool, upstream):
    from balancer.models import Pool
    from balancer.services import pools as pool_service
    keys(1)  # a Gemini pool too: the alias wins over the default mapping to Gemini
    with app.app_context():
        pool = db.session.scalars(sa.select(Pool).filter_by(name="groq")).one()
        pool.aliases = {"claude-sonnet-4-5": "gpt-4o-mini"}
        db.session.commit()
        pool_service.load_catalog(rt)
    resp = client.post("/v1/messages", headers=HEADERS, json={
        "model": "claude-sonnet-4-5", "max_tokens": 50,
        "messages": [{"role": "user", "content": "hi"}]})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert resp.get_json()["model"] == "claude-sonnet-4-5"
    sent = upstream.requests[-1]
    assert sent["flavour"] == "provider" and sent["body"]["model"] == "gpt-4o-mini"
