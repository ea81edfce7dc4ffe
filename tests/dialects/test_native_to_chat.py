"""Gemini native requests -> OpenAI chat completions requests (golden table), what is refused,
and the round trip through the chat -> native translator."""
from __future__ import annotations

import json

import pytest

from balancer.dialects import Untranslatable, chat_request_from_native, to_native

PNG_B64 = "iVBORw0KGgo="
PNG = f"data:image/png;base64,{PNG_B64}"
HI = {"role": "user", "parts": [{"text": "hi"}]}
WEATHER_DECL = {"name": "get_weather", "description": "Weather of a city",
                "parameters": {"type": "OBJECT",
                               "properties": {"city": {"type": "STRING", "nullable": True,
                                                       "format": "enum",
                                                       "enum": ["Paris", "Rome"]},
                                              "days": {"type": "INTEGER", "example": 3}},
                               "required": ["city"], "propertyOrdering": ["city", "days"]}}
WEATHER_TOOL = {"type": "function", "function": {
    "name": "get_weather", "description": "Weather of a city",
    "parameters": {"type": "object",
                   "properties": {"city": {"type": ["string", "null"],
                                           "enum": ["Paris", "Rome"]},
                                  "days": {"type": "integer", "examples": [3]}},
                   "required": ["city"]}}}
TIME_TOOL = {"type": "function", "function": {"name": "get_time", "parameters": {
    "type": "object", "properties": {"tz": {"type": "string"}}}}}


def fcall(name, args, **extra):
    return {"functionCall": {**extra, "name": name, "args": args}}


def fresp(name, response, **extra):
    return {"functionResponse": {**extra, "name": name, "response": response}}


def tcall(call_id, name, arguments):
    return {"id": call_id, "type": "function",
            "function": {"name": name, "arguments": arguments}}


