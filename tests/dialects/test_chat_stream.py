"""Gemini SSE events -> OpenAI chat.completion.chunk events (golden), read by openai-python."""
from __future__ import annotations

import json

import openai
import pytest

from balancer.dialects import ChatContext, ChatStream
from tests.dialects import sdk

ID = "chatcmpl-abc"
CTX = ChatContext(model="gemini-2.5-flash")
USAGE_CTX = ChatContext(model="gemini-2.5-flash", include_usage=True)


def event(*parts, reason=None, index=0, usage=None, **extra):
    cand = {"content": {"role": "model", "parts": list(parts)}, "index": index, **extra}
    if reason:
        cand["finishReason"] = reason
    out = {"candidates": [cand], "modelVersion": "gemini-2.5-flash", "responseId": "r"}
    if usage:
        out["usageMetadata"] = usage
    return out


def run(ctx, events):
    stream = ChatStream(ctx, created=1700000000, id=ID)
    out = b"".join(stream.feed(e) for e in events) + stream.end()
    return stream, out


def chunk(delta, reason=None, index=0, usage=False, logprobs=None):
    out = {"id": ID, "object": "chat.completion.chunk", "created": 1700000000,
           "model": "gemini-2.5-flash",
           "choices": [{"index": index, "delta": delta, "logprobs": logprobs,
                        "finish_reason": reason}]}
    if usage:
        out["usage"] = None
    return out


def test_text_stream_exact_bytes():
    stream, out = run(CTX, [event({"text": "Hel"}), event({"text": "lo"}, reason="STOP")])
    head = ('data: {"id":"chatcmpl-abc","object":"chat.completion.chunk","created":1700000000,'
            '"model":"gemini-2.5-flash","choices":[{"index":0,"delta":')
    assert out.decode() == (
        head + '{"role":"assistant","content":"Hel"},"logprobs":null,"finish_reason":null}]}\n\n'
        + head + '{"content":"lo"},"logprobs":null,"finish_reason":null}]}\n\n'
        + head + '{},"logprobs":null,"finish_reason":"stop"}]}\n\n'
        + "data: [DONE]\n\n")
    assert stream.finished


U1 = {"promptTokenCount": 9, "totalTokenCount": 9}
U2 = {"promptTokenCount": 9, "candidatesTokenCount": 4, "thoughtsTokenCount": 3,
      "totalTokenCount": 16}
USAGE = {"prompt_tokens": 9, "completion_tokens": 7, "total_tokens": 16,
         "prompt_tokens_details": {"cached_tokens": 0},
         "completion_tokens_details": {"reasoning_tokens": 3}}

