"""End to end, as a new user in December 2026: only auth keys (``AQ.…``), both official SDKs,
Balancer under gunicorn with two workers, the fake upstream answering like Gemini today."""
from __future__ import annotations

import json

import openai
import pytest
from google import genai
from google.genai import types

from tests.conftest import TOKEN
from tests.fake_upstream import make_key

pytestmark = pytest.mark.e2e

WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "The weather in a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                   "required": ["city"], "additionalProperties": False,
                   "$schema": "http://json-schema.org/draft-07/schema#"}}}
ASK = {"role": "user", "content": "What is the weather in Paris? Use get_weather."}


@pytest.fixture
def live(start):
    return start([make_key("aq-e2e", i, kind="auth") for i in range(3)])


@pytest.fixture
def oa(live):
    return openai.OpenAI(base_url=f"{live.url}/v1", api_key=TOKEN, max_retries=0, timeout=20)


def test_the_openai_sdk_gets_everything_over_auth_keys(oa, upstream):
    """One Balancer for all of it: starting gunicorn is what costs."""
    chat_and_a_stream_with_usage(oa, upstream)
    for model in ("gemini-2.5-flash", "gemini-3-flash-preview"):
        a_tool_round_trip(oa, model)
        a_streamed_tool_round_trip(oa, model)
    structured_output_and_embeddings(oa)
    assert {r["flavour"] for r in upstream.requests} == {"native"}


def chat_and_a_stream_with_usage(oa, upstream):
    reply = oa.chat.completions.create(model="gemini-2.5-flash",
                                       messages=[{"role": "user", "content": "hello there"}])
    assert reply.choices[0].message.content == "Echo: hello there"
    assert reply.usage.prompt_tokens > 0 and reply.choices[0].finish_reason == "stop"
    chunks = list(oa.chat.completions.create(
        model="gemini-2.5-flash", messages=[{"role": "user", "content": "one two three"}],
        stream=True, stream_options={"include_usage": True}))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Echo: one two three"
    assert chunks[-1].usage.total_tokens > 0 and not chunks[-1].choices


def a_tool_round_trip(oa, model):
    first = oa.chat.completions.create(model=model, messages=[ASK], tools=[WEATHER])
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    (call,) = choice.message.tool_calls
    assert call.function.name == "get_weather" and "city" in json.loads(call.function.arguments)
    if model.startswith("gemini-3"):
        # Gemini 3's thought signature rides where Google's own OpenAI layer puts it.
        assert call.model_extra["extra_content"]["google"]["thought_signature"]
    messages = [ASK, choice.message,
                {"role": "tool", "tool_call_id": call.id, "content": '{"sky": "sunny"}'}]
    second = oa.chat.completions.create(model=model, messages=messages, tools=[WEATHER])
    assert "sunny" in second.choices[0].message.content
    assert second.choices[0].finish_reason == "stop"


def a_streamed_tool_round_trip(oa, model):
    calls: dict[int, dict] = {}
    for chunk in oa.chat.completions.create(model=model, messages=[ASK], tools=[WEATHER],
                                            stream=True):
        for delta in (chunk.choices[0].delta.tool_calls or []) if chunk.choices else []:
            call = calls.setdefault(delta.index, {"type": "function",
                                                  "function": {"name": "", "arguments": ""}})
            if delta.id:
                call["id"] = delta.id
            if delta.function and delta.function.name:
                call["function"]["name"] += delta.function.name
            if delta.function and delta.function.arguments:
                call["function"]["arguments"] += delta.function.arguments
            extra = (delta.model_extra or {}).get("extra_content")
            if extra:
                call["extra_content"] = extra
    (call,) = calls.values()
    assert call["function"]["name"] == "get_weather" and json.loads(call["function"]["arguments"])
    if model.startswith("gemini-3"):
        assert call["extra_content"]["google"]["thought_signature"]
    messages = [ASK, {"role": "assistant", "content": None, "tool_calls": [call]},
                {"role": "tool", "tool_call_id": call["id"], "content": "rainy"}]
    text = "".join(c.choices[0].delta.content or "" for c in oa.chat.completions.create(
        model=model, messages=messages, tools=[WEATHER], stream=True) if c.choices)
    assert "rainy" in text


def structured_output_and_embeddings(oa):
    schema = {"type": "object", "properties": {"name": {"type": "string"},
                                               "age": {"type": "integer"}},
              "required": ["name", "age"], "additionalProperties": False}
    reply = oa.chat.completions.create(
        model="gemini-2.5-flash", messages=[{"role": "user", "content": "a person"}],
        response_format={"type": "json_schema",
                         "json_schema": {"name": "person", "schema": schema, "strict": True}})
    person = json.loads(reply.choices[0].message.content)
    assert isinstance(person["name"], str) and isinstance(person["age"], int)
    emb = oa.embeddings.create(model="gemini-embedding-001", input=["alpha", "beta"])
    assert len(emb.data) == 2 and all(isinstance(v, float) for v in emb.data[0].embedding)
    assert emb.data[0].embedding != emb.data[1].embedding


def test_google_genai_through_v1beta(live):
    client = genai.Client(api_key=TOKEN, http_options=types.HttpOptions(
        base_url=live.url, api_version="v1beta", timeout=20_000))
    assert client.models.generate_content(model="gemini-2.5-flash", contents="hi genai").text
    pieces = [c.text or "" for c in client.models.generate_content_stream(
        model="gemini-3-flash-preview", contents="stream genai")]
    assert "stream genai" in "".join(pieces)
    emb = client.models.embed_content(model="gemini-embedding-001", contents=["a", "b"])
    assert len(emb.embeddings) == 2