# (name, native body, keyword arguments, expected chat body without "model")
GOLDEN = [
    ("system parts joined, text turns, options",
     {"systemInstruction": {"parts": [{"text": "Be brief."}, {"text": "Use English."}]},
      "contents": [HI, {"role": "model", "parts": [{"text": "Hel"}, {"text": "lo"}]},
                   {"role": "user", "parts": [{"text": "a"}, {"text": "b"}]}],
      "generationConfig": {"temperature": 0.3, "topP": 0.9, "topK": 40, "maxOutputTokens": 100,
                           "stopSequences": ["END"], "candidateCount": 2, "seed": 7,
                           "presencePenalty": 0.1, "frequencyPenalty": 0.2,
                           "responseLogprobs": True, "logprobs": 3},
      "safetySettings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}]},
     {},
     {"messages": [{"role": "system", "content": "Be brief.\n\nUse English."},
                   {"role": "user", "content": "hi"},
                   {"role": "assistant", "content": "Hello"},
                   {"role": "user", "content": [{"type": "text", "text": "a"},
                                                {"type": "text", "text": "b"}]}],
      "temperature": 0.3, "top_p": 0.9, "max_tokens": 100, "stop": ["END"], "n": 2,
      "seed": 7, "presence_penalty": 0.1, "frequency_penalty": 0.2, "logprobs": True,
      "top_logprobs": 3}),

    ("max_completion_tokens when the caller's upstream wants it; a stream counts usage",
     {"contents": [HI], "generationConfig": {"maxOutputTokens": 64}},
     {"max_tokens_field": "max_completion_tokens", "stream": True},
     {"messages": [{"role": "user", "content": "hi"}], "max_completion_tokens": 64,
      "stream": True, "stream_options": {"include_usage": True}}),

    ("a multi-turn tool loop: calls get ids from their order, results follow them",
     {"contents": [{"role": "user", "parts": [{"text": "Weather in Paris?"}]},
                   {"role": "model", "parts": [
                       {"text": "Let me look.", "thought": True},
                       fcall("get_weather", {"city": "Paris"}, ),
                   ]},
                   {"role": "user", "parts": [fresp("get_weather", {"output": "sunny"})]},
                   {"role": "model", "parts": [{"text": "Sunny. "}, {"text": "And time?"}]},
                   {"role": "user", "parts": [{"text": "Yes, Paris time."}]},
                   {"role": "model", "parts": [fcall("get_time", {"tz": "Europe/Paris"})]},
                   {"role": "user", "parts": [fresp("get_time", {"output": {"h": 9}}),
                                              {"text": "Thanks"}]}],
      "tools": [{"functionDeclarations": [WEATHER_DECL, {
          "name": "get_time", "parametersJsonSchema": TIME_TOOL["function"]["parameters"]}]}],
      "toolConfig": {"functionCallingConfig": {"mode": "AUTO"}}},
     {},
     {"messages": [{"role": "user", "content": "Weather in Paris?"},
                   {"role": "assistant", "content": None,
                    "tool_calls": [tcall("call_0", "get_weather", '{"city":"Paris"}')]},
                   {"role": "tool", "tool_call_id": "call_0", "content": "sunny"},
                   {"role": "assistant", "content": "Sunny. And time?"},
                   {"role": "user", "content": "Yes, Paris time."},
                   {"role": "assistant", "content": None,
                    "tool_calls": [tcall("call_1", "get_time", '{"tz":"Europe/Paris"}')]},
                   {"role": "tool", "tool_call_id": "call_1", "content": '{"h":9}'},
                   {"role": "user", "content": "Thanks"}],
      "tools": [WEATHER_TOOL, TIME_TOOL], "tool_choice": "auto"}),

    ("parallel calls: results matched by id, else by name and order, whatever their order",
     {"contents": [HI,
                   {"role": "model", "parts": [
                       {"text": "Two cities."},
                       fcall("get_weather", {"city": "Paris"}),
                       fcall("get_weather", {"city": "Rome"}),
                       fcall("get_time", {}, id="gem-7")]},
                   {"role": "user", "parts": [
                       fresp("get_time", {"output": "09:00"}, id="gem-7"),
                       fresp("get_weather", {"output": "sunny"}),
                       fresp("get_weather", {"error": "no station"})]}],
      "tools": [{"functionDeclarations": [WEATHER_DECL, {"name": "get_time"}]}],
      "toolConfig": {"functionCallingConfig": {"mode": "ANY"}}},
     {},
     {"messages": [{"role": "user", "content": "hi"},
                   {"role": "assistant", "content": "Two cities.", "tool_calls": [
                       tcall("call_0", "get_weather", '{"city":"Paris"}'),
                       tcall("call_1", "get_weather", '{"city":"Rome"}'),
                       tcall("gem-7", "get_time", "{}")]},
                   {"role": "tool", "tool_call_id": "gem-7", "content": "09:00"},
                   {"role": "tool", "tool_call_id": "call_0", "content": "sunny"},
                   {"role": "tool", "tool_call_id": "call_1",
                    "content": '{"error":"no station"}'}],
      "tools": [WEATHER_TOOL, {"type": "function", "function": {
          "name": "get_time", "parameters": {"type": "object", "properties": {}}}}],
      "tool_choice": "required"}),

    ("allowed names: one -> that function, several -> only those tools, VALIDATED -> auto",
     {"contents": [HI],
      "tools": [{"functionDeclarations": [WEATHER_DECL]},
                {"functionDeclarations": [{"name": "get_time", "parametersJsonSchema":
                                           TIME_TOOL["function"]["parameters"]}]}],
      "toolConfig": {"functionCallingConfig": {"mode": "ANY",
                                               "allowedFunctionNames": ["get_time"]}}},
     {},
     {"messages": [{"role": "user", "content": "hi"}], "tools": [TIME_TOOL],
      "tool_choice": {"type": "function", "function": {"name": "get_time"}}}),

    ("VALIDATED with names keeps those tools, chooses auto; NONE-less configs",
     {"contents": [HI],
      "tools": [{"functionDeclarations": [WEATHER_DECL, {
          "name": "get_time", "parametersJsonSchema": TIME_TOOL["function"]["parameters"]}]}],
      "toolConfig": {"functionCallingConfig": {
          "mode": "VALIDATED", "allowedFunctionNames": ["get_weather", "get_time"]}}},
     {},
     {"messages": [{"role": "user", "content": "hi"}], "tools": [WEATHER_TOOL, TIME_TOOL],
      "tool_choice": "auto"}),

    ("tool choice none",
     {"contents": [HI], "tools": [{"functionDeclarations": [WEATHER_DECL]}],
      "toolConfig": {"functionCallingConfig": {"mode": "NONE"}}},
     {},
     {"messages": [{"role": "user", "content": "hi"}], "tools": [WEATHER_TOOL],
      "tool_choice": "none"}),

    ("images inline and by URL, audio, PDF",
     {"contents": [{"role": "user", "parts": [
         {"text": "What is this?"},
         {"inlineData": {"mimeType": "image/png", "data": PNG_B64},
          "mediaResolution": {"level": "MEDIA_RESOLUTION_HIGH"}},
         {"fileData": {"mimeType": "image/jpeg", "fileUri": "https://example.com/a.jpg"}},
         {"inlineData": {"mimeType": "audio/mpeg", "data": "SUQz"}},
         {"inlineData": {"mimeType": "audio/wav", "data": "UklGRg=="}},
         {"inlineData": {"mimeType": "application/pdf", "data": "JVBERi0x"}}]}]},
     {},
     {"messages": [{"role": "user", "content": [
         {"type": "text", "text": "What is this?"},
         {"type": "image_url", "image_url": {"url": PNG}},
         {"type": "image_url", "image_url": {"url": "https://example.com/a.jpg"}},
         {"type": "input_audio", "input_audio": {"data": "SUQz", "format": "mp3"}},
         {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}},
         {"type": "file", "file": {"filename": "document.pdf",
                                   "file_data": "data:application/pdf;base64,JVBERi0x"}}]}]}),

    ("JSON output with a JSON schema, thinking level",
     {"contents": [HI],
      "generationConfig": {"responseMimeType": "application/json",
                           "responseJsonSchema": {"type": "object", "properties": {
                               "name": {"type": "string"}}, "required": ["name"]},
                           "thinkingConfig": {"thinkingLevel": "LOW", "includeThoughts": True}}},
     {},
     {"messages": [{"role": "user", "content": "hi"}],
      "response_format": {"type": "json_schema", "json_schema": {
          "name": "response", "schema": {"type": "object", "properties": {
              "name": {"type": "string"}}, "required": ["name"]}}},
      "reasoning_effort": "low"}),

    ("JSON output with an OpenAPI schema, a thinking budget",
     {"contents": [HI],
      "generationConfig": {"responseMimeType": "application/json",
                           "responseSchema": {"type": "ARRAY", "items": {
                               "type": "OBJECT", "nullable": True,
                               "properties": {"n": {"type": "NUMBER", "format": "float"}}}},
                           "thinkingConfig": {"thinkingBudget": 24576}}},
     {},
     {"messages": [{"role": "user", "content": "hi"}],
      "response_format": {"type": "json_schema", "json_schema": {
          "name": "response", "schema": {"type": "array", "items": {
              "type": ["object", "null"],
              "properties": {"n": {"type": "number", "format": "float"}}}}}},
      "reasoning_effort": "high"}),

    ("JSON without a schema; thinking off; dynamic thinking sends nothing",
     {"contents": [HI], "generationConfig": {"responseMimeType": "application/json",
                                             "thinkingConfig": {"thinkingBudget": 0}}},
     {},
     {"messages": [{"role": "user", "content": "hi"}],
      "response_format": {"type": "json_object"}, "reasoning_effort": "none"}),

    ("dynamic thinking, text output, a missing role, signatures carried when asked",
     {"contents": [{"parts": [{"text": "hi"}]},
                   {"role": "model", "parts": [fcall("f", {}), {"text": "", "thoughtSignature":
                                                                "c2ln"}]},
                   {"role": "user", "parts": [fresp("f", {"output": ""})]}],
      "generationConfig": {"thinkingConfig": {"thinkingBudget": -1},
                           "responseMimeType": "text/plain", "responseModalities": ["TEXT"]}},
     {},
     {"messages": [{"role": "user", "content": "hi"},
                   {"role": "assistant", "content": None, "tool_calls": [tcall("call_0", "f",
                                                                               "{}")]},
                   {"role": "tool", "tool_call_id": "call_0", "content": ""}]}),

    ("thought signatures as Google's OpenAI layer reads them",
     {"contents": [HI, {"role": "model", "parts": [
         {**fcall("f", {"a": 1}), "thoughtSignature": "c2ln"}, fcall("f", {"a": 2})]},
         {"role": "user", "parts": [fresp("f", {"output": 1}), fresp("f", {"output": 2})]}]},
     {"signatures": True},
     {"messages": [{"role": "user", "content": "hi"},
                   {"role": "assistant", "content": None, "tool_calls": [
                       {**tcall("call_0", "f", '{"a":1}'),
                        "extra_content": {"google": {"thought_signature": "c2ln"}}},
                       tcall("call_1", "f", '{"a":2}')]},
                   {"role": "tool", "tool_call_id": "call_0", "content": "1"},
                   {"role": "tool", "tool_call_id": "call_1", "content": "2"}]}),
]