# (name, context, native events, expected chunk payloads)
GOLDEN = [
    ("usage: null on every chunk, then the usage chunk",
     USAGE_CTX,
     [event({"text": "Hi"}, usage=U1), event({"text": ""}, reason="STOP", usage=U2)],
     [chunk({"role": "assistant", "content": "Hi"}, usage=True),
      chunk({}, "stop", usage=True),
      {"id": ID, "object": "chat.completion.chunk", "created": 1700000000,
       "model": "gemini-2.5-flash", "choices": [], "usage": USAGE}, "[DONE]"]),

    ("thoughts as reasoning_content, only when asked for",
     ChatContext(model="gemini-2.5-flash", thoughts=True),
     [event({"text": "Let me see", "thought": True}), event({"text": "4"}, reason="STOP")],
     [chunk({"role": "assistant", "reasoning_content": "Let me see"}),
      chunk({"content": "4"}), chunk({}, "stop"), "[DONE]"]),

    ("a first event without text still opens the choice",
     CTX,
     [{"candidates": [{"content": {"role": "model", "parts": []}, "index": 0}],
       "usageMetadata": U1}, event({"text": "ok"}, reason="STOP")],
     [chunk({"role": "assistant", "content": ""}), chunk({"content": "ok"}), chunk({}, "stop"),
      "[DONE]"]),

    ("parallel calls in separate events, as OpenAI streams them, signature on the first",
     CTX,
     [event({"functionCall": {"name": "get_weather", "args": {"city": "Paris"}},
             "thoughtSignature": "c2ln"}),
      event({"functionCall": {"id": "call_5", "name": "get_weather", "args": {"city": "Rome"}}},
            reason="STOP")],
     [chunk({"role": "assistant", "tool_calls": [
         {"index": 0, "id": "call_bal_abc_0_0", "type": "function",
          "function": {"name": "get_weather", "arguments": ""},
          "extra_content": {"google": {"thought_signature": "c2ln"}}}]}),
      chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"city":"Paris"}'}}]}),
      chunk({"tool_calls": [{"index": 1, "id": "call_5", "type": "function",
                             "function": {"name": "get_weather", "arguments": ""}}]}),
      chunk({"tool_calls": [{"index": 1, "function": {"arguments": '{"city":"Rome"}'}}]}),
      chunk({}, "tool_calls"), "[DONE]"]),

    ("sources after the text, held to the end with the finish",
     CTX,
     [event({"text": "Sunny."}, reason="STOP"),
      {"candidates": [{"index": 0, "groundingMetadata": {"groundingChunks": [
          {"web": {"uri": "https://w.example", "title": "W"}}]}}]}],
     [chunk({"role": "assistant", "content": "Sunny."}),
      chunk({"content": "\n\nSources:\n1. [W](https://w.example)"}), chunk({}, "stop"),
      "[DONE]"]),

    ("an image as a markdown data URL",
     CTX,
     [event({"text": "Look"}), event({"inlineData": {"mimeType": "image/png", "data": "iVBO"}},
                                     reason="STOP")],
     [chunk({"role": "assistant", "content": "Look"}),
      chunk({"content": "\n\n![image](data:image/png;base64,iVBO)"}), chunk({}, "stop"),
      "[DONE]"]),

    ("two candidates interleaved, each finished",
     CTX,
     [{"candidates": [{"content": {"parts": [{"text": "A"}]}, "index": 0},
                      {"content": {"parts": [{"text": "B"}]}, "index": 1}]},
      {"candidates": [{"content": {"parts": [{"text": "!"}]}, "index": 1, "finishReason": "STOP"},
                      {"index": 0, "finishReason": "MAX_TOKENS"}]}],
     [chunk({"role": "assistant", "content": "A"}),
      chunk({"role": "assistant", "content": "B"}, index=1),
      chunk({"content": "!"}, index=1),
      chunk({}, "length"), chunk({}, "stop", index=1), "[DONE]"]),

    ("a blocked prompt: a role chunk and content_filter",
     CTX,
     [{"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": U1}],
     [chunk({"role": "assistant", "content": None}), chunk({}, "content_filter"), "[DONE]"]),

    ("a filtered answer mid-way",
     CTX,
     [event({"text": "Once"}), event(reason="RECITATION")],
     [chunk({"role": "assistant", "content": "Once"}), chunk({}, "content_filter"), "[DONE]"]),

    ("logprobs ride on the content chunk",
     CTX,
     [event({"text": "Hi"}, reason="STOP", logprobsResult={
         "chosenCandidates": [{"token": "Hi", "logProbability": -0.5}], "topCandidates": []})],
     [chunk({"role": "assistant", "content": "Hi"}, logprobs={"content": [
         {"token": "Hi", "logprob": -0.5, "bytes": [72, 105], "top_logprobs": []}],
         "refusal": None}), chunk({}, "stop"), "[DONE]"]),
]


@pytest.mark.parametrize("ctx,events,expected", [c[1:] for c in GOLDEN], ids=[c[0] for c in GOLDEN])
def test_golden_streams(ctx, events, expected):
    _, out = run(ctx, events)
    assert sdk.events(out) == expected


