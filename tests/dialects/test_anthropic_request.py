"""Anthropic Messages requests -> Gemini bodies (golden table), and what is refused."""
from __future__ import annotations

import pytest

from balancer.dialects import Untranslatable
from balancer.dialects.anthropic_request import to_native
from balancer.dialects.chat_messages import DUMMY_SIGNATURE

HI = {"role": "user", "parts": [{"text": "hi"}]}
PNG = "iVBORw0KGgo="
WEATHER = {"name": "get_weather", "description": "Weather of a city",
           "input_schema": {"type": "object", "properties": {"city": {"type": "string"}},
                            "required": ["city"], "additionalProperties": False,
                            "$schema": "http://json-schema.org/draft-07/schema#"},
           "cache_control": {"type": "ephemeral"}}
WEATHER_DECL = {"name": "get_weather", "description": "Weather of a city",
                "parameters": {"type": "OBJECT", "properties": {"city": {"type": "STRING"}},
                               "required": ["city"]}}
ASK = {"role": "user", "content": "weather?"}


def use(tool_id, city="Paris", name="get_weather"):
    return {"type": "tool_use", "id": tool_id, "name": name, "input": {"city": city}}


def result(tool_id, content="sunny", **extra):
    return {"type": "tool_result", "tool_use_id": tool_id, "content": content, **extra}


def body(*messages, **extra):
    return {"model": "claude-sonnet-4-5", "max_tokens": 1024, "messages": list(messages), **extra}


