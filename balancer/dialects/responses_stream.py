"""Gemini ``streamGenerateContent?alt=sse`` events as OpenAI Responses stream events.

``ResponsesStream`` is fed one parsed native event (a dict) at a time and returns the
bytes of zero or more ``event: <type>`` + ``data: {...}`` events, each with its
``sequence_number`` (0, 1, 2, ... per response), in the order OpenAI sends them:
``response.created`` and ``response.in_progress`` first; then per output item
``response.output_item.added``, its content events and ``response.output_item.done``;
``end()`` closes the open item and sends ``response.completed`` (``response.incomplete``
when the answer was cut by the token limit or a filter) with the whole Response and its
usage. ``error()`` sends ``response.failed`` (status ``failed``, ``error{code, message}``)
and nothing follows; an in-band native error event fed in does the same.

Output items, in the order Gemini's parts come:

- thought summaries (when ``reasoning.summary`` asked for them) -> a ``reasoning`` item
  (``response.reasoning_summary_part.added``, ``response.reasoning_summary_text.delta``,
  ``.done``, ``response.reasoning_summary_part.done``);
- text (and images, as markdown ``data:`` images, as in chat) -> a ``message`` item with one
  ``output_text`` part (``response.content_part.added``, ``response.output_text.delta``,
  ``response.output_text.done``, ``response.content_part.done``); search sources are
  appended to it at the end;
- each ``functionCall`` -> a ``function_call`` item (``call_id`` Gemini's id or a
  Balancer-made ``call_bal_...``; one ``response.function_call_arguments.delta`` with the
  whole arguments, then ``.done``), preceded, when the part carries a thought signature, by a
  ``reasoning`` item with no summary whose ``encrypted_content`` holds the signature by
  call id (``responses_items.seal``): a client that sends its output items back (with or
  without ``previous_response_id``) gives Gemini 3 its signatures again.

``response()`` is the final Response object (``responses_answer`` builds whole answers
with it); ``tokens()`` and ``finished`` tell the proxy the usage and whether the answer
ended with a finish (or block) reason. Only the first candidate is read (Responses has no
``n``).

Lossy points (⚠): those of ``chat_parts`` (a signature on a text part is dropped; audio
output is dropped; MALFORMED_FUNCTION_CALL and the like read ``completed``); Gemini's
``modelVersion`` and ``safetyRatings`` are not reported; ``logprobs`` are always empty.
"""
from __future__ import annotations

import json
from typing import Any, Optional

from balancer.dialects.chat_parts import (FILTERED, CandidateReader, call_seed, chat_usage,
                                          parts_of, sources, sources_text, usage_tokens)
from balancer.dialects.responses_items import seal
from balancer.dialects.responses_request import ResponsesContext
from balancer.upstream.providers import openai_error_from_upstream

_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def responses_usage(meta: Any) -> dict:
    """Responses ``usage`` for a Gemini ``usageMetadata`` (zeros for what it lacks)."""
    chat = chat_usage(meta)
    return {"input_tokens": chat["prompt_tokens"],
            "input_tokens_details": {"cached_tokens": chat["prompt_tokens_details"]["cached_tokens"]},
            "output_tokens": chat["completion_tokens"],
            "output_tokens_details": {
                "reasoning_tokens": chat["completion_tokens_details"]["reasoning_tokens"]},
            "total_tokens": chat["total_tokens"]}


