"""Upstream answers are capped: a whole answer past MAX_ANSWER, a stream event past MAX_EVENT."""
from __future__ import annotations

import json

import pytest

from balancer.keypool.records import KeyRecord
from balancer.proxy import relay
from balancer.proxy.call import ProxyCall
from balancer.proxy.tap import EVENT_TOO_LARGE
from balancer.proxy.forward import forward
from balancer.runtime import Catalog, PoolInfo
from balancer.upstream import transport
from balancer.upstream.mock import MockResponse
from tests.test_attempt_loop import ANSWER, KEYS, chat, chunk, runtime

CAP = 1000
PIECE = b"a" * 600


class Endless:
    """Stream chunks: an answer's start, then one event that never ends (counted)."""

    def __init__(self, start: bytes, opening: bytes, pieces: int = 200) -> None:
        self.start, self.opening, self.pieces, self.sent = start, opening, pieces, 0

    def __iter__(self):
        yield self.start
        yield self.opening
        for _ in range(self.pieces):
            self.sent += 1
            yield PIECE


def gemini_runtime(handler, tmp_path):
    rt = runtime(handler, tmp_path)
    rt.catalog = Catalog(pools={1: PoolInfo(id=1, name="g", kind="gemini",
                                            base_url="http://upstream.test", proxy_url=None,
                                            enabled=True, is_default=True)})
    rt.keypool.replace_all([KeyRecord(id=i, pool_id=1, secret=s) for i, s in KEYS.items()], [])
    return rt


def generate(rt, stream: bool):
    action = "streamGenerateContent" if stream else "generateContent"
    body = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
    call = ProxyCall(route=f"gemini.{action}", method="POST", path=f"models/m:{action}",
                     model="m", body=json.dumps(body).encode(), stream=stream,
                     api_format="gemini", framing="sse", query={"alt": "sse"} if stream else {})
    resp = forward(rt, rt.catalog.pools[1], call)
    return resp, resp.get_data()


GEMINI_ANSWER = {"candidates": [{"content": {"role": "model", "parts": [{"text": "hi"}]},
                                 "finishReason": "STOP", "index": 0}],
                 "usageMetadata": {"promptTokenCount": 1, "candidatesTokenCount": 1}}


@pytest.fixture
def caps(monkeypatch):
    monkeypatch.setattr(transport, "MAX_ANSWER", CAP)
    monkeypatch.setattr(relay, "MAX_EVENT", CAP)


def test_a_whole_answer_past_the_cap_is_a_502_in_openai_format(tmp_path, caps):
    big = {**ANSWER, "choices": [{"index": 0, "message": {"role": "assistant",
                                                          "content": "x" * 2 * CAP},
                                  "finish_reason": "stop"}]}
    rt = runtime(lambda request: MockResponse.json(200, big), tmp_path)
    resp, body = chat(rt)
    assert resp.status_code == 502
    err = json.loads(body)["error"]
    assert err["code"] == "upstream_answer_too_large" and "larger than" in err["message"]
    assert len(rt.upstream.requests) == 1  # another key would get the same answer
    assert rt.upstream.responses[0].closed
    small = runtime(lambda request: MockResponse.json(200, ANSWER), tmp_path)
    assert chat(small)[0].status_code == 200


def test_a_whole_answer_past_the_cap_is_a_502_in_gemini_format(tmp_path, caps):
    big = {**GEMINI_ANSWER, "candidates": [{"content": {"role": "model", "parts": [
        {"text": "x" * 2 * CAP}]}, "finishReason": "STOP", "index": 0}]}
    rt = gemini_runtime(lambda request: MockResponse.json(200, big), tmp_path)
    resp, body = generate(rt, stream=False)
    assert resp.status_code == 502
    err = json.loads(body)["error"]
    assert err["code"] == 502 and err["status"] == "UNAVAILABLE" and "larger than" in err["message"]


def test_an_openai_stream_event_that_never_ends_is_cut_with_an_error_event(tmp_path, caps):
    endless = Endless(chunk({"role": "assistant", "content": "Hel"}), b'data: {"x": "')
    rt = runtime(lambda request: MockResponse(200, endless, {"Content-Type": "text/event-stream"}),
                 tmp_path)
    resp, body = chat(rt, stream=True)
    assert resp.status_code == 200
    events = [e for e in body.split(b"\n\n") if e.strip()]
    assert b'"Hel"' in events[0]
    err = json.loads(events[-1].removeprefix(b"data: "))["error"]
    assert err["code"] == EVENT_TOO_LARGE and "larger than" in err["message"]
    assert PIECE not in body
    assert endless.sent < 5  # the relay stopped reading
    assert rt.upstream.responses[0].closed


def test_a_gemini_stream_event_that_never_ends_is_cut_with_an_error_event(tmp_path, caps):
    first = b"data: " + json.dumps(GEMINI_ANSWER | {"candidates": [
        {"content": {"role": "model", "parts": [{"text": "Hel"}]}, "index": 0}]}).encode() \
        + b"\r\n\r\n"
    endless = Endless(first, b'data: {"candidates": [{"content": {"parts": [{"text": "')
    rt = gemini_runtime(lambda request: MockResponse(200, endless,
                                                     {"Content-Type": "text/event-stream"}),
                        tmp_path)
    resp, body = generate(rt, stream=True)
    assert resp.status_code == 200
    events = [e for e in body.replace(b"\r\n", b"\n").split(b"\n\n") if e.strip()]
    assert b'"Hel"' in events[0]
    err = json.loads(events[-1].strip().removeprefix(b"data: "))["error"]
    assert err["code"] == 502 and err["status"] == "UNAVAILABLE"
    assert endless.sent < 5


def test_the_cap_applies_to_real_upstream_answers(client, keys, auth, upstream, monkeypatch):
    """Through the HTTP client, against the fake upstream (which echoes the prompt)."""
    monkeypatch.setattr(transport, "MAX_ANSWER", 4096)
    keys(1)
    body = {"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "x" * 8000}]}
    resp = client.post("/v1/chat/completions", json=body, headers=auth)
    assert resp.status_code == 502, resp.get_data(as_text=True)[:300]
    assert resp.get_json()["error"]["code"] == "upstream_answer_too_large"
    body["messages"][0]["content"] = "short"
    assert client.post("/v1/chat/completions", json=body, headers=auth).status_code == 200
