"""Deterministic, cheap answer content: echo text, token counts, embeddings, ids."""

from __future__ import annotations

import base64
import hashlib
import itertools
import re
import struct
import zlib
from typing import Any, Iterable

# next() on itertools.count is atomic under the GIL, so no lock is needed.
_serial = itertools.count(1)


def serial() -> int:
    """A process-wide increasing number, for ids."""
    return next(_serial)


def response_id() -> str:
    """A Gemini-looking ``responseId`` (opaque, 22 characters)."""
    raw = hashlib.md5(serial().to_bytes(8, "big")).digest()
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def request_id() -> str:
    """An OpenAI-looking ``x-request-id``: ``req_`` + 32 hex digits."""
    return f"req_{serial():032x}"


def echo(text: str) -> str:
    """The answer text: the last user message, echoed."""
    return f"Echo: {text}"


def split(text: str, parts: int) -> list[str]:
    """Split ``text`` into exactly ``parts`` pieces that join back to it.

    Pieces break between words when there are enough words, else inside them; the last ones
    are empty when the text has fewer characters than ``parts``.
    """
    parts = max(1, parts)
    words = re.findall(r"\s*\S+", text) or [text]
    words[-1] += text[len("".join(words)) :]  # trailing whitespace
    if len(words) < parts:
        words = list(text)
        if len(words) < parts:
            return words + [""] * (parts - len(words))
    size = len(words)
    return ["".join(words[i * size // parts : (i + 1) * size // parts]) for i in range(parts)]


def tokens(texts: Iterable[str]) -> int:
    """A cheap token count: whitespace-separated words, at least 1."""
    return max(1, sum(len(t.split()) for t in texts))


def answer_tokens(text: str) -> int:
    """Tokens of a generated answer."""
    return max(1, len(text.split()))


def vector(text: str, dims: int) -> list[float]:
    """A deterministic unit-ish vector for ``text``, values in [-1, 1] with 4 decimals."""
    seed = zlib.crc32(text.encode("utf-8"))
    # A multiplicative hash per index keeps this cheap and stable across runs.
    return [((seed * (i + 1) * 2654435761) % 20001 - 10000) / 10000 for i in range(dims)]


def floats_base64(values: list[float]) -> str:
    """Little-endian float32 bytes, base64: what OpenAI sends for ``encoding_format=base64``."""
    return base64.b64encode(struct.pack(f"<{len(values)}f", *values)).decode("ascii")


def text_of_parts(parts: Any) -> str:
    """Join the ``text`` of Gemini parts or OpenAI content parts (or a plain string)."""
    if isinstance(parts, str):
        return parts
    if not isinstance(parts, list):
        return ""
    return "".join(
        p.get("text", "") for p in parts if isinstance(p, dict) and isinstance(p.get("text"), str)
    )
