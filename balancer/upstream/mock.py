"""A function as the upstream: a ``Transport`` for unit tests of the request path.

Like httpx's ``MockTransport``: ``MockTransport(handler)`` calls
``handler(request)`` for every call and answers with what it returns, so the
attempt loop, its retries and its relay run in milliseconds without a network,
a database or a server. A handler raises an ``UpstreamError`` to stand for a
call that got no answer; a body given as a list of chunks (which may end with
an ``UpstreamError``) stands for a stream.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, Mapping, Optional, Union

from balancer.upstream import transport
from balancer.upstream.errors import AnswerTooLarge, UpstreamError
from balancer.upstream.transport import MAX_ERROR_BODY, UpstreamResponse

Chunk = Union[bytes, UpstreamError]


@dataclass(frozen=True)
class MockRequest:
    """One call as the transport received it."""

    pool_id: int
    proxy_url: Optional[str]
    method: str
    url: str
    headers: Mapping[str, str]
    body: Optional[bytes]
    stream: bool
    timeout: tuple[float, float]

    def json(self) -> Any:
        """The body, parsed."""
        return json.loads(self.body or b"null")


@dataclass
class MockResponse:
    """An answer: a status, headers and a body (bytes, or chunks for a stream)."""

    status_code: int = 200
    body: Union[bytes, Iterable[Chunk]] = b""
    headers: Mapping[str, str] = field(default_factory=lambda: {"Content-Type": "application/json"})
    closed: bool = False

    @classmethod
    def json(cls, status: int, doc: Any, headers: Optional[Mapping[str, str]] = None) -> "MockResponse":
        """A JSON answer."""
        return cls(status, json.dumps(doc).encode(),
                   dict(headers or {"Content-Type": "application/json"}))

    def _chunks(self) -> Iterator[Chunk]:
        if isinstance(self.body, bytes):
            return iter([self.body] if self.body else [])
        return iter(self.body)

    @property
    def content(self) -> bytes:
        """The whole body; an ``UpstreamError`` chunk is raised, ``AnswerTooLarge`` past
        ``transport.MAX_ANSWER`` bytes."""
        out = b"".join(self.iter_chunks())
        if len(out) > transport.MAX_ANSWER:
            raise AnswerTooLarge(transport.MAX_ANSWER)
        return out

    def iter_chunks(self) -> Iterator[bytes]:
        """The chunks in order; an ``UpstreamError`` chunk is raised where it stands."""
        for chunk in self._chunks():
            if isinstance(chunk, UpstreamError):
                raise chunk
            yield chunk

    def read_error_body(self, limit: int = MAX_ERROR_BODY) -> bytes:
        """The body up to ``limit`` (``b""`` if it breaks), then closed."""
        try:
            return self.content[:limit]
        except UpstreamError:
            return b""
        finally:
            self.close()

    def close(self) -> None:
        """Note that the caller let go of the answer."""
        self.closed = True


Handler = Callable[[MockRequest], MockResponse]


class MockTransport:
    """Answers every call with ``handler(request)``; keeps the requests it saw."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[MockRequest] = []
        self.responses: list[MockResponse] = []

    def send(self, pool_id: int, proxy_url: Optional[str], method: str, url: str, *,
             headers: Mapping[str, str], body: Optional[bytes], stream: bool,
             timeout: tuple[float, float]) -> UpstreamResponse:
        """Record the call and answer it; an ``UpstreamError`` from the handler propagates."""
        request = MockRequest(pool_id, proxy_url, method, url, dict(headers), body, stream,
                              timeout)
        self.requests.append(request)
        response = self.handler(request)
        self.responses.append(response)
        return response

    def close(self) -> None:
        """Nothing to close."""