class ResponsesStream:
    """Translates one native stream (or one whole answer) into Responses events."""

    def __init__(self, ctx: ResponsesContext, *, created: int, id: str) -> None:
        self._ctx = ctx
        self._id = id
        self._created = int(created)
        self._hex = id.removeprefix("resp_")
        self._reader = CandidateReader(ctx.chat, call_seed(id), 0)
        self._seq = 0
        self._output: list[dict] = []
        #: The item being written: (kind, its text so far); its dict is ``_output[-1]``.
        self._open: Optional[str] = None
        self._text: list[str] = []
        self._sources: list[tuple[str, str]] = []
        self._reason: Optional[str] = None
        self._usage: Optional[dict] = None
        self._blocked = False
        self._started = False
        self._ended = False
        self._status = "in_progress"
        self._error: Optional[dict] = None
        #: A ``response.failed`` went out (in-band upstream error or ``error()``).
        self.failed = False

    @property
    def finished(self) -> bool:
        """The answer ended as Gemini ends one: a finish reason, or a block."""
        return self._blocked or self._reason is not None

    def tokens(self) -> tuple[int, int]:
        """(input, output) tokens of the last usage seen, as the client's usage says."""
        return usage_tokens(self._usage)

    def response(self) -> dict:
        """The Response object as it stands (whole once ``end()`` ran)."""
        done = self._status not in ("in_progress",)
        incomplete = None
        if self._status == "incomplete":
            incomplete = {"reason": "max_output_tokens" if self._reason == "MAX_TOKENS"
                          else "content_filter"}
        return {"id": self._id, "object": "response", "created_at": self._created,
                "status": self._status, "error": self._error,
                "incomplete_details": incomplete, "model": self._ctx.model,
                "output": [dict(item) for item in self._output] if done else [],
                "usage": responses_usage(self._usage) if done else None,
                **self._ctx.echo}

    def feed(self, event: dict) -> bytes:
        """The events for one native event (b"" when it adds nothing)."""
        if self._ended or not isinstance(event, dict):
            return b""
        out = [self._start()]
        error = event.get("error")
        if isinstance(error, dict):
            code = error.get("code")
            status = code if isinstance(code, int) and 400 <= code < 600 else 500
            envelope = json.loads(openai_error_from_upstream(status, json.dumps(event).encode()))
            detail = envelope.get("error") if isinstance(envelope, dict) else None
            detail = detail if isinstance(detail, dict) else {}
            out.append(self.error(str(detail.get("message") or "The upstream failed."),
                                  str(detail.get("code") or detail.get("type") or "server_error")))
            return b"".join(out)
        meta = event.get("usageMetadata")
        if isinstance(meta, dict):
            self._usage = meta
        candidates = event.get("candidates")
        candidate = candidates[0] if isinstance(candidates, list) and candidates else None
        if isinstance(candidate, dict):
            for part in parts_of(candidate):
                out.append(self._part(part))
            if "groundingMetadata" in candidate:
                for source in sources(candidate):
                    if all(source[1] != uri for _, uri in self._sources):
                        self._sources.append(source)
            reason = candidate.get("finishReason")
            if isinstance(reason, str) and reason:
                self._reason = reason
        feedback = event.get("promptFeedback")
        if isinstance(feedback, dict) and feedback.get("blockReason"):
            self._blocked = True
        return b"".join(out)

    def end(self) -> bytes:
        """Close the open item and send ``response.completed`` (or ``.incomplete``)."""
        if self._ended:
            return b""
        out = [self._start()]
        tail = sources_text(self._sources, self._reader.wrote)
        if tail:
            out.append(self._write("message", tail))
        out.append(self._close())
        self._ended = True
        if self._blocked or self._reason in FILTERED or self._reason == "MAX_TOKENS":
            self._status = "incomplete"
        else:
            self._status = "completed"
        out.append(self._event(f"response.{self._status}", {"response": self.response()}))
        return b"".join(out)

    def error(self, message: str, code: Optional[str] = None) -> bytes:
        """``response.failed``, which ends the stream; nothing follows it."""
        if self._ended:
            return b""
        out = [self._start(), self._close()]
        self._ended = True
        self.failed = True
        self._status = "failed"
        self._error = {"code": code or "server_error", "message": message}
        out.append(self._event("response.failed", {"response": self.response()}))
        return b"".join(out)

    # --- pieces -----------------------------------------------------------------------

    def _event(self, kind: str, data: dict) -> bytes:
        body = {"type": kind, "sequence_number": self._seq, **data}
        self._seq += 1
        return f"event: {kind}\ndata: {_encode(body)}\n\n".encode()

    def _start(self) -> bytes:
        if self._started:
            return b""
        self._started = True
        return (self._event("response.created", {"response": self.response()})
                + self._event("response.in_progress", {"response": self.response()}))

    def _part(self, part: Any) -> bytes:
        text, thoughts, calls = self._reader.read([part])
        out = []
        if thoughts:
            out.append(self._write("reasoning", thoughts))
        if text:
            out.append(self._write("message", text))
        for call in calls:
            out.append(self._close())
            signature = (call.get("extra_content") or {}).get("google", {}).get(
                "thought_signature")
            if signature:
                out.append(self._add({"type": "reasoning", "id": self._item_id("rs"),
                                      "summary": [],
                                      "encrypted_content": seal({call["id"]: signature})}))
                out.append(self._done())
            item = {"type": "function_call", "id": self._item_id("fc"), "call_id": call["id"],
                    "name": call["function"]["name"], "arguments": "", "status": "in_progress"}
            out.append(self._add(item))
            arguments = call["function"]["arguments"]
            where = {"item_id": item["id"], "output_index": len(self._output) - 1}
            out.append(self._event("response.function_call_arguments.delta",
                                   {**where, "delta": arguments}))
            out.append(self._event("response.function_call_arguments.done",
                                   {**where, "name": item["name"], "arguments": arguments}))
            item["arguments"] = arguments
            item["status"] = "completed"
            out.append(self._done())
        return b"".join(out)

    def _item_id(self, prefix: str) -> str:
        return f"{prefix}_{self._hex}{len(self._output):03d}"

    def _add(self, item: dict) -> bytes:
        self._output.append(item)
        return self._event("response.output_item.added",
                           {"output_index": len(self._output) - 1, "item": dict(item)})

    def _done(self) -> bytes:
        item = self._output[-1]
        if item["type"] != "function_call":
            item["status"] = "completed"
        return self._event("response.output_item.done",
                           {"output_index": len(self._output) - 1, "item": dict(item)})

    def _where(self) -> dict:
        item = self._output[-1]
        index = {"output_index": len(self._output) - 1}
        if self._open == "reasoning":
            return {"item_id": item["id"], **index, "summary_index": 0}
        return {"item_id": item["id"], **index, "content_index": 0}

    def _write(self, kind: str, text: str) -> bytes:
        out = []
        if self._open != kind:
            out.append(self._close())
            self._open = kind
            self._text = []
            if kind == "reasoning":
                out.append(self._add({"type": "reasoning", "id": self._item_id("rs"),
                                      "summary": [], "status": "in_progress"}))
                out.append(self._event("response.reasoning_summary_part.added",
                                       {**self._where(),
                                        "part": {"type": "summary_text", "text": ""}}))
            else:
                out.append(self._add({"type": "message", "id": self._item_id("msg"),
                                      "status": "in_progress", "role": "assistant",
                                      "content": []}))
                out.append(self._event("response.content_part.added",
                                       {**self._where(), "part": _output_text("")}))
        self._text.append(text)
        if kind == "reasoning":
            out.append(self._event("response.reasoning_summary_text.delta",
                                   {**self._where(), "delta": text}))
        else:
            out.append(self._event("response.output_text.delta",
                                   {**self._where(), "delta": text, "logprobs": []}))
        return b"".join(out)

    def _close(self) -> bytes:
        if self._open is None:
            return b""
        text = "".join(self._text)
        where = self._where()
        item = self._output[-1]
        if self._open == "reasoning":
            part = {"type": "summary_text", "text": text}
            out = [self._event("response.reasoning_summary_text.done", {**where, "text": text}),
                   self._event("response.reasoning_summary_part.done", {**where, "part": part})]
            item["summary"] = [part]
        else:
            out = [self._event("response.output_text.done", {**where, "text": text,
                                                              "logprobs": []}),
                   self._event("response.content_part.done",
                               {**where, "part": _output_text(text)})]
            item["content"] = [_output_text(text)]
        self._open = None
        self._text = []
        out.append(self._done())
        return b"".join(out)


def _output_text(text: str) -> dict:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
