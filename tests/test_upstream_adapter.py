"""The adapter Balancer sends through writes a call's header block and body at once."""
from __future__ import annotations

import pytest

from balancer.upstream.adapter import MAX_JOINED_BODY, OneWriteAdapter, OneWriteHTTPConnection


class Wire:
    """A socket that records each write."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []

    def sendall(self, data: bytes) -> None:
        self.writes.append(bytes(data))

    def settimeout(self, _: float) -> None:
        pass


def sent(body, **kw) -> list[bytes]:
    conn = OneWriteHTTPConnection("upstream.test", 80)
    conn.sock = Wire()
    conn.request("POST", "/v1beta/models/m:generateContent", body=body,
                 headers={"Content-Type": "application/json", "x-goog-api-key": "k"}, **kw)
    return conn.sock.writes


def test_a_json_call_is_one_write_with_its_header_block_first():
    writes = sent(b'{"contents":[]}')
    assert len(writes) == 1
    head, _, body = writes[0].partition(b"\r\n\r\n")
    assert head.startswith(b"POST /v1beta/models/m:generateContent HTTP/1.1\r\n")
    assert b"Content-Length: 15" in head and b"x-goog-api-key: k" in head
    assert body == b'{"contents":[]}'


@pytest.mark.parametrize("body", [None, b"", b"x" * (MAX_JOINED_BODY + 1)])
def test_other_calls_go_as_urllib3_sends_them(body):
    writes = sent(body)
    assert writes[0].endswith(b"\r\n\r\n")
    assert b"".join(writes[1:]) == (body or b"")


def test_a_chunked_body_is_not_held():
    writes = sent(b"abc", chunked=True)
    assert writes[0].endswith(b"\r\n\r\n") and b"Transfer-Encoding: chunked" in writes[0]
    assert b"".join(writes[1:]) == b"3\r\nabc\r\n0\r\n\r\n"


def test_the_next_call_on_the_connection_holds_nothing_over():
    conn = OneWriteHTTPConnection("upstream.test", 80)
    conn.sock = Wire()
    conn.request("POST", "/a", body=b"{}", headers={})
    conn._HTTPConnection__state = "Idle"  # as after reading the answer
    conn._HTTPConnection__response = None
    conn.request("GET", "/b", body=None, headers={})
    assert len(conn.sock.writes) == 2 and conn.sock.writes[1].startswith(b"GET /b ")


def test_pools_of_the_adapter_use_the_one_write_connections():
    adapter = OneWriteAdapter()
    pool = adapter.poolmanager.connection_from_url("http://upstream.test/")
    assert pool.ConnectionCls is OneWriteHTTPConnection
    proxied = adapter.proxy_manager_for("http://proxy.test:3128").connection_from_url(
        "http://upstream.test/")
    assert proxied.ConnectionCls is OneWriteHTTPConnection


def test_a_pooled_connection_is_open_until_its_peer_closes_it():
    import socket
    server = socket.create_server(("127.0.0.1", 0))
    conn = OneWriteHTTPConnection("127.0.0.1", server.getsockname()[1])
    assert not conn.is_connected  # never opened
    conn.connect()
    peer, _ = server.accept()
    try:
        assert conn.is_connected
        peer.close()  # the upstream closed the idle keep-alive connection
        import time
        deadline = time.monotonic() + 5
        while conn.is_connected and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not conn.is_connected
    finally:
        conn.close()
        server.close()
