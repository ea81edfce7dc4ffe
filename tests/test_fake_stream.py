"""Fake streaming: a pool's ``fake_stream`` serves a client's stream from the upstream's
non-streaming call, framed as the stream the client asked for."""
from __future__ import annotations

import json

import pytest

from tests.conftest import TOKEN

MODEL = "gemini-2.5-flash"
BEARER = {"Authorization": f"Bearer {TOKEN}"}
ANTHROPIC = {"x-api-key": TOKEN, "anthropic-version": "2023-06-01"}


@pytest.fixture
def fake_stream(app, rt):
    from balancer.services import pools as pool_service
    with app.app_context():
        pool_service.edit_pool(rt, "gemini", overrides={"fake_stream": True})


def upstream_actions(upstream) -> list[str]:
    return [r["path"].rsplit(":", 1)[-1] for r in upstream.requests if ":" in r["path"]]


def sse_events(text: str) -> list[tuple[str | None, str]]:
    """(event name or None, data) of each SSE event; comments left out."""
    out = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        lines = [line for line in block.splitlines() if line and not line.startswith(":")]
        if not lines:
            continue
        name = next((line[7:] for line in lines if line.startswith("event: ")), None)
        data = "\n".join(line[6:] for line in lines if line.startswith("data: "))
        out.append((name, data))
    return out


