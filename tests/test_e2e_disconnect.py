"""A client that goes away mid-stream makes Balancer close the upstream at once."""
from __future__ import annotations

import json
import socket
import threading
import time

import pytest
import requests

from tests.conftest import SECRET, TOKEN
from tests.fake_upstream import make_key
from tests.live import LiveBalancer

pytestmark = pytest.mark.e2e


class EndlessStream:
    """An upstream that streams Gemini SSE events forever and notes when its peer hangs up."""

    def __init__(self):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.closed_at: list[float] = []
        self.chunks_sent = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket):
        data = b""
        while b"\r\n\r\n" not in data:
            data += conn.recv(65536)
        head, _, rest = data.partition(b"\r\n\r\n")
        length = int(next((line.split(b":")[1] for line in head.split(b"\r\n")
                           if line.lower().startswith(b"content-length")), b"0"))
        while len(rest) < length:
            rest += conn.recv(65536)
        if head.startswith(b"GET"):  # Balancer's own model-list fetch: a short list
            listing = json.dumps({"models": [{"name": "models/m"}]}).encode()
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                         b"Content-Length: %d\r\n\r\n%s" % (len(listing), listing))
            conn.close()
            return
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n")
        # Gemini's own stream (the pool serves OpenAI clients over the native API).
        event = {"candidates": [{"content": {"role": "model", "parts": [{"text": "tick "}]}}]}
        body = b"data: " + json.dumps(event).encode() + b"\n\n"
        chunk = f"{len(body):x}\r\n".encode() + body + b"\r\n"
        try:
            for _ in range(600):  # at most 60 s
                conn.sendall(chunk)
                self.chunks_sent += 1
                time.sleep(0.1)
        except OSError:
            self.closed_at.append(time.monotonic())
        finally:
            conn.close()

    def close(self):
        self.sock.close()


def test_closing_the_client_closes_the_upstream_stream(make_app, database_url, tmp_path):
    make_app()  # empties the shared test database
    upstream = EndlessStream()
    env = {"DATABASE_URL": database_url, "SECRET_KEY": SECRET, "GEMINI_BASE_URL": upstream.url,
           "ALLOWED_TOKENS": TOKEN, "GEMINI_API_KEYS": make_key("gone", 0),
           "BALANCER_INSTANCE_PATH": str(tmp_path)}
    live = LiveBalancer(env, workers=1).start()
    try:
        resp = requests.post(f"{live.url}/v1/chat/completions", stream=True, timeout=10,
                             headers={"Authorization": f"Bearer {TOKEN}"},
                             json={"model": "m", "stream": True,
                                   "messages": [{"role": "user", "content": "go"}]})
        assert resp.status_code == 200
        first = next(resp.iter_content(chunk_size=None))
        assert b"tick" in first
        time.sleep(0.3)
        resp.close()
        left = time.monotonic()
        deadline = left + 5
        while not upstream.closed_at and time.monotonic() < deadline:
            time.sleep(0.05)
        assert upstream.closed_at, "the upstream stream was still open 5 s after the client left"
        assert upstream.closed_at[0] - left < 2.0
        assert upstream.chunks_sent < 100
    finally:
        live.stop()
        upstream.close()
