"""OpenAI Responses <-> Gemini native (golden tables), and what openai-python reads of it."""
from __future__ import annotations

import json

import pytest

from balancer.dialects import Untranslatable
from balancer.dialects.chat_messages import DUMMY_SIGNATURE
from balancer.dialects.responses_answer import to_response
from balancer.dialects.responses_items import seal, unseal
from balancer.dialects.responses_request import to_native
from balancer.dialects.responses_stream import ResponsesStream
from tests.dialects import sdk

ID = "resp_abc"
WEATHER = {"type": "function", "name": "get_weather", "description": "Weather of a city",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                          "required": ["city"], "additionalProperties": False}}
WEATHER_DECL = {"name": "get_weather", "description": "Weather of a city",
                "parameters": {"type": "OBJECT", "properties": {"city": {"type": "STRING"}},
                               "required": ["city"]}}
PNG = "data:image/png;base64,iVBORw0KGgo="
CALL = {"type": "function_call", "call_id": "c1", "name": "get_weather",
        "arguments": '{"city":"Paris"}'}
RESULT = {"type": "function_call_output", "call_id": "c1", "output": "sunny"}
CALL_PART = {"functionCall": {"id": "c1", "name": "get_weather", "args": {"city": "Paris"}}}
RESULT_PART = {"functionResponse": {"id": "c1", "name": "get_weather",
                                    "response": {"output": "sunny"}}}

# (name, Responses body, model, expected native body)
REQUESTS = [
    ("a string input and instructions",
     {"model": "gemini-2.5-flash", "input": "hi", "instructions": "Be brief."},
     "gemini-2.5-flash",
     {"contents": [{"role": "user", "parts": [{"text": "hi"}]}],
      "systemInstruction": {"parts": [{"text": "Be brief."}]}}),

    ("message items with every kind of part",
     {"input": [
         {"role": "developer", "content": "Use English."},
         {"type": "message", "role": "user", "content": [
             {"type": "input_text", "text": "What is this?"},
             {"type": "input_image", "image_url": PNG, "detail": "high"},
             {"type": "input_file", "file_data": "data:application/pdf;base64,JVBERi0x",
              "filename": "a.pdf"}]},
         {"type": "message", "role": "assistant", "id": "msg_1", "status": "completed",
          "content": [{"type": "output_text", "text": "A pelican.", "annotations": []}]}]},
     "gemini-3-flash-preview",
     {"contents": [
         {"role": "user", "parts": [
             {"text": "What is this?"},
             {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="},
              "mediaResolution": {"level": "MEDIA_RESOLUTION_HIGH"}},
             {"inlineData": {"mimeType": "application/pdf", "data": "JVBERi0x"}}]},
         {"role": "model", "parts": [{"text": "A pelican."}]}],
      "systemInstruction": {"parts": [{"text": "Use English."}]}}),

    ("a function-call loop, the signature given back by its reasoning item",
     {"input": [{"role": "user", "content": "weather?"},
                {"type": "reasoning", "id": "rs_1", "summary": [],
                 "encrypted_content": seal({"c1": "SIG1"})},
                CALL, RESULT],
      "tools": [WEATHER], "tool_choice": {"type": "function", "name": "get_weather"}},
     "gemini-3-flash-preview",
     {"contents": [{"role": "user", "parts": [{"text": "weather?"}]},
                   {"role": "model", "parts": [{**CALL_PART, "thoughtSignature": "SIG1"}]},
                   {"role": "user", "parts": [RESULT_PART]}],
      "tools": [{"functionDeclarations": [WEATHER_DECL]}],
      "toolConfig": {"functionCallingConfig": {"mode": "ANY",
                                               "allowedFunctionNames": ["get_weather"]}}}),

    ("a Gemini 3 call without its reasoning item gets the documented dummy",
     {"input": [{"role": "user", "content": "weather?"}, CALL, RESULT], "tools": [WEATHER],
      "tool_choice": "required"},
     "gemini-3-flash-preview",
     {"contents": [{"role": "user", "parts": [{"text": "weather?"}]},
                   {"role": "model", "parts": [{**CALL_PART,
                                                "thoughtSignature": DUMMY_SIGNATURE}]},
                   {"role": "user", "parts": [RESULT_PART]}],
      "tools": [{"functionDeclarations": [WEATHER_DECL]}],
      "toolConfig": {"functionCallingConfig": {"mode": "ANY"}}}),

    ("generation settings, json_schema and reasoning",
     {"input": "a person", "max_output_tokens": 300, "temperature": 0.2, "top_p": 0.9,
      "reasoning": {"effort": "low", "summary": "auto"},
      "text": {"format": {"type": "json_schema", "name": "person", "strict": True,
                          "schema": {"type": "object",
                                     "properties": {"name": {"type": "string"}}}}},
      "store": False, "metadata": {"a": "b"}, "include": ["reasoning.encrypted_content"]},
     "gemini-2.5-flash",
     {"contents": [{"role": "user", "parts": [{"text": "a person"}]}],
      "generationConfig": {"temperature": 0.2, "topP": 0.9, "maxOutputTokens": 300,
                           "responseMimeType": "application/json",
                           "responseJsonSchema": {"type": "object",
                                                  "properties": {"name": {"type": "string"}}},
                           "thinkingConfig": {"thinkingBudget": 1024,
                                              "includeThoughts": True}}}),

    ("Gemini 3 thinks in levels; a stored chain comes before the input",
     {"input": "and now?", "reasoning": {"effort": "high"}},
     "gemini-3-pro-preview",
     {"contents": [{"role": "user", "parts": [{"text": "earlier"}]},
                   {"role": "model", "parts": [{"text": "Echo: earlier"}]},
                   {"role": "user", "parts": [{"text": "and now?"}]}],
      "generationConfig": {"thinkingConfig": {"thinkingLevel": "HIGH"}}}),
]
HISTORY = {"Gemini 3 thinks in levels; a stored chain comes before the input": [
    {"type": "message", "role": "user", "content": "earlier"},
    {"type": "message", "role": "assistant", "id": "msg_0", "status": "completed",
     "content": [{"type": "output_text", "text": "Echo: earlier", "annotations": []}]}]}


