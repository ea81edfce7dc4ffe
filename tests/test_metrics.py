"""Prometheus metrics at /metrics: what they count, who may read them."""
from __future__ import annotations

import secrets

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import TOKEN

MODEL = "gemini-2.5-flash"
CHAT = {"model": MODEL, "messages": [{"role": "user", "content": "count me"}]}


def scrape(client, **kwargs) -> dict:
    resp = client.get("/metrics", **kwargs)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    samples = {}
    for family in text_string_to_metric_families(resp.get_data(as_text=True)):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def value(samples, name, **labels) -> float:
    return sum(v for (n, ls), v in samples.items()
               if n == name and all(dict(ls).get(k) == want for k, want in labels.items()))


def list_models(app, rt) -> None:
    """Fetch the default pool's model list: metrics name only the models it holds."""
    from balancer.services import models as model_service
    with app.app_context():
        model_service.refresh_models(rt, rt.catalog.default_pool().id)


def test_requests_tokens_retries_and_key_states_are_counted(app, rt, client, keys, upstream, auth):
    made = keys(3, modes={})
    list_models(app, rt)
    upstream.set_key(made[0], "invalid")
    before = scrape(client)
    for _ in range(4):
        assert client.post("/v1/chat/completions", json=CHAT, headers=auth).status_code == 200
    bad = client.post("/v1/chat/completions", json={"model": MODEL}, headers=auth)
    assert bad.status_code == 400
    after = scrape(client)

    def delta(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("balancer_requests_total", pool="gemini", model=MODEL, outcome="success") == 4
    assert delta("balancer_requests_total", outcome="client_error") == 1
    assert delta("balancer_tokens_total", pool="gemini", direction="in") > 0
    assert delta("balancer_tokens_total", pool="gemini", direction="out") > 0
    assert delta("balancer_retries_total", pool="gemini") >= 1  # the dead key was met once
    assert delta("balancer_request_latency_seconds_count", pool="gemini") == 4
    assert delta("balancer_key_transitions_total", kind="disable") == 1
    assert value(after, "balancer_keys", pool="gemini", state="active") == 2
    assert value(after, "balancer_keys", pool="gemini", state="disabled") == 1


def test_stream_time_to_first_byte_is_observed(client, keys, upstream, auth):
    keys(1)
    before = value(scrape(client), "balancer_time_to_first_byte_seconds_count", pool="gemini")
    resp = client.post("/v1/chat/completions", json={**CHAT, "stream": True}, headers=auth)
    assert b"[DONE]" in resp.get_data()
    after = value(scrape(client), "balancer_time_to_first_byte_seconds_count", pool="gemini")
    assert after == before + 1


def test_the_telemetry_buffer_is_reported_after_a_flush(client, keys, rt, auth):
    keys(1)
    client.post("/v1/chat/completions", json=CHAT, headers=auth)
    rt.services.flush()
    samples = scrape(client)
    assert value(samples, "balancer_telemetry_buffered_records") == 0
    assert value(samples, "balancer_telemetry_flush_lag_seconds") < 5


@pytest.fixture
def guarded(make_app):
    app = make_app(METRICS_TOKEN="scrape-secret", METRICS_ALLOW="10.0.0.0/8")
    app.extensions["balancer"].services.bootstrap()
    return app.test_client()


@pytest.mark.parametrize("headers, addr, status", [
    ({}, "127.0.0.1", 403),                                   # not in METRICS_ALLOW
    ({}, "10.1.2.3", 200),                                    # in METRICS_ALLOW
    ({"Authorization": "Bearer scrape-secret"}, "8.8.8.8", 200),
    ({"Authorization": "Bearer wrong"}, "10.1.2.3", 401),     # a wrong token is never let by
    ({"Authorization": f"Bearer {TOKEN}"}, "8.8.8.8", 401),   # a client token is not the metrics token
])
def test_metrics_need_the_token_or_an_allowed_address(guarded, headers, addr, status):
    resp = guarded.get("/metrics", headers=headers, environ_base={"REMOTE_ADDR": addr})
    assert resp.status_code == status
    if status != 200:
        assert "balancer_requests" not in resp.get_data(as_text=True)


def test_by_default_only_this_host_may_scrape(client):
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "192.168.1.9"}).status_code == 403
    assert client.get("/metrics").status_code == 200  # the test client is 127.0.0.1


@pytest.mark.e2e
def test_gunicorn_workers_are_summed(start, upstream):
    import requests

    from tests.fake_upstream import make_key
    live = start([make_key("metrics", i) for i in range(2)])
    session = requests.Session()
    for i in range(30):
        resp = session.post(f"{live.url}/v1/chat/completions", timeout=10,
                            headers={"Authorization": f"Bearer {TOKEN}",
                                     "Connection": "close"},  # spread over the workers
                            json={**CHAT, "messages": [{"role": "user", "content": f"m{i}"}]})
        assert resp.status_code == 200
    text = requests.get(f"{live.url}/metrics", timeout=10).text
    samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    assert value(samples, "balancer_requests_total", pool="gemini", outcome="success") == 30
    assert ("balancer_telemetry_buffered_records", ()) in samples


class TestResponseHeaders:
    def test_every_proxied_answer_names_key_attempts_and_overhead(self, client, keys, upstream,
                                                                  auth, rt):
        made = keys(2)
        upstream.set_key(made[0], "internal")
        upstream.set_key(made[1], "slow", delay=0.3)
        resp = client.post("/v1/chat/completions", json=CHAT, headers=auth)
        assert resp.status_code == 200
        assert resp.headers["x-balancer-key"].isdigit()
        assert made[1] not in str(resp.headers)
        assert int(resp.headers["x-balancer-attempts"]) == 2
        overhead = float(resp.headers["x-balancer-overhead-ms"])
        # The upstream's 300 ms and the retry backoff are not Balancer's own time.
        assert 0 <= overhead < 250

    def test_streams_and_refusals_carry_the_headers_too(self, client, keys, upstream, auth):
        keys(1)
        resp = client.post("/v1/chat/completions", json={**CHAT, "stream": True}, headers=auth)
        assert float(resp.headers["x-balancer-overhead-ms"]) >= 0
        assert resp.headers["x-balancer-attempts"] == "1"
        resp.get_data()
        refused = client.post("/v1/chat/completions", json={"model": MODEL}, headers=auth)
        assert refused.status_code == 400 and "x-balancer-overhead-ms" in refused.headers


def test_model_names_no_pool_lists_are_counted_as_other(app, client, keys, auth, rt):
    """Made-up model names cannot add label values (and series) to the metrics."""
    keys(1)
    list_models(app, rt)
    pool = rt.catalog.default_pool()
    assert MODEL in pool.models
    names = [f"made-up-{i}-{secrets.token_hex(4)}" for i in range(50)]
    for name in names:
        resp = client.post("/v1/chat/completions", json={**CHAT, "model": name}, headers=auth)
        assert resp.status_code in (200, 400, 404), resp.get_data(as_text=True)
    assert client.post("/v1/chat/completions", json=CHAT, headers=auth).status_code == 200
    text = client.get("/metrics").get_data(as_text=True)
    assert not [name for name in names if name in text]
    samples = scrape(client)
    assert value(samples, "balancer_requests_total", model="other") >= 50
    assert value(samples, "balancer_requests_total", model=MODEL, outcome="success") >= 1
