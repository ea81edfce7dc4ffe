"""Incremental scanning of JSON that arrives in pieces (strings and escapes respected).

Used by the Gemini stream taps to find complete array elements and bare
error objects without re-reading bytes, and to mend a value a broken stream
cut short.
"""
from __future__ import annotations

import re
from typing import Optional, Union

import orjson

Bytes = Union[bytes, bytearray]

# Outside strings only quotes and brackets matter; this hops over everything else,
# complete strings included, in C. Written as an unrolled loop so it cannot backtrack
# catastrophically on a string the chunk cuts short.
_SKIP = re.compile(rb'[^"{}\[\]]*(?:"[^"\\]*(?:\\.[^"\\]*)*"[^"{}\[\]]*)*', re.DOTALL)
# Inside a string: stops at the closing quote, or at a backslash that ends the buffer.
_STRING_REST = re.compile(rb'[^"\\]*(?:\\.[^"\\]*)*', re.DOTALL)
OPENERS = (0x7B, 0x5B)  # { [
_QUOTE, _BACKSLASH = 0x22, 0x5C

class Brackets:
    """Counts JSON nesting across chunks; brackets inside strings do not count."""

    __slots__ = ("depth", "in_string", "escape")

    def __init__(self) -> None:
        self.depth, self.in_string, self.escape = 0, False, False

    def next(self, buf: Bytes, pos: int, watch: int) -> int:
        """Index of the next bracket that opens from, or closes back to, depth <= ``watch``.

        -1 once ``buf`` is used up; the state carries over to the next chunk, so
        bytes already scanned are never scanned again.
        """
        n = len(buf)
        while pos < n:
            if self.in_string:
                if self.escape:
                    self.escape = False
                    pos += 1
                    continue
                end = _STRING_REST.match(buf, pos).end()
                if end >= n:
                    return -1
                if buf[end] == _BACKSLASH:  # the escaped byte is in the next chunk
                    self.escape = True
                    return -1
                self.in_string = False
                pos = end + 1
                continue
            end = _SKIP.match(buf, pos).end()
            if end >= n:
                return -1
            byte = buf[end]
            pos = end + 1
            if byte == _QUOTE:
                self.in_string = True
            elif byte in OPENERS:
                self.depth += 1
                if self.depth <= watch + 1:
                    return end
            else:
                self.depth -= 1
                if self.depth <= watch:
                    return end
        return -1


def first_value(buf: bytes, start: int) -> Optional[bytes]:
    """The object at ``start``, or the first element of the array there."""
    watch = 1 if buf[start] == 0x5B else 0
    brackets, pos, begin = Brackets(), start, start
    while True:
        i = brackets.next(buf, pos, watch)
        if i < 0:
            return None
        pos = i + 1
        if buf[i] in OPENERS:
            if brackets.depth == watch + 1:
                begin = i
        elif brackets.depth == watch:
            return buf[begin:pos]
        elif brackets.depth < watch:
            return None  # an empty array


INVALID = object()


def loads(raw: Bytes) -> object:
    """The parsed JSON, unwrapped from a one-element list (as Gemini wraps errors), or INVALID.

    orjson, not ``json``: every event of a watched or translated stream comes through here,
    and it parses them several times faster.
    """
    try:
        obj = orjson.loads(raw)
    except ValueError:
        return INVALID
    return obj[0] if isinstance(obj, list) and len(obj) == 1 else obj


# After the string is closed (padding a cut \uXXXX escape), one of these fills a
# dangling key, value, separator or literal before the brackets are closed.
_PADS = (b"", b"0", b"00", b"000", b"0000")
_FILLERS = (b"", b"null", b":null", b'"":null', b"0", b"e", b"l", b"se", b"ue", b"ll", b"lse",
            b"rue", b"ull", b"alse")
# Continuation bytes that complete a UTF-8 character the cut split, whatever its lead.
_UTF8_RESTS = (b"\x80", b"\x80\x80", b"\xa0\x80", b"\x80\x80\x80", b"\x90\x80\x80")


def completion(partial: bytes) -> Optional[bytes]:
    """Bytes that make a cut-off JSON value valid, or None; only runs on the error path."""
    brackets, stack, pos = Brackets(), [], 0
    while (i := brackets.next(partial, pos, 1 << 30)) >= 0:
        pos = i + 1
        if partial[i] in OPENERS:
            stack.append(partial[i])
        elif stack:
            stack.pop()
    closers = bytes(0x7D if b == 0x7B else 0x5D for b in reversed(stack))
    heads = [b""]
    if brackets.escape:
        heads = [b'\\"']
    elif brackets.in_string:
        heads = [_utf8_rest(partial) + pad + b'"' for pad in _PADS]
    for head in heads:
        for filler in _FILLERS:
            tail = head + filler + closers
            if loads(partial + tail) is not INVALID:
                return tail
    return None


def _utf8_rest(partial: bytes) -> bytes:
    """The bytes that complete a character the cut split in two, else b""."""
    try:
        partial.decode()
        return b""
    except UnicodeDecodeError as exc:
        if exc.end != len(partial):
            return b""
        split = partial[exc.start:]
    for rest in _UTF8_RESTS:
        try:
            (split + rest).decode()
            return rest
        except UnicodeDecodeError:
            continue
    return b""
