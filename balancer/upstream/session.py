"""The one place that talks HTTP to upstreams: sessions, pools, timeouts (``requests``)."""
from __future__ import annotations

import threading
from http.cookiejar import DefaultCookiePolicy
from typing import Iterator, Mapping, Optional

import requests
import urllib3
from requests.models import PreparedRequest
from requests.structures import CaseInsensitiveDict
from requests.utils import check_header_validity

from balancer.upstream import transport
from balancer.upstream.adapter import OneWriteAdapter
from balancer.upstream.errors import AnswerTooLarge, UpstreamError, map_requests_error
from balancer.upstream.transport import MAX_ERROR_BODY, Transport, UpstreamResponse


class RequestsResponse:
    """A ``requests.Response`` as an ``UpstreamResponse``: library errors mapped once."""

    __slots__ = ("_resp", "status_code", "headers")

    def __init__(self, resp: requests.Response) -> None:
        self._resp = resp
        self.status_code: int = resp.status_code
        self.headers: Mapping[str, str] = resp.headers

    @property
    def content(self) -> bytes:
        """The whole body, up to ``transport.MAX_ANSWER`` bytes decoded; transport failures
        as ``UpstreamError``, a longer body as ``AnswerTooLarge`` (the rest left unread)."""
        limit = transport.MAX_ANSWER
        parts, size = [], 0
        try:
            for part in self._resp.iter_content(chunk_size=1 << 16):
                size += len(part)
                if size > limit:
                    self._resp.close()
                    raise AnswerTooLarge(limit)
                parts.append(part)
        except requests.RequestException as exc:
            raise map_requests_error(exc) from None
        except (OSError, ValueError, urllib3.exceptions.HTTPError) as exc:
            raise map_requests_error(exc) from None
        return b"".join(parts)

    def iter_chunks(self) -> Iterator[bytes]:
        """Upstream bytes as they arrive; transport failures as ``UpstreamError``."""
        resp = self._resp
        try:
            if resp.raw.chunked:
                # Each HTTP chunk is yielded the moment it is read, a huge one in 64 KiB
                # pieces (chunk_size=None would hold a whole chunk, however large, in memory).
                yield from resp.iter_content(chunk_size=1 << 16)
            else:
                while True:
                    data = resp.raw.read1(65536)
                    if not data:
                        return
                    yield data
        except requests.RequestException as exc:
            raise map_requests_error(exc) from None
        except (OSError, ValueError, urllib3.exceptions.HTTPError) as exc:
            # urllib3 errors that requests did not wrap (read1 path).
            raise map_requests_error(exc) from None

    def read_error_body(self, limit: int = MAX_ERROR_BODY) -> bytes:
        """Up to ``limit`` bytes of an error answer; errors are small, a broken one is empty."""
        try:
            return self._resp.raw.read(limit, decode_content=True) or b""
        except (requests.RequestException, urllib3.exceptions.HTTPError, OSError):
            return b""
        finally:
            self._resp.close()

    def close(self) -> None:
        """Release the connection."""
        self._resp.close()