@pytest.mark.parametrize("name,body,model,expected", REQUESTS, ids=[r[0] for r in REQUESTS])
def test_requests_translate_to_native(name, body, model, expected):
    native, _ = to_native(body, model=model, history=HISTORY.get(name))
    assert native == expected


# (body, the field the 400 names)
REFUSED = [
    ({"input": "hi", "tools": [{"type": "web_search"}]}, "tools[0].type"),
    ({"input": "hi", "background": True}, "background"),
    ({"input": "hi", "conversation": "conv_1"}, "conversation"),
    ({"input": "hi", "prompt": {"id": "pmpt_1"}}, "prompt"),
    ({"input": "hi", "frobnicate": 1}, "frobnicate"),
    ({"input": [{"type": "item_reference", "id": "msg_1"}]}, "input[0]"),
    ({"input": [{"role": "user", "content": [
        {"type": "input_image", "image_url": "https://example.com/a.png"}]}]},
     "input[0].content[0].image_url"),
    ({"input": [{"role": "user", "content": [{"type": "input_file", "file_id": "file_1"}]}]},
     "input[0].content[0].file_id"),
    ({"input": "hi", "text": {"format": {"type": "yaml"}}}, "text.format.type"),
    ({"input": "hi", "reasoning": {"effort": "extreme"}}, "reasoning.effort"),
    ({"input": 3}, "input"),
    ({"input": []}, "input"),
    # Refusals of the chat translation underneath name the Responses fields.
    ({"input": "hi", "max_output_tokens": "many"}, "max_output_tokens"),
    ({"instructions": "Be brief.", "input": [
        {"role": "user", "content": "a"},
        {"type": "function_call_output", "call_id": "nowhere", "output": "o"}]},
     "input[1].call_id"),
    ({"input": [{"type": "function_call", "call_id": "c", "name": "f", "arguments": "{bad"}]},
     "input[0].arguments"),
]


@pytest.mark.parametrize("body,param", REFUSED, ids=[p for _, p in REFUSED])
def test_what_has_no_gemini_counterpart_is_refused_naming_the_field(body, param):
    with pytest.raises(Untranslatable) as err:
        to_native(body, model="gemini-2.5-flash")
    assert err.value.param == param


