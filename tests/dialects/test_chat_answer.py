"""Gemini generateContent answers -> OpenAI chat completions (golden table), read back by
openai-python, and replayed by the client as history (the other direction)."""
from __future__ import annotations

import json

import pytest

from balancer.dialects import ChatContext, to_chat, to_native
from tests.dialects import sdk

ID = "chatcmpl-0123456789abcdef0123456789abcdef"
SEED = "89abcdef0123456789abcdef"  # the last 24 characters of the answer id
CTX = ChatContext(model="gemini-2.5-flash")
USAGE = {"promptTokenCount": 10, "candidatesTokenCount": 5, "totalTokenCount": 15}
CHAT_USAGE = {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15,
              "prompt_tokens_details": {"cached_tokens": 0},
              "completion_tokens_details": {"reasoning_tokens": 0}}


def answer(*candidates, usage=USAGE, **extra):
    return {"candidates": list(candidates), "usageMetadata": usage,
            "modelVersion": "gemini-2.5-flash", "responseId": "r1", **extra}


def candidate(*parts, reason="STOP", index=0, **extra):
    return {"content": {"role": "model", "parts": list(parts)}, "finishReason": reason,
            "index": index, **extra}


def message(content, **extra):
    return {"role": "assistant", "content": content, "refusal": None, **extra}


def choice(msg, reason="stop", index=0, logprobs=None):
    return {"index": index, "message": msg, "logprobs": logprobs, "finish_reason": reason}


def completion(*choices, usage=CHAT_USAGE):
    return {"id": ID, "object": "chat.completion", "created": 1700000000,
            "model": "gemini-2.5-flash", "choices": list(choices), "usage": usage,
            "system_fingerprint": None}


# (name, native answer, context, chat completion)
GOLDEN = [
    ("text",
     answer(candidate({"text": "Hello"}, {"text": " there"})), CTX,
     completion(choice(message("Hello there")))),

    ("thoughts left out when not asked for",
     answer(candidate({"text": "plan...", "thought": True}, {"text": "42"})), CTX,
     completion(choice(message("42")))),

    ("thoughts as reasoning_content when asked for; reasoning tokens counted",
     answer(candidate({"text": "plan...", "thought": True}, {"text": "42"}),
            usage={"promptTokenCount": 10, "candidatesTokenCount": 5, "thoughtsTokenCount": 7,
                   "cachedContentTokenCount": 4, "toolUsePromptTokenCount": 2}),
     ChatContext(model="gemini-2.5-flash", thoughts=True),
     completion(choice(message("42", reasoning_content="plan...")),
                usage={"prompt_tokens": 12, "completion_tokens": 12, "total_tokens": 24,
                       "prompt_tokens_details": {"cached_tokens": 4},
                       "completion_tokens_details": {"reasoning_tokens": 7}})),

    ("an image as a markdown data URL between texts",
     answer(candidate({"text": "Here:"},
                      {"inlineData": {"mimeType": "image/png", "data": "iVBO"}},
                      {"text": "Done."},
                      {"inlineData": {"mimeType": "audio/wav", "data": "UklG"}})),
     CTX,
     completion(choice(message("Here:\n\n![image](data:image/png;base64,iVBO)\n\nDone.")))),

    ("search sources appended once each",
     answer(candidate({"text": "Paris is sunny."}, groundingMetadata={"groundingChunks": [
         {"web": {"uri": "https://a.example/1", "title": "A [weather]"}},
         {"web": {"uri": "https://a.example/1", "title": "A again"}},
         {"web": {"uri": "https://b.example/2"}}]})), CTX,
     completion(choice(message("Paris is sunny.\n\nSources:\n1. [A (weather)](https://a.example/1)"
                               "\n2. [https://b.example/2](https://b.example/2)")))),

    ("calls: Gemini's id kept, others synthesized unique, signature where Google puts it",
     answer(candidate({"functionCall": {"id": "call_77", "name": "get_weather",
                                        "args": {"city": "Paris"}}, "thoughtSignature": "c2ln"},
                      {"functionCall": {"name": "get_weather", "args": {"city": "Rome"}}},
                      {"functionCall": {"name": "get_weather", "args": {}}})), CTX,
     completion(choice(message(None, tool_calls=[
         {"id": "call_77", "type": "function",
          "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
          "extra_content": {"google": {"thought_signature": "c2ln"}}},
         {"id": f"call_bal_{SEED}_0_1", "type": "function",
          "function": {"name": "get_weather", "arguments": '{"city":"Rome"}'}},
         {"id": f"call_bal_{SEED}_0_2", "type": "function",
          "function": {"name": "get_weather", "arguments": "{}"}}]), "tool_calls"))),

    ("a renamed function gets its client name back; text beside a call stays",
     answer(candidate({"text": "Reading."},
                      {"functionCall": {"name": "files_read_ee1d56bc", "args": {"p": "/a"}}})),
     ChatContext(model="gemini-2.5-flash", names={"files_read_ee1d56bc": "files/read"}),
     completion(choice(message("Reading.", tool_calls=[
         {"id": f"call_bal_{SEED}_0_0", "type": "function",
          "function": {"name": "files/read", "arguments": '{"p":"/a"}'}}]), "tool_calls"))),

    ("parallel_tool_calls false keeps the first call",
     answer(candidate({"functionCall": {"name": "a", "args": {}}},
                      {"functionCall": {"name": "b", "args": {}}})),
     ChatContext(model="gemini-2.5-flash", single_call=True),
     completion(choice(message(None, tool_calls=[
         {"id": f"call_bal_{SEED}_0_0", "type": "function",
          "function": {"name": "a", "arguments": "{}"}}]), "tool_calls"))),

    ("MAX_TOKENS is length",
     answer(candidate({"text": "cut"}, reason="MAX_TOKENS")), CTX,
     completion(choice(message("cut"), "length"))),

    ("a filtered answer is content_filter with null content",
     answer(candidate(reason="SAFETY")), CTX,
     completion(choice(message(None), "content_filter"))),

    ("a malformed call reads stop",
     answer(candidate(reason="MALFORMED_FUNCTION_CALL")), CTX,
     completion(choice(message(""), "stop"))),

    ("a blocked prompt is a 200 with content_filter and null content",
     {"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"},
      "usageMetadata": {"promptTokenCount": 8, "totalTokenCount": 8}}, CTX,
     completion(choice(message(None), "content_filter"),
                usage={**CHAT_USAGE, "prompt_tokens": 8, "completion_tokens": 0,
                       "total_tokens": 8})),

    ("several candidates are several choices, in index order",
     answer(candidate({"text": "two"}, index=1), candidate({"text": "one"}, index=0)), CTX,
     completion(choice(message("one")), choice(message("two"), index=1))),

    ("logprobs",
     answer(candidate({"text": "Hi"}, logprobsResult={
         "chosenCandidates": [{"token": "Hi", "logProbability": -0.1}],
         "topCandidates": [{"candidates": [{"token": "Hi", "logProbability": -0.1},
                                           {"token": "Yo", "logProbability": -2.5}]}]})), CTX,
     completion(choice(message("Hi"), logprobs={"content": [
         {"token": "Hi", "logprob": -0.1, "bytes": [72, 105], "top_logprobs": [
             {"token": "Hi", "logprob": -0.1, "bytes": [72, 105]},
             {"token": "Yo", "logprob": -2.5, "bytes": [89, 111]}]}], "refusal": None}))),
]


