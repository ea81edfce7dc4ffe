"""Translating OpenAI chat requests to Gemini's API and its answers back (chat_native)."""
from __future__ import annotations

import json

import pytest

from balancer.proxy.chat_native import ChatNativeCall, ChatNativeTap, to_chat, to_native
from balancer.proxy.formats import FORMATS
from balancer.proxy.validate import BadRequest

USER = {"role": "user", "content": "hi"}


def native(**body) -> dict:
    return to_native({"messages": [USER], **body}, "-search")


# --- requests -------------------------------------------------------------------------


def test_messages_become_contents_and_a_system_instruction():
    body = {"messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "developer", "content": [{"type": "text", "text": "Use English."}]},
        {"role": "user", "content": "Name a pelican"},
        {"role": "assistant", "content": "Scoop"},
        {"role": "user", "content": [{"type": "text", "text": "Another"},
                                     {"type": "text", "text": "one"}]},
        {"role": "user", "content": "please"},
    ]}
    out = to_native(body, "-search")
    assert out["systemInstruction"] == {"parts": [{"text": "Be brief."}, {"text": "Use English."}]}
    assert out["contents"] == [
        {"role": "user", "parts": [{"text": "Name a pelican"}]},
        {"role": "model", "parts": [{"text": "Scoop"}]},
        # Consecutive turns of one role become one turn.
        {"role": "user", "parts": [{"text": "Another"}, {"text": "one"}, {"text": "please"}]},
    ]
    assert out["tools"] == [{"googleSearch": {}}]


