"""Request bodies: refused from their Content-Length, limited per route, read a few at a time."""
from __future__ import annotations

import io
import json
import threading

import pytest

from balancer.crypto import token_hash
from balancer.extensions import db
from balancer.models import ClientToken
from balancer.proxy import body as body_module
from balancer.services import pools as pool_service
from tests.conftest import TOKEN
from tests.test_files_affinity import send_chunk, start_upload

MODEL = "gemini-2.5-flash"
LIMITED = "limited-client-token-0123456789"
MiB = 1024 * 1024


class RecordingStream(io.BytesIO):
    """A request body that notes how much of it was read, and may make its reader wait."""

    def __init__(self, data: bytes, gate: threading.Event | None = None) -> None:
        super().__init__(data)
        self.bytes_read = 0
        self.gate = gate
        self.reading = threading.Event()

    def _wait(self) -> None:
        self.reading.set()
        if self.gate is not None:
            assert self.gate.wait(10)

    def read(self, size: int | None = -1) -> bytes:
        self._wait()
        out = super().read(size)
        self.bytes_read += len(out)
        return out

    def readinto(self, buffer) -> int:
        self._wait()
        n = super().readinto(buffer)
        self.bytes_read += n
        return n


def chat_body(size: int) -> bytes:
    """A valid chat request of about ``size`` bytes."""
    text = "x" * max(1, size - 120)
    return json.dumps({"model": MODEL, "messages": [{"role": "user", "content": text}]}).encode()


def gemini_body(size: int) -> bytes:
    return json.dumps({"contents": [{"parts": [{"text": "x" * max(1, size - 60)}]}]}).encode()


OPENAI = ("/v1/chat/completions", chat_body, lambda t: {"Authorization": f"Bearer {t}"})
GEMINI = (f"/v1beta/models/{MODEL}:generateContent", gemini_body,
          lambda t: {"x-goog-api-key": t})


def post(client, route, size, token=TOKEN, stream=None):
    path, make, auth = route
    stream = stream or RecordingStream(make(size))
    resp = client.post(path, input_stream=stream, content_length=len(stream.getbuffer()),
                       headers={**auth(token), "Content-Type": "application/json"})
    return resp, stream


def openai_error(resp, status):
    assert resp.status_code == status, resp.get_data(as_text=True)
    err = resp.get_json()["error"]
    assert err["message"] and err["type"]
    return err


def google_error(resp, status):
    assert resp.status_code == status, resp.get_data(as_text=True)
    err = resp.get_json()["error"]
    assert err["code"] == status and err["status"] and err["message"]
    return err


@pytest.fixture
def limited(app, rt):
    with app.app_context():
        db.session.add(ClientToken(name="limited", token_hash=token_hash(LIMITED),
                                   prefix=LIMITED[:8], max_request_kb=1))
        db.session.commit()
        pool_service.load_catalog(rt)


@pytest.mark.parametrize("route", [OPENAI, GEMINI], ids=["openai", "gemini"])
def test_a_body_over_the_tokens_limit_is_refused_before_it_is_read(client, keys, upstream,
                                                                   limited, route):
    keys(1)
    resp, stream = post(client, route, 20 * 1024, token=LIMITED)
    check = openai_error if route is OPENAI else google_error
    err = check(resp, 413)
    assert "at most 1 KiB" in err["message"]
    assert stream.bytes_read == 0
    assert upstream.requests == []
    small, _ = post(client, route, 500, token=LIMITED)
    assert small.status_code == 200, small.get_data(as_text=True)


def test_chat_has_max_request_mb_and_uploads_their_own_limit(make_app, keys, upstream):
    app = make_app(MAX_REQUEST_MB="1", MAX_UPLOAD_MB="2")
    app.extensions["balancer"].services.bootstrap()
    client = app.test_client()
    keys_of(app, 1)
    resp, stream = post(client, OPENAI, int(1.5 * MiB))
    assert "1 MiB" in openai_error(resp, 413)["message"] and stream.bytes_read == 0

    started = start_upload(client, size=int(1.5 * MiB))
    assert started.status_code == 200, started.get_data(as_text=True)
    url = started.headers["X-Goog-Upload-URL"]
    done = send_chunk(client, url, b"y" * int(1.5 * MiB))
    assert done.status_code == 200, done.get_data(as_text=True)
    assert done.headers["X-Goog-Upload-Status"] == "final"

    again = start_upload(client, size=3 * MiB)
    refused = send_chunk(client, again.headers["X-Goog-Upload-URL"], b"y" * (3 * MiB))
    assert "2 MiB" in google_error(refused, 413)["message"]


