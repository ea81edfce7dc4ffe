"""The ``requests`` transport adapter Balancer sends through: one write per call, and
a pooled connection checked without a round of the event loop.

urllib3 writes a request's header block, then its body, in two ``send`` calls. Each write
on a connection is a TCP segment (and over TLS a record) that the peer's kernel handles
and answers on its own, so a call costs two of everything where one would do: about a
twentieth of a proxied request's CPU on loopback, and a second packet to Google's front
end in production. The connection classes here hold the header block back and send it
with the body, for bodies that are bytes of a bounded size (every JSON call Balancer
makes); anything else is sent as urllib3 sends it.
"""
from __future__ import annotations

import select
from typing import Any, Optional

from requests.adapters import HTTPAdapter
from urllib3 import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.connection import HTTPConnection, HTTPSConnection

#: Bodies up to this size go out with their header block; a larger one is a write of
#: its own anyway (and an upload is not worth a copy).
MAX_JOINED_BODY = 256 * 1024


class _OneWrite:
    """A connection mixin: the header block waits for the body's write and joins it."""

    _holding: bool = False
    _held: Optional[bytes] = None

    def request(self, method: str, url: str, body: Any = None, headers: Any = None,
                **kw: Any) -> None:
        self._holding = (isinstance(body, bytes) and 0 < len(body) <= MAX_JOINED_BODY
                         and not kw.get("chunked"))
        self._held = None
        try:
            super().request(method, url, body=body, headers=headers, **kw)  # type: ignore[misc]
        finally:
            # Only an error can leave the header block held: the call has failed, and the
            # connection is dropped by urllib3, so the block is never sent.
            self._holding, self._held = False, None

    @property
    def is_connected(self) -> bool:
        """Whether a pooled connection is still open: nothing (EOF) is waiting to be read.

        urllib3 asks this before each reuse with a zero timeout, through ``select.poll``,
        which gevent's patch turns into a round of the event loop. A check that cannot
        block needs no event loop: the operating system's poll answers it at once.
        """
        sock = self.sock  # type: ignore[attr-defined]
        if sock is None:
            return False
        poller = _POLL()
        poller.register(sock, select.POLLIN)
        return not poller.poll(0)

    def send(self, data: Any) -> None:
        if self._holding:
            if self._held is None:
                # The first write of a request is http.client's header block.
                self._held = bytes(data)
                return
            data, self._held = self._held + bytes(data), None
            # Cleared before sending: a connection opened now (a proxy's CONNECT) writes
            # through here too, and must not be held.
            self._holding = False
        super().send(data)  # type: ignore[misc]


def _os_poll() -> Any:
    try:
        from gevent import monkey
    except ImportError:  # pragma: no cover - gevent is a dependency of the server
        return select.poll
    return monkey.get_original("select", "poll")


_POLL = _os_poll()


class OneWriteHTTPConnection(_OneWrite, HTTPConnection):
    """urllib3's plain HTTP connection, header block and body in one write."""


class OneWriteHTTPSConnection(_OneWrite, HTTPSConnection):
    """urllib3's TLS connection, header block and body in one TLS write."""


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = OneWriteHTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = OneWriteHTTPSConnection


POOL_CLASSES = {"http": _HTTPPool, "https": _HTTPSPool}


class OneWriteAdapter(HTTPAdapter):
    """``HTTPAdapter`` whose pools (direct and through HTTP proxies) write once per call."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = POOL_CLASSES

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if not proxy.lower().startswith("socks"):
            # SOCKS managers bring connection classes of their own; they stay as they are.
            manager.pool_classes_by_scheme = POOL_CLASSES
        return manager
