"""Gemini SSE events -> Anthropic Messages stream events (golden), read by the anthropic SDK."""
from __future__ import annotations

import json

import anthropic
import pytest

from balancer.dialects.anthropic_request import AnthropicContext
from balancer.dialects.anthropic_stream import AnthropicStream
from tests.dialects import anthropic_sdk

ID = "msg_bal_abc"
CTX = AnthropicContext(model="claude-sonnet-4-5")
THINKING = AnthropicContext(model="claude-sonnet-4-5", thoughts=True)
U1 = {"promptTokenCount": 9, "totalTokenCount": 9}
U2 = {"promptTokenCount": 9, "candidatesTokenCount": 4, "thoughtsTokenCount": 3,
      "totalTokenCount": 16}
START_USAGE = {"input_tokens": 9, "output_tokens": 0, "cache_creation_input_tokens": 0,
               "cache_read_input_tokens": 0}
END_USAGE = {"input_tokens": 9, "output_tokens": 7, "cache_creation_input_tokens": 0,
             "cache_read_input_tokens": 0}


def native(*parts, reason=None, usage=None):
    cand = {"content": {"role": "model", "parts": list(parts)}, "index": 0}
    if reason:
        cand["finishReason"] = reason
    out = {"candidates": [cand], "modelVersion": "gemini-2.5-flash"}
    if usage:
        out["usageMetadata"] = usage
    return out


def run(ctx, events):
    stream = AnthropicStream(ctx, id=ID)
    out = b"".join(stream.feed(e) for e in events) + stream.end()
    return stream, out


def parsed(out: bytes) -> list[tuple[str, dict]]:
    got = []
    for block in out.decode().split("\n\n"):
        if block:
            name, data = block.split("\n")
            assert name.startswith("event: ") and data.startswith("data: ")
            got.append((name[7:], json.loads(data[6:])))
    return got


def head():
    return [("message_start", {"type": "message_start", "message": {
        "id": ID, "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
        "content": [], "stop_reason": None, "stop_sequence": None, "usage": START_USAGE}}),
            ("ping", {"type": "ping"})]


def start(index, block):
    return ("content_block_start", {"type": "content_block_start", "index": index,
                                    "content_block": block})


def delta(index, d):
    return ("content_block_delta", {"type": "content_block_delta", "index": index, "delta": d})


def stop(index):
    return ("content_block_stop", {"type": "content_block_stop", "index": index})


def tail(reason, sequence=None, usage=END_USAGE):
    return [("message_delta", {"type": "message_delta",
                               "delta": {"stop_reason": reason, "stop_sequence": sequence},
                               "usage": usage}),
            ("message_stop", {"type": "message_stop"})]


THOUGHT_BLOCK = {"type": "thinking", "thinking": "", "signature": ""}
TEXT_BLOCK = {"type": "text", "text": ""}

