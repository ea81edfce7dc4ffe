"""The attempt loop against a function as its upstream: no network, no database, milliseconds."""
from __future__ import annotations

import json
from typing import Callable

import pytest

from balancer.config import Config
from balancer.keypool.records import KeyRecord
from balancer.proxy.call import ProxyCall
from balancer.proxy.forward import forward
from balancer.runtime import Catalog, PoolInfo, Runtime
from balancer.upstream.errors import UpstreamTimeout, UpstreamUnreachable
from balancer.upstream.mock import MockRequest, MockResponse, MockTransport

BASE = "http://upstream.test/v1"
KEYS = {1: "sk-key-one-0000000000000000", 2: "sk-key-two-0000000000000000",
        3: "sk-key-three-00000000000000"}
ANSWER = {"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "m",
          "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"},
                       "finish_reason": "stop"}],
          "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}}


def chunk(delta: dict, finish=None) -> bytes:
    return b"data: " + json.dumps({"id": "c", "object": "chat.completion.chunk", "created": 1,
                                   "model": "m", "choices": [{"index": 0, "delta": delta,
                                                              "finish_reason": finish}]}).encode() \
        + b"\n\n"


STREAM = [chunk({"role": "assistant", "content": "Hel"}), chunk({"content": "lo"}),
          chunk({}, "stop"), b"data: [DONE]\n\n"]


def error(status: int, message: str, etype: str = "server_error", code=None) -> MockResponse:
    return MockResponse.json(status, {"error": {"message": message, "type": etype,
                                                "param": None, "code": code}})


def key_of(request: MockRequest) -> int:
    token = request.headers["Authorization"].removeprefix("Bearer ")
    return next(i for i, secret in KEYS.items() if secret == token)


def runtime(handler: Callable[[MockRequest], MockResponse], tmp_path, **overrides) -> Runtime:
    """A runtime with one OpenAI-kind pool of three keys, served by ``handler``."""
    rt = Runtime(Config({"SECRET_KEY": "s" * 40, "BALANCER_INSTANCE_PATH": str(tmp_path)}))
    rt.settings.load({"retry_backoff_seconds": 0})
    pool = PoolInfo(id=1, name="p", kind="openai", base_url=BASE, proxy_url=None, enabled=True,
                    is_default=True, overrides=overrides)
    rt.catalog = Catalog(pools={1: pool})
    rt.keypool.replace_all([KeyRecord(id=i, pool_id=1, secret=s) for i, s in KEYS.items()], [])
    rt.upstream = MockTransport(handler)
    rt.loaded = True
    return rt


def chat(rt: Runtime, stream: bool = False):
    body = {"model": "m", "stream": stream, "messages": [{"role": "user", "content": "hi"}]}
    call = ProxyCall(route="chat.completions", method="POST", path="chat/completions", model="m",
                     body=json.dumps(body).encode(), stream=stream)
    resp = forward(rt, rt.catalog.pools[1], call)
    return resp, resp.get_data()


def seen(rt: Runtime) -> list[int]:
    return [key_of(r) for r in rt.upstream.requests]


def test_a_server_error_moves_the_request_to_another_key(tmp_path):
    failing = set()

    def handler(request):
        if not failing:
            failing.add(key_of(request))
            return error(500, "boom")
        return MockResponse.json(200, ANSWER)

    rt = runtime(handler, tmp_path)
    resp, body = chat(rt)
    assert resp.status_code == 200 and json.loads(body)["choices"][0]["message"]["content"] == "hi"
    assert resp.headers["x-balancer-attempts"] == "2"
    first, second = seen(rt)
    assert first != second and resp.headers["x-balancer-key"] == str(second)
    assert rt.upstream.responses[0].closed


def test_the_pool_timeouts_and_budget_reach_the_transport(tmp_path):
    rt = runtime(lambda request: error(503, "busy"), tmp_path, max_retries=1,
                 connect_timeout_seconds=0.5, read_timeout_seconds=7)
    resp, _ = chat(rt)
    assert resp.status_code == 503
    assert [r.timeout for r in rt.upstream.requests] == [(0.5, 7.0), (0.5, 7.0)]


@pytest.mark.parametrize(("overrides", "calls"), [({}, 3), ({"max_retries": 0}, 1),
                                                  ({"max_retries": 1}, 2)])
def test_max_retries_of_the_pool_bounds_the_attempts(tmp_path, overrides, calls):
    rt = runtime(lambda request: error(500, "boom"), tmp_path, **overrides)
    resp, body = chat(rt)
    assert resp.status_code == 500 and json.loads(body)["error"]["message"] == "boom"
    assert len(rt.upstream.requests) == calls == int(resp.headers["x-balancer-attempts"])


