"""OpenAI chat completions answers and streams as Gemini ``generateContent`` answers.

The way back from an OpenAI-kind upstream to the hub: the dialect translators that read
native answers (Anthropic, Responses, chat) then serve what Groq or OpenRouter answered.

- ``native_answer_from_chat``: one candidate per choice; ``reasoning_content`` (or
  ``reasoning``, as some providers name it) -> a ``thought`` text part first, then the
  text, then one ``functionCall`` part per tool call (``args`` parsed from
  ``arguments``, the call's ``id`` kept as ``functionCall.id`` so the next turn's results
  name it; ``extra_content.google.thought_signature`` -> the part's ``thoughtSignature``);
  ``finish_reason`` stop/tool_calls/function_call -> STOP, length -> MAX_TOKENS,
  content_filter -> SAFETY; ``usage`` -> ``usageMetadata`` (``candidatesTokenCount`` is
  the completion without its reasoning tokens, which go to ``thoughtsTokenCount``, as
  Gemini counts them apart; ``cached_tokens`` -> ``cachedContentTokenCount``);
  ``model`` -> ``modelVersion``, ``id`` -> ``responseId``.
- ``NativeStreamFromChat``: chunks in, ``streamGenerateContent`` chunks out. Text and
  reasoning deltas pass at once; tool-call fragments are held per (choice, index) and
  leave whole (Gemini streams whole calls) when the choice's ``finish_reason`` comes,
  or at ``finish()``; the last chunk carries every candidate's ``finishReason`` and the
  ``usageMetadata``. With ``include_usage`` the usage comes in a chunk of its own with
  empty ``choices`` after the ``finish_reason`` one, so the last chunk waits for it (or
  for ``finish()``, when the provider sends none).

Lossy points (⚠): a call whose ``arguments`` are not a JSON object is dropped and its
candidate ends MALFORMED_FUNCTION_CALL (Gemini's own word for it); ``refusal`` becomes
plain text; ``logprobs``, ``system_fingerprint``, ``service_tier`` and provider extras
(images, annotations, citations) are dropped; an unknown ``finish_reason`` reads OTHER.
A chunk that is not a chat chunk (an ``{"error": ...}`` event) is the caller's to handle
before feeding; ``feed`` ignores it.
"""
from __future__ import annotations

import json
from typing import Any, Optional

from balancer.dialects.errors import Untranslatable

_REASONS = {"stop": "STOP", "tool_calls": "STOP", "function_call": "STOP",
            "length": "MAX_TOKENS", "content_filter": "SAFETY"}
_MALFORMED = "MALFORMED_FUNCTION_CALL"
_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _no_constant(name: str) -> Any:
    # NaN and Infinity parse in Python but are not JSON: no client could read them back.
    raise ValueError(name)


_decode = json.JSONDecoder(parse_constant=_no_constant).decode


def native_answer_from_chat(body: dict) -> dict:
    """The ``generateContent`` answer for an OpenAI ``chat.completion`` ``body``.

    An answer without choices gives one without candidates (which the key policy reads
    as an empty answer).

    :raises Untranslatable: when ``body`` is not a chat completion object.
    """
    if not isinstance(body, dict) or not isinstance(body.get("choices", []), list):
        raise Untranslatable("The upstream answer is not an OpenAI chat completion.")
    candidates = []
    for i, choice in enumerate(body.get("choices") or ()):
        if not isinstance(choice, dict):
            continue
        message = choice.get("message") if isinstance(choice.get("message"), dict) else {}
        parts: list[dict] = []
        thought = reasoning_text(message)
        if thought:
            parts.append({"text": thought, "thought": True})
        text = content_text(message.get("content"))
        if not text and isinstance(message.get("refusal"), str):
            text = message["refusal"]
        if text:
            parts.append({"text": text})
        calls, malformed = _calls(message.get("tool_calls"))
        parts.extend(calls)
        index = choice.get("index")
        candidates.append(_candidate(index if isinstance(index, int) else i, parts,
                                     _MALFORMED if malformed
                                     else finish_reason(choice.get("finish_reason"))))
    out: dict[str, Any] = {}
    if candidates:
        out["candidates"] = sorted(candidates, key=lambda c: c["index"])
    meta = usage_metadata(body.get("usage"))
    if meta:
        out["usageMetadata"] = meta
    _stamp(out, body)
    return out