@pytest.mark.parametrize("name,native,kwargs,expected", GOLDEN, ids=[g[0] for g in GOLDEN])
def test_golden(name, native, kwargs, expected):
    kwargs = dict(kwargs)
    stream = kwargs.pop("stream", False)
    got = chat_request_from_native(native, "llama-3.3-70b", stream, **kwargs)
    assert got == {"model": "llama-3.3-70b", **expected}


def test_the_same_body_gives_the_same_call_ids():
    native = GOLDEN[3][1]
    first = chat_request_from_native(native, "m", False)
    assert chat_request_from_native(json.loads(json.dumps(native)), "m", False) == first


# (name, native body, the param named, words of the message)
REFUSED = [
    ("video inline", {"contents": [{"role": "user", "parts": [
        {"inlineData": {"mimeType": "video/mp4", "data": "AAAA"}}]}]},
     "contents[0].parts[0].inlineData.mimeType", "video/mp4"),
    ("plain text file", {"contents": [{"role": "user", "parts": [
        {"inlineData": {"mimeType": "text/plain", "data": "aGk="}}]}]},
     "contents[0].parts[0].inlineData.mimeType", "no OpenAI chat counterpart"),
    ("a Gemini Files API file", {"contents": [{"role": "user", "parts": [
        {"fileData": {"mimeType": "image/png",
                      "fileUri": "https://generativelanguage.googleapis.com/v1beta/files/x"}}]}]},
     "contents[0].parts[0].fileData", "readable by Google alone"),
    ("a PDF by URL", {"contents": [{"role": "user", "parts": [
        {"fileData": {"mimeType": "application/pdf", "fileUri": "https://example.com/a.pdf"}}]}]},
     "contents[0].parts[0].fileData", "image URLs"),
    ("media in a function result", {"contents": [
        HI, {"role": "model", "parts": [fcall("f", {})]},
        {"role": "user", "parts": [{"functionResponse": {
            "name": "f", "response": {}, "parts": [{"inlineData": {"mimeType": "image/png",
                                                                   "data": PNG_B64}}]}}]}]},
     "contents[2].parts[0].functionResponse.parts", "tool messages hold text"),
    ("a result that answers no call", {"contents": [
        HI, {"role": "model", "parts": [fcall("f", {})]},
        {"role": "user", "parts": [fresp("g", {"output": 1})]}]},
     "contents[2].parts[0].functionResponse", "answers no function call"),
    ("a second result for one call", {"contents": [
        HI, {"role": "model", "parts": [fcall("f", {})]},
        {"role": "user", "parts": [fresp("f", {"output": 1}), fresp("f", {"output": 2})]}]},
     "contents[2].parts[1].functionResponse", "answers no function call"),
    ("code execution", {"contents": [HI, {"role": "model", "parts": [
        {"executableCode": {"language": "PYTHON", "code": "1"}}]}]},
     "contents[1].parts[0]", "executableCode"),
    ("an unknown role", {"contents": [{"role": "system", "parts": [{"text": "x"}]}]},
     "contents[0].role", "user and model"),
    ("no contents", {"contents": []}, "contents", "non-empty"),
    ("an image in the system instruction", {"contents": [HI], "systemInstruction": {"parts": [
        {"inlineData": {"mimeType": "image/png", "data": PNG_B64}}]}},
     "systemInstruction.parts[0]", "text part"),
    ("Google Search", {"contents": [HI], "tools": [{"googleSearch": {}}]},
     "tools[0].googleSearch", "runs at Google alone"),
    ("cached content", {"contents": [HI], "cachedContent": "cachedContents/abc"},
     "cachedContent", "no counterpart"),
    ("an unknown field", {"contents": [HI], "sessionPolicy": {}}, "sessionPolicy",
     "no counterpart"),
    ("image output", {"contents": [HI], "generationConfig": {
        "responseModalities": ["TEXT", "IMAGE"]}},
     "generationConfig.responseModalities", "only text output"),
    ("speech", {"contents": [HI], "generationConfig": {"speechConfig": {}}},
     "generationConfig.speechConfig", "no counterpart"),
    ("enum output", {"contents": [HI], "generationConfig": {
        "responseMimeType": "text/x.enum", "responseSchema": {"type": "STRING",
                                                              "enum": ["a"]}}},
     "generationConfig.responseMimeType", "text/x.enum"),
    ("a schema without JSON", {"contents": [HI], "generationConfig": {
        "responseJsonSchema": {"type": "object"}}},
     "generationConfig.responseMimeType", "application/json"),
    ("an unknown thinking level", {"contents": [HI], "generationConfig": {
        "thinkingConfig": {"thinkingLevel": "TURBO"}}},
     "generationConfig.thinkingConfig.thinkingLevel", "TURBO"),
    ("a string max", {"contents": [HI], "generationConfig": {"maxOutputTokens": "9"}},
     "generationConfig.maxOutputTokens", "an integer"),
    ("allowed names that name nothing", {"contents": [HI],
                                         "tools": [{"functionDeclarations": [WEATHER_DECL]}],
                                         "toolConfig": {"functionCallingConfig": {
                                             "mode": "ANY", "allowedFunctionNames": ["x"]}}},
     "toolConfig.functionCallingConfig.allowedFunctionNames", "no declared function"),
    ("image output in the history", {"contents": [HI, {"role": "model", "parts": [
        {"inlineData": {"mimeType": "image/png", "data": PNG_B64}}]}]},
     "contents[1].parts[0]", "inlineData"),
    ("modalities that are not a list", {"contents": [HI], "generationConfig": {
        "responseModalities": "TEXT"}},
     "generationConfig.responseModalities", "only text output"),
    ("a call without a name", {"contents": [HI, {"role": "model", "parts": [
        {"functionCall": {"args": {}}}]}]},
     "contents[1].parts[0].functionCall.name", "must have a name"),
]