@pytest.mark.parametrize("native,ctx,expected", [c[1:] for c in GOLDEN], ids=[c[0] for c in GOLDEN])
def test_golden_answers(native, ctx, expected):
    assert to_chat(native, ctx, created=1700000000, id=ID) == expected


def test_openai_python_reads_calls_signatures_and_reasoning():
    native = answer(candidate({"text": "hm", "thought": True},
                              {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}},
                               "thoughtSignature": "c2ln"}))
    chat = to_chat(native, ChatContext(model="gemini-3-flash-preview", thoughts=True),
                   created=1, id=ID)
    got = sdk.client(chat).chat.completions.create(model="gemini-3-flash-preview", messages=[])
    msg = got.choices[0].message
    assert got.choices[0].finish_reason == "tool_calls"
    assert msg.content is None and msg.model_extra["reasoning_content"] == "hm"
    (tool_call,) = msg.tool_calls
    assert json.loads(tool_call.function.arguments) == {"city": "Paris"}
    assert tool_call.model_extra["extra_content"] == {"google": {"thought_signature": "c2ln"}}
    assert got.usage.completion_tokens_details.reasoning_tokens == 0


def test_an_answers_calls_replayed_by_the_client_go_back_as_gemini_sent_them():
    """Both directions: what Gemini said, through the client's history, reaches Gemini again."""
    parts = [{"functionCall": {"id": "call_9", "name": "files_read_ee1d56bc", "args": {"p": "/a"}},
              "thoughtSignature": "c2lnQQ=="},
             {"functionCall": {"name": "files_read_ee1d56bc", "args": {"p": "/b"}}}]
    ctx = ChatContext(model="gemini-3-pro-preview", names={"files_read_ee1d56bc": "files/read"})
    chat = to_chat(answer(candidate(*parts)), ctx, created=1, id=ID)
    replay = chat["choices"][0]["message"]
    calls = replay["tool_calls"]
    history = [{"role": "user", "content": "read both"}, replay] + [
        {"role": "tool", "tool_call_id": c["id"], "content": f"text of {c['id']}"}
        for c in reversed(calls)]  # results in another order than the calls
    native, _ = to_native({"messages": history, "tools": [
        {"type": "function", "function": {"name": "files/read"}}]}, model="gemini-3-pro-preview")
    assert native["contents"][1] == {"role": "model", "parts": parts}
    assert native["contents"][2] == {"role": "user", "parts": [
        {"functionResponse": {"id": "call_9", "name": "files_read_ee1d56bc",
                              "response": {"output": "text of call_9"}}},
        {"functionResponse": {"name": "files_read_ee1d56bc",
                              "response": {"output": f"text of {calls[1]['id']}"}}}]}


def test_synthesized_call_ids_differ_between_answers_and_choices():
    native = answer(candidate({"functionCall": {"name": "f", "args": {}}}, index=0),
                    candidate({"functionCall": {"name": "f", "args": {}}}, index=1))
    first = to_chat(native, CTX, created=1, id="chatcmpl-aaaa")
    second = to_chat(native, CTX, created=1, id="chatcmpl-bbbb")
    ids = [c["message"]["tool_calls"][0]["id"] for a in (first, second) for c in a["choices"]]
    assert len(set(ids)) == 4


@pytest.mark.parametrize("native", [
    {}, {"candidates": None}, {"candidates": [None, "x"]}, {"candidates": [{"content": None}]},
    {"candidates": [{"content": {"parts": ["text", None, {"functionCall": "x"},
                                           {"inlineData": {"mimeType": "image/png"}}]}}],
     "usageMetadata": {"promptTokenCount": "7", "candidatesTokenCount": -1}},
])
def test_odd_answers_still_give_a_well_formed_completion(native):
    chat = to_chat(native, CTX, created=1, id=ID)
    assert [c["finish_reason"] for c in chat["choices"]] == ["stop"]
    assert chat["usage"]["total_tokens"] == 0
    sdk.client(chat).chat.completions.create(model="m", messages=[])  # the SDK reads it
