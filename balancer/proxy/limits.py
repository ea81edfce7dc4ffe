"""Per-client-token limits: requests per minute, requests at once, models, body size.

Each process counts what it admits itself, exactly, and learns what the other
processes (workers, instances) admitted from the database: its sync loop
publishes its own counts and reads theirs (``services/usage_share.py``). A
decision adds the two, so a limit holds over the whole deployment to within
one sync interval of the other processes' traffic, without a query on the
request path.
"""
from __future__ import annotations

import math
import os
import secrets
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Callable, Optional

from balancer.runtime import ClientInfo
from balancer.text import quoted

WINDOW = 60.0


@dataclass(frozen=True)
class Refusal:
    """Why a request is over its client's limit, as the client is told."""

    status: int
    message: str
    code: str
    retry_after: Optional[float] = None


class _Usage:
    __slots__ = ("admitted", "in_flight")

    def __init__(self) -> None:
        self.admitted: deque[float] = deque()
        self.in_flight = 0


class ClientLimiter:
    """This process's view of every limited client's use."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._pid = 0
        self._process = ""
        self._clock = clock
        self._lock = threading.Lock()
        self._mine: dict[int, _Usage] = {}
        #: client id -> (requests in the last minute, in flight) of every other process
        self._others: dict[int, tuple[int, int]] = {}

    @property
    def process(self) -> str:
        """This process among the others in the shared counts (host, pid, a random part).

        Named in the process that asks: the limiter is built with the app, and gunicorn
        loads the app once in its master and forks the workers from it.
        """
        if self._pid != os.getpid():
            self._pid = os.getpid()
            self._process = f"{socket.gethostname()[:60]}:{self._pid}:{secrets.token_hex(4)}"
        return self._process

    def admit(self, client: ClientInfo, model: Optional[str], size: int) -> Optional[Refusal]:
        """Count the request in, or say which limit it is over (nothing counted then)."""
        if client.id is None or not client.limited:
            return None
        refusal = body_refusal(client, size)
        if refusal is not None:
            return refusal
        if client.models and model and not any(fnmatchcase(model, p) for p in client.models):
            return Refusal(403, f"This client token may not use the model {quoted(model)}; "
                                f"allowed: {', '.join(client.models)}.", "model_not_allowed")
        now = self._clock()
        with self._lock:
            usage = self._mine.setdefault(client.id, _Usage())
            _forget_old(usage.admitted, now)
            others_recent, others_in_flight = self._others.get(client.id, (0, 0))
            if client.concurrent and usage.in_flight + others_in_flight >= client.concurrent:
                return Refusal(429, f"This client token already has {client.concurrent} "
                                    "requests in progress, its limit; retry when one ends.",
                               "too_many_concurrent_requests", retry_after=1)
            if client.rpm and len(usage.admitted) + others_recent >= client.rpm:
                oldest = usage.admitted[0] if usage.admitted else now
                wait = max(1.0, oldest + WINDOW - now)
                return Refusal(429, f"This client token is limited to {client.rpm} requests "
                                    "per minute.", "rate_limit_exceeded", retry_after=wait)
            usage.admitted.append(now)
            usage.in_flight += 1
        return None

    def done(self, client: ClientInfo) -> None:
        """A request ``admit`` let in has ended (answered, failed or abandoned)."""
        if client.id is None or not client.limited:
            return
        with self._lock:
            usage = self._mine.get(client.id)
            if usage is not None and usage.in_flight > 0:
                usage.in_flight -= 1

    def snapshot(self) -> dict[int, tuple[int, int]]:
        """client id -> (admitted in the last minute, in flight) of this process."""
        now = self._clock()
        with self._lock:
            out = {}
            for client_id, usage in list(self._mine.items()):
                _forget_old(usage.admitted, now)
                if not usage.admitted and not usage.in_flight:
                    del self._mine[client_id]  # idle clients cost nothing
                    continue
                out[client_id] = (len(usage.admitted), usage.in_flight)
            return out

    def learn(self, others: dict[int, tuple[int, int]]) -> None:
        """What every other process reported in its last sync."""
        with self._lock:
            self._others = dict(others)


def body_refusal(client: ClientInfo, size: Optional[int]) -> Optional[Refusal]:
    """The 413 for a body larger than its client token's ``max_request_kb``, else None.

    Asked with the ``Content-Length`` before the body is read, and again with the
    size read (a chunked body has no length up front).
    """
    if client.id is None or not client.max_bytes or size is None or size <= client.max_bytes:
        return None
    return Refusal(413, f"The request body is {math.ceil(size / 1024)} KiB; this client "
                        f"token may send at most {client.max_bytes // 1024} KiB.",
                   "request_too_large")


def _forget_old(admitted: deque, now: float) -> None:
    while admitted and admitted[0] <= now - WINDOW:
        admitted.popleft()