def finish_reason(reason: Any) -> str:
    """Gemini's ``finishReason`` for an OpenAI ``finish_reason`` (STOP when there is none)."""
    if reason is None:
        return "STOP"
    return _REASONS.get(reason, "OTHER")


def usage_metadata(usage: Any) -> Optional[dict]:
    """Gemini ``usageMetadata`` for an OpenAI ``usage`` (None when there is none)."""
    if not isinstance(usage, dict):
        return None
    prompt = _count(usage.get("prompt_tokens"))
    completion = _count(usage.get("completion_tokens"))
    details = usage.get("completion_tokens_details")
    thoughts = _count(details.get("reasoning_tokens")) if isinstance(details, dict) else 0
    thoughts = min(thoughts, completion)
    prompt_details = usage.get("prompt_tokens_details")
    cached = _count(prompt_details.get("cached_tokens")) if isinstance(prompt_details, dict) \
        else 0
    total = _count(usage.get("total_tokens")) or prompt + completion
    meta = {"promptTokenCount": prompt, "candidatesTokenCount": completion - thoughts,
            "totalTokenCount": total}
    if thoughts:
        meta["thoughtsTokenCount"] = thoughts
    if cached:
        meta["cachedContentTokenCount"] = cached
    return meta


def reasoning_text(message: dict) -> str:
    """The reasoning text of a message or delta (``reasoning_content`` or ``reasoning``)."""
    for key in ("reasoning_content", "reasoning"):
        value = message.get(key)
        if isinstance(value, str) and value:
            return value
    return ""


