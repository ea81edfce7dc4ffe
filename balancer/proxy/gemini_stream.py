"""Watching a Gemini-native stream (``streamGenerateContent``) as it passes through.

Gemini streams in one of two framings: with ``?alt=sse``, ``data: <json>`` events
and no ``[DONE]``; without ``alt``, one JSON array written element by element.
Both taps hand the upstream bytes on as soon as they can, unchanged, and note
usage, in-band errors and whether the answer finished. ``sse.OpenAIStreamTap`` is
the OpenAI-format counterpart.
"""
from __future__ import annotations

import json
import re
from typing import Any, Optional

from balancer.proxy.json_scan import INVALID, OPENERS, Brackets, Bytes, completion, first_value, loads

_BOUNDARY = re.compile(rb"\r\n\r\n|\n\n|\r\r")
# An event also ends where a line opens a bare JSON value, blank line or not.
_EVENT_END = re.compile(rb"\r\n\r\n|\n\n|\r\r|[\r\n](?=[{\[])")
_NON_BLANK = re.compile(rb"[^ \t\r\n]")
# Chunks that may need a full parse; every chunk mentions usageMetadata, so that
# key alone only marks the chunk for a lazy parse (see ``_GeminiTap.usage``).
_INTERESTING = (b'"error"', b'"finishReason"', b'"blockReason"')


class _GeminiTap:
    """What both framings note: usage, an in-band error, a finished answer."""

    def __init__(self) -> None:
        self.error: Optional[dict] = None
        self.done = False
        self._usage: Optional[dict] = None
        self._usage_raw: Optional[bytes] = None

    @property
    def usage(self) -> Optional[dict]:
        """The last ``usageMetadata`` seen (later chunks carry fuller counts)."""
        if self._usage_raw is not None:
            raw, self._usage_raw = self._usage_raw, None
            obj = loads(raw)
            if isinstance(obj, dict) and isinstance(obj.get("usageMetadata"), dict):
                self._usage = obj["usageMetadata"]
        return self._usage

    def tokens(self) -> tuple[int, int]:
        """(input, output) tokens of the usage seen so far; thinking counts as output."""
        return native_usage_tokens(self.usage)

    def _note(self, payload: bytes) -> None:
        if not any(key in payload for key in _INTERESTING):
            if b'"usageMetadata"' in payload:
                # Every chunk repeats usage: keep the bytes and parse only the
                # last one, when someone asks.
                self._usage_raw = payload
            return
        obj = loads(payload)
        if not isinstance(obj, dict):
            return
        if isinstance(obj.get("error"), dict):
            self.error = obj["error"]
            return
        if isinstance(obj.get("usageMetadata"), dict):
            self._usage, self._usage_raw = obj["usageMetadata"], None
        if _finished(obj):
            self.done = True


