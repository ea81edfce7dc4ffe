"""OpenAI chat answers and streams -> Gemini native answers and stream chunks (golden), and
what the chat translators make of them in turn."""
from __future__ import annotations

import json

import pytest

from balancer.dialects import (ChatContext, ChatStream, NativeStreamFromChat, Untranslatable,
                               native_answer_from_chat, to_chat)

USAGE = {"prompt_tokens": 12, "completion_tokens": 30, "total_tokens": 42,
         "prompt_tokens_details": {"cached_tokens": 4},
         "completion_tokens_details": {"reasoning_tokens": 10}}
META = {"promptTokenCount": 12, "candidatesTokenCount": 20, "totalTokenCount": 42,
        "thoughtsTokenCount": 10, "cachedContentTokenCount": 4}
STAMP = {"modelVersion": "llama-3.3-70b", "responseId": "chatcmpl-1"}


def answer(*choices, usage=None):
    out = {"id": "chatcmpl-1", "object": "chat.completion", "created": 1,
           "model": "llama-3.3-70b", "choices": list(choices)}
    if usage is not None:
        out["usage"] = usage
    return out


def choice(message, reason="stop", index=0):
    return {"index": index, "message": {"role": "assistant", **message}, "logprobs": None,
            "finish_reason": reason}


def tcall(call_id, name, arguments, **extra):
    return {"id": call_id, "type": "function",
            "function": {"name": name, "arguments": arguments}, **extra}


def cand(parts, reason="STOP", index=0):
    out = {"content": {"role": "model", "parts": parts}, "index": index}
    if reason:
        out["finishReason"] = reason
    return out


# (name, chat completion, expected native answer)
ANSWERS = [
    ("text, with usage split into thoughts and candidates",
     answer(choice({"content": "Hello", "refusal": None}), usage=USAGE),
     {"candidates": [cand([{"text": "Hello"}])], "usageMetadata": META, **STAMP}),

    ("parallel calls, ids kept, arguments parsed",
     answer(choice({"content": None, "tool_calls": [
         tcall("call_a", "get_weather", '{"city":"Paris"}'),
         tcall("call_b", "get_weather", '{"city": "Rome"}'),
         tcall("call_c", "now", "")]}, "tool_calls"),
         usage={"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12}),
     {"candidates": [cand([
         {"functionCall": {"id": "call_a", "name": "get_weather", "args": {"city": "Paris"}}},
         {"functionCall": {"id": "call_b", "name": "get_weather", "args": {"city": "Rome"}}},
         {"functionCall": {"id": "call_c", "name": "now", "args": {}}}])],
      "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 7,
                        "totalTokenCount": 12}, **STAMP}),

    ("reasoning first as a thought, text, a signed call",
     answer(choice({"content": "Checking.", "reasoning_content": "Think.", "tool_calls": [
         tcall("c1", "f", '{"a":1}',
               extra_content={"google": {"thought_signature": "c2ln"}})]}, "tool_calls")),
     {"candidates": [cand([{"text": "Think.", "thought": True}, {"text": "Checking."},
                           {"functionCall": {"id": "c1", "name": "f", "args": {"a": 1}},
                            "thoughtSignature": "c2ln"}])], **STAMP}),

    ("reasoning as OpenRouter names it; content as text parts",
     answer(choice({"content": [{"type": "text", "text": "A"}, {"type": "text", "text": "B"}],
                    "reasoning": "R"})),
     {"candidates": [cand([{"text": "R", "thought": True}, {"text": "AB"}])], **STAMP}),

    ("length", answer(choice({"content": "Trunc"}, "length")),
     {"candidates": [cand([{"text": "Trunc"}], "MAX_TOKENS")], **STAMP}),

    ("content filter, refusal as text", answer(choice({"content": None, "refusal": "No."},
                                                      "content_filter")),
     {"candidates": [cand([{"text": "No."}], "SAFETY")], **STAMP}),

    ("an unknown finish reason; none at all",
     answer(choice({"content": "x"}, "eos_token"), choice({"content": "y"}, None, index=1)),
     {"candidates": [cand([{"text": "x"}], "OTHER"), cand([{"text": "y"}], "STOP", 1)],
      **STAMP}),

    ("malformed arguments drop that call and say so",
     answer(choice({"content": None, "tool_calls": [
         tcall("c1", "f", '{"a":1}'), tcall("c2", "g", '{"a":'), tcall("c3", "h", "[1]"),
         tcall("c4", "k", "NaN")]}, "tool_calls")),
     {"candidates": [cand([{"functionCall": {"id": "c1", "name": "f", "args": {"a": 1}}}],
                          "MALFORMED_FUNCTION_CALL")], **STAMP}),

    ("two choices, in index order",
     answer(choice({"content": "two"}, index=1), choice({"content": "one"}, index=0)),
     {"candidates": [cand([{"text": "one"}]), cand([{"text": "two"}], index=1)], **STAMP}),

    ("no choices: no candidates", answer(usage={"prompt_tokens": 3, "total_tokens": 3}),
     {"usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 0,
                        "totalTokenCount": 3}, **STAMP}),
]


