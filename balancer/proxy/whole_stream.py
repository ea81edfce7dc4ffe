"""A whole answer sent as a stream (a pool's ``fake_stream``).

Some upstreams' streams break under load while their plain calls hold. For such a
pool Balancer asks for the whole answer and, once it has it, hands it to the same
stream translators a real stream goes through, as if it were one upstream event:
the client gets the stream framing it asked for, and until the answer has come any
failure can still be retried on another key.
"""
from __future__ import annotations

import time
from typing import Any

import orjson


def gemini_event(parsed: Any, framing: str) -> bytes:
    """A ``generateContent`` answer as the one event of a ``streamGenerateContent``:
    an SSE ``data:`` event, or a one-element JSON array."""
    body = orjson.dumps(parsed)
    return b"data: " + body + b"\n\n" if framing == "sse" else b"[" + body + b"]"


def chat_events(completion: Any) -> bytes:
    """A chat completion as the SSE chunks a streamed one would have come in: one
    chunk with each choice's whole message as its delta, the usage chunk, ``[DONE]``."""
    if not isinstance(completion, dict):
        return b"data: [DONE]\n\n"
    base = {"id": completion.get("id") or "chatcmpl-balancer", "object": "chat.completion.chunk",
            "created": completion.get("created") or int(time.time()),
            "model": completion.get("model") or ""}
    if completion.get("system_fingerprint"):
        base["system_fingerprint"] = completion["system_fingerprint"]
    choices = []
    for i, choice in enumerate(completion.get("choices") or ()):
        if not isinstance(choice, dict):
            continue
        message = choice.get("message") if isinstance(choice.get("message"), dict) else {}
        delta = {"role": "assistant", **{k: v for k, v in message.items() if v is not None}}
        if isinstance(delta.get("tool_calls"), list):
            # A streamed tool call names its place in the list; a whole one does not.
            delta["tool_calls"] = [{"index": n, **call} for n, call in
                                   enumerate(delta["tool_calls"]) if isinstance(call, dict)]
        choices.append({"index": choice.get("index", i), "delta": delta,
                        "logprobs": choice.get("logprobs"),
                        "finish_reason": choice.get("finish_reason")})
    events = [{**base, "choices": choices}]
    if isinstance(completion.get("usage"), dict):
        events.append({**base, "choices": [], "usage": completion["usage"]})
    return b"".join(b"data: " + orjson.dumps(e) + b"\n\n" for e in events) + b"data: [DONE]\n\n"


def unstreamed_chat_body(body: bytes) -> bytes:
    """A chat completions body asking for the whole answer instead of a stream."""
    try:
        parsed = orjson.loads(body)
    except ValueError:
        return body
    if not isinstance(parsed, dict):
        return body
    parsed["stream"] = False
    parsed.pop("stream_options", None)
    return orjson.dumps(parsed)


def unstreamed_gemini_path(path: str, query: dict) -> tuple[str, dict]:
    """``:streamGenerateContent`` (and its ``alt``) as ``:generateContent``."""
    return (path.replace(":streamGenerateContent", ":generateContent"),
            {k: v for k, v in query.items() if k != "alt"})