@pytest.mark.parametrize(("overrides", "calls"), [({}, 3), ({"max_key_failovers": 0}, 1)])
def test_max_key_failovers_of_the_pool_bounds_the_keys_tried(tmp_path, overrides, calls):
    def handler(request):
        return MockResponse(429, json.dumps({"error": {
            "message": "Rate limit reached", "type": "requests",
            "code": "rate_limit_exceeded"}}).encode(),
            {"Content-Type": "application/json", "retry-after": "7"})

    rt = runtime(handler, tmp_path, **overrides)
    resp, _ = chat(rt)
    assert resp.status_code == 429 and int(resp.headers["Retry-After"]) >= 7
    assert len(rt.upstream.requests) == calls


def test_a_timeout_or_a_refused_connection_is_retried_on_another_key(tmp_path):
    failures = [UpstreamTimeout("read timeout from upstream.test", phase="read"),
                UpstreamUnreachable("cannot reach upstream.test: refused", kind="refused")]

    def handler(request):
        if failures:
            raise failures.pop(0)
        return MockResponse.json(200, ANSWER)

    rt = runtime(handler, tmp_path)
    resp, _ = chat(rt)
    assert resp.status_code == 200 and resp.headers["x-balancer-attempts"] == "3"
    assert len(set(seen(rt))) == 3


def test_the_requests_own_fault_is_relayed_without_another_try(tmp_path):
    rt = runtime(lambda request: error(400, "Invalid 'temperature'", "invalid_request_error",
                                       "decimal_above_max_value"), tmp_path)
    resp, body = chat(rt)
    assert resp.status_code == 400 and len(rt.upstream.requests) == 1
    assert json.loads(body)["error"]["code"] == "decimal_above_max_value"


def test_a_stream_that_ends_without_an_answer_is_retried(tmp_path):
    def handler(request):
        if len(rt.upstream.requests) == 1:
            return MockResponse(200, [b"data: [DONE]\n\n"], {"Content-Type": "text/event-stream"})
        return MockResponse(200, STREAM, {"Content-Type": "text/event-stream"})

    rt = runtime(handler, tmp_path)
    resp, body = chat(rt, stream=True)
    assert resp.status_code == 200 and b"Hel" in body and body.endswith(b"data: [DONE]\n\n")
    assert resp.headers["x-balancer-attempts"] == "2"


def test_a_stream_cut_after_its_first_bytes_ends_with_an_error_event_and_no_retry(tmp_path):
    def handler(request):
        return MockResponse(200, [*STREAM[:2], UpstreamUnreachable("reset", kind="reset")],
                            {"Content-Type": "text/event-stream"})

    rt = runtime(handler, tmp_path)
    resp, body = chat(rt, stream=True)
    assert resp.status_code == 200 and len(rt.upstream.requests) == 1
    events = [json.loads(e[6:]) for e in body.decode().split("\n\n") if e.startswith("data: {")]
    assert events[-1]["error"]["code"] == "connect_error"
    assert rt.upstream.responses[0].closed
    # An interruption leaves the key as it was: no failure counted, no cooldown.
    _, states, in_flight = rt.keypool.snapshot(seen(rt)[0])
    assert in_flight == 0
    assert all(st.consecutive_failures == 0 and st.cooldown_until is None for st in states)


def test_when_every_key_failed_for_a_passing_reason_the_upstream_error_is_answered(tmp_path):
    rt = runtime(lambda request: error(502, "bad gateway"), tmp_path, max_retries=10)
    resp, body = chat(rt)
    assert resp.status_code == 502 and json.loads(body)["error"]["message"] == "bad gateway"
    assert sorted(seen(rt)) == [1, 2, 3]


def test_when_a_stream_starts_with_several_events_in_one_read_the_first_goes_out_alone(tmp_path):
    def handler(request):
        return MockResponse(200, [b"".join(STREAM)], {"Content-Type": "text/event-stream"})

    rt = runtime(handler, tmp_path)
    body = {"model": "m", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    call = ProxyCall(route="chat.completions", method="POST", path="chat/completions", model="m",
                     body=json.dumps(body).encode(), stream=True)
    resp = forward(rt, rt.catalog.pools[1], call)
    pieces = list(resp.response)
    resp.close()
    # What the client is sent first is one whole event, before the rest is translated.
    assert pieces[0].count(b"\n\n") == 1 and b'"Hel"' in pieces[0]
    assert b"".join(pieces).endswith(b"data: [DONE]\n\n") and b'"lo"' in b"".join(pieces[1:])
