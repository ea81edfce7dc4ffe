"""Minimal outgoing proxies on loopback (HTTP forward proxy and SOCKS5), counting their use."""
from __future__ import annotations

import select
import socket
import socketserver
import struct
import threading
from urllib.parse import urlsplit


def _pipe(a: socket.socket, b: socket.socket) -> None:
    """Copy bytes both ways until either side closes."""
    socks = [a, b]
    try:
        while True:
            readable, _, _ = select.select(socks, [], [], 30)
            if not readable:
                return
            for s in readable:
                data = s.recv(65536)
                if not data:
                    return
                (b if s is a else a).sendall(data)
    except OSError:
        return
    finally:
        a.close()
        b.close()


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


class LoopbackProxy:
    """Serves in a thread; ``used`` counts the connections it relayed."""

    scheme = "http"

    def __init__(self):
        owner = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self):
                owner._handle(self.request)

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.url = f"{self.scheme}://127.0.0.1:{self.server.server_address[1]}"
        self.used = 0
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class HttpForwardProxy(LoopbackProxy):
    """Plain-HTTP forward proxy: ``POST http://host:port/path HTTP/1.1`` relayed as is."""

    def _handle(self, client: socket.socket) -> None:
        head = b""
        while b"\r\n" not in head:
            chunk = client.recv(65536)
            if not chunk:
                return
            head += chunk
        line, _, rest = head.partition(b"\r\n")
        method, target, version = line.split(b" ", 2)
        parts = urlsplit(target.decode())
        upstream = socket.create_connection((parts.hostname, parts.port or 80))
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        # One request per connection: the upstream closes after answering, so the
        # client opens a new connection (and comes through here) for the next one.
        headers, sep, body = rest.partition(b"\r\n\r\n")
        kept = [h for h in headers.split(b"\r\n") if not h.lower().startswith((b"connection:", b"proxy-connection:"))]
        rest = b"\r\n".join(kept + [b"Connection: close"]) + sep + body
        upstream.sendall(b" ".join([method, path.encode(), version]) + b"\r\n" + rest)
        self.used += 1
        _pipe(client, upstream)


class Socks5Proxy(LoopbackProxy):
    """SOCKS5 without authentication, CONNECT only."""

    scheme = "socks5"

    def _handle(self, client: socket.socket) -> None:
        client.recv(262)  # greeting
        client.sendall(b"\x05\x00")
        header = client.recv(4)
        if len(header) < 4 or header[1] != 1:
            return
        if header[3] == 1:
            host = socket.inet_ntoa(client.recv(4))
        elif header[3] == 3:
            host = client.recv(client.recv(1)[0]).decode()
        else:
            return
        port = struct.unpack("!H", client.recv(2))[0]
        upstream = socket.create_connection((host, port))
        client.sendall(b"\x05\x00\x00\x01" + socket.inet_aton("127.0.0.1") + struct.pack("!H", 0))
        self.used += 1
        _pipe(client, upstream)