# (name, Messages body, Gemini model, expected native body)
GOLDEN = [
    ("system as a string, merged turns, empty blocks dropped, metadata ignored",
     body({"role": "user", "content": "hi"}, {"role": "user", "content": [
         {"type": "text", "text": ""}, {"type": "text", "text": "there",
                                        "cache_control": {"type": "ephemeral"}}]},
          {"role": "assistant", "content": ""},
          system="Be brief.", metadata={"user_id": "u1"}, service_tier="auto"),
     "gemini-2.5-flash",
     {"contents": [{"role": "user", "parts": [{"text": "hi"}, {"text": "there"}]}],
      "systemInstruction": {"parts": [{"text": "Be brief."}]},
      "generationConfig": {"maxOutputTokens": 1024}}),
    ("system as blocks, sampling and stop sequences",
     body({"role": "user", "content": "hi"},
          system=[{"type": "text", "text": "x-anthropic-billing-header: cc"},
                  {"type": "text", "text": "Be kind.", "cache_control": {"type": "ephemeral"}}],
          temperature=0.5, top_p=0.9, top_k=40, stop_sequences=["END"]),
     "gemini-2.5-flash",
     {"contents": [HI],
      "systemInstruction": {"parts": [{"text": "x-anthropic-billing-header: cc"},
                                      {"text": "Be kind."}]},
      "generationConfig": {"temperature": 0.5, "topP": 0.9, "topK": 40,
                           "maxOutputTokens": 1024, "stopSequences": ["END"]}}),
    ("image and PDF and text documents",
     body({"role": "user", "content": [
         {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
         {"type": "document", "source": {"type": "base64", "media_type": "application/pdf",
                                         "data": "JVBERi0="}, "title": "a.pdf"},
         {"type": "document", "source": {"type": "text", "media_type": "text/plain",
                                         "data": "plain words"}},
         {"type": "text", "text": "what is this?"}]}),
     "gemini-2.5-flash",
     {"contents": [{"role": "user", "parts": [
         {"inlineData": {"mimeType": "image/png", "data": PNG}},
         {"inlineData": {"mimeType": "application/pdf", "data": "JVBERi0="}},
         {"text": "plain words"}, {"text": "what is this?"}]}],
      "generationConfig": {"maxOutputTokens": 1024}}),
    ("tools cleaned, tool_choice any, a tool loop on 2.5 with parallel results in call order",
     body(ASK, {"role": "assistant", "content": [
         {"type": "text", "text": "Looking."}, use("toolu_bal_x_0"), use("toolu_bal_x_1", "Rome")]},
          {"role": "user", "content": [result("toolu_bal_x_1", "rain"),
                                       result("toolu_bal_x_0", [{"type": "text", "text": "sun"}]),
                                       {"type": "text", "text": "and?"}]},
          tools=[WEATHER], tool_choice={"type": "any"}),
     "gemini-2.5-flash",
     {"contents": [{"role": "user", "parts": [{"text": "weather?"}]},
                   {"role": "model", "parts": [
                       {"text": "Looking."},
                       {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}},
                       {"functionCall": {"name": "get_weather", "args": {"city": "Rome"}}}]},
                   {"role": "user", "parts": [
                       {"functionResponse": {"name": "get_weather",
                                             "response": {"output": "sun"}}},
                       {"functionResponse": {"name": "get_weather",
                                             "response": {"output": "rain"}}},
                       {"text": "and?"}]}],
      "tools": [{"functionDeclarations": [WEATHER_DECL]}],
      "toolConfig": {"functionCallingConfig": {"mode": "ANY"}},
      "generationConfig": {"maxOutputTokens": 1024}}),
    ("Gemini 3: the thinking block's signature goes to its call, Gemini's id goes back, "
     "is_error, a named tool",
     body(ASK, {"role": "assistant", "content": [
         {"type": "thinking", "thinking": "hmm", "signature": "SIG1"}, use("call_7")]},
          {"role": "user", "content": [result("call_7", "boom", is_error=True)]},
          tools=[WEATHER], tool_choice={"type": "tool", "name": "get_weather"}),
     "gemini-3-flash-preview",
     {"contents": [{"role": "user", "parts": [{"text": "weather?"}]},
                   {"role": "model", "parts": [
                       {"functionCall": {"id": "call_7", "name": "get_weather",
                                         "args": {"city": "Paris"}},
                        "thoughtSignature": "SIG1"}]},
                   {"role": "user", "parts": [
                       {"functionResponse": {"id": "call_7", "name": "get_weather",
                                             "response": {"error": "boom"}}}]}],
      "tools": [{"functionDeclarations": [WEATHER_DECL]}],
      "toolConfig": {"functionCallingConfig": {"mode": "ANY",
                                               "allowedFunctionNames": ["get_weather"]}},
      "generationConfig": {"maxOutputTokens": 1024}}),
    ("Gemini 3: a call in the current turn without its signature gets the dummy",
     body(ASK, {"role": "assistant", "content": [use("toolu_01abc")]},
          {"role": "user", "content": [result("toolu_01abc")]}, tools=[WEATHER]),
     "gemini-3-pro-preview",
     {"contents": [{"role": "user", "parts": [{"text": "weather?"}]},
                   {"role": "model", "parts": [
                       {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}},
                        "thoughtSignature": DUMMY_SIGNATURE}]},
                   {"role": "user", "parts": [
                       {"functionResponse": {"name": "get_weather",
                                             "response": {"output": "sunny"}}}]}],
      "tools": [{"functionDeclarations": [WEATHER_DECL]}],
      "generationConfig": {"maxOutputTokens": 1024}}),
    ("thinking enabled on 2.5: the budget; tool_choice none; redacted thinking dropped",
     body(ASK, {"role": "assistant", "content": [{"type": "redacted_thinking", "data": "x"},
                                                 {"type": "text", "text": "ok"}]},
          {"role": "user", "content": "go on"},
          thinking={"type": "enabled", "budget_tokens": 2000}, tools=[WEATHER],
          tool_choice={"type": "none"}),
     "gemini-2.5-flash",
     {"contents": [{"role": "user", "parts": [{"text": "weather?"}]},
                   {"role": "model", "parts": [{"text": "ok"}]},
                   {"role": "user", "parts": [{"text": "go on"}]}],
      "tools": [{"functionDeclarations": [WEATHER_DECL]}],
      "toolConfig": {"functionCallingConfig": {"mode": "NONE"}},
      "generationConfig": {"maxOutputTokens": 1024,
                           "thinkingConfig": {"thinkingBudget": 2000, "includeThoughts": True}}}),
    ("thinking enabled on Gemini 3 Flash: a level; a large budget is HIGH",
     body(ASK, thinking={"type": "enabled", "budget_tokens": 16000}),
     "gemini-3-flash-preview",
     {"contents": [{"role": "user", "parts": [{"text": "weather?"}]}],
      "generationConfig": {"maxOutputTokens": 1024,
                           "thinkingConfig": {"thinkingLevel": "HIGH", "includeThoughts": True}}}),
    ("Claude Code's large budget is lowered to 2.5 Flash's most",
     body(ASK, thinking={"type": "enabled", "budget_tokens": 31999}), "gemini-2.5-flash",
     {"contents": [{"role": "user", "parts": [{"text": "weather?"}]}],
      "generationConfig": {"maxOutputTokens": 1024,
                           "thinkingConfig": {"thinkingBudget": 24576, "includeThoughts": True}}}),
    ("thinking disabled: 2.5 Pro keeps its least budget",
     body(ASK, thinking={"type": "disabled"}), "gemini-2.5-pro",
     {"contents": [{"role": "user", "parts": [{"text": "weather?"}]}],
      "generationConfig": {"maxOutputTokens": 1024, "thinkingConfig": {"thinkingBudget": 128}}}),
    ("output_config.format: JSON output",
     body(ASK, output_config={"format": {"type": "json_schema", "schema": {
         "type": "object", "properties": {"a": {"type": "string"}},
         "additionalProperties": False}}, "effort": "high"}),
     "gemini-2.5-flash",
     {"contents": [{"role": "user", "parts": [{"text": "weather?"}]}],
      "generationConfig": {"maxOutputTokens": 1024, "responseMimeType": "application/json",
                           "responseJsonSchema": {"type": "object",
                                                  "properties": {"a": {"type": "string"}},
                                                  "additionalProperties": False}}}),
]


