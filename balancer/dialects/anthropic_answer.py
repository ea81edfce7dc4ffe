"""A Gemini ``generateContent`` answer as an Anthropic ``message``.

The first candidate's parts become content blocks, in order: thought parts (when thoughts
were asked for) -> ``thinking`` blocks; text -> ``text`` blocks (neighbouring pieces
joined); ``functionCall`` -> ``tool_use`` (``id``: Gemini's own, else
``toolu_bal_<answer>_<n>``, unique across parallel calls of one name; the client's
function name back). A call's ``thoughtSignature`` goes into the ``signature`` of the
``thinking`` block just before its ``tool_use`` (the thought block before it when there
is one, else an empty one made for it): clients send thinking blocks back as they got
them, which is how a tool loop on a Gemini 3 model keeps its signatures.

``stop_reason``: ``tool_use`` when there are calls; ``MAX_TOKENS`` -> ``max_tokens``; a
filter's reason or a blocked prompt -> ``refusal``; else ``end_turn``, or
``stop_sequence`` when the text ends with one of the request's (Gemini says only STOP).
``usage``: ``input_tokens`` = prompt + tool-use prompt − cached; ``output_tokens`` =
candidates + thoughts; ``cache_read_input_tokens`` = cached;
``cache_creation_input_tokens`` 0.

Lossy points (⚠): a signature on a text part (Gemini does not validate those) is dropped;
images and other inline data in an answer have no block and are dropped; search sources
are not reported; MALFORMED_FUNCTION_CALL, LANGUAGE, OTHER and the like read
``end_turn``; which stop sequence stopped Gemini is a guess.
"""
from __future__ import annotations

import re
from typing import Any, Optional

from balancer.dialects.anthropic_messages import TOOL_ID_PREFIX
from balancer.dialects.anthropic_request import AnthropicContext
from balancer.dialects.chat_parts import FILTERED, parts_of

#: Ids Balancer makes for the calls Gemini gave no id.
BALANCER_TOOL_ID = TOOL_ID_PREFIX + "bal_"
_SEED_CHARS = re.compile(r"[^A-Za-z0-9]")


def message_id(seed: str) -> str:
    """A ``msg_…`` id from some random hex."""
    return f"msg_bal_{seed}"


def tool_seed(msg_id: str) -> str:
    """The part of a message id that makes its synthesized tool ids unique."""
    return _SEED_CHARS.sub("", msg_id.removeprefix("msg_"))[-24:]


def tool_id(call: dict, seed: str, index: int) -> str:
    """The ``tool_use`` id of a Gemini call: its own id, else one Balancer makes."""
    given = call.get("id")
    if isinstance(given, str) and given:
        return given
    return f"{BALANCER_TOOL_ID}{seed}_{index}"


def signature_of(part: dict) -> Optional[str]:
    """A part's thought signature, or None."""
    signature = part.get("thoughtSignature")
    return signature if isinstance(signature, str) and signature else None


def stop_reason(reason: Any, has_calls: bool, text: str,
                ctx: AnthropicContext) -> tuple[str, Optional[str]]:
    """(``stop_reason``, ``stop_sequence``) for a Gemini ``finishReason``."""
    if has_calls:
        return "tool_use", None
    if reason == "MAX_TOKENS":
        return "max_tokens", None
    if reason in FILTERED:
        return "refusal", None
    for stop in ctx.stop_sequences:
        if stop and text.endswith(stop):
            return "stop_sequence", stop
    return "end_turn", None


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def usage(meta: Any) -> dict:
    """Anthropic ``usage`` for a Gemini ``usageMetadata`` (zeros for what it lacks)."""
    if not isinstance(meta, dict):
        meta = {}
    cached = _count(meta.get("cachedContentTokenCount"))
    prompt = _count(meta.get("promptTokenCount")) + _count(meta.get("toolUsePromptTokenCount"))
    output = _count(meta.get("candidatesTokenCount")) + _count(meta.get("thoughtsTokenCount"))
    return {"input_tokens": max(0, prompt - cached), "output_tokens": output,
            "cache_creation_input_tokens": 0, "cache_read_input_tokens": cached}


def tool_use(call: dict, ctx: AnthropicContext, seed: str, index: int) -> dict:
    """The ``tool_use`` block of a Gemini call."""
    name = call.get("name")
    args = call.get("args")
    return {"type": "tool_use", "id": tool_id(call, seed, index),
            "name": ctx.client_name(name) if isinstance(name, str) else "",
            "input": args if isinstance(args, dict) else {}}


def to_message(native: dict, ctx: AnthropicContext, *, id: str) -> dict:
    """The ``message`` for a ``generateContent`` answer.

    :param id: the message's id (``msg_…``); synthesized tool ids derive from it.
    """
    if not isinstance(native, dict):
        native = {}
    seed = tool_seed(id)
    candidates = native.get("candidates")
    candidate = candidates[0] if isinstance(candidates, list) and candidates \
        and isinstance(candidates[0], dict) else None
    blocks: list[dict] = []
    calls = 0
    for part in parts_of(candidate) if candidate is not None else ():
        if not isinstance(part, dict):
            continue
        last = blocks[-1] if blocks else None
        call = part.get("functionCall")
        if isinstance(call, dict):
            if ctx.single_call and calls:
                continue
            signature = signature_of(part)
            if signature:
                if last is not None and last["type"] == "thinking" and not last["signature"]:
                    last["signature"] = signature
                else:
                    blocks.append({"type": "thinking", "thinking": "", "signature": signature})
            blocks.append(tool_use(call, ctx, seed, calls))
            calls += 1
            continue
        text = part.get("text")
        if not isinstance(text, str):
            continue
        if part.get("thought"):
            if not ctx.thoughts:
                continue
            if last is not None and last["type"] == "thinking" and not last["signature"]:
                last["thinking"] += text
            else:
                blocks.append({"type": "thinking", "thinking": text, "signature": ""})
            signature = signature_of(part)
            if signature:
                blocks[-1]["signature"] = signature
        elif text:
            if last is not None and last["type"] == "text":
                last["text"] += text
            else:
                blocks.append({"type": "text", "text": text})
    if candidate is None:
        feedback = native.get("promptFeedback")
        blocked = isinstance(feedback, dict) and bool(feedback.get("blockReason"))
        reason, sequence = ("refusal" if blocked else "end_turn"), None
    else:
        text = "".join(b["text"] for b in blocks if b["type"] == "text")
        reason, sequence = stop_reason(candidate.get("finishReason"), calls > 0, text, ctx)
    return {"id": id, "type": "message", "role": "assistant", "model": ctx.model,
            "content": blocks, "stop_reason": reason, "stop_sequence": sequence,
            "usage": usage(native.get("usageMetadata"))}
