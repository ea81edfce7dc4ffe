"""Gemini ``streamGenerateContent?alt=sse`` events as Anthropic Messages stream events.

``AnthropicStream`` is fed one parsed native event (a dict) at a time and returns the
bytes of zero or more events, each ``event: <type>`` + ``data: <json>`` (Anthropic's SDKs
dispatch on the event name and drop unnamed events):

- the first event opens with ``message_start`` (``input_tokens`` from the first usage
  Gemini sends) and a ``ping``;
- thought parts (when asked for) -> a ``thinking`` block of ``thinking_delta``s; text ->
  a ``text`` block of ``text_delta``s; a block stops when another kind begins; empty text
  never opens a block;
- a ``functionCall`` (Gemini sends each whole) -> its signature as a ``signature_delta``
  on the open thinking block, or on a thinking block opened for it, then a ``tool_use``
  block (``input: {}``) with one ``input_json_delta`` holding the whole arguments;
- ``end()`` stops the open block and sends ``message_delta`` (``stop_reason``,
  ``stop_sequence``, the final usage) and ``message_stop``.

``error()`` gives the ``event: error`` that makes Anthropic's SDKs raise mid-stream; an
in-band native error event fed in becomes one too. After an error nothing more is sent.
``tokens()`` and ``finished`` tell the proxy the usage and whether the answer ended with
a finish (or block) reason. Block indexes run 0, 1, 2… in order, as the SDK's accumulator
expects. Held state: the open block, the call count, the finish reason, the last usage,
and the end of the text (for the stop-sequence guess).

Lossy points (⚠): those of ``anthropic_answer``; one candidate only.
"""
from __future__ import annotations

import json
from typing import Any, Optional

from balancer.dialects.anthropic_answer import (signature_of, stop_reason, tool_seed, tool_use,
                                                usage)
from balancer.dialects.anthropic_errors import error_body, error_type
from balancer.dialects.anthropic_request import AnthropicContext
from balancer.dialects.chat_parts import parts_of, usage_tokens

_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
#: The text kept for the stop-sequence guess.
_TAIL = 256


def event(kind: str, data: dict) -> bytes:
    """One named SSE event."""
    return f"event: {kind}\ndata: {_encode(data)}\n\n".encode()


