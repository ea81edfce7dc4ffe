"""Keeping a client's stream open while its answer is still being sought.

A model that thinks for minutes sends no byte until it is done, and a proxy in
front of Balancer (many close idle connections after 60 to 100 s) may cut the
client off meanwhile. So the attempts run aside, and when they take longer than
one keep-alive interval the client gets its 200 and an SSE comment line each
interval, which every SSE client skips, until the answer (or its error) comes.

Only SSE streams get this: a comment is not part of any JSON body, so Gemini's
JSON-array stream (no ``alt=sse``) waits silently as before.

The attempts run in a thread, which under gunicorn's gevent workers (the standard
library patched) is a greenlet; the event between them is then gevent's too.
"""
from __future__ import annotations

import _thread
import logging
import threading
from typing import Callable, Iterator, Optional

from flask import Response

log = logging.getLogger("balancer.proxy")

#: One keep-alive: an SSE comment, then the blank line that ends the event.
COMMENT = b": keep-alive\n\n"


class _Pending:
    """The attempts of one request, running aside until they give a response."""

    def __init__(self, produce: Callable[[], Response]) -> None:
        self._ready = threading.Event()
        self._lock = threading.Lock()
        self._abandoned = False
        self._result: Optional[tuple[Optional[Response], Optional[BaseException]]] = None
        # A bare thread: threading.Thread's bookkeeping, and its wait until the thread
        # has started (under gevent, a trip round the event loop), are of no use here.
        _thread.start_new_thread(self._run, (produce,))

    def _run(self, produce: Callable[[], Response]) -> None:
        try:
            result: tuple[Optional[Response], Optional[BaseException]] = (produce(), None)
        except BaseException as exc:  # handed to the request's own thread to raise
            result = (None, exc)
        with self._lock:
            if not self._abandoned:
                self._result = result
                self._ready.set()
                return
        _discard(result[0])

    def wait(self, seconds: float) -> Optional[Response]:
        """The response once the attempts gave it, or None after ``seconds`` without."""
        if not self._ready.wait(seconds):
            return None
        assert self._result is not None  # set before the event
        out, exc = self._result
        if exc is not None:
            raise exc
        return out

    def abandon(self) -> None:
        """The client left: a response that comes later is closed unsent."""
        with self._lock:
            self._abandoned = True
            result, self._result = self._result, None
        if result is not None:
            _discard(result[0])


def _discard(out: Optional[Response]) -> None:
    """Close a response nobody will read, so that its stream settles its key."""
    if out is None:
        return
    body = out.response
    if out.is_streamed and hasattr(body, "close"):
        try:
            # A relay's generator settles its key in its ``finally``, which only runs
            # once the generator has started.
            next(iter(body), None)
            body.close()  # type: ignore[union-attr]
        except Exception:  # noqa: BLE001 - nothing is left to tell; the key is settled
            log.exception("closing an abandoned stream failed")
    out.close()


def respond(produce: Callable[[], Response], interval: float,
            late_error: Callable[[Response], bytes]) -> Response:
    """``produce()``'s response, with keep-alives before it when it is slow.

    Within one ``interval`` it is returned as it is (an error keeps its status).
    After that the client is sent a 200 stream of comments; the response, when it
    comes, follows in it: a stream's events as they are, an error as
    ``late_error(response)``, the client's dialect's error event.
    """
    pending = _Pending(produce)
    out = pending.wait(interval)
    if out is not None:
        return out
    stream = Response(_comments_then(pending, interval, late_error), status=200,
                      mimetype="text/event-stream")
    stream.headers["Cache-Control"] = "no-cache"
    stream.headers["X-Accel-Buffering"] = "no"
    return stream


def _comments_then(pending: _Pending, interval: float,
                   late_error: Callable[[Response], bytes]) -> Iterator[bytes]:
    try:
        out = None
        while out is None:
            yield COMMENT
            out = pending.wait(interval)
    except GeneratorExit:
        pending.abandon()
        raise
    if 200 <= out.status_code < 300:
        # A relayed stream's events as they come, or a whole answer already framed
        # as a stream (a pool's ``fake_stream``).
        try:
            yield from out.response
        finally:
            out.close()
        return
    try:
        yield late_error(out)
    finally:
        out.close()