def test_a_data_url_image_becomes_inline_data():
    out = native(messages=[{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,/9j/4AAQ"}},
        {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBERi0x"}}]}])
    assert out["contents"][0]["parts"] == [
        {"inlineData": {"mimeType": "image/jpeg", "data": "/9j/4AAQ"}},
        {"inlineData": {"mimeType": "application/pdf", "data": "JVBERi0x"}}]


def test_sampling_options_become_the_generation_config():
    out = native(temperature=0.2, top_p=0.9, max_tokens=100, stop="END", n=2, seed=7,
                 presence_penalty=0.5, frequency_penalty=-0.5,
                 response_format={"type": "json_object"}, reasoning_effort="low")
    assert out["generationConfig"] == {
        "temperature": 0.2, "topP": 0.9, "maxOutputTokens": 100, "stopSequences": ["END"],
        "candidateCount": 2, "seed": 7, "presencePenalty": 0.5, "frequencyPenalty": -0.5,
        "responseMimeType": "application/json", "thinkingConfig": {"thinkingBudget": 1024}}
    out = native(max_tokens=100, max_completion_tokens=50, stop=["a", "b"])
    assert out["generationConfig"]["maxOutputTokens"] == 50
    assert out["generationConfig"]["stopSequences"] == ["a", "b"]


def test_the_image_suffix_asks_for_image_output():
    out = to_native({"messages": [USER], "modalities": ["text", "image"]}, "-image")
    assert out["generationConfig"]["responseModalities"] == ["TEXT", "IMAGE"]
    assert "tools" not in out


@pytest.mark.parametrize("body, param, words", [
    ({"tools": [{"type": "function", "function": {"name": "f"}}]}, "tools", "'tools'"),
    ({"functions": [{"name": "f"}]}, "functions", "'functions'"),
    ({"tool_choice": "required"}, "tool_choice", "'tool_choice'"),
    ({"audio": {"voice": "alloy"}}, "audio", "'audio'"),
    ({"modalities": ["text", "audio"]}, "modalities", "may only hold text with the -search"),
    ({"modalities": ["text", "image"]}, "modalities", "may only hold text with the -search"),
    ({"logprobs": True}, "logprobs", "'logprobs'"),
    ({"response_format": {"type": "json_schema", "json_schema": {}}}, "response_format",
     "json_schema"),
    ({"messages": [USER, {"role": "assistant", "content": None,
                          "tool_calls": [{"id": "1", "type": "function"}]}]},
     "messages[1]", "Tool and function calls"),
    ({"messages": [USER, {"role": "tool", "tool_call_id": "1", "content": "x"}]},
     "messages[1]", "Tool and function calls"),
    ({"messages": [{"role": "user", "content": [
        {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}]}]},
     "messages[0].content[0]", "'input_audio'"),
    ({"messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "http://example.com/a.png"}}]}]},
     "messages[0].content[0]", "remote URLs cannot be fetched"),
    ({"messages": [{"role": "system", "content": "only a system message"}]}, "messages",
     "at least one user or assistant message"),
    ({"messages": [{"role": "critic", "content": "x"}]}, "messages[0].role", "must be system"),
    ({"temperature": "hot"}, "temperature", "must be a number"),
    ({"stop": [1]}, "stop", "'stop'"),
    ({"reasoning_effort": "extreme"}, "reasoning_effort", "'reasoning_effort'"),
])
def test_what_has_no_faithful_translation_is_refused(body, param, words):
    with pytest.raises(BadRequest) as err:
        to_native({"messages": [USER], **body}, "-search")
    assert err.value.param == param and words in str(err.value)
    assert err.value.status == 400


def test_a_refusal_names_the_suffix():
    with pytest.raises(BadRequest, match="with the -image suffix"):
        to_native({"messages": [USER], "tools": [{"type": "function"}]}, "-image")


def test_tool_choice_none_without_tools_is_harmless():
    assert "tools" not in to_native({"messages": [USER], "tool_choice": "none"}, "-image")


# --- answers --------------------------------------------------------------------------

ANSWER = {
    "candidates": [{
        "content": {"role": "model", "parts": [
            {"text": "Let me think", "thought": True},
            {"text": "Spain won"}, {"text": " Euro 2024."}]},
        "finishReason": "STOP", "index": 0,
        "groundingMetadata": {"groundingChunks": [
            {"web": {"uri": "https://r.example/1", "title": "uefa.com"}},
            {"web": {"uri": "https://r.example/1", "title": "uefa.com"}},
            {"web": {"uri": "https://r.example/2", "title": "bbc.com"}}]}}],
    "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 5,
                      "thoughtsTokenCount": 20, "toolUsePromptTokenCount": 30,
                      "totalTokenCount": 65},
    "modelVersion": "gemini-2.5-flash", "responseId": "abc",
}


def test_an_answer_becomes_a_chat_completion():
    out = to_chat(ANSWER, "gemini-2.5-flash-search")
    assert out["object"] == "chat.completion" and out["id"].startswith("chatcmpl-")
    assert out["model"] == "gemini-2.5-flash-search" and isinstance(out["created"], int)
    (choice,) = out["choices"]
    assert choice["index"] == 0 and choice["finish_reason"] == "stop"
    assert choice["message"]["role"] == "assistant"
    assert choice["message"]["content"] == ("Spain won Euro 2024.\n\nSources:\n"
                                            "1. [uefa.com](https://r.example/1)\n"
                                            "2. [bbc.com](https://r.example/2)")
    assert out["usage"] == {"prompt_tokens": 40, "completion_tokens": 25, "total_tokens": 65,
                            "completion_tokens_details": {"reasoning_tokens": 20}}


def test_an_image_part_becomes_a_markdown_data_url():
    answer = {"candidates": [{"content": {"parts": [
        {"text": "Here it is:"}, {"inlineData": {"mimeType": "image/png", "data": "iVBOR"}},
        {"inlineData": {"mimeType": "audio/wav", "data": "UklGR"}},  # no markdown for audio
        {"text": "Enjoy."}]}, "finishReason": "STOP"}]}
    content = to_chat(answer, "m-image")["choices"][0]["message"]["content"]
    assert content == "Here it is:\n\n![image](data:image/png;base64,iVBOR)\n\nEnjoy."
    alone = {"candidates": [{"content": {"parts": [
        {"inlineData": {"mimeType": "image/jpeg", "data": "/9j/"}}]}, "finishReason": "STOP"}]}
    assert to_chat(alone, "m")["choices"][0]["message"]["content"] == \
        "![image](data:image/jpeg;base64,/9j/)"


@pytest.mark.parametrize("reason, expected", [
    ("STOP", "stop"), ("MAX_TOKENS", "length"), ("SAFETY", "content_filter"),
    ("RECITATION", "content_filter"), ("BLOCKLIST", "content_filter"),
    ("PROHIBITED_CONTENT", "content_filter"), ("SPII", "content_filter"),
    ("IMAGE_SAFETY", "content_filter"), ("OTHER", "stop"), ("MALFORMED_FUNCTION_CALL", "stop"),
])
def test_finish_reasons(reason, expected):
    answer = {"candidates": [{"content": {"parts": [{"text": "x"}]}, "finishReason": reason}]}
    assert to_chat(answer, "m")["choices"][0]["finish_reason"] == expected


def test_a_blocked_prompt_is_an_empty_filtered_choice():
    out = to_chat({"promptFeedback": {"blockReason": "SAFETY"},
                   "usageMetadata": {"promptTokenCount": 4, "totalTokenCount": 4}}, "m")
    (choice,) = out["choices"]
    assert choice["message"]["content"] == "" and choice["finish_reason"] == "content_filter"
    assert out["usage"] == {"prompt_tokens": 4, "completion_tokens": 0, "total_tokens": 4}


def test_each_candidate_is_a_choice():
    answer = {"candidates": [
        {"content": {"parts": [{"text": "one"}]}, "finishReason": "STOP", "index": 0},
        {"content": {"parts": [{"text": "two"}]}, "finishReason": "MAX_TOKENS", "index": 1}]}
    choices = to_chat(answer, "m")["choices"]
    assert [(c["index"], c["message"]["content"], c["finish_reason"]) for c in choices] == [
        (0, "one", "stop"), (1, "two", "length")]


# --- streams --------------------------------------------------------------------------


def sse(*objects, sep=b"\n\n") -> bytes:
    return b"".join(b"data: " + json.dumps(o, separators=(",", ": ")).encode() + sep
                    for o in objects)


STREAM = [
    {"candidates": [{"content": {"parts": [{"text": "Spain"}], "role": "model"}}],
     "usageMetadata": {"promptTokenCount": 10, "totalTokenCount": 10}},
    {"candidates": [{"content": {"parts": [{"text": "thinking...", "thought": True}],
                                 "role": "model"}}],
     "usageMetadata": {"promptTokenCount": 10, "totalTokenCount": 10}},
    {"candidates": [{"content": {"parts": [{"text": " won."}], "role": "model"},
                     "finishReason": "STOP",
                     "groundingMetadata": {"groundingChunks": [
                         {"web": {"uri": "https://r.example/1", "title": "uefa.com"}}]}}],
     "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 3,
                       "thoughtsTokenCount": 2, "totalTokenCount": 15}},
]


def run(tap: ChatNativeTap, data: bytes, step: int = 0) -> bytes:
    pieces = [data[i:i + step] for i in range(0, len(data), step)] if step else [data]
    return b"".join(tap.feed(p) for p in pieces) + tap.finish()


def parse(out: bytes) -> list:
    events = []
    for block in out.decode().split("\n\n"):
        if block.strip():
            assert block.startswith("data: "), block
            payload = block[6:]
            events.append(payload if payload == "[DONE]" else json.loads(payload))
    return events


@pytest.mark.parametrize("step", [0, 1, 7])
@pytest.mark.parametrize("sep", [b"\n\n", b"\r\n\r\n"])
def test_a_native_stream_becomes_chat_completion_chunks(step, sep):
    tap = ChatNativeTap("gemini-2.5-flash-search", include_usage=False)
    events = parse(run(tap, sse(*STREAM, sep=sep), step))
    assert events[-1] == "[DONE]"
    chunks = events[:-1]
    assert [c["choices"][0]["delta"] for c in chunks] == [
        {"role": "assistant", "content": "Spain"}, {"content": " won."},
        {"content": "\n\nSources:\n1. [uefa.com](https://r.example/1)"}, {}]
    assert [c["choices"][0]["finish_reason"] for c in chunks] == [None, None, None, "stop"]
    assert {c["id"] for c in chunks} == {chunks[0]["id"]}
    assert chunks[0]["id"].startswith("chatcmpl-")
    assert all(c["model"] == "gemini-2.5-flash-search" and "usage" not in c for c in chunks)
    assert tap.done and tap.error is None and tap.tokens() == (10, 5)


def test_events_go_out_as_soon_as_each_native_event_is_complete():
    tap = ChatNativeTap("m", include_usage=False)
    data = sse(*STREAM)
    first_end = data.index(b"\n\n") + 2
    assert tap.feed(data[:first_end - 1]) == b""
    assert b'"Spain"' in tap.feed(data[first_end - 1:first_end])


def test_the_usage_chunk_comes_only_when_asked_for():
    tap = ChatNativeTap("m", include_usage=True)
    events = parse(run(tap, sse(*STREAM)))
    assert events[-1] == "[DONE]"
    assert events[-2]["choices"] == [] and events[-2]["usage"] == {
        "prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15,
        "completion_tokens_details": {"reasoning_tokens": 2}}
    assert all(e["usage"] is None for e in events[:-2])


def test_a_stream_cut_before_its_finish_reason_is_not_done():
    tap = ChatNativeTap("m", include_usage=True)
    out = run(tap, sse(*STREAM[:2]) + b'data: {"candidates": [{"content"')
    assert b"[DONE]" not in out and not tap.done and tap.error is None
    assert parse(out)[0]["choices"][0]["delta"]["content"] == "Spain"


@pytest.mark.parametrize("ending", [
    b'data: {"error": {"code": 500, "message": "An internal error has occurred.", '
    b'"status": "INTERNAL"}}\n\n',
    b'{\n  "error": {\n    "code": 500,\n    "message": "An internal error has occurred.",\n'
    b'    "status": "INTERNAL"\n  }\n}\n',
])
def test_an_in_band_error_ends_the_stream_with_an_openai_error_event(ending):
    tap = ChatNativeTap("m", include_usage=False)
    events = parse(run(tap, sse(STREAM[0]) + ending, 5))
    assert events[0]["choices"][0]["delta"]["content"] == "Spain"
    assert events[-1] == {"error": {"message": "An internal error has occurred.",
                                    "type": "server_error", "param": None, "code": "INTERNAL"}}
    assert tap.error["code"] == 500 and not tap.done


def test_an_echoed_key_in_an_in_band_error_is_redacted():
    key = "AIza" + "x" * 35
    tap = ChatNativeTap("m", include_usage=False)
    out = run(tap, sse({"error": {"code": 403, "status": "PERMISSION_DENIED",
                                  "message": f"Consumer 'api_key:{key}' has been suspended."}}))
    assert key not in out.decode() and "has been suspended" in out.decode()


def test_a_blocked_prompt_streams_an_empty_filtered_answer():
    tap = ChatNativeTap("m", include_usage=False)
    events = parse(run(tap, sse({"promptFeedback": {"blockReason": "SAFETY"},
                                 "usageMetadata": {"promptTokenCount": 3}})))
    assert events[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert events[1]["choices"][0]["finish_reason"] == "content_filter"
    assert events[-1] == "[DONE]" and tap.done


def test_a_streamed_image_is_one_markdown_delta():
    tap = ChatNativeTap("m-image", include_usage=False)
    events = parse(run(tap, sse(
        {"candidates": [{"content": {"parts": [{"text": "A dot:"}]}}]},
        {"candidates": [{"content": {"parts": [{"inlineData": {"mimeType": "image/png",
                                                               "data": "iVBOR"}}]},
                         "finishReason": "STOP"}]})))
    image = "\n\n![image](data:image/png;base64,iVBOR)"
    assert events[1]["choices"][0]["delta"]["content"] == image


# --- the format -----------------------------------------------------------------------


def test_the_format_speaks_gemini_upstream_and_openai_to_the_client():
    fmt = FORMATS["chat_native"]
    assert fmt.client_api == "openai"
    call = ChatNativeCall(route="chat.completions", method="POST",
                          path="models/gemini-2.5-flash:generateContent", model="gemini-2.5-flash",
                          body=b"{}", client_model="gemini-2.5-flash-search")
    assert json.loads(fmt.answer(ANSWER, b"", call))["model"] == "gemini-2.5-flash-search"
    assert fmt.usage(ANSWER) == (10, 25)
    body = fmt.upstream_error(400, b'{"error": {"code": 400, "message": "Bad.", '
                                   b'"status": "INVALID_ARGUMENT"}}', ())
    assert json.loads(body) == {"error": {"message": "Bad.", "type": "invalid_request_error",
                                          "param": None, "code": "INVALID_ARGUMENT"}}
    assert fmt.error(503, "No key.").get_json()["error"]["message"] == "No key."
    assert fmt.stream_error(None, "cut", "stream_cut").startswith(b'data: {"error": ')
    first = b'data: {"error": {"code": 429, "message": "slow", "status": "RESOURCE_EXHAUSTED"}}\n\n'
    assert fmt.leading_error(first, call)["code"] == 429


@pytest.mark.parametrize("model", ["tunedModels/x", "gemini-2.5-flash:countTokens"])
def test_a_model_name_cannot_change_the_upstream_path(model):
    from balancer.proxy.chat_native import native_call
    with pytest.raises(BadRequest, match="not a Gemini model name"):
        native_call({"messages": [USER]}, model, model + "-search", "-search", stream=False,
                    wants_usage=False)


def test_a_streamed_call_asks_for_sse_at_the_stream_method():
    from balancer.proxy.chat_native import native_call
    call = native_call({"messages": [USER]}, "models/gemini-2.5-flash", "gemini-2.5-flash-search",
                       "-search", stream=True, wants_usage=True)
    assert call.path == "models/gemini-2.5-flash:streamGenerateContent"
    assert call.query == {"alt": "sse"} and call.framing == "sse" and call.stream
    assert call.model == "gemini-2.5-flash" and call.client_model == "gemini-2.5-flash-search"
    assert call.api_format == "chat_native" and json.loads(call.body)["tools"] == [
        {"googleSearch": {}}]
