"""Gemini answers -> Anthropic messages (golden table), read by the anthropic SDK."""
from __future__ import annotations

import pytest

from balancer.dialects.anthropic_answer import to_message, usage
from balancer.dialects.anthropic_errors import error_body, error_from_upstream
from balancer.dialects.anthropic_request import AnthropicContext
from tests.dialects import anthropic_sdk

ID = "msg_bal_abc123"
CTX = AnthropicContext(model="claude-sonnet-4-5")
THINKING = AnthropicContext(model="claude-sonnet-4-5", thoughts=True)
USAGE = {"promptTokenCount": 20, "cachedContentTokenCount": 5, "candidatesTokenCount": 4,
         "thoughtsTokenCount": 3, "toolUsePromptTokenCount": 2, "totalTokenCount": 29}
USED = {"input_tokens": 17, "output_tokens": 7, "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 5}
CALL = {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}


def answer(*parts, reason="STOP", meta=USAGE):
    return {"candidates": [{"content": {"role": "model", "parts": list(parts)},
                            "finishReason": reason, "index": 0}],
            "usageMetadata": meta, "modelVersion": "gemini-2.5-flash"}


def message(content, reason="end_turn", sequence=None, used=USED):
    return {"id": ID, "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
            "content": content, "stop_reason": reason, "stop_sequence": sequence, "usage": used}


# (name, context, native answer, expected message)
GOLDEN = [
    ("text pieces joined; usage with cache reads", CTX,
     answer({"text": "Hel"}, {"text": "lo"}),
     message([{"type": "text", "text": "Hello"}])),
    ("thoughts left out unless asked for; a text signature dropped", CTX,
     answer({"text": "hmm", "thought": True}, {"text": "Hi", "thoughtSignature": "S"}),
     message([{"type": "text", "text": "Hi"}])),
    ("thoughts as a thinking block, the call's signature on it", THINKING,
     answer({"text": "Think", "thought": True}, {"text": "ing", "thought": True},
            dict(CALL, thoughtSignature="SIG")),
     message([{"type": "thinking", "thinking": "Thinking", "signature": "SIG"},
              {"type": "tool_use", "id": "toolu_bal_balabc123_0", "name": "get_weather",
               "input": {"city": "Paris"}}], "tool_use")),
    ("a signed call after text gets a thinking block of its own; Gemini's ids kept", CTX,
     answer({"text": "Let me look."},
            {"functionCall": {"id": "call_1", "name": "get_weather", "args": {"city": "A"}},
             "thoughtSignature": "SIG"},
            {"functionCall": {"id": "call_2", "name": "get_weather", "args": {"city": "B"}}}),
     message([{"type": "text", "text": "Let me look."},
              {"type": "thinking", "thinking": "", "signature": "SIG"},
              {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"city": "A"}},
              {"type": "tool_use", "id": "call_2", "name": "get_weather",
               "input": {"city": "B"}}], "tool_use")),
    ("parallel calls without ids get unique ones; a renamed function named back",
     AnthropicContext(model="claude-sonnet-4-5", names={"my_tool_1234abcd": "my tool"}),
     answer({"functionCall": {"name": "my_tool_1234abcd"}}, CALL),
     message([{"type": "tool_use", "id": "toolu_bal_balabc123_0", "name": "my tool",
               "input": {}},
              {"type": "tool_use", "id": "toolu_bal_balabc123_1", "name": "get_weather",
               "input": {"city": "Paris"}}], "tool_use")),
    ("disable_parallel_tool_use keeps the first call",
     AnthropicContext(model="claude-sonnet-4-5", single_call=True),
     answer(CALL, CALL),
     message([{"type": "tool_use", "id": "toolu_bal_balabc123_0", "name": "get_weather",
               "input": {"city": "Paris"}}], "tool_use")),
    ("MAX_TOKENS", CTX, answer({"text": "Hel"}, reason="MAX_TOKENS"),
     message([{"type": "text", "text": "Hel"}], "max_tokens")),
    ("SAFETY is a refusal", CTX, answer(reason="SAFETY"), message([], "refusal")),
    ("a stop sequence the text ends with",
     AnthropicContext(model="claude-sonnet-4-5", stop_sequences=("END",)),
     answer({"text": "the END"}), message([{"type": "text", "text": "the END"}],
                                          "stop_sequence", "END")),
    ("a blocked prompt: a refusal with no blocks", CTX,
     {"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {"promptTokenCount": 3}},
     message([], "refusal", used={"input_tokens": 3, "output_tokens": 0,
                                  "cache_creation_input_tokens": 0,
                                  "cache_read_input_tokens": 0})),
    ("an image in the answer has no block", CTX,
     answer({"inlineData": {"mimeType": "image/png", "data": "iVBO"}}, {"text": "a cat"}),
     message([{"type": "text", "text": "a cat"}])),
]


@pytest.mark.parametrize("name, ctx, native, expected", GOLDEN, ids=[g[0] for g in GOLDEN])
def test_golden(name, ctx, native, expected):
    out = to_message(native, ctx, id=ID)
    assert out == expected
    # The official SDK reads it as the message it is.
    read = anthropic_sdk.client(out).messages.create(model="m", max_tokens=10,
                                                     messages=[{"role": "user", "content": "x"}])
    assert read.to_dict(exclude_none=True) == {k: v for k, v in expected.items()
                                               if v is not None}


def test_missing_counts_are_zero():
    assert usage(None) == {"input_tokens": 0, "output_tokens": 0,
                           "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}


@pytest.mark.parametrize("status, kind, sdk_error", [
    (400, "invalid_request_error", "BadRequestError"),
    (401, "authentication_error", "AuthenticationError"),
    (403, "permission_error", "PermissionDeniedError"),
    (404, "not_found_error", "NotFoundError"),
    (429, "rate_limit_error", "RateLimitError"),
    (500, "api_error", "InternalServerError"),
    (503, "overloaded_error", "InternalServerError"),
])
def test_upstream_errors_become_anthropics_and_the_sdk_raises_its_class(status, kind, sdk_error):
    google = (b'{"error":{"code":%d,"message":"key AIzaSECRET failed","status":"X"}}' % status)
    body = error_from_upstream(status, google, ("AIzaSECRET",))
    import json
    parsed = json.loads(body)
    assert parsed["type"] == "error" and parsed["error"]["type"] == kind
    assert "AIzaSECRET" not in body.decode() and "failed" in parsed["error"]["message"]
    assert error_body(status, "m")["error"]["type"] == kind
    import anthropic
    with pytest.raises(getattr(anthropic, sdk_error)) as caught:
        anthropic_sdk.client(body, status=status).messages.create(
            model="m", max_tokens=10, messages=[{"role": "user", "content": "x"}])
    assert caught.value.status_code == status
