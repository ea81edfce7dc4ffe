"""OpenAI chat requests -> Gemini generateContent bodies (golden table), and what is refused."""
from __future__ import annotations

import pytest

from balancer.dialects import Untranslatable, to_native
from balancer.dialects.chat_messages import DUMMY_SIGNATURE

USER = {"role": "user", "content": "hi"}
HI = {"role": "user", "parts": [{"text": "hi"}]}
PNG = "data:image/png;base64,iVBORw0KGgo="
WEATHER_TOOL = {"type": "function", "function": {
    "name": "get_weather", "description": "Weather of a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                   "required": ["city"], "additionalProperties": False}}}
WEATHER_DECL = {"name": "get_weather", "description": "Weather of a city",
                "parameters": {"type": "OBJECT", "properties": {"city": {"type": "STRING"}},
                               "required": ["city"]}}


def call(call_id, name="get_weather", arguments='{"city":"Paris"}', signature=None):
    out = {"id": call_id, "type": "function",
           "function": {"name": name, "arguments": arguments}}
    if signature:
        out["extra_content"] = {"google": {"thought_signature": signature}}
    return out


# (name, OpenAI body, model, expected native body)
GOLDEN = [
    ("system, developer and merged turns",
     {"model": "gemini-2.5-flash", "messages": [
         {"role": "system", "content": "Be brief."},
         {"role": "developer", "content": [{"type": "text", "text": "Use English."}]},
         {"role": "user", "content": "Name a pelican"},
         {"role": "assistant", "content": "Scoop"},
         {"role": "user", "content": [{"type": "text", "text": "Another"},
                                      {"type": "text", "text": ""}]},
         {"role": "user", "content": "please"},
         {"role": "assistant", "content": ""}]},
     "gemini-2.5-flash",
     {"contents": [{"role": "user", "parts": [{"text": "Name a pelican"}]},
                   {"role": "model", "parts": [{"text": "Scoop"}]},
                   {"role": "user", "parts": [{"text": "Another"}, {"text": "please"}]}],
      "systemInstruction": {"parts": [{"text": "Be brief."}, {"text": "Use English."}]}}),

    ("media parts as inline data",
     {"messages": [{"role": "user", "content": [
         {"type": "text", "text": "What is this?"},
         {"type": "image_url", "image_url": {"url": PNG, "detail": "high"}},
         {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}},
         {"type": "input_audio", "input_audio": {"data": "SUQz", "format": "mp3"}},
         {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBERi0x",
                                   "filename": "a.pdf"}},
         {"type": "file", "file": {"file_data": "JVBERi0x", "filename": "b.pdf"}}]}]},
     "gemini-2.5-flash",
     {"contents": [{"role": "user", "parts": [
         {"text": "What is this?"},
         {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}},
         {"inlineData": {"mimeType": "audio/wav", "data": "UklGRg=="}},
         {"inlineData": {"mimeType": "audio/mp3", "data": "SUQz"}},
         {"inlineData": {"mimeType": "application/pdf", "data": "JVBERi0x"}},
         {"inlineData": {"mimeType": "application/pdf", "data": "JVBERi0x"}}]}]}),

    ("image detail is a part's media resolution on Gemini 3",
     {"messages": [{"role": "user", "content": [
         {"type": "image_url", "image_url": {"url": PNG, "detail": "low"}},
         {"type": "image_url", "image_url": {"url": PNG, "detail": "auto"}}]}]},
     "gemini-3-flash-preview",
     {"contents": [{"role": "user", "parts": [
         {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="},
          "mediaResolution": {"level": "MEDIA_RESOLUTION_LOW"}},
         {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}}]}]}),

    ("sampling options",
     {"messages": [USER], "temperature": 0.2, "top_p": 0.9, "top_k": 40, "max_tokens": 100,
      "stop": "END", "n": 2, "seed": 7, "presence_penalty": 0.5, "frequency_penalty": -0.5,
      "logprobs": True, "top_logprobs": 3, "user": "u1", "metadata": {"a": "b"}, "store": False,
      "service_tier": "auto", "prompt_cache_key": "k", "stream": True,
      "stream_options": {"include_usage": True}, "parallel_tool_calls": True,
      "verbosity": "medium", "logit_bias": None, "some_future_option": None},
     "gemini-2.5-flash",
     {"contents": [HI], "generationConfig": {
         "temperature": 0.2, "topP": 0.9, "topK": 40, "seed": 7, "presencePenalty": 0.5,
         "frequencyPenalty": -0.5, "candidateCount": 2, "maxOutputTokens": 100,
         "stopSequences": ["END"], "responseLogprobs": True, "logprobs": 3}}),

    ("max_completion_tokens wins over max_tokens; stop as a list",
     {"messages": [USER], "max_tokens": 100, "max_completion_tokens": 50, "stop": ["a", "b"]},
     "gemini-2.5-flash",
     {"contents": [HI], "generationConfig": {"maxOutputTokens": 50, "stopSequences": ["a", "b"]}}),

    ("json_object",
     {"messages": [USER], "response_format": {"type": "json_object"}},
     "gemini-2.5-flash",
     {"contents": [HI], "generationConfig": {"responseMimeType": "application/json"}}),

    ("json_schema, cleaned to the keywords Gemini documents",
     {"messages": [USER], "response_format": {"type": "json_schema", "json_schema": {
         "name": "person", "strict": True, "description": "A person",
         "schema": {"$schema": "https://json-schema.org/draft/2020-12/schema",
                    "type": "object", "additionalProperties": False,
                    "properties": {"name": {"type": "string", "minLength": 1},
                                   "kind": {"const": "human"},
                                   "age": {"type": ["integer", "null"], "exclusiveMinimum": 0}},
                    "required": ["name", "kind", "age"]}}}},
     "gemini-2.5-flash",
     {"contents": [HI], "generationConfig": {
         "responseMimeType": "application/json",
         "responseJsonSchema": {
             "type": "object", "additionalProperties": False,
             "properties": {"name": {"type": "string"}, "kind": {"enum": ["human"]},
                            "age": {"type": ["integer", "null"], "minimum": 0}},
             "required": ["name", "kind", "age"], "description": "A person"}}}),

    ("reasoning_effort on 2.5 is a thinking budget",
     {"messages": [USER], "reasoning_effort": "medium"},
     "gemini-2.5-flash",
     {"contents": [HI], "generationConfig": {"thinkingConfig": {"thinkingBudget": 8192}}}),

    ("reasoning_effort none switches 2.5 thinking off",
     {"messages": [USER], "reasoning_effort": "none"},
     "models/gemini-2.5-flash-lite",
     {"contents": [HI], "generationConfig": {"thinkingConfig": {"thinkingBudget": 0}}}),

    ("reasoning_effort on Gemini 3 Flash is a thinking level",
     {"messages": [USER], "reasoning_effort": "minimal"},
     "gemini-3-flash-preview",
     {"contents": [HI], "generationConfig": {"thinkingConfig": {"thinkingLevel": "MINIMAL"}}}),

    ("a level Gemini 3.1 Pro lacks is raised to the next it takes",
     {"messages": [USER], "reasoning_effort": "none"},
     "gemini-3.1-pro-preview",
     {"contents": [HI], "generationConfig": {"thinkingConfig": {"thinkingLevel": "LOW"}}}),

    ("xhigh is the highest level a model takes",
     {"messages": [USER], "reasoning_effort": "xhigh"},
     "gemini-3-flash-preview",
     {"contents": [HI], "generationConfig": {"thinkingConfig": {"thinkingLevel": "HIGH"}}}),

    ("Gemini 3 Pro takes only low and high",
     {"messages": [USER], "reasoning_effort": "medium"},
     "gemini-3-pro-preview",
     {"contents": [HI], "generationConfig": {"thinkingConfig": {"thinkingLevel": "HIGH"}}}),

    ("extra_body.google.thinking_config replaces reasoning_effort's budget",
     {"messages": [USER], "reasoning_effort": "high", "extra_body": {"google": {
         "thinking_config": {"thinking_budget": 2048, "include_thoughts": True},
         "cached_content": "cachedContents/abc"}}},
     "gemini-2.5-pro",
     {"contents": [HI], "cachedContent": "cachedContents/abc",
      "generationConfig": {"thinkingConfig": {"thinkingBudget": 2048, "includeThoughts": True}}}),

    ("a top-level google key (openai-python's extra_body) is read too",
     {"messages": [USER], "google": {"thinking_config": {"thinking_level": "low"},
                                     "safety_settings": [{"category": "HARM_CATEGORY_HARASSMENT",
                                                          "threshold": "BLOCK_NONE"}]}},
     "gemini-3-pro-preview",
     {"contents": [HI],
      "safetySettings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}],
      "generationConfig": {"thinkingConfig": {"thinkingLevel": "LOW"}}}),

    ("web_search_options is Google Search; image modality is image output",
     {"messages": [USER], "web_search_options": {"search_context_size": "low"},
      "modalities": ["text", "image"]},
     "gemini-2.5-flash-image",
     {"contents": [HI], "tools": [{"googleSearch": {}}],
      "generationConfig": {"responseModalities": ["TEXT", "IMAGE"]}}),

    ("tools and tool_choice auto",
     {"messages": [USER], "tools": [WEATHER_TOOL], "tool_choice": "auto"},
     "gemini-2.5-flash",
     {"contents": [HI], "tools": [{"functionDeclarations": [WEATHER_DECL]}],
      "toolConfig": {"functionCallingConfig": {"mode": "AUTO"}}}),

    ("tool_choice required",
     {"messages": [USER], "tools": [WEATHER_TOOL], "tool_choice": "required"},
     "gemini-2.5-flash",
     {"contents": [HI], "tools": [{"functionDeclarations": [WEATHER_DECL]}],
      "toolConfig": {"functionCallingConfig": {"mode": "ANY"}}}),

    ("tool_choice none",
     {"messages": [USER], "tools": [WEATHER_TOOL], "tool_choice": "none"},
     "gemini-2.5-flash",
     {"contents": [HI], "tools": [{"functionDeclarations": [WEATHER_DECL]}],
      "toolConfig": {"functionCallingConfig": {"mode": "NONE"}}}),

    ("a named function",
     {"messages": [USER], "tools": [WEATHER_TOOL],
      "tool_choice": {"type": "function", "function": {"name": "get_weather"}}},
     "gemini-2.5-flash",
     {"contents": [HI], "tools": [{"functionDeclarations": [WEATHER_DECL]}],
      "toolConfig": {"functionCallingConfig": {"mode": "ANY",
                                               "allowedFunctionNames": ["get_weather"]}}}),

    ("allowed_tools auto is VALIDATED",
     {"messages": [USER], "tools": [WEATHER_TOOL], "tool_choice": {
         "type": "allowed_tools", "allowed_tools": {"mode": "auto", "tools": [
             {"type": "function", "function": {"name": "get_weather"}}]}}},
     "gemini-2.5-flash",
     {"contents": [HI], "tools": [{"functionDeclarations": [WEATHER_DECL]}],
      "toolConfig": {"functionCallingConfig": {"mode": "VALIDATED",
                                               "allowedFunctionNames": ["get_weather"]}}}),

    ("a function without parameters declares none",
     {"messages": [USER], "tools": [{"type": "function", "function": {
         "name": "now", "parameters": {"type": "object", "properties": {}}}}]},
     "gemini-2.5-flash",
     {"contents": [HI], "tools": [{"functionDeclarations": [{"name": "now"}]}]}),

    ("a tool loop: calls, results in call order, Gemini ids and signatures echoed",
     {"messages": [
         {"role": "user", "content": "Weather in Paris and Rome?"},
         {"role": "assistant", "content": "Looking.", "reasoning_content": "thinking...",
          "tool_calls": [call("call_1", signature="c2lnMQ=="),
                         call("call_bal_x_0_1", arguments='{"city":"Rome"}')]},
         {"role": "tool", "tool_call_id": "call_bal_x_0_1", "content": "rainy"},
         {"role": "tool", "tool_call_id": "call_1",
          "content": [{"type": "text", "text": '{"temp": 21}'}]},
         {"role": "assistant", "content": "Sunny in Paris, rainy in Rome."},
         {"role": "user", "content": "Thanks"}],
      "tools": [WEATHER_TOOL]},
     "gemini-2.5-flash",
     {"contents": [
         {"role": "user", "parts": [{"text": "Weather in Paris and Rome?"}]},
         {"role": "model", "parts": [
             {"text": "Looking."},
             {"functionCall": {"id": "call_1", "name": "get_weather", "args": {"city": "Paris"}},
              "thoughtSignature": "c2lnMQ=="},
             {"functionCall": {"name": "get_weather", "args": {"city": "Rome"}}}]},
         {"role": "user", "parts": [
             {"functionResponse": {"id": "call_1", "name": "get_weather",
                                   "response": {"output": {"temp": 21}}}},
             {"functionResponse": {"name": "get_weather", "response": {"output": "rainy"}}}]},
         {"role": "model", "parts": [{"text": "Sunny in Paris, rainy in Rome."}]},
         {"role": "user", "parts": [{"text": "Thanks"}]}],
      "tools": [{"functionDeclarations": [WEATHER_DECL]}]}),

    ("Gemini 3: the current turn's unsigned steps get the dummy signature, older ones not",
     {"messages": [
         {"role": "user", "content": "old question"},
         {"role": "assistant", "tool_calls": [call("call_a")]},
         {"role": "tool", "tool_call_id": "call_a", "content": "1"},
         {"role": "assistant", "content": "old answer"},
         {"role": "user", "content": "new question"},
         {"role": "assistant", "tool_calls": [call("call_b"), call("call_c")]},
         {"role": "tool", "tool_call_id": "call_b", "content": "2"},
         {"role": "tool", "tool_call_id": "call_c", "content": "3"},
         {"role": "assistant", "tool_calls": [call("call_d", signature="real")]},
         {"role": "tool", "tool_call_id": "call_d", "content": "4"}],
      "tools": [WEATHER_TOOL]},
     "gemini-3-pro-preview",
     {"contents": [
         {"role": "user", "parts": [{"text": "old question"}]},
         {"role": "model", "parts": [{"functionCall": {"id": "call_a", "name": "get_weather",
                                                       "args": {"city": "Paris"}}}]},
         {"role": "user", "parts": [{"functionResponse": {"id": "call_a", "name": "get_weather",
                                                          "response": {"output": 1}}}]},
         {"role": "model", "parts": [{"text": "old answer"}]},
         {"role": "user", "parts": [{"text": "new question"}]},
         {"role": "model", "parts": [
             {"functionCall": {"id": "call_b", "name": "get_weather", "args": {"city": "Paris"}},
              "thoughtSignature": DUMMY_SIGNATURE},
             {"functionCall": {"id": "call_c", "name": "get_weather",
                               "args": {"city": "Paris"}}}]},
         {"role": "user", "parts": [
             {"functionResponse": {"id": "call_b", "name": "get_weather",
                                   "response": {"output": 2}}},
             {"functionResponse": {"id": "call_c", "name": "get_weather",
                                   "response": {"output": 3}}}]},
         {"role": "model", "parts": [
             {"functionCall": {"id": "call_d", "name": "get_weather", "args": {"city": "Paris"}},
              "thoughtSignature": "real"}]},
         {"role": "user", "parts": [{"functionResponse": {"id": "call_d", "name": "get_weather",
                                                          "response": {"output": 4}}}]}],
      "tools": [{"functionDeclarations": [WEATHER_DECL]}]}),

    ("a name Gemini refuses is renamed, in declarations, choice and history alike",
     {"messages": [
         {"role": "user", "content": "go"},
         {"role": "assistant", "tool_calls": [call("c1", name="files/read", arguments="")]},
         {"role": "tool", "tool_call_id": "c1", "content": "text"}],
      "tools": [{"type": "function", "function": {"name": "files/read"}}],
      "tool_choice": {"type": "function", "function": {"name": "files/read"}}},
     "gemini-2.5-flash",
     {"contents": [
         {"role": "user", "parts": [{"text": "go"}]},
         {"role": "model", "parts": [{"functionCall": {"id": "c1", "name": "files_read_ee1d56bc",
                                                       "args": {}}}]},
         {"role": "user", "parts": [{"functionResponse": {
             "id": "c1", "name": "files_read_ee1d56bc", "response": {"output": "text"}}}]}],
      "tools": [{"functionDeclarations": [{"name": "files_read_ee1d56bc"}]}],
      "toolConfig": {"functionCallingConfig": {"mode": "ANY",
                                               "allowedFunctionNames": ["files_read_ee1d56bc"]}}}),
]