class AnthropicStream:
    """Translates one native stream into Anthropic events, event by event."""

    def __init__(self, ctx: AnthropicContext, *, id: str) -> None:
        self._ctx = ctx
        self._id = id
        self._seed = tool_seed(id)
        self._started = False
        self._index = -1
        self._open: Optional[str] = None  # "text" | "thinking" | None
        self._signed = False  # the open thinking block has its signature
        self._calls = 0
        self._reason: Optional[str] = None
        self._tail = ""
        self._usage: Optional[dict] = None
        self._blocked = False
        self._ended = False
        #: An error event went out (in-band upstream error or ``error()``).
        self.failed = False

    @property
    def finished(self) -> bool:
        """The answer ended as Gemini ends one: a finish reason, or a blocked prompt."""
        return self._blocked or self._reason is not None

    def tokens(self) -> tuple[int, int]:
        """(prompt, completion) tokens of the last usage seen."""
        return usage_tokens(self._usage)

    def feed(self, native: Any) -> bytes:
        """The events for one native event (b"" when it adds nothing)."""
        if self._ended or not isinstance(native, dict):
            return b""
        error = native.get("error")
        if isinstance(error, dict):
            code = error.get("code")
            status = code if isinstance(code, int) and 400 <= code < 600 else 500
            return self._fail(error_body(status, str(error.get("message") or "upstream error")))
        meta = native.get("usageMetadata")
        if isinstance(meta, dict):
            self._usage = meta
        out = [self._start()]
        candidates = native.get("candidates")
        candidate = candidates[0] if isinstance(candidates, list) and candidates \
            and isinstance(candidates[0], dict) else None
        if candidate is not None:
            for part in parts_of(candidate):
                if isinstance(part, dict):
                    out.append(self._part(part))
            reason = candidate.get("finishReason")
            if isinstance(reason, str) and reason:
                self._reason = reason
        feedback = native.get("promptFeedback")
        if isinstance(feedback, dict) and feedback.get("blockReason"):
            self._blocked = True
        return b"".join(out)

    def end(self) -> bytes:
        """The open block's stop, ``message_delta`` and ``message_stop``."""
        if self._ended:
            return b""
        self._ended = True
        out = [self._start(), self._close()]
        if self._blocked and self._reason is None:
            reason, sequence = "refusal", None
        else:
            reason, sequence = stop_reason(self._reason, self._calls > 0, self._tail, self._ctx)
        out.append(event("message_delta", {"type": "message_delta",
                                           "delta": {"stop_reason": reason,
                                                     "stop_sequence": sequence},
                                           "usage": usage(self._usage)}))
        out.append(event("message_stop", {"type": "message_stop"}))
        return b"".join(out)

    def error(self, message: str, code: Optional[str] = None, status: int = 500) -> bytes:
        """The ``error`` event Anthropic's SDKs raise on; nothing follows it."""
        if self._ended:
            return b""
        body = error_body(status, message)
        if code == "upstream_overloaded":
            body["error"]["type"] = error_type(529)
        return self._fail(body)

    def _fail(self, body: dict) -> bytes:
        self._ended = True
        self.failed = True
        return event("error", body)

    def _start(self) -> bytes:
        if self._started:
            return b""
        self._started = True
        first = usage(self._usage)
        message = {"id": self._id, "type": "message", "role": "assistant",
                   "model": self._ctx.model, "content": [], "stop_reason": None,
                   "stop_sequence": None, "usage": first}
        return (event("message_start", {"type": "message_start", "message": message})
                + event("ping", {"type": "ping"}))

    def _open_block(self, kind: str, block: dict) -> bytes:
        out = self._close()
        self._index += 1
        self._open = kind
        self._signed = False
        return out + event("content_block_start", {"type": "content_block_start",
                                                   "index": self._index,
                                                   "content_block": block})

    def _close(self) -> bytes:
        if self._open is None:
            return b""
        self._open = None
        return event("content_block_stop", {"type": "content_block_stop", "index": self._index})

    def _delta(self, delta: dict) -> bytes:
        return event("content_block_delta", {"type": "content_block_delta",
                                             "index": self._index, "delta": delta})

    def _signature(self, signature: str) -> bytes:
        self._signed = True
        return self._delta({"type": "signature_delta", "signature": signature})

    def _part(self, part: dict) -> bytes:
        call = part.get("functionCall")
        if isinstance(call, dict):
            if self._ctx.single_call and self._calls:
                return b""
            out = b""
            signature = signature_of(part)
            if signature:
                if self._open != "thinking" or self._signed:
                    out += self._open_block("thinking", {"type": "thinking", "thinking": "",
                                                         "signature": ""})
                out += self._signature(signature)
            block = tool_use(call, self._ctx, self._seed, self._calls)
            self._calls += 1
            arguments = _encode(block["input"])
            out += self._open_block("tool_use", {**block, "input": {}})
            out += self._delta({"type": "input_json_delta", "partial_json": arguments})
            return out + self._close()
        text = part.get("text")
        if not isinstance(text, str):
            return b""
        if part.get("thought"):
            if not self._ctx.thoughts:
                return b""
            out = b""
            if self._open != "thinking" or self._signed:
                out += self._open_block("thinking", {"type": "thinking", "thinking": "",
                                                     "signature": ""})
            if text:
                out += self._delta({"type": "thinking_delta", "thinking": text})
            signature = signature_of(part)
            return out + (self._signature(signature) if signature else b"")
        if not text:
            return b""  # a signature-only part: never an empty text block
        out = b"" if self._open == "text" else self._open_block("text", {"type": "text",
                                                                         "text": ""})
        self._tail = (self._tail + text)[-_TAIL:]
        return out + self._delta({"type": "text_delta", "text": text})