@pytest.mark.parametrize("name, body, model, expected", GOLDEN, ids=[g[0] for g in GOLDEN])
def test_golden(name, body, model, expected):
    native, _ = to_native(body, model=model)
    assert native == expected


def test_the_context_carries_what_the_answer_needs():
    _, ctx = to_native(body(ASK, tools=[dict(WEATHER, name="my tool")],
                            tool_choice={"type": "auto", "disable_parallel_tool_use": True},
                            stop_sequences=["END"],
                            thinking={"type": "enabled", "budget_tokens": 1024,
                                      "display": "summarized"}),
                       model="gemini-2.5-flash")
    assert ctx.model == "claude-sonnet-4-5" and ctx.thoughts and ctx.single_call
    assert ctx.stop_sequences == ("END",)
    assert list(ctx.names.values()) == ["my tool"]


@pytest.mark.parametrize("body, param", [
    (body({"role": "user", "content": [{"type": "image", "source": {
        "type": "url", "url": "https://x/a.png"}}]}), "messages[0].content[0].source"),
    (body({"role": "user", "content": [{"type": "image", "source": {
        "type": "base64", "media_type": "image/tiff", "data": "x"}}]}),
     "messages[0].content[0].source.media_type"),
    (body({"role": "user", "content": [result("toolu_nowhere")]}),
     "messages[0].content[0].tool_use_id"),
    (body({"role": "system", "content": "x"}), "messages[0].role"),
    (body({"role": "user", "content": [{"type": "search_result", "source": "s"}]}),
     "messages[0].content[0]"),
    (body(ASK, tools=[{"type": "web_search_20250305", "name": "web_search"}]), "tools[0].type"),
    (body(ASK, tool_choice={"type": "any"}), "tool_choice"),
    (body(ASK, tool_choice={"type": "sometimes"}, tools=[WEATHER]), "tool_choice.type"),
    (body(ASK, tool_choice={"type": ["any"]}, tools=[WEATHER]), "tool_choice.type"),
    (body(ASK, tools=[1]), "tools[0]"),
    (body(ASK, thinking={"type": "enabled"}), "thinking.budget_tokens"),
    (body(ASK, container="c1"), "container"),
    (body(ASK, mcp_servers=[{"url": "x"}]), "mcp_servers"),
    (body(ASK, temperature="hot"), "temperature"),
    ({"model": "m", "max_tokens": 5, "messages": []}, "messages"),
])
def test_what_gemini_cannot_be_given_is_refused_naming_the_field(body, param):
    with pytest.raises(Untranslatable) as caught:
        to_native(body, model="gemini-2.5-flash")
    assert caught.value.param == param