@pytest.mark.parametrize("body,model,expected", [case[1:] for case in GOLDEN],
                         ids=[case[0] for case in GOLDEN])
def test_golden_requests(body, model, expected):
    native, _ = to_native(body, model=model)
    assert native == expected


def test_the_context_carries_what_the_answer_needs():
    _, ctx = to_native({"model": "gemini-2.5-flash-search", "messages": [USER], "n": 3,
                        "stream_options": {"include_usage": True}, "parallel_tool_calls": False,
                        "extra_body": {"google": {"thinking_config": {"include_thoughts": True}}},
                        "tools": [{"type": "function", "function": {"name": "a b"}}]},
                       model="gemini-2.5-flash")
    assert ctx.model == "gemini-2.5-flash-search"  # the name the client asked for
    assert (ctx.include_usage, ctx.n, ctx.thoughts, ctx.single_call) == (True, 3, True, True)
    (renamed,) = ctx.names
    assert renamed.startswith("a_b_") and ctx.client_name(renamed) == "a b"
    assert ctx.client_name("other") == "other"
    with pytest.raises(TypeError):
        ctx.names["x"] = "y"  # frozen: one context may serve a retry on another key


def test_the_client_body_is_left_untouched():
    body = {"messages": [{"role": "user", "content": "hi"}], "tools": [WEATHER_TOOL]}
    before = repr(body)
    native, _ = to_native(body, model="gemini-2.5-flash")
    native["contents"][0]["parts"].append({"text": "more"})
    assert repr(body) == before