class GeminiSSETap(_GeminiTap):
    """Splits an ``?alt=sse`` stream into events, forwarding each as it completes."""

    def __init__(self) -> None:
        super().__init__()
        self._buf = bytearray()
        self._scan_from = 0  # where the search for a boundary or bracket resumes
        self._bare: Optional[Brackets] = None  # set while a bare JSON value is read
        # What went out last still needs a line break before a new event: an event
        # cut short by a bare value, or a bare value passed through as it was.
        self._unended = False

    def feed(self, chunk: bytes) -> bytes:
        """Take upstream bytes; return the complete events to send on now."""
        data: Bytes = chunk
        if self._buf:
            self._buf += chunk
            data = self._buf
        out, pos = self._drain(data)
        if data is self._buf:
            del self._buf[:pos]
        else:
            self._buf += memoryview(chunk)[pos:]
        self._scan_from = max(0, self._scan_from - pos)
        return b"".join(out)

    def finish(self) -> bytes:
        """The upstream ended: whatever is still held back, if it forms an event."""
        rest = bytes(self._buf)
        bare, self._bare = self._bare, None
        self._buf, self._scan_from = bytearray(), 0
        if bare is not None:
            return b""  # a bare JSON value cut short: nothing a client could parse
        if not rest.strip():
            if b"\n" in rest or b"\r" in rest:
                self._unended = False
            return rest
        payload = _data_of(rest)
        if payload is not None and loads(payload) is INVALID:
            # A truncated data line would make google-genai raise
            # UnknownApiResponseError; leave the ending to error_tail().
            return b""
        return self._event(rest + b"\n\n")

    def error_tail(self, message: str, code: int = 500, status: str = "INTERNAL") -> bytes:
        """An event that ends this stream so that google-genai raises ``APIError``."""
        # Only whole events ever went out, so the client sits at an event boundary;
        # anything held back is dropped.
        self._buf, self._scan_from, self._bare = bytearray(), 0, None
        head = b"\ndata: " if self._unended else b"data: "
        self._unended = False
        return head + _error_json(message, code, status) + b"\n\n"

    def _drain(self, data: Bytes) -> tuple[list[bytes], int]:
        out: list[bytes] = []
        pos, n = 0, len(data)
        while pos < n:
            if self._bare is None:
                first = _NON_BLANK.search(data, pos)
                if first is None:
                    break  # blank bytes only: they go out with what follows
                start = first.start()
                if data[start] not in OPENERS:
                    end = _one_line_event(data, pos) if start == pos else -1
                    if end > 0:
                        # As Gemini writes every event: read without a pattern search.
                        cr = data[end - 1] == 10 and data[end - 2] == 13
                        payload = bytes(data[pos + 5:end - (4 if cr else 2)])
                        out.append(self._data_event(bytes(data[pos:end]), payload))
                        self._unended = False
                        pos = self._scan_from = end
                        continue
                    match = _EVENT_END.search(data, max(pos, self._scan_from))
                    if match is None:
                        # A boundary may straddle two chunks: look at the last 3 bytes again.
                        self._scan_from = max(pos, n - 3)
                        break
                    out.append(self._event(bytes(data[pos:match.end()])))
                    self._unended = match.end() - match.start() == 1
                    pos = self._scan_from = match.end()
                    continue
                # A line that opens a JSON value is no SSE field: Gemini ends some
                # streams with a bare, pretty-printed error object (js-genai #461).
                # Read it by counting brackets, as google-genai does.
                if start > pos:
                    out.append(bytes(data[pos:start]))
                    self._unended = False
                pos = self._scan_from = start
                self._bare = Brackets()
            end = self._bare_end(data)
            if end < 0:
                self._scan_from = n
                break
            out.append(self._bare_value(bytes(data[pos:end])))
            pos = self._scan_from = end
            self._bare = None
        return out, pos

    def _bare_end(self, data: Bytes) -> int:
        brackets, pos = self._bare, self._scan_from
        assert brackets is not None
        while True:
            i = brackets.next(data, pos, 0)
            if i < 0:
                return -1
            pos = i + 1
            if brackets.depth == 0:
                return pos

    def _bare_value(self, raw: bytes) -> bytes:
        err = _error_of(raw)
        if err is None:
            self._note(raw)
            self._unended = True
            return raw
        # Re-framed as a data event with "error" as the first key, which is what
        # google-genai needs to raise APIError (its bracket counting would join the
        # pretty-printed lines into '{  "error": ...', which it does not recognise).
        self.error = err
        head = b"\ndata: " if self._unended else b"data: "
        self._unended = False
        return head + json.dumps({"error": err}).encode() + b"\n\n"

    def _event(self, event: bytes) -> bytes:
        payload = _data_of(event)
        if payload is not None:
            self._note(payload)
        return event

    def _data_event(self, event: bytes, payload: bytes) -> bytes:
        """An event of one ``data:`` line, with that line's data already cut out."""
        self._note(payload)
        return event


class GeminiArrayTap(_GeminiTap):
    """Follows the streamed JSON array (no ``alt``) element by element; bytes pass straight on."""

    def __init__(self) -> None:
        super().__init__()
        self._brackets = Brackets()
        self._base = 0  # depth of the elements: 1 inside the top-level array
        self._started = False  # the top-level value has begun
        self._array = False
        self._closed = False  # the top-level value ended, or an error tail went out
        self._element: Optional[list[bytes]] = None  # pieces of the element being read
        self._elements = 0
        self._comma = False  # a separator went out after the last element

    def feed(self, chunk: bytes) -> bytes:
        """Take upstream bytes and return them unchanged, noting complete elements."""
        if chunk and not self._closed:
            self._scan(chunk)
        return chunk

    def finish(self) -> bytes:
        """The upstream ended: close an array that ended (answer or error) but lost its ``]``."""
        # Nothing is held back here; closing the array lets the client parse a body
        # whose last element was final anyway. Otherwise the relay adds error_tail().
        if ((self.done or self.error is not None) and self._array and not self._closed
                and self._element is None and not self._comma):
            self._closed = True
            return b"\n]"
        return b""

    def error_tail(self, message: str, code: int = 500, status: str = "INTERNAL") -> bytes:
        """Bytes that end this stream with an ``{"error": ...}`` element."""
        if self._closed:
            return b""  # the JSON value already ended: nothing may follow it
        self._closed = True
        err = _error_json(message, code, status)
        if not self._started:
            return b"[" + err + b"\n]"
        if not self._array:
            return b""  # a lone object cannot take an error element
        if self._element is None:
            sep = b"\n,\r\n" if self._elements and not self._comma else b""
            return sep + err + b"\n]"
        # Cut inside an element: the client already has part of it. Close it with
        # the fewest bytes that make it valid JSON (end the string, fill a dangling
        # key or value with null, close the brackets), so a streaming parser reads
        # the truncated chunk and then the error element. Should no completion be
        # found, the error element still goes out: the body is then invalid JSON
        # either way, but the message is there for whoever reads it.
        partial, self._element = b"".join(self._element), None
        return (completion(partial) or b"") + b"\n,\r\n" + err + b"\n]"

    def _scan(self, chunk: bytes) -> None:
        brackets = self._brackets
        start = 0 if self._element is not None else -1
        gap = 0  # where the bytes after the last element begin in this chunk
        pos = 0
        while True:
            i = brackets.next(chunk, pos, self._base)
            if i < 0:
                break
            pos = i + 1
            depth = brackets.depth
            if chunk[i] in OPENERS:
                if depth == 1 and not self._started and chunk[i] == 0x5B:
                    self._started = self._array = True
                    self._base, gap = 1, pos
                elif depth == self._base + 1:
                    self._started = True
                    self._element, start = [], i
            elif depth == self._base and self._element is not None:
                self._element.append(chunk[start:pos])
                raw, self._element, start = b"".join(self._element), None, -1
                self._elements += 1
                self._comma, gap = False, pos
                self._note(raw)
                if self._base == 0:
                    self._closed = True
                    return
            elif depth < self._base:
                self._closed = True  # the array's closing bracket
                return
        if self._element is not None:
            self._element.append(chunk[start:] if start else chunk)
        elif self._array and chunk.find(b",", gap) >= 0:
            self._comma = True


