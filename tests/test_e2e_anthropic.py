"""End to end: the official anthropic SDK (as Claude Code uses the API) against Balancer under
gunicorn with two workers, on a pool of Gemini keys, the fake upstream answering like Gemini."""
from __future__ import annotations

import time

import anthropic
import pytest

from balancer.dialects.chat_messages import DUMMY_SIGNATURE
from tests.conftest import TOKEN
from tests.fake_upstream import make_key

pytestmark = pytest.mark.e2e

WEATHER = {"name": "get_weather", "description": "The weather in a city.",
           "input_schema": {"type": "object", "properties": {"city": {"type": "string"}},
                            "required": ["city"], "additionalProperties": False,
                            "$schema": "http://json-schema.org/draft-07/schema#"}}
ASK = {"role": "user", "content": "What is the weather in Paris? Use get_weather."}
#: Models the error scenarios script their failures on (no other scenario uses them).
RATE_LIMITED, BROKEN = "gemini-2.0-flash", "gemini-2.5-flash-lite"


KEYS = [make_key("anth-e2e", i) for i in range(2)]


@pytest.fixture
def live(start):
    return start(KEYS)


def client(live, **options) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=live.url, api_key=TOKEN, max_retries=0, timeout=20,
                               **options)


def test_the_anthropic_sdk_gets_everything_from_a_gemini_pool(live, upstream):
    """One Balancer for all of it: starting gunicorn is what costs."""
    sdk = client(live)
    a_message_and_a_stream(sdk)
    for model in ("gemini-2.5-flash", "gemini-3-flash-preview"):
        a_tool_loop(sdk, upstream, model)
        a_streamed_tool_loop(sdk, upstream, model)
    thinking_and_count_tokens(sdk)
    claude_names_and_the_model_list(sdk, upstream)
    assert {r["flavour"] for r in upstream.requests} == {"native"}
    the_sdk_raises_its_own_error_classes(live, sdk, upstream)


def a_message_and_a_stream(sdk):
    reply = sdk.messages.create(model="gemini-2.5-flash", max_tokens=512,
                                messages=[{"role": "user", "content": "hello there"}])
    assert reply.content[0].text == "Echo: hello there"
    assert reply.stop_reason == "end_turn" and reply.usage.input_tokens > 0
    with sdk.messages.stream(model="gemini-2.5-flash", max_tokens=512, system="Be brief.",
                             messages=[{"role": "user", "content": "one two three"}]) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "Echo: one two three"
    assert final.stop_reason == "end_turn" and final.usage.output_tokens > 0


def _signature_sent(upstream, model):
    sent = [r for r in upstream.requests if f"/models/{model}:" in r["path"]][-1]
    (call,) = [p for c in sent["body"]["contents"] for p in c["parts"] if "functionCall" in p]
    return call.get("thoughtSignature")


def a_tool_loop(sdk, upstream, model):
    first = sdk.messages.create(model=model, max_tokens=1024, messages=[ASK], tools=[WEATHER])
    assert first.stop_reason == "tool_use"
    (use,) = [b for b in first.content if b.type == "tool_use"]
    assert use.name == "get_weather" and "city" in use.input
    signed = [b.signature for b in first.content if b.type == "thinking" and b.signature]
    if model.startswith("gemini-3"):
        assert signed  # Gemini 3 signs its call: the signature rides on a thinking block
    second = sdk.messages.create(model=model, max_tokens=1024, tools=[WEATHER], messages=[
        ASK, {"role": "assistant", "content": first.content},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id,
                                      "content": '{"sky": "sunny"}'}]}])
    assert "sunny" in second.content[0].text and second.stop_reason == "end_turn"
    if model.startswith("gemini-3"):
        # Gemini's own signature went back with the call, not the stand-in.
        assert _signature_sent(upstream, model) == signed[0] != DUMMY_SIGNATURE


def a_streamed_tool_loop(sdk, upstream, model):
    with sdk.messages.stream(model=model, max_tokens=1024, messages=[ASK],
                             tools=[WEATHER]) as stream:
        first = stream.get_final_message()
    assert first.stop_reason == "tool_use"
    (use,) = [b for b in first.content if b.type == "tool_use"]
    assert use.input.get("city") is not None
    with sdk.messages.stream(model=model, max_tokens=1024, tools=[WEATHER], messages=[
            ASK, {"role": "assistant", "content": first.content},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id,
                                          "content": "rainy", "is_error": False}]}]) as stream:
        text = "".join(stream.text_stream)
    assert "rainy" in text
    if model.startswith("gemini-3"):
        signed = [b.signature for b in first.content if b.type == "thinking" and b.signature]
        assert _signature_sent(upstream, model) == signed[0] != DUMMY_SIGNATURE