# (name, body, param named by the 400)
REFUSED = [
    ("remote image URL",
     {"messages": [{"role": "user", "content": [
         {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}]}]},
     "messages[0].content[0].image_url.url"),
    ("uploaded file id",
     {"messages": [{"role": "user", "content": [{"type": "file", "file": {"file_id": "f1"}}]}]},
     "messages[0].content[0].file.file_id"),
    ("bare base64 with no type",
     {"messages": [{"role": "user", "content": [{"type": "file", "file": {"file_data": "AAAA"}}]}]},
     "messages[0].content[0].file.file_data"),
    ("audio format", {"messages": [{"role": "user", "content": [
        {"type": "input_audio", "input_audio": {"data": "AA", "format": "opus"}}]}]},
     "messages[0].content[0].input_audio.format"),
    ("unknown part", {"messages": [{"role": "user", "content": [{"type": "video_url"}]}]},
     "messages[0].content[0]"),
    ("logit_bias", {"messages": [USER], "logit_bias": {"50256": -100}}, "logit_bias"),
    ("audio output", {"messages": [USER], "audio": {"voice": "alloy", "format": "wav"}}, "audio"),
    ("audio modality", {"messages": [USER], "modalities": ["text", "audio"]}, "modalities"),
    ("prediction", {"messages": [USER], "prediction": {"type": "content", "content": "x"}},
     "prediction"),
    ("legacy functions", {"messages": [USER], "functions": [{"name": "f"}]}, "functions"),
    ("legacy function_call", {"messages": [USER], "function_call": "auto"}, "function_call"),
    ("custom tool", {"messages": [USER], "tools": [{"type": "custom", "custom": {"name": "x"}}]},
     "tools[0].type"),
    ("custom tool choice", {"messages": [USER], "tools": [WEATHER_TOOL],
                            "tool_choice": {"type": "custom", "custom": {"name": "x"}}},
     "tool_choice"),
    ("tool_choice without tools", {"messages": [USER], "tool_choice": "required"}, "tool_choice"),
    ("unknown field", {"messages": [USER], "thinking": {"type": "enabled"}}, "thinking"),
    ("verbosity", {"messages": [USER], "verbosity": "low"}, "verbosity"),
    ("reasoning_effort value", {"messages": [USER], "reasoning_effort": "huge"},
     "reasoning_effort"),
    ("unknown google extra", {"messages": [USER], "extra_body": {"google": {"foo": 1}}},
     "extra_body.google.foo"),
    ("unknown thinking_config key", {"messages": [USER], "extra_body": {"google": {
        "thinking_config": {"budget": 1}}}}, "extra_body.google.thinking_config.budget"),
    ("other extra_body key", {"messages": [USER], "extra_body": {"top_k": 3}}, "extra_body.top_k"),
    ("response_format type", {"messages": [USER], "response_format": {"type": "xml"}},
     "response_format.type"),
    ("tool result without its call", {"messages": [
        USER, {"role": "tool", "tool_call_id": "nope", "content": "1"}]},
     "messages[1].tool_call_id"),
    ("call arguments not JSON", {"messages": [
        USER, {"role": "assistant", "tool_calls": [call("c", arguments="{oops")]}]},
     "messages[1].tool_calls[0].function.arguments"),
    ("call arguments not an object", {"messages": [
        USER, {"role": "assistant", "tool_calls": [call("c", arguments="[1]")]}]},
     "messages[1].tool_calls[0].function.arguments"),
    ("legacy function role", {"messages": [{"role": "function", "name": "f", "content": "1"}]},
     "messages[0].role"),
    ("assistant audio", {"messages": [USER, {"role": "assistant", "audio": {"id": "a1"}}]},
     "messages[1].audio"),
    ("image in a system message", {"messages": [{"role": "system", "content": [
        {"type": "image_url", "image_url": {"url": PNG}}]}, USER]}, "messages[0].content[0]"),
    ("no conversation", {"messages": [{"role": "system", "content": "only rules"}]}, "messages"),
    ("no messages", {"messages": []}, "messages"),
    ("temperature not a number", {"messages": [USER], "temperature": "hot"}, "temperature"),
    ("a $ref to nowhere", {"messages": [USER], "tools": [{"type": "function", "function": {
        "name": "f", "parameters": {"type": "object", "properties": {
            "a": {"$ref": "#/$defs/Missing"}}}}}]},
     "tools[0].function.parameters.properties.a"),
]


@pytest.mark.parametrize("body,param", [case[1:] for case in REFUSED],
                         ids=[case[0] for case in REFUSED])
def test_what_has_no_counterpart_is_refused_naming_the_field(body, param):
    with pytest.raises(Untranslatable) as caught:
        to_native(body, model="gemini-2.5-flash")
    assert caught.value.param == param
    assert caught.value.message and isinstance(caught.value, ValueError)


def test_a_remote_image_is_refused_with_a_message_that_says_what_to_do():
    with pytest.raises(Untranslatable) as caught:
        to_native({"messages": [{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}]}]},
            model="gemini-2.5-flash")
    assert "data: URL" in caught.value.message