def content_text(content: Any) -> str:
    """The text of a ``content`` (a string, or text parts as some providers send)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p["text"] for p in content
                       if isinstance(p, dict) and isinstance(p.get("text"), str))
    return ""


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _candidate(index: int, parts: list[dict], reason: Optional[str]) -> dict:
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": index}
    if reason:
        candidate["finishReason"] = reason
    return candidate


def _stamp(out: dict, chunk: dict) -> None:
    if isinstance(chunk.get("model"), str):
        out["modelVersion"] = chunk["model"]
    if isinstance(chunk.get("id"), str):
        out["responseId"] = chunk["id"]


def _calls(tool_calls: Any) -> tuple[list[dict], bool]:
    """(functionCall parts, whether a call was dropped as malformed)."""
    parts: list[dict] = []
    malformed = False
    for call in tool_calls if isinstance(tool_calls, list) else ():
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict):
            continue
        part = _call_part(call.get("id"), function.get("name"), function.get("arguments"),
                          _signature(call))
        if part is None:
            malformed = True
        else:
            parts.append(part)
    return parts, malformed


def _call_part(call_id: Any, name: Any, arguments: Any, signature: Optional[str]) -> Optional[dict]:
    if not isinstance(name, str) or not name:
        return None
    if isinstance(arguments, dict):
        args = arguments
    elif arguments is None or (isinstance(arguments, str) and not arguments.strip()):
        args = {}
    else:
        try:
            args = _decode(arguments)
        except (TypeError, ValueError):
            return None
        if not isinstance(args, dict):
            return None
    body: dict[str, Any] = {"id": call_id} if isinstance(call_id, str) and call_id else {}
    body["name"] = name
    body["args"] = args
    part: dict[str, Any] = {"functionCall": body}
    if signature:
        part["thoughtSignature"] = signature
    return part


def _signature(call: dict) -> Optional[str]:
    extra = call.get("extra_content")
    google = extra.get("google") if isinstance(extra, dict) else None
    signature = google.get("thought_signature") if isinstance(google, dict) else None
    return signature if isinstance(signature, str) and signature else None


class _Call:
    """A tool call being streamed: its fragments until it is whole."""

    __slots__ = ("id", "name", "arguments", "signature")

    def __init__(self) -> None:
        self.id: Optional[str] = None
        self.name = ""
        self.arguments = ""
        self.signature: Optional[str] = None


class NativeStreamFromChat:
    """OpenAI ``chat.completion.chunk`` events in, Gemini stream chunks out.

    Feed each parsed chunk (``data: [DONE]`` is not one) to ``feed``; call ``finish``
    once the upstream stream ended. Both return the Gemini chunks
    (``GenerateContentResponse`` dicts) to send, in order, possibly none.
    """

    def __init__(self) -> None:
        self._calls: dict[int, dict[int, _Call]] = {}  # choice -> call index -> call
        self._reasons: dict[int, str] = {}  # choice -> Gemini finishReason
        self._choices: set[int] = set()
        self._usage: Optional[dict] = None
        self._stamp: dict[str, Any] = {}
        self._done = False

    def feed(self, event: dict) -> list[dict]:
        """The Gemini chunks for one chat chunk."""
        if self._done or not isinstance(event, dict):
            return []
        stamp: dict[str, Any] = {}
        _stamp(stamp, event)
        self._stamp.update(stamp)
        out: list[dict] = []
        choices = event.get("choices")
        for position, choice in enumerate(choices if isinstance(choices, list) else ()):
            if not isinstance(choice, dict):
                continue
            index = choice.get("index") if isinstance(choice.get("index"), int) else position
            self._choices.add(index)
            delta = choice.get("delta") if isinstance(choice.get("delta"), dict) else {}
            parts = []
            thought = reasoning_text(delta)
            if thought:
                parts.append({"text": thought, "thought": True})
            text = content_text(delta.get("content")) or (
                delta["refusal"] if isinstance(delta.get("refusal"), str) else "")
            if text:
                parts.append({"text": text})
            if parts:
                out.append(self._chunk([_candidate(index, parts, None)]))
            self._hold(index, delta.get("tool_calls"))
            reason = choice.get("finish_reason")
            if reason is not None and index not in self._reasons:
                calls, malformed = self._release(index)
                self._reasons[index] = _MALFORMED if malformed else finish_reason(reason)
                if calls:
                    out.append(self._chunk([_candidate(index, calls, None)]))
        if isinstance(event.get("usage"), dict):
            self._usage = event["usage"]
            if self._choices and self._choices <= set(self._reasons):
                out.extend(self._end())
        return out

    def finish(self) -> list[dict]:
        """What is left once the upstream stream ended: held calls and the last chunk."""
        return [] if self._done else self._end()

    def _hold(self, index: int, deltas: Any) -> None:
        if not isinstance(deltas, list):
            return
        held = self._calls.setdefault(index, {})
        for delta in deltas:
            if not isinstance(delta, dict):
                continue
            position = delta.get("index")
            if not isinstance(position, int):
                # Some providers leave index out: a new id starts a new call.
                new = delta.get("id") and all(c.id != delta.get("id") for c in held.values())
                position = len(held) if new or not held else max(held)
            call = held.setdefault(position, _Call())
            if isinstance(delta.get("id"), str) and delta["id"]:
                call.id = delta["id"]
            function = delta.get("function") if isinstance(delta.get("function"), dict) else {}
            if isinstance(function.get("name"), str) and not call.name:
                call.name = function["name"]  # some providers repeat it in every fragment
            arguments = function.get("arguments")
            if isinstance(arguments, str):
                call.arguments += arguments
            elif isinstance(arguments, dict):
                call.arguments += _encode(arguments)
            call.signature = _signature(delta) or call.signature

    def _release(self, index: int) -> tuple[list[dict], bool]:
        parts: list[dict] = []
        malformed = False
        for _, call in sorted(self._calls.pop(index, {}).items()):
            part = _call_part(call.id, call.name, call.arguments, call.signature)
            if part is None:
                malformed = True
            else:
                parts.append(part)
        return parts, malformed

    def _end(self) -> list[dict]:
        """Calls still held (a stream cut short, or fragments after a finish_reason),
        then the last chunk."""
        out = []
        for index in sorted(self._calls):
            calls, malformed = self._release(index)
            if malformed or index not in self._reasons:
                self._reasons[index] = _MALFORMED if malformed else "STOP"
            if calls:
                out.append(self._chunk([_candidate(index, calls, None)]))
        out.append(self._last())
        return out

    def _last(self) -> dict:
        self._done = True
        indexes = sorted(self._choices) or [0]
        chunk = self._chunk([_candidate(i, [], self._reasons.get(i, "STOP")) for i in indexes])
        meta = usage_metadata(self._usage)
        if meta:
            chunk["usageMetadata"] = meta
        return chunk

    def _chunk(self, candidates: list[dict]) -> dict:
        return {"candidates": candidates, **self._stamp}