def keys_of(app, n):
    from balancer.services import keys as key_service
    from tests.fake_upstream import make_key
    with app.app_context():
        key_service.add_keys(app.extensions["balancer"], [make_key("k", i) for i in range(n)])


def test_a_worker_reads_a_bounded_number_of_large_bodies_at_once(make_app, upstream,
                                                                 monkeypatch):
    monkeypatch.setattr(body_module, "SLOT_WAIT_SECONDS", 0.2)
    app = make_app(MAX_PARSING_REQUESTS="1")
    app.extensions["balancer"].services.bootstrap()
    keys_of(app, 1)
    gate = threading.Event()
    slow_body = RecordingStream(chat_body(200 * 1024), gate)
    results = {}

    def slow_reader():
        results["slow"] = post(app.test_client(), OPENAI, 0, stream=slow_body)

    thread = threading.Thread(target=slow_reader)
    thread.start()
    try:
        # The first request is inside its read, holding the only slot.
        assert slow_body.reading.wait(10)
        client = app.test_client()
        busy, stream = post(client, OPENAI, 200 * 1024)
        err = openai_error(busy, 503)
        assert err["code"] == "server_busy" and busy.headers["Retry-After"] == "1"
        assert stream.bytes_read == 0
        busy_gemini, _ = post(client, GEMINI, 200 * 1024)
        google_error(busy_gemini, 503)
        assert busy_gemini.headers["Retry-After"] == "1"
        # A small body needs no slot.
        small, _ = post(client, OPENAI, 2000)
        assert small.status_code == 200, small.get_data(as_text=True)
    finally:
        gate.set()
        thread.join(10)
    slow, _ = results["slow"]
    assert slow.status_code == 200, slow.get_data(as_text=True)
    after, _ = post(app.test_client(), OPENAI, 200 * 1024)
    assert after.status_code == 200, after.get_data(as_text=True)


def test_under_gevent_a_request_waiting_for_a_slot_does_not_stop_the_worker(live_env, upstream):
    """One gevent worker, one slot: a body that arrives slowly holds it; another large body
    waits its turn while small requests are served at once; both end well."""
    import socket

    import requests

    from tests.fake_upstream import make_key
    from tests.live import LiveBalancer

    live = LiveBalancer(live_env([make_key("slots", 0)], MAX_PARSING_REQUESTS="1"),
                        workers=1).start()
    auth = {"Authorization": f"Bearer {TOKEN}"}
    try:
        slow = chat_body(200 * 1024)
        port = int(live.url.rsplit(":", 1)[1])
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                     b"Authorization: Bearer %s\r\nContent-Type: application/json\r\n"
                     b"Content-Length: %d\r\nConnection: close\r\n\r\n"
                     % (port, TOKEN.encode(), len(slow)) + slow[:1024])
        threading.Event().wait(0.5)  # the slow request is reading, in the only slot
        waiting = {}

        def large():
            waiting["resp"] = requests.post(f"{live.url}/v1/chat/completions",
                                            data=chat_body(200 * 1024), timeout=30,
                                            headers={**auth, "Content-Type": "application/json"})

        thread = threading.Thread(target=large)
        thread.start()
        small = requests.post(f"{live.url}/v1/chat/completions", data=chat_body(1000),
                              headers={**auth, "Content-Type": "application/json"}, timeout=5)
        assert small.status_code == 200, small.text
        thread.join(2)
        assert thread.is_alive()  # still waiting for the slot (its 200 KiB would take ms)
        sock.sendall(slow[1024:])
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
        sock.close()
        assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
        thread.join(15)
        assert waiting["resp"].status_code == 200, waiting["resp"].text[:300]
    finally:
        live.stop()
