"""The data of one proxied call: what the client asked, what the attempts did.

At the bottom of ``balancer.proxy``: the route modules build a ``ProxyCall``,
the attempt loop (``forward``) fills ``Attempts``, and the formats, relay and
endings read both, without any of them reaching up into the loop.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Optional

from balancer.keypool.outcome import Verdict
from balancer.keypool.records import Lease, NoKeyAvailable
from balancer.keypool.retry import RetriesSpent, RetryPolicy
from balancer.proxy.auth import ANONYMOUS
from balancer.proxy.tap import Translation
from balancer.runtime import ClientInfo


@dataclass
class ProxyCall:
    """One client request, checked and ready to forward."""

    route: str
    method: str
    #: the upstream path: OpenAI format ``chat/completions``; Gemini format
    #: ``models/gemini-2.5-flash:generateContent`` (under ``api_version``).
    path: str
    model: Optional[str]
    body: Optional[bytes]
    stream: bool = False
    #: the client asked for the usage-only chunk itself (OpenAI streams).
    wants_usage: bool = True
    client: ClientInfo = ANONYMOUS
    api_format: str = "openai"
    api_version: str = "v1beta"
    #: Gemini streams: "sse" (``alt=sse``) or "array" (the JSON-array framing).
    framing: str = "sse"
    #: query parameters for upstream (already checked; never a key).
    query: dict = field(default_factory=dict)
    #: headers of the client's that go upstream too (checked by the view).
    headers: dict = field(default_factory=dict)
    #: the one key that may serve this call (it owns a file or cache the call uses).
    pin: Optional["Pin"] = None
    #: a 2xx with an empty body or ``{}`` is an answer (an upload's middle chunk, a
    #: delete): for calls that are not generation, whose emptiness means nothing.
    empty_ok: bool = False
    #: sees a whole 2xx answer before the client does (see ``Answer``).
    on_answer: Optional[Callable[["Answer"], Optional[bytes]]] = None
    #: the client speaks another API than the upstream: how its answer is translated.
    translation: Optional[Translation] = None
    #: the Content-Type of the answer the client gets, when not the upstream's (the
    #: audio a translation makes of a JSON answer).
    answer_type: Optional[str] = None
    #: the 2xx answer is bytes (audio), not JSON: relayed as it is, with the upstream's
    #: Content-Type; only an empty one is no answer.
    binary: bool = False
    #: the client asked for a stream, the upstream is asked for the whole answer (a pool's
    #: ``fake_stream``), which then reaches the client in its stream framing.
    fake_stream: bool = False

    @property
    def streams_to_client(self) -> bool:
        """Whether the client gets a stream (real or made of a whole answer)."""
        return self.stream or self.fake_stream


@dataclass(frozen=True)
class Pin:
    """A call only one key can serve, and what ties it to that key."""

    key_id: int
    #: the resource that lives in that key's project, e.g. ``files/abc``.
    owner_of: str

    def explain(self, exc: NoKeyAvailable) -> NoKeyAvailable:
        """The pool's "no key" error, told about this one key and why it matters."""
        return NoKeyAvailable(exc.status, exc.retry_after,
                              f"{self.owner_of} belongs to the project of key #{self.key_id}, "
                              f"and no other key can use it; {exc.message}.")


@dataclass
class Answer:
    """A whole 2xx answer, shown to ``ProxyCall.on_answer`` before it is sent."""

    key_id: int
    upstream_headers: Mapping[str, str]
    parsed: Any
    #: headers to add to the client's response.
    headers: dict = field(default_factory=dict)
    #: the answer as it would go to the client (translated, when the client speaks another API).
    body: bytes = b""


@dataclass(frozen=True)
class Failure:
    """The last failed attempt, kept to answer with if no key succeeds."""

    verdict: Verdict
    body: bytes = b""
    secrets: tuple[str, ...] = ()


@dataclass
class Attempts:
    """What one request's attempts did so far, and the retry budget left."""

    retry: RetryPolicy
    #: key ids leased, in order (none is leased twice for one request).
    tried: list[int] = field(default_factory=list)
    #: key ids whose attempt failed.
    failed: list[int] = field(default_factory=list)
    last: Optional[Failure] = None

    def failed_with(self, lease: Lease, verdict: Verdict, body: bytes = b"") -> bool:
        """Note a failed attempt; whether the budget allows another."""
        self.failed.append(lease.key_id)
        self.last = Failure(verdict, body, (lease.secret,))
        try:
            self.retry = self.retry.increment(verdict)
        except RetriesSpent:
            return False
        return True