@pytest.mark.parametrize("name,chat,expected", ANSWERS, ids=[a[0] for a in ANSWERS])
def test_answer_golden(name, chat, expected):
    assert native_answer_from_chat(chat) == expected


@pytest.mark.parametrize("body", [[], "x", {"choices": "x"}])
def test_what_is_not_a_chat_completion_is_refused(body):
    with pytest.raises(Untranslatable):
        native_answer_from_chat(body)


@pytest.mark.parametrize("chat", [ANSWERS[0][1], ANSWERS[1][1], ANSWERS[2][1]],
                         ids=["text", "calls", "reasoning"])
def test_an_answer_read_back_by_the_chat_translator_is_the_same(chat):
    """chat -> native -> chat: what an OpenAI client of an OpenAI-kind pool would see."""
    ctx = ChatContext(model="llama-3.3-70b", thoughts=True)
    back = to_chat(native_answer_from_chat(chat), ctx, created=1, id="chatcmpl-1")
    for was, got in zip(chat["choices"], back["choices"], strict=True):
        assert got["finish_reason"] == was["finish_reason"]
        message = dict(was["message"])
        assert got["message"]["content"] == message["content"]
        assert got["message"].get("reasoning_content") == message.get("reasoning_content")
        assert [(c["id"], c["function"]["name"], json.loads(c["function"]["arguments"]))
                for c in got["message"].get("tool_calls", [])] == \
            [(c["id"], c["function"]["name"], json.loads(c["function"]["arguments"] or "{}"))
             for c in message.get("tool_calls", [])]
    if "usage" in chat:
        for key in ("prompt_tokens", "completion_tokens", "total_tokens"):
            assert back["usage"][key] == chat["usage"][key]


# --- streams --------------------------------------------------------------------------

def chunk(delta=None, reason=None, index=0, usage=False, choices=None):
    out = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1,
           "model": "llama-3.3-70b",
           "choices": choices if choices is not None else [
               {"index": index, "delta": delta or {}, "logprobs": None,
                "finish_reason": reason}]}
    if usage is not False:
        out["usage"] = usage
    return out


def out(*cands, usage=None):
    result = {"candidates": list(cands), **STAMP}
    if usage:
        result["usageMetadata"] = usage
    return result


def run(events):
    stream = NativeStreamFromChat()
    fed = [c for e in events for c in stream.feed(e)]
    return fed, stream.finish()


def delta_call(index, fragment, call_id=None, name=None, **extra):
    function = {"arguments": fragment}
    if name:
        function["name"] = name
    body = {"index": index, "function": function, **extra}
    if call_id:
        body.update(id=call_id, type="function")
    return {"tool_calls": [body]}