# (name, context, native events, expected events)
GOLDEN = [
    ("text in pieces; a signature-only last part opens no block", CTX,
     [native({"text": "Hel"}, usage=U1), native({"text": "lo"}),
      native({"text": "", "thoughtSignature": "S"}, reason="STOP", usage=U2)],
     head() + [start(0, TEXT_BLOCK), delta(0, {"type": "text_delta", "text": "Hel"}),
               delta(0, {"type": "text_delta", "text": "lo"}), stop(0)] + tail("end_turn")),
    ("thinking, then a signed call: the signature closes the thinking block", THINKING,
     [native({"text": "Let me", "thought": True}, usage=U1),
      native({"functionCall": {"name": "get_weather", "args": {"city": "Paris"}},
              "thoughtSignature": "SIG"}, reason="STOP", usage=U2)],
     head() + [start(0, THOUGHT_BLOCK),
               delta(0, {"type": "thinking_delta", "thinking": "Let me"}),
               delta(0, {"type": "signature_delta", "signature": "SIG"}), stop(0),
               start(1, {"type": "tool_use", "id": "toolu_bal_balabc_0", "name": "get_weather",
                         "input": {}}),
               delta(1, {"type": "input_json_delta", "partial_json": '{"city":"Paris"}'}),
               stop(1)] + tail("tool_use")),
    ("text, then a signed call with Gemini's id: a thinking block made for the signature", CTX,
     [native({"text": "Looking."}, usage=U1),
      native({"functionCall": {"id": "call_9", "name": "f", "args": {}},
              "thoughtSignature": "SIG"}, reason="STOP", usage=U2)],
     head() + [start(0, TEXT_BLOCK), delta(0, {"type": "text_delta", "text": "Looking."}),
               stop(0), start(1, THOUGHT_BLOCK),
               delta(1, {"type": "signature_delta", "signature": "SIG"}), stop(1),
               start(2, {"type": "tool_use", "id": "call_9", "name": "f", "input": {}}),
               delta(2, {"type": "input_json_delta", "partial_json": "{}"}), stop(2)]
     + tail("tool_use")),
    ("thoughts not asked for are left out; MAX_TOKENS", CTX,
     [native({"text": "hmm", "thought": True}, usage=U1),
      native({"text": "Hi"}, reason="MAX_TOKENS", usage=U2)],
     head() + [start(0, TEXT_BLOCK), delta(0, {"type": "text_delta", "text": "Hi"}), stop(0)]
     + tail("max_tokens")),
    ("a stop sequence the text ends with",
     AnthropicContext(model="claude-sonnet-4-5", stop_sequences=("END",)),
     [native({"text": "the END"}, reason="STOP", usage=U1)],
     head() + [start(0, TEXT_BLOCK), delta(0, {"type": "text_delta", "text": "the END"}),
               stop(0)]
     + tail("stop_sequence", "END", dict(START_USAGE))),
]


@pytest.mark.parametrize("name, ctx, events, expected", GOLDEN, ids=[g[0] for g in GOLDEN])
def test_golden(name, ctx, events, expected):
    stream, out = run(ctx, events)
    assert parsed(out) == expected
    assert stream.finished
    # The SDK's own accumulator builds the message the whole answer would be.
    _, final = anthropic_sdk.read_stream(out)
    blocks = [e[1]["content_block"]["type"] for e in expected if e[0] == "content_block_start"]
    assert [b.type for b in final.content] == blocks
    assert final.stop_reason == expected[-2][1]["delta"]["stop_reason"]


def test_the_sdk_gathers_tool_input_and_signature():
    _, out = run(THINKING, GOLDEN[1][2])
    _, final = anthropic_sdk.read_stream(out)
    thinking, tool = final.content
    assert thinking.signature == "SIG" and thinking.thinking == "Let me"
    assert tool.input == {"city": "Paris"}
    assert final.usage.output_tokens == 7 and final.usage.input_tokens == 9


def test_a_blocked_prompt_is_a_refusal_without_blocks():
    stream, out = run(CTX, [{"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": U1}])
    assert stream.finished
    assert parsed(out) == head() + tail("refusal", usage=dict(START_USAGE))


def test_an_in_band_error_ends_the_stream_with_an_error_event_the_sdk_raises():
    stream = AnthropicStream(CTX, id=ID)
    out = stream.feed(native({"text": "Hi"}, usage=U1))
    out += stream.feed({"error": {"code": 503, "message": "The model is overloaded.",
                                  "status": "UNAVAILABLE"}})
    assert stream.failed and stream.end() == b"" and stream.feed(native({"text": "x"})) == b""
    assert parsed(out)[-1] == ("error", {"type": "error", "error": {
        "type": "overloaded_error", "message": "The model is overloaded."}})
    with pytest.raises(anthropic.APIStatusError) as caught:
        anthropic_sdk.read_stream(out)
    assert "overloaded" in str(caught.value)


def test_an_error_after_the_start_is_an_api_error_event():
    stream = AnthropicStream(CTX, id=ID)
    out = stream.feed(native({"text": "Hi"}, usage=U1))
    out += stream.error("The upstream ended the stream early.", code="upstream_error")
    assert parsed(out)[-1] == ("error", {"type": "error", "error": {
        "type": "api_error", "message": "The upstream ended the stream early."}})
    assert not stream.finished and stream.tokens() == (9, 0)
