"""Reading a client's body within its limits, before anything else is spent on it.

Three limits, checked in this order:

- the client token's ``max_request_kb``, from ``Content-Length`` alone: a body too
  large for its token is refused without a byte of it being read;
- the route's own limit (``MAX_REQUEST_MB``; uploads ``MAX_UPLOAD_MB``), which
  Werkzeug applies to ``Content-Length`` up front and to a chunked body as it reads;
- how many bodies a worker reads at once (``MAX_PARSING_REQUESTS``). Under gevent a
  worker holds thousands of connections; without a bound, each could hold a body
  of the route's limit in memory at the same time. Small bodies need no slot (they
  cannot add up to much); a request that waits too long for one gets a 503.
  Parsing needs none of its own: orjson parses in C without yielding, so a gevent
  worker never parses two bodies at once anyway.
"""
from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Iterator, Optional

from flask import request
from werkzeug.exceptions import RequestEntityTooLarge

from balancer.proxy.limits import body_refusal
from balancer.proxy.validate import BadRequest
from balancer.runtime import ClientInfo

#: Bodies up to this many bytes (by their Content-Length) are read without a slot.
SMALL_BODY = 64 * 1024
#: How long a request waits for a slot before it is told to come back.
SLOT_WAIT_SECONDS = 10.0


class BodySlots:
    """The bodies this worker may be reading at once (a semaphore gevent patches)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._free = threading.BoundedSemaphore(size)

    @contextmanager
    def held(self, wait: float) -> Iterator[None]:
        """A slot for as long as the block runs; BadRequest (503) when none frees in time."""
        if not self._free.acquire(timeout=wait):
            raise BadRequest(f"Balancer is reading {self.size} other large request bodies; "
                             "retry in a moment.", status=503, code="server_busy",
                             retry_after=1)
        try:
            yield
        finally:
            self._free.release()


def read_body(slots: BodySlots, client: ClientInfo, limit: Optional[int] = None) -> bytes:
    """The request's body, read within the client's, the route's and the worker's limits.

    :param limit: the route's largest body in bytes (None: ``MAX_REQUEST_MB``).
    :raises BadRequest: 413 over a limit, 503 when no slot freed in time.
    """
    length = request.content_length
    refusal = body_refusal(client, length)
    if refusal is not None:
        raise BadRequest(refusal.message, status=refusal.status, code=refusal.code)
    if limit is not None:
        request.max_content_length = limit
    try:
        if length is not None and length <= SMALL_BODY:
            return request.get_data(cache=False)
        with slots.held(SLOT_WAIT_SECONDS):
            return request.get_data(cache=False)
    except RequestEntityTooLarge:
        most = request.max_content_length or 0
        raise BadRequest(f"The request body is larger than the {most // (1024 * 1024)} MiB "
                         "this route takes.", status=413, code="request_too_large") from None
