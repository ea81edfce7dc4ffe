"""What the request path asks of the way out to upstreams: send a call, read its answer.

Two implementations: ``session.UpstreamClient`` (``requests``, in production)
and ``mock.MockTransport`` (a function as the upstream, in unit tests), in the
manner of httpx's transports. Everything above ``balancer.upstream`` sees only
these two protocols and the ``UpstreamError`` tree, never a library's types.
"""
from __future__ import annotations

from typing import Iterator, Mapping, Optional, Protocol

#: The most of an error answer that is read: errors are small, a broken one is cut.
MAX_ERROR_BODY = 1 << 20
#: The largest whole (not streamed) answer held in memory; a larger one is refused
#: (``AnswerTooLarge``), so one answer cannot exhaust a worker's memory.
MAX_ANSWER = 64 << 20


class UpstreamResponse(Protocol):
    """One upstream answer whose status and headers have arrived; the body may not have."""

    status_code: int
    headers: Mapping[str, str]

    @property
    def content(self) -> bytes:
        """The whole body, up to ``MAX_ANSWER`` bytes (decoded).

        :raises AnswerTooLarge: the body is longer.
        :raises UpstreamError: the body broke off or timed out.
        """
        ...

    def iter_chunks(self) -> Iterator[bytes]:
        """Body bytes as they arrive (each HTTP chunk at once).

        :raises UpstreamError: the body broke off or timed out.
        """
        ...

    def read_error_body(self, limit: int = MAX_ERROR_BODY) -> bytes:
        """Up to ``limit`` bytes of an error answer, then close; a broken one is ``b""``."""
        ...

    def close(self) -> None:
        """Give the connection back (or drop it when the body was not read)."""
        ...


class Transport(Protocol):
    """Sends upstream calls; one per process, shared by every request."""

    def send(self, pool_id: int, proxy_url: Optional[str], method: str, url: str, *,
             headers: Mapping[str, str], body: Optional[bytes], stream: bool,
             timeout: tuple[float, float]) -> UpstreamResponse:
        """Send one call and return once its status and headers have arrived.

        :param timeout: (connect, read) seconds; read applies between bytes.
        :raises UpstreamError: no answer (timeouts, unreachable hosts, proxies).
        """
        ...

    def close(self) -> None:
        """Close every connection."""
        ...
