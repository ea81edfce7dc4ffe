"""Keep-alives: an SSE stream whose first upstream byte is slow gets comment lines meanwhile.

Balancer runs in a real HTTP server (werkzeug, threaded) and is read by a raw client
(``requests`` with ``stream=True``), so what is checked is what crosses the wire. The
fake upstream's ``slow`` mode holds its whole answer for ``delay`` seconds; an error mode
given a ``delay`` fails that late.
"""
from __future__ import annotations

import json
import threading
import time

import pytest
import requests
from werkzeug.serving import make_server

from tests.conftest import TOKEN

MODEL = "gemini-2.5-flash"
KEEPALIVE = ": keep-alive"
BEARER = {"Authorization": f"Bearer {TOKEN}"}
ANTHROPIC = {"x-api-key": TOKEN, "anthropic-version": "2023-06-01"}


@pytest.fixture
def served(app):
    """The app behind a threaded HTTP server on loopback; yields its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(5)


def set_settings(app, rt, **values) -> None:
    from balancer.services import settings as settings_service
    with app.app_context():
        settings_service.update(rt, values)


def read_lines(resp: requests.Response, start: float | None = None) -> list[tuple[float, str]]:
    """Every line of the body with the second it arrived at (after ``start``)."""
    start = time.monotonic() if start is None else start
    return [(time.monotonic() - start, line)
            for line in resp.iter_lines(chunk_size=1, decode_unicode=True)]


def comments_then_data(lines: list[tuple[float, str]]) -> tuple[int, list[str]]:
    """How many keep-alives came, and the other lines, checking no keep-alive follows data."""
    comments = [at for at, line in lines if line == KEEPALIVE]
    rest = [(at, line) for at, line in lines if line and line != KEEPALIVE]
    assert rest, lines
    assert not comments or max(comments) < rest[0][0], lines
    return len(comments), [line for _, line in rest]


def chat_stream(base: str, path: str = "/v1/chat/completions") -> requests.Response:
    return requests.post(f"{base}{path}", headers=BEARER, stream=True, timeout=30,
                         json={"model": MODEL, "stream": True,
                               "messages": [{"role": "user", "content": "think hard"}]})


def chat_text(data_lines: list[str]) -> str:
    chunks = [json.loads(line[6:]) for line in data_lines if line.startswith("data: {")]
    return "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])


def test_a_slow_stream_gets_keep_alives_before_its_first_event(app, rt, keys, upstream, served):
    set_settings(app, rt, stream_keepalive_seconds=0.5)
    (key,) = keys(1)
    upstream.set_key(key, "slow", delay=2.5)
    resp = chat_stream(served)
    assert resp.status_code == 200
    assert resp.headers["Content-Type"].startswith("text/event-stream")
    count, data = comments_then_data(read_lines(resp))
    assert count >= 3
    assert data[-1] == "data: [DONE]"
    assert "think hard" in chat_text(data)


def test_a_fast_stream_gets_none_and_a_fast_error_keeps_its_status(app, rt, keys, upstream, served):
    set_settings(app, rt, stream_keepalive_seconds=0.5)
    (key,) = keys(1)
    count, data = comments_then_data(read_lines(chat_stream(served)))
    assert count == 0 and data[-1] == "data: [DONE]"
    upstream.set_key(key, "invalid")
    resp = chat_stream(served)
    # Answered within the interval: its own status, not a 200 stream.
    assert resp.status_code == 503
    assert resp.json()["error"]["code"] == "no_usable_key"


def test_keep_alives_can_be_turned_off_for_a_pool(app, rt, keys, upstream, served):
    from balancer.services import pools as pool_service
    set_settings(app, rt, stream_keepalive_seconds=0.5)
    with app.app_context():
        pool_service.edit_pool(rt, "gemini", overrides={"stream_keepalive_seconds": 0})
    (key,) = keys(1)
    upstream.set_key(key, "slow", delay=1.5)
    count, data = comments_then_data(read_lines(chat_stream(served)))
    assert count == 0 and data[-1] == "data: [DONE]"


def test_a_failure_after_keep_alives_still_goes_on_to_another_key(app, rt, keys, upstream,
                                                                 served):
    set_settings(app, rt, stream_keepalive_seconds=0.5, retry_backoff_seconds=0)
    failing, good = keys(2)
    # The first key fails late, after keep-alives went out: the client has seen no data,
    # so the second key may still answer.
    upstream.set_key(failing, "internal", delay=1.5)
    resp = chat_stream(served)
    count, data = comments_then_data(read_lines(resp))
    assert resp.status_code == 200 and count >= 2
    assert data[-1] == "data: [DONE]" and "think hard" in chat_text(data)
    assert upstream.count(key=failing) == 1 and upstream.count(key=good) == 1


def test_a_fake_stream_gets_keep_alives_while_the_whole_answer_is_awaited(app, rt, keys,
                                                                          upstream, served):
    from balancer.services import pools as pool_service
    set_settings(app, rt, stream_keepalive_seconds=0.5)
    with app.app_context():
        pool_service.edit_pool(rt, "gemini", overrides={"fake_stream": True})
    (key,) = keys(1)
    upstream.set_key(key, "slow", delay=1.5)
    count, data = comments_then_data(read_lines(chat_stream(served)))
    assert count >= 2
    assert data[-1] == "data: [DONE]" and "think hard" in chat_text(data)
    assert upstream.count(path_contains=":generateContent") == 1
    assert upstream.count(path_contains=":streamGenerateContent") == 0


def _openai_error(lines: list[str]) -> dict:
    assert len(lines) == 1 and lines[0].startswith("data: "), lines
    return json.loads(lines[0][6:])["error"]


def _gemini_error(lines: list[str]) -> dict:
    err = _openai_error(lines)
    assert err["code"] == 500 and err["status"] == "INTERNAL"
    return err


def _anthropic_error(lines: list[str]) -> dict:
    assert lines[-2] == "event: error", lines
    body = json.loads(lines[-1][6:])
    assert body["type"] == "error"
    return body["error"]


def _responses_error(lines: list[str]) -> dict:
    assert lines[-2] == "event: response.failed", lines
    body = json.loads(lines[-1][6:])
    assert body["type"] == "response.failed" and body["response"]["status"] == "failed"
    return body["response"]["error"]


@pytest.mark.parametrize("path, headers, body, error_of", [
    ("/v1/chat/completions", BEARER, {"messages": [{"role": "user", "content": "hi"}]},
     _openai_error),
    (f"/v1beta/models/{MODEL}:streamGenerateContent?alt=sse", {"x-goog-api-key": TOKEN},
     {"contents": [{"parts": [{"text": "hi"}]}]}, _gemini_error),
    ("/v1/messages", ANTHROPIC, {"max_tokens": 64, "messages": [{"role": "user", "content": "hi"}]},
     _anthropic_error),
    ("/v1/responses", BEARER, {"input": "hi"}, _responses_error),
], ids=["openai", "gemini-sse", "anthropic", "responses"])
def test_when_every_key_fails_after_keep_alives_the_stream_ends_with_the_dialects_error(
        app, rt, keys, upstream, served, path, headers, body, error_of):
    set_settings(app, rt, stream_keepalive_seconds=0.5, retry_backoff_seconds=0)
    made = keys(2)
    for key in made:
        upstream.set_key(key, "internal", delay=0.8)
    if "Generate" not in path:
        body = {"model": MODEL, "stream": True, **body}
    resp = requests.post(f"{served}{path}", headers=headers, json=body, stream=True, timeout=30)
    assert resp.status_code == 200
    count, lines = comments_then_data(read_lines(resp))
    assert count >= 2
    err = error_of(lines)
    assert err["message"]
    assert all(key not in json.dumps(lines) for key in made)
    assert sum(upstream.count(key=key) for key in made) == 2


def test_gemini_array_streams_get_no_comments(app, rt, keys, upstream, served):
    # A comment line would break the JSON array a client parses.
    set_settings(app, rt, stream_keepalive_seconds=0.5)
    (key,) = keys(1)
    upstream.set_key(key, "slow", delay=1.5)
    resp = requests.post(f"{served}/v1beta/models/{MODEL}:streamGenerateContent",
                         headers={"x-goog-api-key": TOKEN}, stream=True, timeout=30,
                         json={"contents": [{"parts": [{"text": "array please"}]}]})
    assert resp.status_code == 200
    elements = json.loads(resp.content)
    assert isinstance(elements, list) and elements


@pytest.mark.e2e
def test_under_gunicorn_a_40_second_think_is_bridged_by_keep_alives_every_15_seconds(start,
                                                                                     upstream):
    """Takes 40 s on purpose: the default interval (15 s) against an upstream that sends its
    first byte after 40 s, the length of thinking that proxies with a 60 s idle limit cut."""
    from tests.fake_upstream import make_key
    key = make_key("think", 0)
    upstream.set_key(key, "slow", delay=40)
    live = start([key])
    sent = time.monotonic()
    resp = requests.post(f"{live.url}/v1/chat/completions", headers=BEARER, stream=True,
                         timeout=(5, 30),  # a read timeout shorter than the think: comments keep it
                         json={"model": MODEL, "stream": True,
                               "messages": [{"role": "user", "content": "a long think"}]})
    assert resp.status_code == 200
    lines = read_lines(resp, sent)
    count, data = comments_then_data(lines)
    assert count >= 2
    first_comment = next(at for at, line in lines if line == KEEPALIVE)
    assert 10 < first_comment < 25
    assert data[-1] == "data: [DONE]" and "a long think" in chat_text(data)
