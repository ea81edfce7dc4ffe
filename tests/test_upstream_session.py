"""The upstream client keeps nothing of one call for the next but the connection."""
from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from balancer.upstream.session import UpstreamClient


class CookieSetter(BaseHTTPRequestHandler):
    """Answers like a provider behind a CDN: every answer sets cookies; notes what came back."""

    protocol_version = "HTTP/1.1"
    seen: list = []

    def do_POST(self):  # noqa: N802 (http.server's naming)
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        type(self).seen.append(self.headers.get("Cookie"))
        body = b'{"ok":true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Set-Cookie", "__cf_bm=abc123; path=/; HttpOnly; Secure; SameSite=None")
        self.send_header("Set-Cookie", "_cfuvid=visitor42; path=/")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def cookie_upstream():
    CookieSetter.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), CookieSetter)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_cookies_an_upstream_sets_never_go_back_with_another_call(cookie_upstream):
    client = UpstreamClient()
    try:
        for key in ("first-key", "second-key", "third-key"):
            resp = client.send(1, None, "POST", f"{cookie_upstream}/v1/chat/completions",
                               headers={"Authorization": f"Bearer {key}"}, body=b"{}",
                               stream=False, timeout=(5, 5))
            assert resp.status_code == 200 and "__cf_bm" in resp.headers["Set-Cookie"]
            resp.close()
        assert CookieSetter.seen == [None, None, None]
        assert len(client.session(1, None).cookies) == 0
    finally:
        client.close()


class OneHugeChunk(BaseHTTPRequestHandler):
    """Streams a chunked answer whose first HTTP chunk is 4 MiB, then a small one."""

    protocol_version = "HTTP/1.1"

    def do_POST(self):  # noqa: N802 (http.server's naming)
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for piece in (b"a" * (4 << 20), b"\n\n"):
            self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
        self.wfile.write(b"0\r\n\r\n")

    def log_message(self, *args):
        pass


def test_a_huge_http_chunk_is_read_in_pieces_and_a_huge_answer_refused(monkeypatch):
    from balancer.upstream import transport
    from balancer.upstream.errors import AnswerTooLarge
    server = ThreadingHTTPServer(("127.0.0.1", 0), OneHugeChunk)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/stream"
    client = UpstreamClient()
    try:
        resp = client.send(1, None, "POST", url, headers={}, body=b"{}", stream=True,
                           timeout=(5, 5))
        sizes = [len(chunk) for chunk in resp.iter_chunks()]
        resp.close()
        # Never a whole 4 MiB chunk in memory at once: the relay can stop in between.
        assert sum(sizes) == (4 << 20) + 2 and max(sizes) <= 1 << 16
        whole = client.send(1, None, "POST", url, headers={}, body=b"{}", stream=True,
                            timeout=(5, 5))
        monkeypatch.setattr(transport, "MAX_ANSWER", 1 << 20)
        with pytest.raises(AnswerTooLarge):
            whole.content
        whole.close()
    finally:
        client.close()
        server.shutdown()
        server.server_close()
