"""PROXY_URL: upstream calls go through an HTTP or SOCKS5 proxy."""
from __future__ import annotations

import pytest

from tests.fake_upstream import make_key
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
    assert "proxy_error" in err["message"] and upstream.requests == []


def test_each_key_keeps_its_proxy_and_a_dead_proxy_is_passed_over(make_app, upstream, auth, monkeypatch):
    from balancer.services import pools as pool_service
    from balancer.upstream.proxies import ranked
    alive = [HttpForwardProxy(), HttpForwardProxy()]
    dead = "http://127.0.0.1:9"
    proxies = [alive[0].url, alive[1].url, dead]
    try:
        app = make_app()
        rt = app.extensions["balancer"]
        rt.services.bootstrap()
        from balancer.services import keys as key_service
        with app.app_context():
            pool_service.edit_pool(rt, "gemini", proxies=proxies)
            # Enough keys that at least one is pinned to the dead proxy (ids vary by database).
            for i in range(40):
                key_service.add_keys(rt, [make_key("pin", i)])
                if i >= 5 and any(ranked(proxies, k)[0] == dead for k in rt.keypool.key_ids()):
                    break
        n_keys = len(rt.keypool.key_ids())
        used: list[tuple[str, str]] = []
        send = rt.upstream.send

        def spy(pool_id, proxy_url, method, url, **kwargs):
            used.append((kwargs["headers"]["x-goog-api-key"], proxy_url))
            return send(pool_id, proxy_url, method, url, **kwargs)
        monkeypatch.setattr(rt.upstream, "send", spy)
        client = app.test_client()
        for _ in range(2 * n_keys):
            resp = client.post("/v1/chat/completions", headers=auth, json={
                "model": MODEL, "messages": [{"role": "user", "content": "pinned"}]})
            assert resp.status_code == 200
        by_key: dict[str, set] = {}
        for key, proxy in used:
            by_key.setdefault(key, set()).add(proxy)
        assert len(by_key) == n_keys
        for key, seen in by_key.items():
            # One live proxy per key, whether it is the pinned one or, for keys
            # pinned to the dead proxy, the next in that key's order.
            assert len(seen - {dead}) == 1
        assert dead in rt.proxy_chooser.skipped()
        assert sum(p.used for p in alive) >= 2 * n_keys
        # Another process (a restart) pins every key the same way.
        other = make_app()
        other.extensions["balancer"].services.bootstrap()
        pool = other.extensions["balancer"].catalog.default_pool()
        assert pool.proxies == tuple(proxies)
        for key_id in other.extensions["balancer"].keypool.key_ids():
            assert other.extensions["balancer"].proxy_for(pool, key_id) == ranked(proxies, key_id)[0]
            assert rt.proxy_for(pool, key_id) in (ranked(proxies, key_id)[0], ranked(proxies, key_id)[1])
    finally:
        for proxy in alive:
            proxy.close()
