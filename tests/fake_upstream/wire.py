"""Plain data passed between the WSGI app and the flavours, and small byte helpers.

The fake deliberately avoids a web framework: it is also a benchmark target, so a request
costs a path split, a JSON parse and a JSON dump.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from typing import Any, Iterator, Optional, Union

from .behaviours import KIND_OTHER, Script

Headers = list[tuple[str, str]]
Body = Union[bytes, Iterator[bytes]]

JSON_TYPE = "application/json; charset=UTF-8"
SSE_TYPE = "text/event-stream"
#: What Google's front end adds to every answer (section 1.5); never Retry-After.
GOOGLE_HEADERS = [
    ("Vary", "Origin, X-Origin, Referer"),
    ("Server", "scaffolding on HTTPServer2"),
    ("X-Frame-Options", "SAMEORIGIN"),
    ("X-Content-Type-Options", "nosniff"),
    ("Server-Timing", "gfet4t7; dur=1"),
]


class AbortConnection(Exception):
    """Raised by the app or a body iterator: drop the connection, send nothing more.

    Both runners catch it and shut the socket down, so the client sees a connection closed
    with no response (or a truncated chunked body).
    """


@dataclass
class Call:
    """One API request as the flavours see it."""

    method: str
    path: str
    sub: str  # the path after the flavour's prefix, e.g. "models/gemini-2.5-flash:countTokens"
    version: str  # "v1beta" or "v1" for native calls, else ""
    query: dict[str, str]
    headers: dict[str, str]
    raw: bytes
    key: Optional[str] = None
    key_via: str = ""  # "header", "query" or "bearer"
    credentials: int = 0  # how many of those three the request carried
    body: Any = None
    action: str = ""
    model: Optional[str] = None
    kind: str = KIND_OTHER


@dataclass
class Reply:
    """What to answer: a status, headers and a body (bytes, or chunks to stream)."""

    status: int
    body: Body
    headers: Headers = field(default_factory=list)
    mode: str = "good"


def dumps(obj: Any) -> bytes:
    """Compact JSON, as OpenAI-style servers write it."""
    return json.dumps(obj, separators=(",", ":")).encode("utf-8")


def dumps_google(obj: Any) -> bytes:
    """One-line JSON the way Google's SSE events look: a space after ``:``, none after ``,``."""
    return json.dumps(obj, separators=(",", ": ")).encode("utf-8")


def dumps_pretty(obj: Any) -> bytes:
    """Two-space indented JSON, as Google's non-SSE answers are written."""
    return json.dumps(obj, indent=2).encode("utf-8")


def read_body(environ: dict[str, Any]) -> bytes:
    """The whole request body (Content-Length or chunked)."""
    length = environ.get("CONTENT_LENGTH")
    if length:
        return environ["wsgi.input"].read(int(length))
    chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
    if chunked or environ.get("wsgi.input_terminated"):
        return environ["wsgi.input"].read()
    return b""


def find_key(headers: dict[str, str], query: dict[str, str]) -> tuple[Optional[str], str]:
    """The API key a request carries and how it was sent; ``(None, "")`` when there is none."""
    key = headers.get("x-goog-api-key", "").strip()
    if key:
        return key, "header"
    key = query.get("key", "").strip()
    if key:
        return key, "query"
    auth = headers.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        key = auth[7:].strip()
        if key:
            return key, "bearer"
    return None, ""


def count_credentials(headers: dict[str, str], query: dict[str, str]) -> int:
    """How many credentials a request carries: ``x-goog-api-key``, ``?key=``, a Bearer token."""
    auth = headers.get("authorization", "")
    sent = (
        headers.get("x-goog-api-key", "").strip(),
        query.get("key", "").strip(),
        auth[7:].strip() if auth[:7].lower() == "bearer " else "",
    )
    return sum(1 for value in sent if value)


#: A Gemini auth key: ``AQ.`` and a token (20+ characters of the URL-safe base64 alphabet).
_AUTH_KEY = re.compile(r"AQ\.[0-9A-Za-z_-]{20,}")


def is_auth_key(key: Optional[str]) -> bool:
    """Whether ``key`` claims to be an auth key (``AQ.`` prefix), well formed or not."""
    return bool(key) and key.startswith("AQ.")  # type: ignore[union-attr]


def auth_key_malformed(key: Optional[str]) -> bool:
    """An ``AQ.`` key that is truncated or holds characters no auth key has."""
    return is_auth_key(key) and not _AUTH_KEY.fullmatch(key or "")


def stream(
    pieces: list[bytes],
    tail: bytes,
    chunk_delay: float,
    script: Script,
    ending: Optional[bytes],
) -> Iterator[bytes]:
    """Yield ``pieces`` then ``tail``, pausing between pieces.

    The pause is ``chunk_delay`` plus the script's ``delay`` for ``trickle``. For a
    ``break_stream`` script, stop after ``script.after`` pieces and send ``ending`` instead of
    the rest, or drop the connection when ``ending`` is None.
    """
    gap = chunk_delay + (script.seconds if script.mode == "trickle" else 0.0)
    broken = script.mode == "break_stream"
    if broken:
        pieces = pieces[: script.after]
    elif tail:
        # One write for the last piece and the tail: fewer syscalls under benchmark load.
        pieces = pieces[:-1] + [pieces[-1] + tail]
    for index, piece in enumerate(pieces):
        if index and gap:
            time.sleep(gap)
        yield piece
    if not broken:
        return
    if pieces and gap:
        time.sleep(gap)
    if ending is None:
        raise AbortConnection()
    yield ending
