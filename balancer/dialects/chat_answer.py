"""A Gemini ``generateContent`` answer as an OpenAI ``chat.completion``.

One choice per candidate (``n`` -> ``candidateCount``), built from ``chat_parts``:
text and images as ``content``, thoughts (when asked for) as
``message.reasoning_content``, calls as ``tool_calls`` (``content`` is then null when
there is no text), search sources appended, ``finish_reason`` ``tool_calls`` whenever
calls are present. A blocked prompt (``promptFeedback.blockReason``, no candidates) is
a 200 with one choice, ``content: null`` and ``finish_reason: content_filter``.

Lossy points (⚠): those of ``chat_parts``; ``promptFeedback``'s block reason and
``safetyRatings`` have no OpenAI field; ``modelVersion`` is not reported (the client's
model name is).
"""
from __future__ import annotations

from typing import Any

from balancer.dialects.chat_parts import (CandidateReader, call_seed, chat_usage, finish_reason,
                                          logprobs, parts_of, sources, sources_text)
from balancer.dialects.chat_request import ChatContext


def to_chat(native: dict, ctx: ChatContext, *, created: int, id: str) -> dict:
    """The ``chat.completion`` for a ``generateContent`` answer.

    :param created: the answer's Unix time (the caller's clock).
    :param id: the answer's id (``chatcmpl-...``); synthesized call ids derive from it.
    """
    if not isinstance(native, dict):
        native = {}
    seed = call_seed(id)
    choices = []
    candidates = native.get("candidates")
    for i, candidate in enumerate(candidates if isinstance(candidates, list) else ()):
        if isinstance(candidate, dict):
            index = candidate.get("index")
            choices.append(_choice(candidate, index if isinstance(index, int) else i, ctx, seed))
    if not choices:
        feedback = native.get("promptFeedback")
        blocked = isinstance(feedback, dict) and bool(feedback.get("blockReason"))
        choices.append({"index": 0, "message": {"role": "assistant",
                                                "content": None if blocked else "",
                                                "refusal": None},
                        "logprobs": None, "finish_reason": "content_filter" if blocked else "stop"})
    choices.sort(key=lambda choice: choice["index"])
    return {"id": id, "object": "chat.completion", "created": created, "model": ctx.model,
            "choices": choices, "usage": chat_usage(native.get("usageMetadata")),
            "system_fingerprint": None}


def _choice(candidate: dict, index: int, ctx: ChatContext, seed: str) -> dict:
    reader = CandidateReader(ctx, seed, index)
    text, thoughts, calls = reader.read(parts_of(candidate))
    text += sources_text(sources(candidate), reader.wrote)
    reason = candidate.get("finishReason")
    message: dict[str, Any] = {"role": "assistant", "content": text, "refusal": None}
    if not text and (calls or finish_reason(reason, False) == "content_filter"):
        message["content"] = None
    if thoughts:
        message["reasoning_content"] = thoughts
    if calls:
        for call in calls:
            del call["index"]  # streams only: a whole answer's calls are a plain list
        message["tool_calls"] = calls
    return {"index": index, "message": message, "logprobs": logprobs(candidate),
            "finish_reason": finish_reason(reason, bool(calls))}