def test_openai_python_accumulates_text_calls_and_usage():
    ctx = ChatContext(model="gemini-3-flash-preview", include_usage=True,
                      names={"files_read_ee1d56bc": "files/read"})
    _, out = run(ctx, [
        event({"text": "Reading "}, usage=U1),
        event({"text": "both."},
              {"functionCall": {"name": "files_read_ee1d56bc", "args": {"p": "/a"}},
               "thoughtSignature": "c2ln"}),
        event({"functionCall": {"name": "files_read_ee1d56bc", "args": {"p": "/b"}}},
              reason="STOP", usage=U2)])
    chunks, final = sdk.read_stream(out)
    msg = final.choices[0].message
    assert msg.content == "Reading both."
    assert [(c.function.name, json.loads(c.function.arguments)) for c in msg.tool_calls] == \
        [("files/read", {"p": "/a"}), ("files/read", {"p": "/b"})]
    assert len({c.id for c in msg.tool_calls}) == 2
    assert final.choices[0].finish_reason == "tool_calls"
    assert chunks[-1].usage.completion_tokens == 7 and chunks[-1].choices == []
    first_call = next(c for c in chunks if c.choices and c.choices[0].delta.tool_calls)
    extra = first_call.choices[0].delta.tool_calls[0].model_extra["extra_content"]
    assert extra == {"google": {"thought_signature": "c2ln"}}


def test_an_in_band_upstream_error_becomes_the_event_openai_python_raises_on():
    stream = ChatStream(CTX, created=1, id=ID)
    out = stream.feed(event({"text": "Partial"}))
    out += stream.feed({"error": {"code": 500, "message": "Internal error encountered.",
                                  "status": "INTERNAL"}})
    assert stream.failed and not stream.finished
    assert stream.feed(event({"text": "late"})) == b"" and stream.end() == b""
    with pytest.raises(openai.APIError) as caught:
        sdk.read_stream(out)
    assert caught.value.message == "Internal error encountered."
    assert sdk.events(out)[-1] == {"error": {"message": "Internal error encountered.",
                                             "type": "server_error", "param": None,
                                             "code": "INTERNAL"}}


def test_error_gives_the_proxys_own_mid_stream_error():
    stream = ChatStream(CTX, created=1, id=ID)
    out = stream.feed(event({"text": "Partial"}))
    out += stream.error("The upstream connection broke.", code="upstream_interrupted")
    assert sdk.events(out)[-1] == {"error": {"message": "The upstream connection broke.",
                                             "type": "server_error", "param": None,
                                             "code": "upstream_interrupted"}}
    assert stream.end() == b""
    with pytest.raises(openai.APIError):
        sdk.read_stream(out)


def test_the_stream_tells_tokens_and_whether_it_finished():
    stream = ChatStream(USAGE_CTX, created=1, id=ID)
    stream.feed(event({"text": "a"}, usage=U1))
    assert stream.tokens() == (9, 0) and not stream.finished
    stream.feed(event({"text": "b"}, reason="STOP", usage=U2))
    assert stream.tokens() == (9, 7) and stream.finished


def test_one_id_and_created_throughout():
    _, out = run(USAGE_CTX, [event({"text": str(i)}) for i in range(5)] + [event(reason="STOP")])
    payloads = [e for e in sdk.events(out) if e != "[DONE]"]
    assert {(p["id"], p["created"]) for p in payloads} == {(ID, 1700000000)}
    assert sum("role" in p["choices"][0]["delta"] for p in payloads if p["choices"]) == 1


def test_odd_events_neither_raise_nor_break_the_stream():
    stream = ChatStream(CTX, created=1, id=ID)
    out = b"".join(stream.feed(e) for e in (
        {}, {"candidates": None}, {"candidates": [None]}, {"usageMetadata": "x"},
        {"candidates": [{"content": {"parts": [None, 3, {"functionCall": []}]}}]},
        event({"text": "ok"}, reason="STOP")))
    out += stream.end()
    chunks, final = sdk.read_stream(out)
    assert final.choices[0].message.content == "ok"
    assert final.choices[0].finish_reason == "stop"
