"""PROXY_URL: upstream calls go through an HTTP or SOCKS5 proxy."""
from __future__ import annotations

import pytest

from tests.loopback_proxies import HttpForwardProxy, Socks5Proxy

MODEL = "gemini-2.5-flash"


@pytest.mark.parametrize("proxy_class", [HttpForwardProxy, Socks5Proxy])
def test_upstream_calls_go_through_the_configured_proxy(make_app, upstream, auth, proxy_class):
    proxy = proxy_class()
    try:
        app = make_app(PROXY_URL=proxy.url)
        rt = app.extensions["balancer"]
        rt.services.bootstrap()
        from balancer.services import keys as key_service
        from tests.fake_upstream import make_key
        with app.app_context():
            key_service.add_keys(rt, [make_key("proxy", 0)])
        resp = app.test_client().post("/v1/chat/completions", headers=auth, json={
            "model": MODEL, "messages": [{"role": "user", "content": "via proxy"}]})
        assert resp.status_code == 200
        assert "via proxy" in resp.get_json()["choices"][0]["message"]["content"]
        assert proxy.used >= 1
    finally:
        proxy.close()


def test_a_proxy_that_is_down_fails_over_then_answers_502(make_app, upstream, auth):
    app = make_app(PROXY_URL="http://127.0.0.1:9")
    rt = app.extensions["balancer"]
    rt.services.bootstrap()
    from balancer.services import keys as key_service
    from tests.fake_upstream import make_key
    with app.app_context():
        key_service.add_keys(rt, [make_key("proxy", 1), make_key("proxy", 2)])
    resp = app.test_client().post("/v1/chat/completions", headers=auth, json={
        "model": MODEL, "messages": [{"role": "user", "content": "x"}]})
    assert resp.status_code == 502
    err = resp.get_json()["error"]
    assert "connect_error" in err["message"] and upstream.requests == []
