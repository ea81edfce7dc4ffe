"""Gemini ``streamGenerateContent?alt=sse`` events as OpenAI ``chat.completion.chunk`` events.

``ChatStream`` is fed one parsed native event (a dict) at a time and returns the bytes of
zero or more ``data: {...}\\n\\n`` chunks, all with one ``id`` and ``created``; the first
delta of each choice carries ``role: assistant``. Then ``end()`` gives, per choice, the
"Sources:" text of a grounded answer and the finishing chunk (held until the end because
grounding may come after the finish reason), the usage chunk (``choices: []``) when
``include_usage`` (every other chunk then has ``usage: null``), and ``data: [DONE]``.
``error()`` gives the ``data: {"error": {...}}`` event OpenAI SDKs raise on mid-stream; an
in-band native error event fed in becomes one too (through
``upstream.providers.openai_error_from_upstream``). After an error nothing more is sent.

Gemini sends each call whole, so a call goes out as OpenAI streams one: a first delta
with ``index``, ``id``, ``type``, ``function.name`` and ``arguments: ""`` (and the
signature in ``extra_content``), then one delta with the whole ``arguments``. Thoughts
(when asked for) go out as ``delta.reasoning_content``.

``tokens()`` and ``finished`` tell the proxy the usage and whether the answer ended with
a finish (or block) reason. Held state: per choice a ``CandidateReader``, its finish
reason and sources; the last ``usageMetadata``.

Lossy points (⚠): those of ``chat_parts``.
"""
from __future__ import annotations

import json
from typing import Any, Optional

from balancer.dialects.chat_parts import (CandidateReader, call_seed, chat_usage, finish_reason,
                                          logprobs, parts_of, sources, sources_text,
                                          usage_tokens)
from balancer.dialects.chat_request import ChatContext
from balancer.upstream.providers import openai_error_from_upstream

DONE = b"data: [DONE]\n\n"
# One encoder for every chunk: json.dumps with options builds a new one per call.
_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


class _Choice:
    """What one streamed choice holds between events."""

    __slots__ = ("reader", "reason", "sources", "started")

    def __init__(self, reader: CandidateReader) -> None:
        self.reader = reader
        self.reason: Optional[str] = None
        self.sources: list[tuple[str, str]] = []
        self.started = False


