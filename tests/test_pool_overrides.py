"""A pool's overrides of the retry and timeout settings hold on the proxy path."""
from __future__ import annotations

import time

import pytest

from balancer.services import pools as pool_service

MODEL = "gemini-2.5-flash"


def chat(client, auth, stream=False):
    started = time.monotonic()
    resp = client.post("/v1/chat/completions", headers=auth, json={
        "model": MODEL, "stream": stream, "messages": [{"role": "user", "content": "hi"}]})
    body = resp.get_data()  # a stream is read to its end
    return resp, body, time.monotonic() - started


def settle(upstream, slow, calls=1, within=5.0):
    """Wait for the fake to finish the slow calls Balancer gave up on, so that they are not
    counted in the next test."""
    deadline = time.monotonic() + within
    while upstream.count(key=slow) < calls and time.monotonic() < deadline:
        time.sleep(0.05)


@pytest.fixture
def override(app, rt):
    """Set overrides on the default pool, as the pools page and ``flask pools edit`` do."""
    def set_(**values):
        with app.app_context():
            pool_service.edit_pool(rt, "gemini", overrides=values)
    return set_


def test_a_pool_read_timeout_cuts_a_slow_key_short_and_the_next_key_answers(
        client, auth, keys, override, upstream):
    # Tags of their own: the fake answers a slow call after the test has moved on, and
    # must not count it against another test's keys.
    slow, good = keys(2, tag="slow-plain")
    upstream.set_key(slow, "slow", delay=3)
    override(read_timeout_seconds=1)
    answered = [chat(client, auth) for _ in range(2)]
    assert all(resp.status_code == 200 for resp, _, _ in answered)
    # The slow key was tried (the rotation starts one of the two requests on it) and
    # given up after the pool's 1 s, not the global 120 s.
    assert max(elapsed for _, _, elapsed in answered) < 2.5
    assert max(int(resp.headers["x-balancer-attempts"]) for resp, _, _ in answered) == 2
    settle(upstream, slow, sum(int(r.headers["x-balancer-attempts"]) - 1 for r, _, _ in answered))


def test_a_pool_read_timeout_applies_to_streams_too(client, auth, keys, override, upstream):
    (slow,) = keys(1, tag="slow-stream")
    upstream.set_key(slow, "slow", delay=3)
    override(read_timeout_seconds=1)
    resp, _, elapsed = chat(client, auth, stream=True)
    assert resp.status_code == 504 and elapsed < 2.5
    assert "read_timeout" in resp.get_json()["error"]["message"]
    settle(upstream, slow)


def test_a_pool_with_max_retries_0_answers_the_first_upstream_error(
        client, auth, keys, override, upstream):
    made = keys(3)
    for key in made:
        upstream.set_key(key, "internal")
    override(max_retries=0)
    resp, _, _ = chat(client, auth)
    assert resp.status_code == 500
    assert resp.headers["x-balancer-attempts"] == "1"
    assert sum(upstream.count(key=k) for k in made) == 1


def test_without_the_override_the_global_retries_apply(client, auth, keys, upstream):
    made = keys(3)
    for key in made:
        upstream.set_key(key, "internal")
    resp, _, _ = chat(client, auth)
    assert resp.status_code == 500
    assert resp.headers["x-balancer-attempts"] == "3"  # every key, none twice


def test_a_pool_with_max_key_failovers_0_stops_at_the_first_rate_limited_key(
        client, auth, keys, override, upstream):
    made = keys(3)
    for key in made:
        upstream.set_key(key, "rate_minute")
    override(max_key_failovers=0)
    resp, _, _ = chat(client, auth)
    assert resp.status_code == 429 and resp.headers["Retry-After"]
    assert sum(upstream.count(key=k) for k in made) == 1


def test_a_pool_retry_backoff_paces_its_retries(client, auth, keys, override, upstream):
    made = keys(3)
    for key in made:
        upstream.set_key(key, "internal")
    override(retry_backoff_seconds=0.4)
    resp, _, elapsed = chat(client, auth)
    # Two retries: 0.4 s then 0.8 s of backoff (the global 0.05 s would take 0.15 s).
    assert resp.status_code == 500 and elapsed >= 1.2