STREAMS = [
    ("text passes at once; the usage chunk after finish_reason ends it",
     [chunk({"role": "assistant", "content": ""}, usage=None),
      chunk({"content": "Hel"}, usage=None), chunk({"content": "lo"}, usage=None),
      chunk({}, "stop", usage=None), chunk(choices=[], usage=USAGE)],
     [out(cand([{"text": "Hel"}], None)), out(cand([{"text": "lo"}], None)),
      out(cand([], "STOP"), usage=META)],
     []),

    ("parallel calls held until whole, then the last chunk",
     [chunk({"role": "assistant", "content": None}),
      chunk(delta_call(0, "", "call_a", "get_weather")),
      chunk(delta_call(0, '{"city":')),
      chunk(delta_call(1, "", "call_b", "get_weather")),
      chunk(delta_call(0, '"Paris"}')),
      chunk(delta_call(1, '{"city":"Rome"}')),
      chunk({}, "tool_calls"),
      chunk(choices=[], usage={"prompt_tokens": 5, "completion_tokens": 7,
                               "total_tokens": 12})],
     [out(cand([{"functionCall": {"id": "call_a", "name": "get_weather",
                                  "args": {"city": "Paris"}}},
                {"functionCall": {"id": "call_b", "name": "get_weather",
                                  "args": {"city": "Rome"}}}], None)),
      out(cand([], "STOP"), usage={"promptTokenCount": 5, "candidatesTokenCount": 7,
                                   "totalTokenCount": 12})],
     []),

    ("no usage sent: finish() ends it",
     [chunk({"content": "Hi"}), chunk({}, "length")],
     [out(cand([{"text": "Hi"}], None))],
     [out(cand([], "MAX_TOKENS"))]),

    ("usage on the finish_reason chunk itself",
     [chunk({"content": "Hi"}), chunk({}, "stop", usage=USAGE)],
     [out(cand([{"text": "Hi"}], None)), out(cand([], "STOP"), usage=META)],
     []),

    ("odd and empty chunks say nothing",
     ["data", None, {"choices": None}, chunk(choices=[]), chunk(choices=[None]),
      chunk({"content": None}), chunk({"content": ""}), {"choices": [{"delta": None}]},
      chunk({"content": "x"}), chunk({}, "stop"), chunk({"content": "late"}),
      chunk(choices=[], usage=USAGE), chunk({"content": "after the end"})],
     [out(cand([{"text": "x"}], None)), out(cand([{"text": "late"}], None)),
      out(cand([], "STOP"), usage=META)],
     []),

    ("a call fragment after its choice finished still leaves whole, before the end",
     [chunk(delta_call(0, "{}", "c1", "f")), chunk({}, "tool_calls"),
      chunk(delta_call(1, '{"b":2}', "c2", "g"))],
     [out(cand([{"functionCall": {"id": "c1", "name": "f", "args": {}}}], None))],
     [out(cand([{"functionCall": {"id": "c2", "name": "g", "args": {"b": 2}}}], None)),
      out(cand([], "STOP"))]),

    ("reasoning deltas as thoughts, a signed call",
     [chunk({"reasoning_content": "Think"}), chunk({"reasoning": "ing"}),
      chunk(delta_call(0, '{"a":1}', "c1", "f",
                       extra_content={"google": {"thought_signature": "c2ln"}})),
      chunk({}, "tool_calls")],
     [out(cand([{"text": "Think", "thought": True}], None)),
      out(cand([{"text": "ing", "thought": True}], None)),
      out(cand([{"functionCall": {"id": "c1", "name": "f", "args": {"a": 1}},
                 "thoughtSignature": "c2ln"}], None))],
     [out(cand([], "STOP"))]),

    ("calls without an index: a new id starts a new call; a repeated name is one name",
     [chunk({"tool_calls": [{"id": "c1", "function": {"name": "f", "arguments": "{\"a\""}}]}),
      chunk({"tool_calls": [{"function": {"name": "f", "arguments": ":1}"}}]}),
      chunk({"tool_calls": [{"id": "c2", "function": {"name": "g", "arguments": {"b": 2}}}]}),
      chunk({}, "tool_calls")],
     [out(cand([{"functionCall": {"id": "c1", "name": "f", "args": {"a": 1}}},
                {"functionCall": {"id": "c2", "name": "g", "args": {"b": 2}}}], None))],
     [out(cand([], "STOP"))]),

    ("malformed arguments drop the call and say so",
     [chunk(delta_call(0, '{"a":', "c1", "f")), chunk({}, "tool_calls")],
     [],
     [out(cand([], "MALFORMED_FUNCTION_CALL"))]),

    ("a stream cut before finish_reason: finish() releases the held calls",
     [chunk(delta_call(0, "{}", "c1", "f"))],
     [],
     [out(cand([{"functionCall": {"id": "c1", "name": "f", "args": {}}}], None)),
      out(cand([], "STOP"))]),

    ("two choices: the last chunk waits for both",
     [chunk({"content": "a"}, index=0), chunk({"content": "b"}, index=1),
      chunk({}, "stop", index=0), chunk({}, "length", index=1),
      chunk(choices=[], usage=USAGE)],
     [out(cand([{"text": "a"}], None)), out(cand([{"text": "b"}], None, 1)),
      out(cand([], "STOP"), cand([], "MAX_TOKENS", 1), usage=META)],
     []),

    ("nothing at all", [], [], [{"candidates": [cand([], "STOP")]}]),
]


@pytest.mark.parametrize("name,events,fed,finished", STREAMS, ids=[s[0] for s in STREAMS])
def test_stream_golden(name, events, fed, finished):
    assert run(events) == (fed, finished)


def test_a_stream_read_back_by_the_chat_stream_is_the_same():
    """chat chunks -> native chunks -> chat chunks: text, calls, reason and usage survive."""
    events = STREAMS[1][1]
    native, last = run(events)
    chat = ChatStream(ChatContext(model="llama-3.3-70b", include_usage=True),
                      created=1, id="chatcmpl-1")
    sse = b"".join(chat.feed(c) for c in native + last) + chat.end()
    chunks = [json.loads(line[6:]) for line in sse.decode().splitlines()
              if line.startswith("data: {")]
    calls: dict[int, dict] = {}  # joined by index, as the SDK joins them
    for delta in (call for c in chunks for choice in c["choices"]
                  for call in choice["delta"].get("tool_calls", [])):
        joined = calls.setdefault(delta["index"], {"id": None, "name": "", "arguments": ""})
        joined["id"] = delta.get("id") or joined["id"]
        joined["name"] += delta["function"].get("name") or ""
        joined["arguments"] += delta["function"].get("arguments") or ""
    assert [(c["id"], c["name"], json.loads(c["arguments"]))
            for _, c in sorted(calls.items())] == [("call_a", "get_weather", {"city": "Paris"}),
                                ("call_b", "get_weather", {"city": "Rome"})]
    reasons = [choice["finish_reason"] for c in chunks for choice in c["choices"]
               if choice["finish_reason"]]
    assert reasons == ["tool_calls"]
    assert chunks[-1]["usage"]["total_tokens"] == 12