class ChatStream:
    """Translates one native stream into OpenAI chunks, event by event."""

    def __init__(self, ctx: ChatContext, *, created: int, id: str) -> None:
        self._ctx = ctx
        self._seed = call_seed(id)
        # Every chunk starts and ends alike: build those bytes once.
        self._head = ('data: {"id":' + _encode(id) + ',"object":"chat.completion.chunk",'
                      f'"created":{int(created)},"model":' + _encode(ctx.model) + ',"choices":')
        self._tail = ',"usage":null}\n\n' if ctx.include_usage else '}\n\n'
        self._choices: dict[int, _Choice] = {}
        self._usage: Optional[dict] = None
        self._blocked = False
        self._ended = False
        #: An error event went out (in-band upstream error or ``error()``).
        self.failed = False

    @property
    def finished(self) -> bool:
        """The answer ended as Gemini ends one: a finish reason per choice, or a block."""
        return self._blocked or (bool(self._choices)
                                 and all(c.reason for c in self._choices.values()))

    def tokens(self) -> tuple[int, int]:
        """(prompt, completion) tokens of the last usage seen, as the client's usage says."""
        return usage_tokens(self._usage)

    def feed(self, event: dict) -> bytes:
        """The chunks for one native event (b"" when it adds nothing)."""
        if self._ended or not isinstance(event, dict):
            return b""
        error = event.get("error")
        if isinstance(error, dict):
            code = error.get("code")
            status = code if isinstance(code, int) and 400 <= code < 600 else 500
            return self._fail(openai_error_from_upstream(status, json.dumps(event).encode()))
        meta = event.get("usageMetadata")
        if isinstance(meta, dict):
            self._usage = meta
        candidates = event.get("candidates")
        if isinstance(candidates, list) and len(candidates) == 1 \
                and isinstance(candidates[0], dict):
            index = candidates[0].get("index")  # one candidate: the usual event
            return self._candidate(index if isinstance(index, int) else 0, candidates[0])
        if isinstance(candidates, list) and candidates:
            out = []
            for i, candidate in enumerate(candidates):
                if isinstance(candidate, dict):
                    index = candidate.get("index")
                    out.append(self._candidate(index if isinstance(index, int) else i, candidate))
            return b"".join(out)
        feedback = event.get("promptFeedback")
        if isinstance(feedback, dict) and feedback.get("blockReason"):
            self._blocked = True
        return b""

    def end(self) -> bytes:
        """The finishing chunks, the usage chunk when asked for, and ``[DONE]``."""
        if self._ended:
            return b""
        self._ended = True
        out = []
        if not self._choices:
            reason = "content_filter" if self._blocked else "stop"
            out.append(self._chunk(0, {"role": "assistant", "content": None}))
            out.append(self._chunk(0, {}, reason))
        for index in sorted(self._choices):
            choice = self._choices[index]
            tail = sources_text(choice.sources, choice.reader.wrote)
            if tail:
                out.append(self._chunk(index, {"content": tail}))
            out.append(self._chunk(index, {}, finish_reason(choice.reason,
                                                            choice.reader.calls > 0)))
        if self._ctx.include_usage:
            usage = _encode(chat_usage(self._usage))
            out.append((self._head + '[],"usage":' + usage + "}\n\n").encode())
        out.append(DONE)
        return b"".join(out)

    def error(self, message: str, code: Optional[str] = None, type: str = "server_error") -> bytes:
        """The mid-stream error event OpenAI SDKs raise on; nothing follows it."""
        if self._ended:
            return b""
        body = {"error": {"message": message, "type": type, "param": None, "code": code}}
        return self._fail(json.dumps(body, ensure_ascii=False).encode())

    def _fail(self, envelope: bytes) -> bytes:
        self._ended = True
        self.failed = True
        return b"data: " + envelope + b"\n\n"

    def _candidate(self, index: int, candidate: dict) -> bytes:
        choice = self._choices.get(index)
        if choice is None:
            choice = self._choices[index] = _Choice(CandidateReader(self._ctx, self._seed, index))
        text, thoughts, calls = choice.reader.read(parts_of(candidate))
        if text and choice.started and not thoughts and not calls \
                and "logprobsResult" not in candidate and "groundingMetadata" not in candidate:
            # The bulk of a stream: a piece of text and nothing else to translate.
            reason = candidate.get("finishReason")
            if isinstance(reason, str) and reason:
                choice.reason = reason
            return (f'{self._head}[{{"index":{index},"delta":{{"content":{_encode(text)}}},'
                    f'"logprobs":null,"finish_reason":null}}]{self._tail}').encode()
        deltas: list[dict] = []
        if thoughts:
            deltas.append({"reasoning_content": thoughts})
        if text:
            deltas.append({"content": text})
        text_at = len(deltas) - 1 if text else -1
        for call in calls:
            first: dict[str, Any] = {"index": call["index"], "id": call["id"], "type": "function",
                                     "function": {"name": call["function"]["name"],
                                                  "arguments": ""}}
            if "extra_content" in call:
                first["extra_content"] = call["extra_content"]
            deltas.append({"tool_calls": [first]})
            arguments = {"arguments": call["function"]["arguments"]}
            deltas.append({"tool_calls": [{"index": call["index"], "function": arguments}]})
        if not choice.started:
            choice.started = True
            if deltas:
                deltas[0] = {"role": "assistant", **deltas[0]}
            else:
                deltas.append({"role": "assistant", "content": ""})
        if "groundingMetadata" in candidate:
            for source in sources(candidate):
                if all(source[1] != uri for _, uri in choice.sources):
                    choice.sources.append(source)
        reason = candidate.get("finishReason")
        if isinstance(reason, str) and reason:
            choice.reason = reason
        if len(deltas) == 1 and "logprobsResult" not in candidate:
            return self._chunk(index, deltas[0])  # the common case: one piece of text
        probs = logprobs(candidate) if text_at >= 0 else None
        return b"".join(self._chunk(index, delta, logprobs=probs if i == text_at else None)
                        for i, delta in enumerate(deltas))

    def _chunk(self, index: int, delta: dict, reason: Optional[str] = None,
               logprobs: Optional[dict] = None) -> bytes:
        # Written by hand around the delta: the hot path of every streamed answer.
        return (f'{self._head}[{{"index":{index},"delta":{_encode(delta)},"logprobs":'
                f'{"null" if logprobs is None else _encode(logprobs)},"finish_reason":'
                f'{"null" if reason is None else _encode(reason)}}}]{self._tail}').encode()
