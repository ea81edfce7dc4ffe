"""End to end: the official openai SDK's Responses API through Balancer under gunicorn with two
workers, on Gemini 2.5 and Gemini 3 models of the fake upstream."""
from __future__ import annotations

import json
import re

import openai
import pytest

from tests.conftest import TOKEN
from tests.fake_upstream import make_key

pytestmark = pytest.mark.e2e

WEATHER = {"type": "function", "name": "get_weather", "description": "The weather in a city.",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                          "required": ["city"], "additionalProperties": False},
           "strict": True}
ASK = "What is the weather in Paris? Use get_weather."
MODELS = ("gemini-2.5-flash", "gemini-3-flash-preview")


def sdk(live) -> openai.OpenAI:
    """A fresh client (a fresh connection): consecutive calls may reach either worker."""
    return openai.OpenAI(base_url=f"{live.url}/v1", api_key=TOKEN, max_retries=0, timeout=20)


def test_the_openai_sdk_runs_its_responses_scenarios(start, upstream):
    live = start([make_key("resp-e2e", i) for i in range(3)])
    for model in MODELS:
        plain_and_streamed(live, model)
        a_loop_with_previous_response_id(live, model)
        a_loop_sending_the_whole_history(live, model)
        structured_output(live, model)
    stored_responses_are_seen_by_every_worker(live)
    assert {r["flavour"] for r in upstream.requests} == {"native"}
    assert re.search(r"balancer\.proxy: responses responses model=", live.log())


def plain_and_streamed(live, model):
    reply = sdk(live).responses.create(model=model, input="hello there",
                                       instructions="Answer briefly.")
    assert reply.output_text == "Echo: hello there" and reply.status == "completed"
    assert reply.usage.total_tokens == reply.usage.input_tokens + reply.usage.output_tokens > 0
    events = list(sdk(live).responses.create(model=model, input="one two three", stream=True))
    assert events[0].type == "response.created"
    assert [e.sequence_number for e in events] == list(range(len(events)))
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text == "Echo: one two three"
    assert events[-1].type == "response.completed" and events[-1].response.usage.output_tokens
    with sdk(live).responses.stream(model=model, input="four five") as stream:
        final = stream.get_final_response()
    assert final.output_text == "Echo: four five"


def _call(response):
    (call,) = [item for item in response.output if item.type == "function_call"]
    assert call.name == "get_weather" and "city" in json.loads(call.arguments)
    return call


def a_loop_with_previous_response_id(live, model):
    first = sdk(live).responses.create(model=model, input=ASK, tools=[WEATHER])
    call = _call(first)
    if model.startswith("gemini-3"):
        # Gemini 3's thought signature rides in a reasoning item before the call.
        assert any(item.type == "reasoning" and item.encrypted_content
                   for item in first.output)
    second = sdk(live).responses.create(
        model=model, previous_response_id=first.id, tools=[WEATHER],
        input=[{"type": "function_call_output", "call_id": call.call_id,
                "output": '{"sky": "sunny"}'}])
    assert "sunny" in second.output_text and second.previous_response_id == first.id


def a_loop_sending_the_whole_history(live, model):
    history: list = [{"role": "user", "content": ASK}]
    with sdk(live).responses.stream(model=model, input=history, tools=[WEATHER],
                                    store=False) as stream:
        first = stream.get_final_response()
    call = _call(first)
    history += first.output
    history.append({"type": "function_call_output", "call_id": call.call_id, "output": "rainy"})
    second = sdk(live).responses.create(model=model, input=history, tools=[WEATHER], store=False)
    assert "rainy" in second.output_text
    with pytest.raises(openai.BadRequestError) as err:
        sdk(live).responses.create(model=model, input="more", previous_response_id=second.id)
    assert err.value.code == "previous_response_not_found"
    assert err.value.param == "previous_response_id"


def structured_output(live, model):
    schema = {"type": "object", "properties": {"name": {"type": "string"},
                                               "age": {"type": "integer"}},
              "required": ["name", "age"], "additionalProperties": False}
    reply = sdk(live).responses.create(model=model, input="a person", text={"format": {
        "type": "json_schema", "name": "person", "schema": schema, "strict": True}})
    person = json.loads(reply.output_text)
    assert isinstance(person["name"], str) and isinstance(person["age"], int)


def _pids(log: str, route: str) -> set[str]:
    return set(re.findall(rf"\[(\d+)\] balancer\.proxy: {re.escape(route)} responses ", log))


def stored_responses_are_seen_by_every_worker(live):
    """A chain goes on whichever worker stored its last step: the chain is in the database."""
    previous = sdk(live).responses.create(model=MODELS[0], input="step 0")
    for step in range(1, 25):
        previous = sdk(live).responses.create(model=MODELS[0], input=f"step {step}",
                                              previous_response_id=previous.id)
        assert previous.output_text == f"Echo: step {step}"
        if len(_pids(live.log(), "responses")) >= 2:
            break
    assert len(_pids(live.log(), "responses")) == 2, "one worker served every step"
    fetched = sdk(live).responses.retrieve(previous.id)
    assert fetched.id == previous.id and fetched.output_text == previous.output_text
    sdk(live).responses.delete(previous.id)
    with pytest.raises(openai.NotFoundError):
        sdk(live).responses.retrieve(previous.id)


def test_the_openai_sdk_runs_responses_on_an_openai_compatible_pool(start, upstream):
    from tests.test_e2e_anthropic import add_provider_pool
    live = start([make_key("resp-chat", 0)])
    add_provider_pool(live, upstream, "groq")
    model = "groq/gpt-4o-mini"
    reply = sdk(live).responses.create(model=model, input="hello groq")
    assert reply.output_text == "Echo: hello groq" and reply.status == "completed"
    events = list(sdk(live).responses.create(model=model, input="one two", stream=True))
    assert events[-1].type == "response.completed"
    assert "".join(e.delta for e in events if e.type == "response.output_text.delta") \
        == "Echo: one two"
    first = sdk(live).responses.create(model=model, input=ASK, tools=[WEATHER])
    call = _call(first)
    second = sdk(live).responses.create(
        model=model, previous_response_id=first.id, tools=[WEATHER],
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "sunny"}])
    assert second.status == "completed" and second.output_text
    assert second.previous_response_id == first.id
    assert not [r for r in upstream.requests if "enerateContent" in r["path"]]