class UpstreamClient:
    """One ``requests.Session`` per (pool, outgoing proxy), sized for the worker.

    Sessions keep connections alive across requests, so a proxied call costs
    no new TCP or TLS handshake; the adapter's pool must be as large as the
    worker's concurrency or requests would queue for a connection.
    """

    def __init__(self, pool_maxsize: int = 1000, user_agent: str = "Balancer"):
        self._sessions: dict[tuple[int, Optional[str]], requests.Session] = {}
        self._lock = threading.Lock()
        self._pool_maxsize = pool_maxsize
        self._user_agent = user_agent
        #: URL as built -> as ``requests`` prepares it (quoted, IDNA): a pool calls a few
        #: URLs over and over, and preparing one is most of what preparing a call costs.
        self._urls: dict[str, str] = {}

    def session(self, pool_id: int, proxy_url: Optional[str]) -> requests.Session:
        """The session for a pool and proxy, created on first use."""
        key = (pool_id, proxy_url)
        found = self._sessions.get(key)
        if found is not None:
            return found
        with self._lock:
            found = self._sessions.get(key)
            if found is None:
                found = self._sessions[key] = self._new_session(proxy_url)
            return found

    def _new_session(self, proxy_url: Optional[str]) -> requests.Session:
        s = requests.Session()
        adapter = OneWriteAdapter(pool_connections=4, pool_maxsize=self._pool_maxsize,
                                  max_retries=0)
        s.mount("http://", adapter)
        s.mount("https://", adapter)
        # Environment proxies (HTTP_PROXY, ...) must not silently reroute keys.
        s.trust_env = False
        # No cookie an upstream sets (a CDN's bot-management ones, say) goes back with a later
        # call: it would ride along with every key of the pool and tie them together.
        s.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
        if proxy_url:
            s.proxies = {"http": proxy_url, "https": proxy_url}
        s.headers["User-Agent"] = self._user_agent
        return s

    def send(self, pool_id: int, proxy_url: Optional[str], method: str, url: str, *,
             headers: Mapping[str, str], body: Optional[bytes], stream: bool,
             timeout: tuple[float, float]) -> UpstreamResponse:
        """Send one call; any transport failure raises an ``UpstreamError``.

        :param timeout: (connect, read) seconds; read applies between bytes.
        :raises UpstreamError: timeouts, unreachable hosts, broken proxies.
        """
        session = self.session(pool_id, proxy_url)
        try:
            if body is not None and not isinstance(body, bytes):
                return RequestsResponse(session.request(
                    method, url, headers=dict(headers), data=body, stream=stream,
                    timeout=timeout, allow_redirects=False))
            # What ``Session.request`` would do for a bytes body with redirects, cookies and
            # the environment off, without its general machinery (settings merged call by
            # call, hooks, cookie jars): the same adapter, the same prepared request.
            resp = session.get_adapter(url).send(
                self._prepare(session, method, url, headers, body), stream=stream,
                timeout=timeout, verify=session.verify, cert=session.cert,
                proxies=session.proxies)
            if not stream:
                resp.content  # noqa: B018 - read whole, as Session.send does
            return RequestsResponse(resp)
        except requests.RequestException as exc:
            raise map_requests_error(exc) from None

    def _prepare(self, session: requests.Session, method: str, url: str,
                 headers: Mapping[str, str], body: Optional[bytes]) -> PreparedRequest:
        """The request ``Session.prepare_request`` would make: the session's headers under
        the call's, the body's length, no cookies (the sessions keep none)."""
        prepared = PreparedRequest()
        prepared.method = method
        prepared.url = self._prepared_url(url)
        merged = CaseInsensitiveDict(session.headers)
        for name, value in headers.items():
            if value is None:  # as requests merges: None takes a default header away
                merged.pop(name, None)
                continue
            # A header line broken by a client's CR or LF is refused here, as requests does.
            check_header_validity((name, value))
            merged[name] = value
        if body:
            merged["Content-Length"] = str(len(body))
        elif method not in ("GET", "HEAD"):
            merged["Content-Length"] = "0"
        prepared.headers = merged
        prepared.body = body or None
        prepared.hooks = {"response": []}
        prepared._body_position = None
        return prepared

    def _prepared_url(self, url: str) -> str:
        """``url`` as requests prepares it (quoted, IDNA), prepared once."""
        found = self._urls.get(url)
        if found is None:
            probe = PreparedRequest()
            probe.prepare_url(url, None)
            found = probe.url
            if len(self._urls) >= 4096:  # a bound, not a cache policy: URLs are few
                self._urls.clear()
            self._urls[url] = found
        return found

    def close(self) -> None:
        """Close every session's connections."""
        with self._lock:
            for s in self._sessions.values():
                s.close()
            self._sessions.clear()


__all__ = ["RequestsResponse", "Transport", "UpstreamClient", "UpstreamError", "UpstreamResponse"]