def test_sealed_signatures_read_back_and_foreign_content_is_ignored():
    assert unseal(seal({"c1": "SIG", "c2": "SIG2"})) == {"c1": "SIG", "c2": "SIG2"}
    assert unseal("gAAAAABopenai-own-encrypted-content") == {}
    assert unseal("balancer.v1:!!not-base64") == {}


def answer(*parts, reason="STOP", usage=None, **extra):
    out = {"candidates": [{"content": {"role": "model", "parts": list(parts)},
                           "finishReason": reason, "index": 0}], **extra}
    out["usageMetadata"] = usage or {"promptTokenCount": 7, "candidatesTokenCount": 3,
                                     "thoughtsTokenCount": 2, "cachedContentTokenCount": 4,
                                     "totalTokenCount": 12}
    return out


def ctx(body=None, model="gemini-3-flash-preview"):
    return to_native({"model": model, "input": "hi", **(body or {})}, model=model)[1]


MESSAGE = {"type": "message", "id": "msg_abc000", "status": "completed", "role": "assistant",
           "content": [{"type": "output_text", "text": "Hello", "annotations": [],
                        "logprobs": []}]}
USAGE = {"input_tokens": 7, "input_tokens_details": {"cached_tokens": 4}, "output_tokens": 5,
         "output_tokens_details": {"reasoning_tokens": 2}, "total_tokens": 12}

# (name, request fields, native answer, expected status, incomplete reason, expected output)
ANSWERS = [
    ("text", {}, answer({"text": "Hel"}, {"text": "lo", "thoughtSignature": "TSIG"}),
     "completed", None, [MESSAGE]),
    ("thoughts, text and a signed call", {"reasoning": {"summary": "auto"}},
     answer({"text": "Let me see.", "thought": True}, {"text": "Hello"},
            {"functionCall": {"name": "get_weather", "args": {"city": "Rome"}},
             "thoughtSignature": "SIG"}),
     "completed", None,
     [{"type": "reasoning", "id": "rs_abc000", "status": "completed",
       "summary": [{"type": "summary_text", "text": "Let me see."}]},
      {**MESSAGE, "id": "msg_abc001"},
      {"type": "reasoning", "id": "rs_abc002", "status": "completed", "summary": [],
       "encrypted_content": seal({"call_bal_respabc_0_0": "SIG"})},
      {"type": "function_call", "id": "fc_abc003", "call_id": "call_bal_respabc_0_0",
       "name": "get_weather", "arguments": '{"city":"Rome"}', "status": "completed"}]),
    ("Gemini's own call ids are the call ids; thoughts not asked for stay out", {},
     answer({"text": "hidden", "thought": True},
            {"functionCall": {"id": "call_9", "name": "a", "args": {}}},
            {"functionCall": {"id": "call_10", "name": "b", "args": {"x": 1}}}),
     "completed", None,
     [{"type": "function_call", "id": "fc_abc000", "call_id": "call_9", "name": "a",
       "arguments": "{}", "status": "completed"},
      {"type": "function_call", "id": "fc_abc001", "call_id": "call_10", "name": "b",
       "arguments": '{"x":1}', "status": "completed"}]),
    ("cut by the token limit", {}, answer({"text": "Hello"}, reason="MAX_TOKENS"),
     "incomplete", "max_output_tokens", [MESSAGE]),
    ("a blocked prompt", {}, {"promptFeedback": {"blockReason": "SAFETY"},
                              "usageMetadata": answer()["usageMetadata"]},
     "incomplete", "content_filter", []),
]


@pytest.mark.parametrize("name,body,native,status,reason,output", ANSWERS,
                         ids=[a[0] for a in ANSWERS])
