"""Our own exceptions for the HTTP boundary with the upstreams.

``requests`` and ``urllib3`` errors are mapped once, by :func:`map_requests_error`,
into this tree; nothing above ``balancer.upstream`` sees a library exception::

    UpstreamError                 anything that kept an answer from arriving
     ├── UpstreamTimeout          .phase == "connect" | "read"
     ├── UpstreamUnreachable      refused, reset, DNS, proxy, TLS  (.kind)
     ├── UpstreamProtocolError    broken chunked encoding, truncated body
 │    └── AnswerTooLarge       a whole answer longer than Balancer holds in memory
     └── UpstreamConfigError      the call could not be built (bad base/proxy URL)

Messages are built from exception class names, ``host:port`` and OS error
text only, never from the library's own message: that carries the URL (with
its query string) and, for proxies, possibly credentials. Callers should
``raise map_requests_error(exc) from None`` so the original is not chained
into logged tracebacks either.
"""
from __future__ import annotations

import http.client
import socket
import ssl
from typing import Iterator, Optional
from urllib.parse import urlsplit

import requests
import urllib3.exceptions as u3

from balancer.upstream.sanitize import redact


class UpstreamError(Exception):
    """An upstream call failed before a complete HTTP answer arrived."""

    def __init__(self, message: str, *, host: str = "", cause: str = "") -> None:
        super().__init__(message)
        #: ``host:port`` of the upstream, or "" when unknown.
        self.host = host
        #: The class name of the library exception this was mapped from.
        self.cause = cause

    @property
    def message(self) -> str:
        """The safe, human-readable text."""
        return str(self.args[0]) if self.args else ""


class UpstreamTimeout(UpstreamError):
    """No connection in time (``phase="connect"``) or no bytes in time (``"read"``)."""

    def __init__(self, message: str, *, phase: str, host: str = "", cause: str = "") -> None:
        super().__init__(message, host=host, cause=cause)
        #: "connect": the request was never sent; "read": it may have been processed.
        self.phase = phase


class UpstreamUnreachable(UpstreamError):
    """The connection could not be made or was dropped before any answer."""

    def __init__(self, message: str, *, kind: str = "other", host: str = "",
                 cause: str = "") -> None:
        super().__init__(message, host=host, cause=cause)
        #: "refused", "reset", "dns", "proxy", "tls" or "other".
        self.kind = kind


class UpstreamProtocolError(UpstreamError):
    """The answer was malformed or cut short (broken chunks, truncated body)."""


class AnswerTooLarge(UpstreamProtocolError):
    """A whole answer went past the most Balancer holds in memory (``limit`` bytes)."""

    def __init__(self, limit: int, *, host: str = "") -> None:
        super().__init__(f"answer larger than {limit} bytes", host=host, cause="AnswerTooLarge")
        self.limit = limit


class UpstreamConfigError(UpstreamError):
    """The call could not be sent as built: an invalid URL, scheme, proxy or header."""


# requests' exceptions raised before anything is sent, because the call
# itself is malformed (a bad pool base URL or proxy URL, a key with a newline).
_CONFIG_ERRORS = (
    requests.exceptions.InvalidURL,
    requests.exceptions.MissingSchema,
    requests.exceptions.InvalidSchema,
    requests.exceptions.InvalidHeader,
    requests.exceptions.URLRequired,
    u3.LocationValueError,
)
_DEFAULT_PORTS = {"http": 80, "https": 443}


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and every exception it wraps: args, ``reason``, cause, context."""
    seen: set[int] = set()
    todo = [exc]
    while todo and len(seen) < 32:
        e = todo.pop(0)
        if id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        todo.extend(a for a in getattr(e, "args", ()) if isinstance(a, BaseException))
        for attr in ("reason", "__cause__", "__context__"):
            inner = getattr(e, attr, None)
            if isinstance(inner, BaseException):
                todo.append(inner)


def _host_port(exc: BaseException) -> str:
    """``host:port`` of the failed call, from the request or urllib3's pool."""
    for e in _chain(exc):
        req = getattr(e, "request", None)
        url = getattr(req, "url", None)
        if isinstance(url, str) and url:
            try:
                parts = urlsplit(url)
                port = parts.port or _DEFAULT_PORTS.get(parts.scheme)
            except ValueError:
                continue
            if parts.hostname:
                return f"{parts.hostname}:{port}" if port else parts.hostname
        # NewConnectionError.pool is a deprecated alias of .conn in urllib3 2.x.
        holders = [getattr(e, "conn", None)]
        if not isinstance(e, u3.NewConnectionError):
            holders.append(getattr(e, "pool", None))
        for holder in holders:
            host = getattr(holder, "host", None)
            if isinstance(host, str) and host:
                port = getattr(holder, "port", None)
                return f"{host}:{port}" if port else host
    return ""


