"""Real ``requests`` failures on loopback, mapped into our exception tree and verdicts."""
from __future__ import annotations

import socket
import threading
import time
from contextlib import contextmanager
from typing import Callable, Iterator

import pytest
import requests
import urllib3.exceptions as u3

from balancer.keypool.outcome import Outcome
from balancer.keypool.retry import is_retry
from balancer.upstream.errors import (
    UpstreamConfigError,
    UpstreamError,
    UpstreamProtocolError,
    UpstreamTimeout,
    UpstreamUnreachable,
    map_requests_error,
)
from balancer.upstream.network import classify_exception

SECRET = "AIzaSyD" + "x7Qk2Lm9Np4Rs6Tv8Wy0Za1Bc3De5Fg7H"
QUERY = f"/v1beta/models/m:generateContent?alt=sse&key={SECRET}"


def closed_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@contextmanager
def server(handle: Callable[[socket.socket], None]) -> Iterator[int]:
    """A one-connection-at-a-time loopback TCP server running ``handle`` per client."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(0.2)
    stop = threading.Event()
    conns: list[socket.socket] = []

    def loop() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            conns.append(conn)
            try:
                handle(conn)
            except OSError:
                pass

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join(2)
        for c in conns:
            c.close()
        listener.close()


def read_request(conn: socket.socket) -> None:
    conn.settimeout(2)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            return
        data += chunk


def never_answer(conn: socket.socket) -> None:
    read_request(conn)
    time.sleep(1.0)


def close_at_once(conn: socket.socket) -> None:
    read_request(conn)
    conn.close()


def broken_chunks(conn: socket.socket) -> None:
    read_request(conn)
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                 b"Transfer-Encoding: chunked\r\n\r\n"
                 b"10\r\ndata: {\"a\": 1}\n\n\r\n"   # one good chunk
                 b"ff\r\ndata: {\"b\"")              # announces 255 bytes, sends 12, leaves
    conn.close()


def short_body(conn: socket.socket) -> None:
    read_request(conn)
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789")
    conn.close()


def stall_after_first_chunk(conn: socket.socket) -> None:
    read_request(conn)
    conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
    time.sleep(1.0)


def plain_http(conn: socket.socket) -> None:
    conn.settimeout(2)
    conn.recv(4096)  # a TLS ClientHello, answered in clear text
    conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
    conn.close()


def catch(call: Callable[[], object]) -> BaseException:
    try:
        call()
    except Exception as exc:  # noqa: BLE001 - the test inspects whatever was raised
        return exc
    raise AssertionError("no exception")


def stream_all(url: str, timeout: tuple[float, float] = (1, 2)) -> None:
    with requests.get(url, stream=True, timeout=timeout) as r:
        for _ in r.iter_content(None):
            pass


def assert_safe(err: UpstreamError) -> None:
    text = str(err)
    assert SECRET not in text and "key=" not in text and "?" not in text, text
    assert "/v1beta" not in text, text


# --- real failures -------------------------------------------------------------------

def test_connection_refused():
    port = closed_port()
    err = map_requests_error(catch(lambda: requests.get(f"http://127.0.0.1:{port}{QUERY}",
                                                        timeout=(1, 1))))
    assert isinstance(err, UpstreamUnreachable) and err.kind == "refused"
    assert err.host == f"127.0.0.1:{port}" and f"127.0.0.1:{port}" in str(err)
    assert err.cause == "ConnectionError"
    assert_safe(err)
    v = classify_exception(err)
    assert (v.outcome, v.reason, v.status) == (Outcome.TRANSIENT, "connect_error", None)


def test_read_timeout_before_the_answer():
    with server(never_answer) as port:
        exc = catch(lambda: requests.get(f"http://127.0.0.1:{port}{QUERY}", timeout=(1, 0.3)))
    err = map_requests_error(exc)
    assert isinstance(err, UpstreamTimeout) and err.phase == "read"
    assert_safe(err)
    assert classify_exception(err).reason == "read_timeout"


def test_read_timeout_mid_stream_is_a_read_timeout_not_a_connection_error():
    # requests re-raises urllib3's ReadTimeoutError as a bare ConnectionError here.
    with server(stall_after_first_chunk) as port:
        exc = catch(lambda: stream_all(f"http://127.0.0.1:{port}{QUERY}", (1, 0.3)))
    assert type(exc) is requests.exceptions.ConnectionError
    err = map_requests_error(exc)
    assert isinstance(err, UpstreamTimeout) and err.phase == "read"
    assert_safe(err)


def test_connection_closed_mid_chunked_body():
    with server(broken_chunks) as port:
        exc = catch(lambda: stream_all(f"http://127.0.0.1:{port}{QUERY}"))
    assert isinstance(exc, requests.exceptions.ChunkedEncodingError)
    err = map_requests_error(exc)
    assert isinstance(err, UpstreamProtocolError)
    assert_safe(err)
    assert classify_exception(err).reason == "protocol_error"


def test_body_shorter_than_content_length():
    with server(short_body) as port:
        exc = catch(lambda: stream_all(f"http://127.0.0.1:{port}{QUERY}"))
    err = map_requests_error(exc)
    assert isinstance(err, UpstreamProtocolError)
    assert_safe(err)


def test_connection_closed_without_any_answer():
    with server(close_at_once) as port:
        exc = catch(lambda: requests.get(f"http://127.0.0.1:{port}{QUERY}", timeout=(1, 1)))
    err = map_requests_error(exc)
    assert isinstance(err, UpstreamUnreachable) and err.kind == "reset"
    assert_safe(err)


def test_dead_proxy_with_credentials_in_its_url():
    port = closed_port()
    proxies = {"http": f"http://user:pa55word@127.0.0.1:{port}"}
    exc = catch(lambda: requests.get(f"http://upstream.test{QUERY}", proxies=proxies,
                                     timeout=(1, 1)))
    err = map_requests_error(exc)
    assert isinstance(err, UpstreamUnreachable) and err.kind == "proxy"
    assert "pa55word" not in str(err) and "user" not in str(err)
    assert_safe(err)


def test_tls_to_a_plain_http_server():
    with server(plain_http) as port:
        exc = catch(lambda: requests.get(f"https://127.0.0.1:{port}{QUERY}", timeout=(1, 1)))
    err = map_requests_error(exc)
    assert isinstance(err, UpstreamUnreachable) and err.kind == "tls"
    assert_safe(err)


def test_connect_timeout_against_a_full_backlog():
    # A listener that never accepts, with its queue filled: further SYNs are
    # dropped and the client's connect times out.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    try:
        for _ in range(4):
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", port))
            fillers.append(s)
        time.sleep(0.05)
        started = time.monotonic()
        exc = catch(lambda: requests.get(f"http://127.0.0.1:{port}{QUERY}", timeout=(0.3, 1)))
        if not isinstance(exc, requests.exceptions.ConnectTimeout):
            pytest.skip(f"this kernel did not drop the SYN ({type(exc).__name__})")
        assert time.monotonic() - started < 2
    finally:
        for s in fillers:
            s.close()
        listener.close()
    err = map_requests_error(exc)
    assert isinstance(err, UpstreamTimeout) and err.phase == "connect"
    assert_safe(err)
    assert classify_exception(err).reason == "connect_timeout"


@pytest.mark.parametrize("url,exc_type", [
    ("nohttp://127.0.0.1/x?key=secret", requests.exceptions.InvalidSchema),
    ("127.0.0.1/x?key=secret", requests.exceptions.MissingSchema),
    ("http://?key=secret", requests.exceptions.InvalidURL),
])
def test_a_call_that_cannot_be_built_is_our_fault(url, exc_type):
    exc = catch(lambda: requests.get(url, timeout=(1, 1)))
    assert isinstance(exc, exc_type)
    err = map_requests_error(exc)
    assert isinstance(err, UpstreamConfigError)
    assert "secret" not in str(err)
    v = classify_exception(err)
    assert (v.outcome, v.reason) == (Outcome.PROXY_FAULT, "bad_call")


def test_a_key_with_a_newline_is_an_invalid_header():
    exc = catch(lambda: requests.get("http://127.0.0.1:9/", timeout=(1, 1),
                                     headers={"x-goog-api-key": SECRET + "\n"}))
    err = map_requests_error(exc)
    assert isinstance(err, UpstreamConfigError)
    assert SECRET not in str(err)


# --- library exceptions built by hand (raw urllib3 / socket paths) --------------------

class _Pool:
    host, port = "generativelanguage.googleapis.com", 443


def _wrapped(outer: BaseException, inner: BaseException) -> BaseException:
    outer.__cause__ = inner
    return outer


@pytest.mark.parametrize("exc,cls,attr", [
    (u3.ReadTimeoutError(_Pool(), QUERY, f"Read timed out. {QUERY}"), UpstreamTimeout, "read"),
    (u3.ConnectTimeoutError(None, f"timed out {QUERY}"), UpstreamTimeout, "connect"),
    (requests.exceptions.ConnectTimeout(f"timed out {QUERY}"), UpstreamTimeout, "connect"),
    (requests.exceptions.ReadTimeout(f"timed out {QUERY}"), UpstreamTimeout, "read"),
    (socket.timeout("timed out"), UpstreamTimeout, "read"),
    (u3.NewConnectionError(None, f"Failed {QUERY}"), UpstreamUnreachable, "other"),
    (_wrapped(u3.NewConnectionError(None, "Failed"), ConnectionRefusedError(111, "Connection refused")),
     UpstreamUnreachable, "refused"),
    (u3.NameResolutionError("generativelanguage.googleapis.com", None,
                            socket.gaierror(-2, "Name or service not known")),
     UpstreamUnreachable, "dns"),
    (u3.MaxRetryError(_Pool(), QUERY, u3.ProxyError("Unable to connect to proxy",
                                                    OSError("Tunnel connection failed"))),
     UpstreamUnreachable, "proxy"),
    (requests.exceptions.SSLError(f"bad handshake {QUERY}"), UpstreamUnreachable, "tls"),
    (ConnectionResetError(104, "Connection reset by peer"), UpstreamUnreachable, "reset"),
    (u3.ProtocolError("Connection broken: IncompleteRead(5 bytes read)", u3.IncompleteRead(5, 10)),
     UpstreamProtocolError, None),
    (u3.InvalidChunkLength(type("R", (), {"tell": lambda self: 3, "length_remaining": 9})(),
                           b"zz"),
     UpstreamProtocolError, None),
    (requests.exceptions.ContentDecodingError(f"bad gzip {QUERY}"), UpstreamProtocolError, None),
    (requests.exceptions.ChunkedEncodingError(f"broken {QUERY}"), UpstreamProtocolError, None),
])
def test_library_exceptions(exc, cls, attr):
    err = map_requests_error(exc)
    assert type(err) is cls
    if cls is UpstreamTimeout:
        assert err.phase == attr
    if cls is UpstreamUnreachable:
        assert err.kind == attr
    assert_safe(err)


def test_host_comes_from_urllib3_pool():
    err = map_requests_error(u3.ReadTimeoutError(_Pool(), QUERY, "Read timed out."))
    assert err.host == "generativelanguage.googleapis.com:443"


def test_our_own_errors_and_strangers():
    mine = UpstreamTimeout("x", phase="read")
    assert map_requests_error(mine) is mine
    err = map_requests_error(ValueError(f"weird {QUERY}"))
    assert type(err) is UpstreamError and SECRET not in str(err)
    v = classify_exception(err)
    assert (v.outcome, v.reason) == (Outcome.TRANSIENT, "network_error")
    assert is_retry(classify_exception(UpstreamProtocolError("x")))