def test_answers_and_streams_translate_to_the_same_response(name, body, native, status,
                                                            reason, output):
    context = ctx(body)
    response = to_response(native, context, created=1700000000, id=ID)
    assert response["output"] == output
    assert response["status"] == status
    assert response["incomplete_details"] == (reason and {"reason": reason})
    assert response["usage"] == USAGE
    assert response["id"] == ID and response["object"] == "response"
    assert response["created_at"] == 1700000000 and response["error"] is None
    # openai-python reads it, and the stream of the same parts ends in the same response.
    read = sdk.client(response).responses.create(model="m", input="hi")
    assert read.output_text == "".join(part["text"] for item in output
                                       if item["type"] == "message"
                                       for part in item["content"])
    stream = ResponsesStream(context, created=1700000000, id=ID)
    sse = stream.feed(native) + stream.end()
    last = _events(sse)[-1]
    assert last["type"] == f"response.{status}"
    assert last["response"] == response
    if status == "completed":  # the SDK's stream helper takes no other ending
        assert _streamed(sse).output_text == read.output_text


def _events(sse: bytes) -> list[dict]:
    return [json.loads(block.split("\ndata: ", 1)[1]) for block in sse.decode().split("\n\n")
            if block]


def _streamed(sse: bytes):
    with sdk.client(sse, "text/event-stream").responses.stream(model="m", input="hi") as events:
        for _ in events:
            pass
        return events.get_final_response()


def test_a_stream_in_pieces_sends_each_event_as_openai_does():
    stream = ResponsesStream(ctx({"reasoning": {"summary": "auto"}}), created=1, id=ID)
    pieces = [{"candidates": [{"content": {"parts": [{"text": "Hmm", "thought": True}]}}]},
              {"candidates": [{"content": {"parts": [{"text": "Hel"}]}}]},
              {"candidates": [{"content": {"parts": [
                  {"text": "lo"},
                  {"functionCall": {"id": "call_1", "name": "f", "args": {"a": 1}},
                   "thoughtSignature": "SIG"}]},
                  "finishReason": "STOP"}], "usageMetadata": answer()["usageMetadata"]}]
    sse = b"".join(stream.feed(p) for p in pieces) + stream.end()
    got = _events(sse)
    assert [e["sequence_number"] for e in got] == list(range(len(got)))
    assert [e["type"] for e in got] == [
        "response.created", "response.in_progress",
        "response.output_item.added", "response.reasoning_summary_part.added",
        "response.reasoning_summary_text.delta", "response.reasoning_summary_text.done",
        "response.reasoning_summary_part.done", "response.output_item.done",
        "response.output_item.added", "response.content_part.added",
        "response.output_text.delta", "response.output_text.delta",
        "response.output_text.done", "response.content_part.done", "response.output_item.done",
        "response.output_item.added", "response.output_item.done",
        "response.output_item.added", "response.function_call_arguments.delta",
        "response.function_call_arguments.done", "response.output_item.done",
        "response.completed"]
    call_added = got[-5]
    assert call_added["item"] == {"type": "function_call", "id": "fc_abc003",
                                  "call_id": "call_1", "name": "f", "arguments": "",
                                  "status": "in_progress"}
    assert got[-4]["delta"] == '{"a":1}' and got[-3]["arguments"] == '{"a":1}'
    assert unseal(got[-6]["item"]["encrypted_content"]) == {"call_1": "SIG"}
    assert got[-1]["response"]["usage"] == USAGE
    final = _streamed(sse)
    assert final.output_text == "Hello"


def test_a_failure_after_the_start_ends_with_response_failed():
    stream = ResponsesStream(ctx(), created=1, id=ID)
    sse = stream.feed({"candidates": [{"content": {"parts": [{"text": "Hel"}]}}]})
    sse += stream.error("The upstream stream failed (stream_cut).", "stream_cut")
    assert stream.error("again") == b"" and stream.end() == b""
    last = _events(sse)[-1]
    assert last["type"] == "response.failed"
    assert last["response"]["status"] == "failed"
    assert last["response"]["error"] == {"code": "stream_cut",
                                         "message": "The upstream stream failed (stream_cut)."}
    assert stream.failed


def test_an_in_band_upstream_error_fails_the_response():
    stream = ResponsesStream(ctx(), created=1, id=ID)
    sse = stream.feed({"error": {"code": 503, "message": "The model is overloaded.",
                                 "status": "UNAVAILABLE"}})
    kinds = [e["type"] for e in _events(sse)]
    assert kinds == ["response.created", "response.in_progress", "response.failed"]
    assert stream.failed
