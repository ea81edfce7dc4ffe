"""Which peers may say who the client is: X-Forwarded-* only from a trusted proxy.

Behind a reverse proxy (Heroku's router, nginx) every request arrives from the
proxy, which names the client in ``X-Forwarded-For``/``-Proto``/``-Host``. Anyone
who reaches Balancer directly can send the same headers, so they are believed
only when the peer itself is in ``PROXY_ADDRESSES``; from anyone else they are
removed before the app sees them, and the peer's own address counts.
"""
from __future__ import annotations

import ipaddress
from typing import Any, Callable, Iterable, Optional

from werkzeug.middleware.proxy_fix import ProxyFix

#: the headers ProxyFix reads, as WSGI environ keys.
FORWARDED_HEADERS = ("HTTP_X_FORWARDED_FOR", "HTTP_X_FORWARDED_PROTO", "HTTP_X_FORWARDED_HOST",
                     "HTTP_X_FORWARDED_PORT", "HTTP_X_FORWARDED_PREFIX", "HTTP_FORWARDED")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def in_networks(address: Optional[str], networks: Iterable[Network]) -> bool:
    """True when ``address`` is an IP address inside one of ``networks``."""
    try:
        ip = ipaddress.ip_address((address or "").split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:10.0.0.1 from a dual-stack socket is 10.0.0.1
    return any(ip.version == net.version and ip in net for net in networks)


class TrustedProxyFix:
    """ProxyFix for requests from ``networks``; the forwarded headers dropped for the rest."""

    def __init__(self, app: Callable[..., Any], hops: int, networks: Iterable[Network]):
        self.app = app
        self.networks = tuple(networks)
        self.fixed = ProxyFix(app, x_for=hops, x_proto=hops, x_host=hops)

    def __call__(self, environ: dict, start_response: Callable[..., Any]) -> Any:
        if in_networks(environ.get("REMOTE_ADDR"), self.networks):
            return self.fixed(environ, start_response)
        for name in FORWARDED_HEADERS:
            environ.pop(name, None)
        return self.app(environ, start_response)