def test_an_openai_stream_comes_from_a_whole_answer(client, keys, upstream, fake_stream):
    keys(1)
    resp = client.post("/v1/chat/completions", headers=BEARER, json={
        "model": MODEL, "stream": True, "stream_options": {"include_usage": True},
        "messages": [{"role": "user", "content": "tell me whole"}]})
    assert resp.status_code == 200 and resp.mimetype == "text/event-stream"
    assert upstream_actions(upstream) == ["generateContent"]
    events = sse_events(resp.get_data(as_text=True))
    assert events[-1] == (None, "[DONE]")
    chunks = [json.loads(data) for _, data in events[:-1]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert "tell me whole" in text
    assert any(c["choices"] and c["choices"][0]["finish_reason"] == "stop" for c in chunks)
    assert chunks[-1]["usage"]["completion_tokens"] > 0


@pytest.mark.parametrize("alt", ["sse", None])
def test_a_gemini_stream_comes_from_generate_content(client, keys, upstream, fake_stream, alt):
    keys(1)
    query = "?alt=sse" if alt else ""
    resp = client.post(f"/v1beta/models/{MODEL}:streamGenerateContent{query}",
                       headers={"x-goog-api-key": TOKEN},
                       json={"contents": [{"parts": [{"text": "whole gemini"}]}]})
    assert resp.status_code == 200
    assert upstream_actions(upstream) == ["generateContent"]
    assert "alt" not in upstream.requests[-1]["query"]
    if alt:
        assert resp.mimetype == "text/event-stream"
        elements = [json.loads(data) for _, data in sse_events(resp.get_data(as_text=True))]
    else:
        elements = json.loads(resp.get_data())
    assert len(elements) == 1
    (candidate,) = elements[0]["candidates"]
    assert "whole gemini" in candidate["content"]["parts"][0]["text"]
    assert candidate["finishReason"] == "STOP"


def test_an_anthropic_stream_comes_from_a_whole_answer(client, keys, upstream, fake_stream):
    keys(1)
    resp = client.post("/v1/messages", headers=ANTHROPIC, json={
        "model": MODEL, "max_tokens": 64, "stream": True,
        "messages": [{"role": "user", "content": "claude whole"}]})
    assert resp.status_code == 200
    assert upstream_actions(upstream) == ["generateContent"]
    events = sse_events(resp.get_data(as_text=True))
    names = [name for name, _ in events]
    assert names[0] == "message_start" and names[-1] == "message_stop"
    text = "".join(json.loads(data)["delta"].get("text", "") for name, data in events
                   if name == "content_block_delta")
    assert "claude whole" in text


def test_a_responses_stream_comes_from_a_whole_answer(client, keys, upstream, fake_stream):
    keys(1)
    resp = client.post("/v1/responses", headers=BEARER,
                       json={"model": MODEL, "stream": True, "input": "responses whole"})
    assert resp.status_code == 200
    assert upstream_actions(upstream) == ["generateContent"]
    events = sse_events(resp.get_data(as_text=True))
    assert events[0][0] == "response.created" and events[-1][0] == "response.completed"
    done = json.loads(events[-1][1])["response"]
    assert "responses whole" in json.dumps(done["output"])


def test_an_openai_stream_on_the_openai_layer_asks_for_stream_false(app, rt, client, keys,
                                                                    upstream, fake_stream):
    from balancer.services import pools as pool_service
    with app.app_context():
        pool_service.edit_pool(rt, "gemini", overrides={"fake_stream": True,
                                                        "openai_api": "compat"})
    keys(1)
    resp = client.post("/v1/chat/completions", headers=BEARER, json={
        "model": MODEL, "stream": True, "messages": [{"role": "user", "content": "compat whole"}]})
    assert resp.status_code == 200
    (sent,) = [r for r in upstream.requests if r["path"].endswith("chat/completions")]
    assert sent["body"]["stream"] is False
    events = sse_events(resp.get_data(as_text=True))
    assert events[-1] == (None, "[DONE]")
    chunks = [json.loads(data) for _, data in events[:-1]]
    assert "compat whole" in "".join(c["choices"][0]["delta"].get("content") or ""
                                     for c in chunks if c["choices"])
    # The client did not ask for the usage chunk: it is not sent.
    assert all(c["choices"] for c in chunks)


def test_a_failure_before_the_answer_goes_on_to_the_next_key(app, rt, client, keys, upstream,
                                                             fake_stream):
    from balancer.services import settings as settings_service
    with app.app_context():
        settings_service.update(rt, {"retry_backoff_seconds": 0})
    failing, good = keys(2)
    upstream.set_key(failing, "internal")
    resp = client.post("/v1/chat/completions", headers=BEARER, json={
        "model": MODEL, "stream": True, "messages": [{"role": "user", "content": "second key"}]})
    assert resp.status_code == 200
    assert upstream.count(key=failing) == 1 and upstream.count(key=good) == 1
    events = sse_events(resp.get_data(as_text=True))
    assert events[-1] == (None, "[DONE]")
    assert "second key" in resp.get_data(as_text=True)
    assert resp.headers["x-balancer-attempts"] == "2"


def test_the_cli_turns_fake_streams_on_and_off_for_a_pool(app, rt, upstream):
    import json as _json
    runner = app.test_cli_runner()

    def cli(*args):
        result = runner.invoke(args=list(args), catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.output

    cli("pools", "add", "flaky", "--kind", "openai", "--base-url", f"{upstream.url}/openai/v1",
        "--fake-stream")
    listed = {p["name"]: p for p in _json.loads(cli("pools", "list", "--json"))}
    assert listed["flaky"]["overrides"] == {"fake_stream": True}
    pool_id = listed["flaky"]["id"]
    assert rt.pool_settings(rt.catalog.pools[pool_id]).values.fake_stream is True
    cli("pools", "edit", "flaky", "--real-stream")
    listed = {p["name"]: p for p in _json.loads(cli("pools", "list", "--json"))}
    assert listed["flaky"]["overrides"] == {"fake_stream": False}
    assert rt.pool_settings(rt.catalog.pools[pool_id]).values.fake_stream is False


from tests.test_proxy_pools import provider_pool  # noqa: E402,F401  (a fixture)


@pytest.mark.parametrize("path, body, last", [
    ("/v1/messages", {"max_tokens": 64, "messages": [{"role": "user", "content": "ping"}]},
     "message_stop"),
    ("/v1/responses", {"input": "ping"}, "response.completed"),
    ("/v1/chat/completions", {"messages": [{"role": "user", "content": "ping"}]}, None),
], ids=["anthropic", "responses", "openai"])
def test_an_openai_kind_pool_answers_streams_from_stream_false(app, rt, client, upstream,
                                                               provider_pool, path, body, last):
    from balancer.services import pools as pool_service
    with app.app_context():
        pool_service.edit_pool(rt, "groq", overrides={"fake_stream": True})
    headers = ANTHROPIC if path == "/v1/messages" else BEARER
    resp = client.post(path, headers=headers,
                       json={"model": "groq/gpt-4o-mini", "stream": True, **body})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    (sent,) = [r for r in upstream.requests if r["flavour"] == "provider"]
    assert sent["body"]["stream"] is False and "stream_options" not in sent["body"]
    events = sse_events(resp.get_data(as_text=True))
    assert events[-1][0] == last
    if last is None:
        assert events[-1][1] == "[DONE]"
    assert "ping" in resp.get_data(as_text=True)


def test_a_whole_completion_with_tool_calls_becomes_chunks_an_sdk_reads():
    from balancer.proxy.whole_stream import chat_events
    completion = {"id": "c1", "object": "chat.completion", "created": 7, "model": "m",
                  "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
                      "role": "assistant", "content": None, "tool_calls": [
                          {"id": "t1", "type": "function",
                           "function": {"name": "f", "arguments": "{}"}},
                          {"id": "t2", "type": "function",
                           "function": {"name": "g", "arguments": "{\"a\":1}"}}]}}],
                  "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}}
    events = sse_events(chat_events(completion).decode())
    assert events[-1] == (None, "[DONE]")
    first, usage = (json.loads(data) for _, data in events[:-1])
    (choice,) = first["choices"]
    assert first["object"] == "chat.completion.chunk" and first["id"] == "c1"
    assert choice["finish_reason"] == "tool_calls" and "content" not in choice["delta"]
    assert [(c["index"], c["id"]) for c in choice["delta"]["tool_calls"]] == [(0, "t1"), (1, "t2")]
    assert usage["choices"] == [] and usage["usage"]["total_tokens"] == 7