def _detail(exc: BaseException) -> str:
    """The innermost OS error and its text, else the innermost wrapped class name.

    OS error texts ("Connection refused", "Name or service not known") never
    contain a URL; library messages do, so only their class names are used.
    """
    chain = list(_chain(exc))
    found: Optional[BaseException] = None
    for e in chain:
        if isinstance(e, OSError) and not isinstance(e, requests.RequestException):
            found = e
    if found is None:
        inner = [e for e in chain[1:] if type(e) is not type(exc)]
        return type(inner[-1]).__name__ if inner else ""
    if isinstance(found, ssl.SSLError):
        text = getattr(found, "verify_message", None) or getattr(found, "reason", None) or ""
    else:
        text = found.strerror or ""
        if not text and isinstance(found, http.client.RemoteDisconnected):
            text = "remote end closed connection without response"
    return f"{type(found).__name__}: {text}" if text else type(found).__name__


def _unreachable_kind(exc: BaseException) -> str:
    chain = list(_chain(exc))
    if any(isinstance(e, (requests.exceptions.ProxyError, u3.ProxyError)) for e in chain):
        return "proxy"
    if any(isinstance(e, (requests.exceptions.SSLError, u3.SSLError, ssl.SSLError)) for e in chain):
        return "tls"
    if any(isinstance(e, (u3.NameResolutionError, socket.gaierror)) for e in chain):
        return "dns"
    if any(isinstance(e, ConnectionRefusedError) for e in chain):
        return "refused"
    if any(isinstance(e, (ConnectionResetError, ConnectionAbortedError, BrokenPipeError,
                          http.client.RemoteDisconnected, u3.ProtocolError)) for e in chain):
        return "reset"
    return "other"


def _is_read_timeout(exc: BaseException) -> bool:
    # requests turns a urllib3 ReadTimeoutError raised while iterating a
    # streamed body into a plain ConnectionError, so look inside it too.
    for e in _chain(exc):
        if isinstance(e, (requests.exceptions.ReadTimeout, u3.ReadTimeoutError)):
            return True
        if isinstance(e, socket.timeout) and not isinstance(e, u3.HTTPError):
            return True
    return False


def _is_connect_timeout(exc: BaseException) -> bool:
    for e in _chain(exc):
        if isinstance(e, requests.exceptions.ConnectTimeout):
            return True
        # urllib3 2.x makes NewConnectionError (refused, DNS) a subclass of
        # ConnectTimeoutError for backwards compatibility: it is no timeout.
        if isinstance(e, u3.ConnectTimeoutError) and not isinstance(e, u3.NewConnectionError):
            return True
    return False


def map_requests_error(exc: BaseException) -> UpstreamError:
    """Our exception for a ``requests``/``urllib3``/socket error; never raises.

    :param exc: what ``Session.request`` or iterating a streamed body raised.
    :returns: an :class:`UpstreamError` subclass whose message names the
        exception class and ``host:port`` only.
    """
    if isinstance(exc, UpstreamError):
        return exc
    host = _host_port(exc)
    where = host or "upstream"
    cause = type(exc).__name__
    detail = _detail(exc)
    suffix = f" ({cause}{': ' + detail if detail else ''})"

    def done(err: UpstreamError) -> UpstreamError:
        # Belt and braces: OS texts never hold keys, but redaction is cheap.
        err.args = (redact(err.args[0]),)
        return err

    if isinstance(exc, _CONFIG_ERRORS):
        return done(UpstreamConfigError(f"invalid upstream call{suffix}", host=host, cause=cause))
    # Order matters: ConnectTimeout is also a ConnectionError, ProxyError and
    # SSLError are ConnectionErrors, and ChunkedEncodingError wraps ProtocolError.
    if _is_connect_timeout(exc):
        return done(UpstreamTimeout(f"connect timeout to {where}{suffix}", phase="connect",
                                    host=host, cause=cause))
    if isinstance(exc, (requests.exceptions.ChunkedEncodingError,
                        requests.exceptions.ContentDecodingError,
                        u3.DecodeError, u3.IncompleteRead, u3.InvalidChunkLength,
                        http.client.IncompleteRead)):
        return done(UpstreamProtocolError(f"broken answer from {where}{suffix}",
                                          host=host, cause=cause))
    if _is_read_timeout(exc):
        return done(UpstreamTimeout(f"read timeout from {where}{suffix}", phase="read",
                                    host=host, cause=cause))
    if isinstance(exc, u3.ProtocolError):
        # Raised raw by urllib3 while reading a body: the stream was cut.
        return done(UpstreamProtocolError(f"broken answer from {where}{suffix}",
                                          host=host, cause=cause))
    if isinstance(exc, (requests.exceptions.ConnectionError, u3.HTTPError, OSError,
                        http.client.RemoteDisconnected)):
        kind = _unreachable_kind(exc)
        return done(UpstreamUnreachable(f"cannot reach {where}: {kind}{suffix}", kind=kind,
                                        host=host, cause=cause))
    if isinstance(exc, http.client.HTTPException):
        return done(UpstreamProtocolError(f"broken answer from {where}{suffix}",
                                          host=host, cause=cause))
    return done(UpstreamError(f"upstream call failed at {where}{suffix}", host=host, cause=cause))
