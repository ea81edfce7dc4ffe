"""The one place that talks HTTP to upstreams: sessions, pools, timeouts (``requests``)."""
from __future__ import annotations

import threading
from http.cookiejar import DefaultCookiePolicy
from typing import Iterator, Mapping, Optional

import requests
import urllib3
from requests.adapters import HTTPAdapter

from balancer.upstream.errors import UpstreamError, map_requests_error
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
        """The whole body; transport failures as ``UpstreamError``."""
        try:
            return self._resp.content
        except requests.RequestException as exc:
            raise map_requests_error(exc) from None

    def iter_chunks(self) -> Iterator[bytes]:
        """Upstream bytes as they arrive; transport failures as ``UpstreamError``."""
        resp = self._resp
        try:
            if resp.raw.chunked:
                # chunk_size=None yields each HTTP chunk the moment it is read.
                yield from resp.iter_content(chunk_size=None)
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
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=self._pool_maxsize, max_retries=0)
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
        try:
            return RequestsResponse(self.session(pool_id, proxy_url).request(
                method, url, headers=dict(headers), data=body, stream=stream,
                timeout=timeout, allow_redirects=False))
        except requests.RequestException as exc:
            raise map_requests_error(exc) from None

    def close(self) -> None:
        """Close every session's connections."""
        with self._lock:
            for s in self._sessions.values():
                s.close()
            self._sessions.clear()


__all__ = ["RequestsResponse", "Transport", "UpstreamClient", "UpstreamError", "UpstreamResponse"]