def leading_error(first: bytes, framing: str) -> Optional[dict]:
    """The error object when a stream's first event or element is an error, else None.

    ``framing`` is ``"sse"`` or ``"array"``. Nothing has reached the client at that
    point, so the request can still go to another key.
    """
    if framing not in ("sse", "array"):
        raise ValueError(f"framing must be 'sse' or 'array', not {framing!r}")
    if b'"error"' not in first:
        return None
    match = _NON_BLANK.search(first)
    if match is None:
        return None
    start = match.start()
    if first[start] in OPENERS:
        value = first_value(first, start)
        return _error_of(value) if value is not None else None
    if framing != "sse":
        return None
    boundary = _BOUNDARY.search(first, start)
    payload = _data_of(first[start:boundary.end()] if boundary else first[start:])
    return _error_of(payload) if payload is not None else None


def native_usage_tokens(usage_metadata: Optional[dict]) -> tuple[int, int]:
    """(input, output) tokens from a Gemini ``usageMetadata``; thinking counts as output."""
    if not usage_metadata:
        return 0, 0
    prompt, answer, thoughts = (_count(usage_metadata.get(key)) for key in
                                ("promptTokenCount", "candidatesTokenCount", "thoughtsTokenCount"))
    return prompt, answer + thoughts


def _count(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def _one_line_event(data: Bytes, pos: int) -> int:
    """Where the event at ``pos`` ends if it is one ``data:`` line and a blank line, each
    ended alike (``\r\n`` or ``\n``), as Gemini writes its events; -1 if it is anything
    else or not yet whole (the general search then decides)."""
    if not data.startswith(b"data:", pos):
        return -1
    nl = data.find(b"\n", pos)
    if nl < 0:
        return -1
    if data[nl - 1] == 13:  # the line ends "\r\n": so must the blank line after it
        if not data.startswith(b"\r\n", nl + 1) or data.find(b"\r", pos, nl - 1) >= 0:
            return -1
        return nl + 3
    if not data.startswith(b"\n", nl + 1) or data.find(b"\r", pos, nl) >= 0:
        return -1  # a lone "\r" ends a line in SSE too: leave such an event to the search
    return nl + 2


def _data_of(event: bytes) -> Optional[bytes]:
    """The joined ``data:`` lines of one event, or None when it has none."""
    event = event.strip()
    if event.startswith(b"data:") and b"\n" not in event and b"\r" not in event:
        return event[5:]
    lines = [line[5:] for line in event.splitlines() if line.startswith(b"data:")]
    return b"\n".join(lines) if lines else None


def _error_of(payload: Bytes) -> Optional[dict]:
    obj = loads(payload)
    if isinstance(obj, dict) and isinstance(obj.get("error"), dict):
        return obj["error"]
    return None


def _finished(obj: dict) -> bool:
    candidates = obj.get("candidates")
    if isinstance(candidates, list) and any(
            isinstance(c, dict) and c.get("finishReason") for c in candidates):
        return True
    feedback = obj.get("promptFeedback")
    return isinstance(feedback, dict) and bool(feedback.get("blockReason"))


def _error_json(message: str, code: int, status: str) -> bytes:
    # "error" must come first: google-genai checks that the segment starts with {"error":.
    return json.dumps({"error": {"code": code, "message": message, "status": status}}).encode()