@pytest.mark.parametrize("name,native,param,words", REFUSED, ids=[r[0] for r in REFUSED])
def test_refused(name, native, param, words):
    with pytest.raises(Untranslatable) as caught:
        chat_request_from_native(native, "m", False)
    assert caught.value.param == param
    assert words in caught.value.message


def test_a_body_that_is_not_an_object():
    with pytest.raises(Untranslatable):
        chat_request_from_native([], "m", False)


# --- the round trip: chat -> native (chat_request.to_native) -> chat --------------------

def call(call_id, name, arguments, signature=None):
    out = tcall(call_id, name, arguments)
    if signature:
        out["extra_content"] = {"google": {"thought_signature": signature}}
    return out


WEATHER_PLAIN = {"type": "function", "function": {
    "name": "get_weather", "description": "Weather of a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                   "required": ["city"]}}}
LOOP = [{"role": "user", "content": "Weather in Paris and Rome?"},
        {"role": "assistant", "content": "Looking.", "tool_calls": [
            call("call_p", "get_weather", '{"city":"Paris"}'),
            call("call_r", "get_weather", '{"city":"Rome"}')]},
        {"role": "tool", "tool_call_id": "call_p", "content": "sunny"},
        {"role": "tool", "tool_call_id": "call_r", "content": '{"temp":20,"sky":"rain"}'},
        {"role": "assistant", "content": "Paris is sunny, Rome rainy."},
        {"role": "user", "content": [{"type": "text", "text": "And this?"},
                                     {"type": "image_url", "image_url": {"url": PNG}}]}]

# Chat requests each translator carries over whole, both ways (the model is the upstream's).
ROUND_TRIP = [
    ("options", "gemini-2.5-flash",
     {"messages": [{"role": "system", "content": "Be brief."},
                   {"role": "user", "content": "hi"},
                   {"role": "assistant", "content": "Hello"},
                   {"role": "user", "content": "again"}],
      "temperature": 0.5, "top_p": 0.8, "max_tokens": 200, "stop": ["END", "STOP"], "n": 2,
      "seed": 1, "presence_penalty": 0.5, "frequency_penalty": 0.25, "logprobs": True,
      "top_logprobs": 2}),
    ("a tool loop with parallel calls, an image", "gemini-2.5-flash",
     {"messages": LOOP, "tools": [WEATHER_PLAIN], "tool_choice": "required"}),
    ("a named tool choice, JSON schema output", "gemini-2.5-pro",
     {"messages": [{"role": "user", "content": "hi"}], "tools": [WEATHER_PLAIN],
      "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
      "response_format": {"type": "json_schema", "json_schema": {
          "name": "response", "schema": {"type": "object", "properties": {
              "city": {"type": "string"}, "n": {"type": ["integer", "null"]}},
              "required": ["city"]}}}}),
    ("JSON object, no tools called", "gemini-2.5-flash",
     {"messages": [{"role": "user", "content": "hi"}], "tools": [WEATHER_PLAIN],
      "tool_choice": "none", "response_format": {"type": "json_object"},
      "reasoning_effort": "medium"}),
    ("tool choice auto, thinking off", "gemini-2.5-flash",
     {"messages": [{"role": "user", "content": "hi"}], "tools": [WEATHER_PLAIN],
      "tool_choice": "auto", "reasoning_effort": "none"}),
    ("a Gemini 3 tool loop, signed, thinking level", "gemini-3-flash-preview",
     {"messages": [{"role": "user", "content": "Weather?"},
                   {"role": "assistant", "content": None, "tool_calls": [
                       call("call_p", "get_weather", '{"city":"Paris"}', "c2ln")]},
                   {"role": "tool", "tool_call_id": "call_p", "content": "sunny"}],
      "tools": [WEATHER_PLAIN], "reasoning_effort": "high"}),
]


@pytest.mark.parametrize("name,model,request_body", ROUND_TRIP, ids=[r[0] for r in ROUND_TRIP])
def test_round_trip_keeps_messages_tools_and_options(name, model, request_body):
    native, _ = to_native({"model": model, **request_body}, model=model)
    back = chat_request_from_native(native, model, False, signatures=True)
    assert back == {"model": model, **request_body}


# Chat requests that lose what the docstrings list, and what comes back.
LOSSY_ROUND_TRIP = [
    ("several system messages become one; top_k goes",
     {"messages": [{"role": "system", "content": "A."}, {"role": "developer", "content": "B."},
                   {"role": "user", "content": "hi"}], "top_k": 5},
     {"messages": [{"role": "system", "content": "A.\n\nB."},
                   {"role": "user", "content": "hi"}]}),
    ("a stop string becomes a list, max_completion_tokens the chosen field, effort buckets",
     {"messages": [{"role": "user", "content": "hi"}], "stop": "END",
      "max_completion_tokens": 9, "reasoning_effort": "minimal"},
     {"messages": [{"role": "user", "content": "hi"}], "stop": ["END"], "max_tokens": 9,
      "reasoning_effort": "low"}),
    ("reasoning of the history and unsigned ids of Balancer's own go; names and strict too",
     {"messages": [{"role": "user", "content": "hi", "name": "ann"},
                   {"role": "assistant", "content": None, "reasoning_content": "hmm",
                    "tool_calls": [call("call_bal_x_0_0", "get_weather", '{"city": "Oslo"}')]},
                   {"role": "tool", "tool_call_id": "call_bal_x_0_0", "content": "[1, 2]"}],
      "tools": [{"type": "function", "function": {**WEATHER_PLAIN["function"], "strict": True}}],
      "response_format": {"type": "json_schema", "json_schema": {
          "name": "city", "strict": True, "schema": {"type": "object"}}}},
     {"messages": [{"role": "user", "content": "hi"},
                   {"role": "assistant", "content": None,
                    "tool_calls": [call("call_0", "get_weather", '{"city":"Oslo"}')]},
                   {"role": "tool", "tool_call_id": "call_0", "content": "[1,2]"}],
      "tools": [WEATHER_PLAIN],
      "response_format": {"type": "json_schema", "json_schema": {
          "name": "response", "schema": {"type": "object"}}}}),
]


@pytest.mark.parametrize("name,request_body,expected", LOSSY_ROUND_TRIP,
                         ids=[r[0] for r in LOSSY_ROUND_TRIP])
def test_round_trip_loses_only_what_is_documented(name, request_body, expected):
    native, _ = to_native(request_body, model="gemini-2.5-flash")
    back = chat_request_from_native(native, "gemini-2.5-flash", False)
    assert back == {"model": "gemini-2.5-flash", **expected}


def test_a_model_step_split_over_contents_is_one_assistant_message():
    native = {"contents": [HI,
                           {"role": "model", "parts": [{"text": "Two "}, fcall("f", {"a": 1})]},
                           {"role": "model", "parts": [{"text": "calls."}, fcall("g", {})]},
                           {"role": "user", "parts": [fresp("g", {"output": "G"}),
                                                      fresp("f", {"output": "F"})]}]}
    assert chat_request_from_native(native, "m", False)["messages"] == [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "Two calls.",
         "tool_calls": [tcall("call_0", "f", '{"a":1}'), tcall("call_1", "g", "{}")]},
        {"role": "tool", "tool_call_id": "call_1", "content": "G"},
        {"role": "tool", "tool_call_id": "call_0", "content": "F"}]
