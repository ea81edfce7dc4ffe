"""Watching an OpenAI-style SSE stream as it passes through.

Events are forwarded as they complete, byte for byte; the tap only looks
inside those that mention usage or an error, and drops the usage-only chunk
that Balancer asked for on behalf of a client that did not.
"""
from __future__ import annotations

import json
import re
from typing import Optional

_BOUNDARY = re.compile(rb"\r\n\r\n|\n\n|\r\r")
_NULL_USAGE = (b'"usage":null', b'"usage": null')


class OpenAIStreamTap:
    """Splits a byte stream into SSE events and notes usage, errors and the end."""

    def __init__(self, hide_usage_chunk: bool):
        self.hide_usage_chunk = hide_usage_chunk
        self.usage: Optional[dict] = None
        self.error: Optional[dict] = None
        self.done = False
        #: an incomplete event, held as pieces, and its last bytes.
        self._pending: list[bytes] = []
        self._tail = b""

    def tokens(self) -> tuple[int, int]:
        """(input, output) tokens of the usage seen so far."""
        return usage_tokens(self.usage)

    def feed(self, chunk: bytes) -> bytes:
        """Take upstream bytes; return the complete events to send on now."""
        if self._pending:
            # A boundary can only appear where the new bytes meet the held ones:
            # a long event arriving in small pieces is not rescanned each time.
            if not _BOUNDARY.search(self._tail + chunk):
                self._pending.append(chunk)
                self._tail = (self._tail + chunk)[-3:]
                return b""
            data = b"".join(self._pending) + chunk
            self._pending = []
        else:
            data = chunk
        out = []
        pos = 0
        for match in _BOUNDARY.finditer(data):
            kept = self._event(data[pos:match.end()])
            pos = match.end()
            if kept:
                out.append(kept)
        if pos < len(data):
            rest = data[pos:]
            self._pending, self._tail = [rest], rest[-3:]
        return b"".join(out)

    def finish(self) -> bytes:
        """The stream ended: whatever is left, if it forms an event."""
        rest, self._pending, self._tail = b"".join(self._pending), [], b""
        if not rest.strip():
            return b""
        return self._event(rest + b"\n\n")

    def _event(self, event: bytes) -> bytes:
        stripped = event.strip()
        if not stripped or stripped.startswith(b":"):
            return event
        if stripped.startswith((b"{", b"[")):
            # Gemini may end a stream with a bare JSON error, which OpenAI SDKs
            # cannot read: re-frame it as a data event.
            err = _error_of(stripped)
            if err is not None:
                self.error = err
                return b"data: " + json.dumps({"error": err}).encode() + b"\n\n"
            return event
        payload = _data_of(stripped)
        if payload is None:
            return event
        if payload == b"[DONE]":
            self.done = True
            return event
        if b'"error"' in payload:
            err = _error_of(payload)
            if err is not None:
                self.error = err
                return event
        if b'"usage"' in payload and not any(n in payload for n in _NULL_USAGE):
            try:
                obj = json.loads(payload)
            except ValueError:
                return event
            if isinstance(obj, dict) and isinstance(obj.get("usage"), dict):
                self.usage = obj["usage"]
                if self.hide_usage_chunk and obj.get("choices") == []:
                    return b""
        return event


def leading_error(first: bytes) -> Optional[dict]:
    """The error object when a stream's first event is an error, else None.

    Nothing has reached the client at that point, so the request can still go
    to another key.
    """
    match = _BOUNDARY.search(first)
    event = (first[:match.end()] if match else first).strip()
    if b'"error"' not in event:
        return None
    payload = event if event.startswith((b"{", b"[")) else _data_of(event)
    return _error_of(payload) if payload else None


def _data_of(event: bytes) -> Optional[bytes]:
    """The joined ``data:`` lines of one event, or None when it has none."""
    if event.startswith(b"data:") and b"\n" not in event and b"\r" not in event:
        return event[5:].lstrip()
    lines = [line[5:].lstrip() for line in event.splitlines() if line.startswith(b"data:")]
    return b"\n".join(lines) if lines else None


def _error_of(payload: bytes) -> Optional[dict]:
    try:
        obj = json.loads(payload)
    except ValueError:
        return None
    if isinstance(obj, list) and len(obj) == 1:
        obj = obj[0]
    if isinstance(obj, dict) and isinstance(obj.get("error"), dict):
        return obj["error"]
    return None


def usage_tokens(usage: Optional[dict]) -> tuple[int, int]:
    """(input, output) tokens from an OpenAI ``usage`` object."""
    if not usage:
        return 0, 0
    prompt = usage.get("prompt_tokens") or 0
    completion = usage.get("completion_tokens") or 0
    if not completion and usage.get("total_tokens"):
        completion = max(0, usage["total_tokens"] - prompt)
    return int(prompt), int(completion)