def thinking_and_count_tokens(sdk):
    reply = sdk.messages.create(model="gemini-2.5-flash", max_tokens=4096,
                                thinking={"type": "enabled", "budget_tokens": 2048},
                                messages=[{"role": "user", "content": "think"}])
    thinking, text = reply.content
    assert thinking.type == "thinking" and thinking.thinking == "Thinking about: think"
    assert text.text == "Echo: think"
    with sdk.messages.stream(model="gemini-3-flash-preview", max_tokens=4096,
                             thinking={"type": "enabled", "budget_tokens": 1024},
                             messages=[{"role": "user", "content": "ponder"}]) as stream:
        kinds = [e.type for e in stream]
        final = stream.get_final_message()
    assert "thinking" in kinds and final.content[0].thinking == "Thinking about: ponder"
    counted = sdk.messages.count_tokens(model="gemini-2.5-flash", system="Be brief.",
                                        messages=[{"role": "user", "content": "a b c d"}],
                                        tools=[WEATHER])
    assert counted.input_tokens > 0


def claude_names_and_the_model_list(sdk, upstream):
    reply = sdk.messages.create(model="claude-sonnet-4-5", max_tokens=64,
                                messages=[{"role": "user", "content": "hi claude"}])
    assert reply.model == "claude-sonnet-4-5" and reply.content[0].text == "Echo: hi claude"
    assert "/models/gemini-" in upstream.requests[-1]["path"]
    # A worker fetches its pool's model list in its first moments, beside the requests it
    # already serves; the Claude names are there from the start, Gemini's once fetched.
    deadline = time.monotonic() + 10
    ids = [m.id for m in sdk.models.list()]
    while "gemini-2.5-flash" not in ids and time.monotonic() < deadline:
        time.sleep(0.2)
        ids = [m.id for m in sdk.models.list()]
    assert "claude-sonnet-4-5" in ids and "gemini-2.5-flash" in ids


def the_sdk_raises_its_own_error_classes(live, sdk, upstream):
    with pytest.raises(anthropic.AuthenticationError):
        anthropic.Anthropic(base_url=live.url, api_key="not-a-token", max_retries=0).messages \
            .create(model="gemini-2.5-flash", max_tokens=10,
                    messages=[{"role": "user", "content": "x"}])
    for key in KEYS:
        upstream.set_key(key, "rate_minute", retry_delay="30s", models=[RATE_LIMITED])
    with pytest.raises(anthropic.RateLimitError) as limited:
        sdk.messages.create(model=RATE_LIMITED, max_tokens=10,
                            messages=[{"role": "user", "content": "x"}])
    assert int(limited.value.response.headers["retry-after"]) > 0
    assert limited.value.body["error"]["type"] == "rate_limit_error"
    for key in KEYS:
        upstream.set_key(key, "internal", models=[BROKEN])
    with pytest.raises(anthropic.InternalServerError) as broken:
        sdk.messages.create(model=BROKEN, max_tokens=10,
                            messages=[{"role": "user", "content": "x"}])
    assert broken.value.status_code == 500
    with pytest.raises(anthropic.BadRequestError) as refused:
        sdk.messages.create(model="gemini-2.5-flash", max_tokens=10,
                            messages=[{"role": "user", "content": [{"type": "image", "source": {
                                "type": "url", "url": "https://example.com/a.png"}}]}])
    assert refused.value.body["error"]["type"] == "invalid_request_error"


def add_provider_pool(live, upstream, name: str) -> None:
    """An OpenAI-compatible pool on the fake's provider side, picked up by the workers."""
    import time

    from tests.live import flask_cli
    add = flask_cli(live.env, "pools", "add", name, "--kind", "openai",
                    "--base-url", f"{upstream.url}/openai/v1")
    assert add.returncode == 0, add.stderr
    added = flask_cli(live.env, "keys", "add", "--pool", name,
                      *[make_key(name, i, openai=True) for i in range(2)])
    assert added.stdout.startswith("2 added"), added.stdout + added.stderr
    time.sleep(1.5)  # the running workers pick the new pool and keys up in their sync loop


def test_the_anthropic_sdk_runs_on_an_openai_compatible_pool(start, upstream):
    live = start([make_key("anth-chat", 0)])
    add_provider_pool(live, upstream, "groq")
    sdk = client(live)
    model = "groq/gpt-4o-mini"
    reply = sdk.messages.create(model=model, max_tokens=256,
                                messages=[{"role": "user", "content": "hello groq"}])
    assert reply.content[0].text == "Echo: hello groq" and reply.model == model
    with sdk.messages.stream(model=model, max_tokens=256, messages=[ASK],
                             tools=[WEATHER]) as stream:
        first = stream.get_final_message()
    assert first.stop_reason == "tool_use"
    (use,) = [b for b in first.content if b.type == "tool_use"]
    second = sdk.messages.create(model=model, max_tokens=256, tools=[WEATHER], messages=[
        ASK, {"role": "assistant", "content": first.content},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id,
                                      "content": "sunny"}]}])
    assert second.stop_reason == "end_turn" and second.content[0].type == "text"
    assert sdk.messages.count_tokens(model=model, messages=[ASK]).input_tokens > 0
    assert not [r for r in upstream.requests if "enerateContent" in r["path"]]
    for i in range(2):
        upstream.set_key(make_key("groq", i, openai=True), "rate_minute", retry_after=30)
    with pytest.raises(anthropic.RateLimitError):
        sdk.messages.create(model=model, max_tokens=10,
                            messages=[{"role": "user", "content": "x"}])
