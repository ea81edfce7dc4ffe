"""What watches a stream on its way to the client, and what turns an answer into another API's.

Protocols only, at the bottom of ``balancer.proxy``: the taps are in ``sse.py``,
``gemini_stream.py`` and ``openai_native.py``; the formats and the relay use them.
"""
from __future__ import annotations

from typing import Any, Optional, Protocol

#: Why a stream was ended when one of its events outgrew the relay's cap (``relay.MAX_EVENT``):
#: the OpenAI error code of the closing event; Gemini clients get a 502 ``UNAVAILABLE``.
EVENT_TOO_LARGE = "upstream_event_too_large"


class Tap(Protocol):
    """Watches a stream on its way to the client (see sse.py, gemini_stream.py)."""

    error: Optional[dict]
    done: bool

    def feed(self, chunk: bytes) -> bytes: ...
    def finish(self) -> bytes: ...
    def tokens(self) -> tuple[int, int]: ...


class Translation(Protocol):
    """How the upstream's answer to one call reaches a client that speaks another API."""

    def answer(self, parsed: Any) -> bytes:
        """A whole answer, parsed, as the client's bytes.

        :raises balancer.dialects.errors.Untranslatable: the answer has nothing the
            client's API could carry (an image request answered without an image).
        """
        ...

    def tap(self) -> Tap:
        """A fresh tap that translates a streamed answer as it passes."""
        ...
