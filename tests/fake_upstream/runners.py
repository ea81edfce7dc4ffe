"""HTTP servers for the fake: a threaded one for pytest, a gevent one for benchmarks.

Both speak HTTP/1.1 with keep-alive, send each yielded body chunk at once (chunked transfer
encoding when there is no Content-Length), and turn ``AbortConnection`` into a dropped
connection. The threaded server never monkey-patches anything, so it can run inside a test
process next to the code under test.
"""

from __future__ import annotations

import errno
import io
import socket
import sys
import threading
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Optional
from urllib.parse import unquote

from .wire import AbortConnection

App = Callable[..., Any]


def no_delay(sock: socket.socket) -> None:
    """Send small writes at once.

    Without this, Nagle's algorithm holds a second small write (the body after the head, the
    next stream chunk) until the client ACKs the first, which a delayed ACK makes 40 ms.
    """
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except OSError:
        pass  # not TCP (e.g. a Unix socket)


def drop(sock: socket.socket) -> None:
    """Close a connection abruptly: no more bytes, the peer sees end-of-stream."""
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # already gone


class _Handler(BaseHTTPRequestHandler):
    """A WSGI bridge with keep-alive and chunk-by-chunk streaming."""

    protocol_version = "HTTP/1.1"
    server_version = "fake-upstream"
    sys_version = ""
    timeout = 120  # an idle keep-alive connection ends after this many seconds
    server: "ThreadedServer"

    def setup(self) -> None:
        """Turn Nagle off before the first write."""
        super().setup()
        no_delay(self.connection)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        """Stay quiet: tests read the fake's request log instead."""

    def handle_one_request(self) -> None:
        """Read one request line and headers, then run the app."""
        try:
            self.raw_requestline = self.rfile.readline(65537)
        except (OSError, ValueError):
            self.close_connection = True
            return
        if not self.raw_requestline:
            self.close_connection = True
            return
        if len(self.raw_requestline) > 65536:
            self.send_error(414)
            return
        if not self.parse_request():
            return
        try:
            self._run_app()
        except AbortConnection:
            self.close_connection = True
            drop(self.connection)
        except OSError:
            self.close_connection = True  # the client went away

    def _read_body(self) -> bytes:
        length = self.headers.get("Content-Length")
        if length:
            return self.rfile.read(int(length))
        if "chunked" not in self.headers.get("Transfer-Encoding", "").lower():
            return b""
        parts = []
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(parts)
            parts.append(self.rfile.read(size))
            self.rfile.readline()

    def _environ(self, body: bytes) -> dict[str, Any]:
        path, _, query = self.path.partition("?")
        environ: dict[str, Any] = {
            "REQUEST_METHOD": self.command,
            "PATH_INFO": unquote(path),
            "QUERY_STRING": query,
            "SERVER_PROTOCOL": self.request_version,
            "SERVER_NAME": self.server.server_address[0],
            "SERVER_PORT": str(self.server.server_address[1]),
            "REMOTE_ADDR": self.client_address[0],
            "CONTENT_LENGTH": str(len(body)) if body else "",
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "wsgi.input": io.BytesIO(body),
            "wsgi.errors": sys.stderr,
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "http",
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
        }
        for name, value in self.headers.items():
            key = "HTTP_" + name.upper().replace("-", "_")
            if key not in ("HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH"):
                environ[key] = f"{environ[key]},{value}" if key in environ else value
        return environ

    def _head(self, status: str, headers: list[tuple[str, str]]) -> tuple[bytes, bool]:
        names = {name.lower() for name, _ in headers}
        chunked = "content-length" not in names
        lines = [f"HTTP/1.1 {status}", f"Date: {self.date_time_string()}"]
        lines += [f"{name}: {value}" for name, value in headers]
        if chunked:
            lines.append("Transfer-Encoding: chunked")
        if self.close_connection:
            lines.append("Connection: close")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"), chunked

    def _run_app(self) -> None:
        started: list[Any] = []

        def start_response(status: str, headers: list, exc_info: Any = None) -> Callable:
            started[:] = [status, headers]
            return self.wfile.write

        result = self.server.app(self._environ(self._read_body()), start_response)
        head: Optional[bytes] = None
        chunked = False
        try:
            for data in result:
                if head is None:
                    head, chunked = self._head(*started)
                    out = head
                else:
                    out = b""
                if data:
                    out += b"%x\r\n%s\r\n" % (len(data), data) if chunked else data
                if out:
                    self.wfile.write(out)
            if head is None:
                head, chunked = self._head(*started)
                self.wfile.write(head)
            if chunked:
                self.wfile.write(b"0\r\n\r\n")
        except (AbortConnection, OSError):
            raise
        except Exception:  # a bug in the fake: say so loudly, then end this connection
            traceback.print_exc()
            self.close_connection = True
            if head is None:
                self.wfile.write(b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n")
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()


class ThreadedServer(ThreadingHTTPServer):
    """One thread per connection; ``close_connections`` drops keep-alive clients on stop."""

    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 1024

    def __init__(self, address: tuple[str, int], app: App) -> None:
        """Bind at once (port 0 picks a free port)."""
        super().__init__(address, _Handler)
        self.app = app
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        """Remember the connection, then serve it in its own thread."""
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        """Forget the connection and close it."""
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Drop every open connection (idle keep-alive ones included)."""
        with self._open_lock:
            sockets = list(self._open)
        for sock in sockets:
            drop(sock)


def serve_gevent(app: App, host: str, port: int, backlog: int = 4096) -> None:
    """Serve forever with gevent.pywsgi; the caller must have monkey-patched already."""
    from gevent import pywsgi

    class Handler(pywsgi.WSGIHandler):
        """Nagle off; turns ``AbortConnection`` into a quiet dropped connection."""

        def handle(self) -> None:
            # pywsgi sends the head and the body in separate writes.
            no_delay(self.socket)
            super().handle()

        def run_application(self) -> None:
            try:
                super().run_application()
            except AbortConnection:
                self.close_connection = True
                drop(self.socket)
                # ECONNRESET is in gevent's ignored_socket_errors: no traceback, no final chunk.
                raise ConnectionResetError(errno.ECONNRESET, "dropped by the fake") from None

    server = pywsgi.WSGIServer((host, port), app, handler_class=Handler, log=None, backlog=backlog)
    server.serve_forever()
